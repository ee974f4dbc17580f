// Llama as in transformers' modeling_llama.py, which also covers Mistral and Qwen2 checkpoints:
// RMSNorm pre-norm blocks, rotary position embeddings (rope_theta; transformers' rotate_half layout;
// rope types default, linear and llama3), grouped-query attention, SwiGLU MLP, tied or untied lm_head,
// `head_dim` when given, Mistral's and Qwen2's causal sliding window (attention.ts) on the layers that have it. Heads: LlamaForCausalLM and LlamaForSequenceClassification (last non-pad token).
// Checkpoint keys equal parameter paths; the only exception is the tied lm_head (LLAMA_RULES).
// Not here: generation (src/generate), loading files (pretrained.ts).

import { ModelError } from '../errors.ts';
import { attentionProjectionBias, effectiveSlidingWindow, type HfConfig, type LlamaConfig } from './hf-config.ts';
import type { QuantizedWeight } from '../backend/quant.ts';
import type { JsonObject } from '../io/json.ts';
import { Linear, Module, RMSNorm } from '../nn/module.ts';
import { normalInit } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import {
  causalLmLoss, decoderKeyMask, defaultPositions, gatherPositions, intValues, KVCache, lastNonPadIndex, projection,
  type CausalLM, type DecoderInputs,
} from './decoder.ts';
import { maskedAttention } from './attention.ts';
import { activation, embedWithPadding, meanPool, ModuleList } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, sequenceClassificationLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/**
 * How Llama-family checkpoints differ from our parameter paths, in one list: `lm_head.weight` is tied
 * to `model.embed_tokens.weight` when tie_word_embeddings is true, and old checkpoints carry the
 * `rotary_emb.inv_freq` buffer (ignored; we recompute it from the config).
 */
export const LLAMA_RULES: CheckpointRules = {
  tied: { 'lm_head.weight': 'model.embed_tokens.weight' },
  ignoreUnexpected: [/\.rotary_emb\.inv_freq$/],
};
const LLAMA_UNTIED_RULES: CheckpointRules = { ...LLAMA_RULES, tied: {} };

const CLASS_PREFIX: Record<LlamaConfig['model_type'], string> = { llama: 'Llama', mistral: 'Mistral', qwen2: 'Qwen2' };

const SUPPORTED_ROPE = ['default', 'linear', 'llama3'];

function ropeNumber(scaling: JsonObject, key: string): number {
  const v = scaling[key];
  if (typeof v !== 'number') throw new ModelError(`config "rope_scaling": rope_type "${String(scaling['rope_type'])}" needs a number "${key}", got ${JSON.stringify(v)}`);
  return v;
}

/**
 * RoPE inverse frequencies (D/2) as transformers computes them in float32: base^(-2i/D), then the
 * rope_scaling rule (linear: divide by factor; llama3: divide the low frequencies by factor and
 * interpolate the middle band). Other rope types are a ModelError naming the type.
 */
export function ropeInverseFrequencies(config: Pick<LlamaConfig, 'head_dim' | 'rope_theta' | 'rope_scaling'>): Float64Array {
  const D = config.head_dim;
  const f = Math.fround;
  const inv = new Float64Array(D / 2);
  for (let i = 0; i < D / 2; i++) inv[i] = f(1 / f(Math.pow(f(config.rope_theta), f((2 * i) / D))));
  const scaling = config.rope_scaling;
  const type = scaling === null ? 'default' : String(scaling['rope_type'] ?? scaling['type'] ?? 'default');
  if (scaling === null || type === 'default') return inv;
  if (!SUPPORTED_ROPE.includes(type)) {
    throw new ModelError(
      `config "rope_scaling": rope type "${type}" is not supported (supported: ${SUPPORTED_ROPE.join(', ')}); ` +
        'use a checkpoint with plain RoPE or one of the supported scalings',
    );
  }
  const factor = ropeNumber(scaling, 'factor');
  if (type === 'linear') return inv.map((x) => f(x / factor));
  const low = ropeNumber(scaling, 'low_freq_factor');
  const high = ropeNumber(scaling, 'high_freq_factor');
  const oldLen = ropeNumber(scaling, 'original_max_position_embeddings');
  const lowWavelen = oldLen / low;
  const highWavelen = oldLen / high;
  return inv.map((x) => {
    const wavelen = (2 * Math.PI) / x;
    if (wavelen < highWavelen) return x;
    if (wavelen > lowWavelen) return f(x / factor);
    const smooth = (oldLen / wavelen - low) / (high - low);
    return f(((1 - smooth) * x) / factor + smooth * x);
  });
}

/** cos and sin tables (P, 1, T, D) for int32 positions (P, T), in transformers' cat(freqs, freqs) layout. */
export function rotaryTables(invFreq: Float64Array, positionIds: Tensor, like: Tensor): { cos: Tensor; sin: Tensor } {
  const [P, T] = positionIds.shape;
  const half = invFreq.length;
  const D = 2 * half;
  const pos = intValues(positionIds);
  const cos = new Float64Array(P * T * D);
  const sin = new Float64Array(P * T * D);
  for (let r = 0; r < P * T; r++) {
    for (let j = 0; j < half; j++) {
      const a = Math.fround(pos[r] * invFreq[j]);
      const c = Math.fround(Math.cos(a));
      const s = Math.fround(Math.sin(a));
      cos[r * D + j] = c;
      cos[r * D + j + half] = c;
      sin[r * D + j] = s;
      sin[r * D + j + half] = s;
    }
  }
  return {
    cos: Tensor.from(cos, [P, 1, T, D], like.dtype, like.backend),
    sin: Tensor.from(sin, [P, 1, T, D], like.dtype, like.backend),
  };
}

/** x * cos + rotate_half(x) * sin, with rotate_half(x) = cat(-x[..., D/2:], x[..., :D/2]). x: (B, H, T, D). */
export function applyRotary(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const D = x.shape[3];
  const half = D / 2;
  const rotated = F.concat([F.neg(F.narrow(x, 3, half, half)), F.narrow(x, 3, 0, half)], 3);
  return F.add(F.mul(x, cos), F.mul(rotated, sin));
}

interface LayerContext {
  keyMask: Tensor | null;
  cos: Tensor;
  sin: Tensor;
  cache: KVCache | null;
  layer: number;
  /** This layer's causal sliding window (keys j with i - j < window), or null for full attention. */
  window: number | null;
}

export class LlamaAttention extends Module {
  constructor(private readonly config: LlamaConfig) {
    super();
    const { hidden_size: C, num_attention_heads: H, num_key_value_heads: Hkv, head_dim: D, initializer_range: std } = config;
    const bias = attentionProjectionBias(config);
    this.child('q_proj', new Linear(C, H * D, { bias: bias.qkv, std }));
    this.child('k_proj', new Linear(C, Hkv * D, { bias: bias.qkv, std }));
    this.child('v_proj', new Linear(C, Hkv * D, { bias: bias.qkv, std }));
    this.child('o_proj', new Linear(H * D, C, { bias: bias.o, std }));
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const [B, T] = x.shape;
    const { num_attention_heads: H, num_key_value_heads: Hkv, head_dim: D } = this.config;
    const heads = (name: string, n: number): Tensor => F.transpose(F.reshape(projection(this, name).forward(x), [B, T, n, D]), 1, 2);
    const q = applyRotary(heads('q_proj', H), ctx.cos, ctx.sin);
    let k = applyRotary(heads('k_proj', Hkv), ctx.cos, ctx.sin);
    let v = heads('v_proj', Hkv);
    if (ctx.cache) ({ k, v } = ctx.cache.append(ctx.layer, k, v));
    const dropoutP = this.training ? this.config.attention_dropout : 0;
    const y = maskedAttention(q, k, v, { keyMask: ctx.keyMask, causal: true, scale: 1 / Math.sqrt(D), window: ctx.window, dropoutP });
    return projection(this, 'o_proj').forward(F.reshape(F.transpose(y, 1, 2), [B, T, H * D]));
  }
}

/** SwiGLU: down_proj(act(gate_proj(x)) * up_proj(x)). */
export class LlamaMLP extends Module {
  private readonly act: (x: Tensor) => Tensor;
  constructor(config: LlamaConfig) {
    super();
    const { hidden_size: C, intermediate_size: I, mlp_bias: bias, initializer_range: std } = config;
    this.child('gate_proj', new Linear(C, I, { bias, std }));
    this.child('up_proj', new Linear(C, I, { bias, std }));
    this.child('down_proj', new Linear(I, C, { bias, std }));
    this.act = activation(config.hidden_act, 'hidden_act');
  }

  forward(x: Tensor): Tensor {
    const gate = this.act(projection(this, 'gate_proj').forward(x));
    return projection(this, 'down_proj').forward(F.mul(gate, projection(this, 'up_proj').forward(x)));
  }
}

export class LlamaDecoderLayer extends Module {
  readonly selfAttn: LlamaAttention;
  readonly mlp: LlamaMLP;
  readonly inputLayernorm: RMSNorm;
  readonly postAttentionLayernorm: RMSNorm;
  constructor(config: LlamaConfig) {
    super();
    this.selfAttn = this.child('self_attn', new LlamaAttention(config));
    this.mlp = this.child('mlp', new LlamaMLP(config));
    this.inputLayernorm = this.child('input_layernorm', new RMSNorm(config.hidden_size, config.rms_norm_eps));
    this.postAttentionLayernorm = this.child('post_attention_layernorm', new RMSNorm(config.hidden_size, config.rms_norm_eps));
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const h = F.add(x, this.selfAttn.forward(this.inputLayernorm.forward(x), ctx));
    return F.add(h, this.mlp.forward(this.postAttentionLayernorm.forward(h)));
  }
}

/**
 * The Llama trunk (transformers' LlamaModel): token embedding, decoder layers, final RMSNorm. As a task
 * model it does feature extraction: `logits` are the hidden states averaged over the attention mask, (B, C).
 * @example const emb = llama.forward({ inputIds, attentionMask }).logits; // (B, hidden_size)
 */
export class LlamaModel extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = LLAMA_UNTIED_RULES;
  readonly embedTokens: EmbeddingTable;
  readonly layers: ModuleList<LlamaDecoderLayer>;
  readonly norm: RMSNorm;
  private readonly invFreq: Float64Array;
  private readonly slidingWindow: number | null;
  constructor(readonly hfConfig: LlamaConfig) {
    super();
    const config = hfConfig;
    this.architecture = `${CLASS_PREFIX[config.model_type]}Model`;
    this.invFreq = ropeInverseFrequencies(config); // validates rope_scaling up front
    this.slidingWindow = effectiveSlidingWindow(config);
    this.embedTokens = this.child('embed_tokens', new EmbeddingTable(config.vocab_size, config.hidden_size, config.initializer_range, config.pad_token_id));
    this.layers = this.child('layers', new ModuleList(Array.from({ length: config.num_hidden_layers }, () => new LlamaDecoderLayer(config))));
    this.norm = this.child('norm', new RMSNorm(config.hidden_size, config.rms_norm_eps));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { loss: null, logits: meanPool(hidden, batch.attentionMask) };
  }

  /** Whether layer i uses the sliding window: every layer for Mistral, layers from max_window_layers on for Qwen2. */
  private slidingLayer(i: number): boolean {
    if (this.slidingWindow === null) return false;
    const raw = this.hfConfig.extra['layer_types'];
    if (Array.isArray(raw) && raw.length === this.hfConfig.num_hidden_layers) return raw[i] === 'sliding_attention';
    if (this.hfConfig.model_type === 'qwen2') return i >= (this.hfConfig.max_window_layers ?? 0);
    return true;
  }

  /** Final hidden states (B, T, C). */
  hiddenStates(inputs: DecoderInputs): Tensor {
    const { inputIds } = inputs;
    if (inputIds.ndim !== 2) throw new ModelError(`input_ids must be (batch, tokens), got ${inputIds.describe()}`);
    const [B, T] = inputIds.shape;
    const past = inputs.cache?.length ?? 0;
    let h = this.embedTokens.forward(inputIds);
    const { cos, sin } = rotaryTables(this.invFreq, inputs.positionIds ?? defaultPositions(past, T), h);
    const ctx: LayerContext = { keyMask: decoderKeyMask(inputs.attentionMask, B, past + T, h), cos, sin, cache: inputs.cache ?? null, layer: 0, window: null };
    this.layers.items.forEach((layer, i) => {
      h = layer.forward(h, { ...ctx, layer: i, window: this.slidingLayer(i) ? this.slidingWindow : null });
    });
    return this.norm.forward(h);
  }
}

/** nn.Embedding with padding_idx: the padding row starts at zero and gets no gradient, as in torch. */
export class EmbeddingTable extends Module {
  readonly weight: Tensor;
  constructor(
    num: number,
    dim: number,
    std: number,
    private readonly paddingIdx: number | null,
  ) {
    super();
    this.weight = this.param('weight', normalInit([num, dim], std, paddingIdx));
  }

  /** A frozen bf16 copy that replaces `weight` (quantised LoRA bases: `weight` is then released). */
  bf16: QuantizedWeight | null = null;

  forward(ids: Tensor): Tensor {
    if (this.bf16) return gatherBf16(this.bf16, ids);
    return embedWithPadding(this.weight, ids, this.paddingIdx);
  }
}

/** Rows of a bf16 table widened to fp32 (no gradient: the table is frozen). */
function gatherBf16(table: QuantizedWeight, ids: Tensor): Tensor {
  const C = table.cols;
  const idv = F.contiguous(ids).intData;
  const src = table.data as Uint16Array;
  const out = new Float32Array(idv.length * C);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < idv.length; i++) {
    const id = idv[i];
    if (id < 0 || id >= table.rows) throw new ModelError(`token id ${id} is outside the embedding table (${table.rows} rows)`);
    for (let c = 0, r = id * C; c < C; c++) bits[i * C + c] = src[r + c] << 16;
  }
  return Tensor.wrap(out, [...ids.shape, C]);
}

function eosIds(config: LlamaConfig): number[] {
  const e = config.eos_token_id;
  return e === null ? [] : Array.isArray(e) ? e : [e];
}

/**
 * Llama (or Mistral / Qwen2) with a language-modelling head (transformers' LlamaForCausalLM).
 * @example
 * const model = new LlamaForCausalLM(parseHfConfigText(text, 'config.json') as LlamaConfig);
 * const next = model.logits({ inputIds, lastOnly: true }); // (B, 1, vocab)
 */
export class LlamaForCausalLM extends Module implements PretrainedTaskModel, CausalLM {
  readonly task: TaskName = 'text-generation';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules;
  readonly model: LlamaModel;
  private readonly lmHead: Linear | null;
  constructor(readonly hfConfig: LlamaConfig) {
    super();
    this.architecture = `${CLASS_PREFIX[hfConfig.model_type]}ForCausalLM`;
    this.model = this.child('model', new LlamaModel(hfConfig));
    const { hidden_size: C, vocab_size: V, initializer_range: std } = hfConfig;
    this.lmHead = hfConfig.tie_word_embeddings ? null : this.child('lm_head', new Linear(C, V, { bias: false, std }));
    this.checkpointRules = hfConfig.tie_word_embeddings ? LLAMA_RULES : LLAMA_UNTIED_RULES;
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  get numLayers(): number {
    return this.hfConfig.num_hidden_layers;
  }

  get vocabSize(): number {
    return this.hfConfig.vocab_size;
  }

  get eosTokenIds(): number[] {
    return eosIds(this.hfConfig);
  }

  get padTokenId(): number | null {
    return this.hfConfig.pad_token_id;
  }

  newCache(): KVCache {
    return new KVCache(this.hfConfig.num_hidden_layers);
  }

  logits(inputs: DecoderInputs): Tensor {
    let h = this.model.hiddenStates(inputs);
    if (inputs.lastOnly) h = F.narrow(h, 1, h.shape[1] - 1, 1);
    if (this.lmHead) return projection(this, 'lm_head').forward(h);
    const table = this.model.embedTokens;
    return table.bf16 ? F.linearQuantized(h, table.bf16, null) : F.linear(h, table.weight, null);
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.logits({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { logits, loss: batch.labels ? causalLmLoss(logits, batch.labels) : null };
  }
}

/**
 * Llama-family model with a classification head on the last non-padding token (transformers'
 * LlamaForSequenceClassification; needs pad_token_id for batches larger than 1).
 * @example const { logits, loss } = new LlamaForSequenceClassification(cfg).forward({ inputIds, labels });
 */
export class LlamaForSequenceClassification extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = LLAMA_UNTIED_RULES;
  readonly model: LlamaModel;
  readonly score: Linear;
  constructor(readonly hfConfig: LlamaConfig) {
    super();
    checkHeadLabels(this.task, hfConfig.num_labels);
    this.architecture = `${CLASS_PREFIX[hfConfig.model_type]}ForSequenceClassification`;
    this.model = this.child('model', new LlamaModel(hfConfig));
    this.score = this.child('score', new Linear(hfConfig.hidden_size, hfConfig.num_labels, { bias: false, std: hfConfig.initializer_range }));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    const pooled = gatherPositions(hidden, lastNonPadIndex(batch.inputIds, this.hfConfig.pad_token_id));
    const logits = projection(this, 'score').forward(pooled);
    return { logits, loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null };
  }
}

const LLAMA_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'feature-extraction'];

/** The Llama family (Llama, Mistral, Qwen2) for pretrained.ts. */
export const LLAMA_FAMILY: ModelFamily = {
  modelTypes: ['llama', 'mistral', 'qwen2'],
  baseModelPrefix: 'model',
  tasks: LLAMA_TASKS,
  architectures: Object.fromEntries(
    Object.values(CLASS_PREFIX).flatMap((p) => [
      [`${p}ForCausalLM`, 'text-generation'],
      [`${p}ForSequenceClassification`, 'text-classification'],
      [`${p}Model`, 'feature-extraction'],
    ]),
  ) as Record<string, TaskName>,
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'Llama', ['llama', 'mistral', 'qwen2']);
    switch (task) {
      case 'text-generation': return new LlamaForCausalLM(cfg);
      case 'text-classification': return new LlamaForSequenceClassification(cfg);
      case 'feature-extraction': return new LlamaModel(cfg);
      default: throw unsupportedTask('Llama', task, LLAMA_TASKS);
    }
  },
};

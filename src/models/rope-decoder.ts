// The decoder block shared by the RoPE decoder families added after Llama (qwen3.ts, gemma.ts, phi3.ts),
// written once and switched by a DecoderSpec that each family derives from its config.json exactly as its
// transformers modeling file does: separate or fused (Phi-3) q/k/v and gate/up projections, per-head q/k
// RMSNorm (Qwen3, Gemma 3), Gemma's (1 + weight) RMSNorm, pre/post "sandwich" norms and √hidden embedding
// scale, partial rotary and longrope short/long factors with their attention factor (Phi-3), per-layer
// sliding windows with their own RoPE base (Gemma 3), attention and final-logit soft-capping (Gemma 2).
// Heads: ForCausalLM (generation), ForSequenceClassification (last non-pad token), ForTokenClassification.
// Not here: config parsing (src/io), the families' registries (their files), Llama/Mistral/Qwen2 (llama.ts).

import { ModelError } from '../errors.ts';
import type { HfConfig } from './hf-config.ts';
import { nextSeed } from '../nn/init.ts';
import { Linear, Module, RMSNorm } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import {
  causalLmLoss, decoderKeyMask, defaultPositions, gatherPositions, intValues, KVCache, lastNonPadIndex, projection,
  type CausalLM, type DecoderInputs,
} from './decoder.ts';
import { maskedAttention } from './attention.ts';
import { activation, meanPool, ModuleList } from './common.ts';
import { configJsonFor, type CheckpointRules, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, sequenceClassificationLoss, tokenLevelLoss } from './heads.ts';
import { applyRotary, EmbeddingTable } from './llama.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/** RoPE of one layer type: inverse frequencies (rotary dim / 2), longrope's long set, and the cos/sin scale. */
export interface RopeSpec {
  invFreq: Float64Array;
  /** longrope: frequencies used once max(position_ids) + 1 exceeds `originalMax`; null otherwise. */
  longInvFreq: Float64Array | null;
  originalMax: number;
  /** Multiplies cos and sin (transformers' attention_scaling; 1 for plain RoPE). */
  attentionFactor: number;
}

export type LayerType = 'full_attention' | 'sliding_attention';

/** Everything that differs between the decoder families, resolved from config.json. */
export interface DecoderSpec {
  /** transformers class-name prefix ("Qwen3", "Gemma2", "Gemma3", "Phi3"). */
  prefix: string;
  /** Class names of the heads (they differ from `${prefix}For…` for Gemma 3 text). */
  classes: { model: string; causal: string; seqCls: string; tokenCls: string | null };
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  layers: number;
  vocab: number;
  eps: number;
  std: number;
  padId: number | null;
  eosIds: number[];
  act: string;
  actKey: string;
  attentionBias: boolean;
  /** Phi-3: one qkv_proj and one gate_up_proj. */
  fused: boolean;
  /** Per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3). */
  qkNorm: boolean;
  /** Gemma: RMSNorm multiplies by (1 + weight), weights start at 0. */
  onePlusNorm: boolean;
  /** Gemma: pre_feedforward_layernorm / post_feedforward_layernorm and a norm on the attention output. */
  sandwich: boolean;
  /** Gemma: embeddings multiplied by √hidden (as a float32 scalar); null = no scaling. */
  embedScale: number | null;
  attnScale: number;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
  layerTypes: LayerType[];
  slidingWindow: number | null;
  rope: Record<LayerType, RopeSpec>;
  /** Rotated leading dims of each head (Phi-3's partial_rotary_factor). */
  rotaryDim: number;
  tieEmbeddings: boolean;
  residDropout: number;
  attentionDropout: number;
  classifierDropout: number;
}

/** RoPE inverse frequencies in float32 as transformers computes them: 1 / (factor · base^(2i/dim)). */
export function plainInvFreq(base: number, dim: number, factors: readonly number[] | null = null): Float64Array {
  const f = Math.fround;
  const inv = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const p = f(Math.pow(f(base), f((2 * i) / dim)));
    inv[i] = f(1 / (factors ? f(f(factors[i]) * p) : p));
  }
  return inv;
}

/** Inverted dropout in training mode (functional: no module to register). */
function dropoutIf(m: Module, x: Tensor, p: number): Tensor {
  return m.training && p > 0 ? F.dropout(x, p, nextSeed()) : x;
}

/** Gemma's RMSNorm: x / rms(x) * (1 + weight), weight initialised to 0. */
export class GemmaRMSNorm extends Module {
  readonly weight: Tensor;
  constructor(dim: number, readonly eps: number) {
    super();
    this.weight = this.param('weight', F.untracked(() => Tensor.zeros([dim])));
  }

  forward(x: Tensor): Tensor {
    return F.rmsNorm(x, F.addScalar(this.weight, 1), this.eps);
  }
}

function makeNorm(spec: DecoderSpec, dim: number): Module & { forward(x: Tensor): Tensor } {
  return spec.onePlusNorm ? new GemmaRMSNorm(dim, spec.eps) : new RMSNorm(dim, spec.eps);
}

/** cos, sin (P, 1, T, dim) for int32 positions (P, T), scaled by `factor` (float32 throughout). */
function ropeTables(invFreq: Float64Array, pos: Int32Array, P: number, T: number, factor: number, like: Tensor): { cos: Tensor; sin: Tensor } {
  const half = invFreq.length;
  const D = 2 * half;
  const f = Math.fround;
  const cos = new Float64Array(P * T * D);
  const sin = new Float64Array(P * T * D);
  for (let r = 0; r < P * T; r++) {
    for (let j = 0; j < half; j++) {
      const a = f(pos[r] * invFreq[j]);
      const c = factor === 1 ? f(Math.cos(a)) : f(f(Math.cos(a)) * f(factor));
      const s = factor === 1 ? f(Math.sin(a)) : f(f(Math.sin(a)) * f(factor));
      cos[r * D + j] = c;
      cos[r * D + j + half] = c;
      sin[r * D + j] = s;
      sin[r * D + j + half] = s;
    }
  }
  return { cos: Tensor.from(cos, [P, 1, T, D], like.dtype, like.backend), sin: Tensor.from(sin, [P, 1, T, D], like.dtype, like.backend) };
}

interface LayerContext {
  keyMask: Tensor | null;
  rope: Record<LayerType, { cos: Tensor; sin: Tensor }>;
  cache: KVCache | null;
  layer: number;
}

export class DecoderAttention extends Module {
  constructor(private readonly spec: DecoderSpec, private readonly layerType: LayerType) {
    super();
    const { hidden: C, heads: H, kvHeads: Hkv, headDim: D, std, attentionBias: bias } = spec;
    if (spec.fused) {
      this.child('qkv_proj', new Linear(C, (H + 2 * Hkv) * D, { bias, std }));
    } else {
      this.child('q_proj', new Linear(C, H * D, { bias, std }));
      this.child('k_proj', new Linear(C, Hkv * D, { bias, std }));
      this.child('v_proj', new Linear(C, Hkv * D, { bias, std }));
    }
    this.child('o_proj', new Linear(H * D, C, { bias, std }));
    if (spec.qkNorm) {
      this.child('q_norm', makeNorm(spec, D));
      this.child('k_norm', makeNorm(spec, D));
    }
  }

  /** Leading `rotaryDim` dims of each head rotated, the rest passed through (partial rotary). */
  private rotate(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const R = this.spec.rotaryDim;
    const D = x.shape[3];
    if (R === D) return applyRotary(x, cos, sin);
    return F.concat([applyRotary(F.narrow(x, 3, 0, R), cos, sin), F.narrow(x, 3, R, D - R)], 3);
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const [B, T] = x.shape;
    const { heads: H, kvHeads: Hkv, headDim: D } = this.spec;
    let q: Tensor;
    let k: Tensor;
    let v: Tensor;
    if (this.spec.fused) {
      const qkv = projection(this, 'qkv_proj').forward(x);
      q = F.narrow(qkv, 2, 0, H * D);
      k = F.narrow(qkv, 2, H * D, Hkv * D);
      v = F.narrow(qkv, 2, (H + Hkv) * D, Hkv * D);
    } else {
      q = projection(this, 'q_proj').forward(x);
      k = projection(this, 'k_proj').forward(x);
      v = projection(this, 'v_proj').forward(x);
    }
    let q4 = F.reshape(q, [B, T, H, D]); // (B, T, H, D)
    let k4 = F.reshape(k, [B, T, Hkv, D]);
    if (this.spec.qkNorm) {
      q4 = projection(this, 'q_norm').forward(q4);
      k4 = projection(this, 'k_norm').forward(k4);
    }
    const { cos, sin } = ctx.rope[this.layerType];
    const qh = this.rotate(F.transpose(q4, 1, 2), cos, sin); // (B, H, T, D)
    let kh = this.rotate(F.transpose(k4, 1, 2), cos, sin);
    let vh = F.transpose(F.reshape(v, [B, T, Hkv, D]), 1, 2);
    if (ctx.cache) ({ k: kh, v: vh } = ctx.cache.append(ctx.layer, kh, vh));
    const y = maskedAttention(qh, kh, vh, {
      keyMask: ctx.keyMask,
      causal: true,
      scale: this.spec.attnScale,
      window: this.layerType === 'sliding_attention' ? this.spec.slidingWindow : null,
      softcap: this.spec.attnSoftcap,
      dropoutP: this.training ? this.spec.attentionDropout : 0,
    });
    return projection(this, 'o_proj').forward(F.reshape(F.transpose(y, 1, 2), [B, T, H * D]));
  }
}

/** Gated MLP: down_proj(act(gate) * up), gate and up from gate_proj/up_proj or one gate_up_proj (gate first). */
export class DecoderMLP extends Module {
  private readonly act: (x: Tensor) => Tensor;
  constructor(private readonly spec: DecoderSpec) {
    super();
    const { hidden: C, intermediate: I, std } = spec;
    if (spec.fused) {
      this.child('gate_up_proj', new Linear(C, 2 * I, { bias: false, std }));
    } else {
      this.child('gate_proj', new Linear(C, I, { bias: false, std }));
      this.child('up_proj', new Linear(C, I, { bias: false, std }));
    }
    this.child('down_proj', new Linear(I, C, { bias: false, std }));
    this.act = activation(spec.act, spec.actKey);
  }

  forward(x: Tensor): Tensor {
    const I = this.spec.intermediate;
    let gate: Tensor;
    let up: Tensor;
    if (this.spec.fused) {
      const gu = projection(this, 'gate_up_proj').forward(x);
      gate = F.narrow(gu, gu.ndim - 1, 0, I);
      up = F.narrow(gu, gu.ndim - 1, I, I);
    } else {
      gate = projection(this, 'gate_proj').forward(x);
      up = projection(this, 'up_proj').forward(x);
    }
    return projection(this, 'down_proj').forward(F.mul(this.act(gate), up));
  }
}

export class DecoderLayer extends Module {
  readonly selfAttn: DecoderAttention;
  readonly mlp: DecoderMLP;
  constructor(private readonly spec: DecoderSpec, layerType: LayerType) {
    super();
    this.selfAttn = this.child('self_attn', new DecoderAttention(spec, layerType));
    this.mlp = this.child('mlp', new DecoderMLP(spec));
    this.child('input_layernorm', makeNorm(spec, spec.hidden));
    this.child('post_attention_layernorm', makeNorm(spec, spec.hidden));
    if (spec.sandwich) {
      this.child('pre_feedforward_layernorm', makeNorm(spec, spec.hidden));
      this.child('post_feedforward_layernorm', makeNorm(spec, spec.hidden));
    }
  }

  forward(x: Tensor, ctx: LayerContext): Tensor {
    const norm = (name: string, t: Tensor) => projection(this, name).forward(t);
    const drop = (t: Tensor) => dropoutIf(this, t, this.spec.residDropout);
    if (this.spec.sandwich) {
      // Gemma: x + post_attention_norm(attn(input_norm(x))); h + post_ff_norm(mlp(pre_ff_norm(h))).
      const h = F.add(x, norm('post_attention_layernorm', this.selfAttn.forward(norm('input_layernorm', x), ctx)));
      return F.add(h, norm('post_feedforward_layernorm', this.mlp.forward(norm('pre_feedforward_layernorm', h))));
    }
    const h = F.add(x, drop(this.selfAttn.forward(norm('input_layernorm', x), ctx)));
    return F.add(h, drop(this.mlp.forward(norm('post_attention_layernorm', h))));
  }
}

const TIED_RULES: CheckpointRules = { tied: { 'lm_head.weight': 'model.embed_tokens.weight' }, ignoreUnexpected: [/\.rotary_emb\.inv_freq$/] };
const UNTIED_RULES: CheckpointRules = { ignoreUnexpected: [/\.rotary_emb\.inv_freq$/] };

/** The decoder trunk (transformers' <Family>Model). As a task model it mean-pools the final hidden states. */
export class DecoderModel extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = UNTIED_RULES;
  readonly embedTokens: EmbeddingTable;
  readonly layers: ModuleList<DecoderLayer>;
  readonly norm: Module & { forward(x: Tensor): Tensor };
  constructor(readonly hfConfig: HfConfig, readonly spec: DecoderSpec) {
    super();
    this.architecture = spec.classes.model;
    this.embedTokens = this.child('embed_tokens', new EmbeddingTable(spec.vocab, spec.hidden, spec.std, spec.padId));
    this.layers = this.child('layers', new ModuleList(spec.layerTypes.map((t) => new DecoderLayer(spec, t))));
    this.norm = this.child('norm', makeNorm(spec, spec.hidden));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { loss: null, logits: meanPool(hidden, batch.attentionMask) };
  }

  private tablesFor(rope: RopeSpec, positionIds: Tensor, like: Tensor): { cos: Tensor; sin: Tensor } {
    const [P, T] = positionIds.shape;
    const pos = intValues(positionIds);
    let inv = rope.invFreq;
    if (rope.longInvFreq) {
      let max = -1;
      for (const p of pos) max = Math.max(max, p);
      if (max + 1 > rope.originalMax) inv = rope.longInvFreq; // transformers' longrope_frequency_update
    }
    return ropeTables(inv, pos, P, T, rope.attentionFactor, like);
  }

  /** Final hidden states (B, T, C). */
  hiddenStates(inputs: DecoderInputs): Tensor {
    const { inputIds } = inputs;
    if (inputIds.ndim !== 2) throw new ModelError(`input_ids must be (batch, tokens), got ${inputIds.describe()}`);
    const [B, T] = inputIds.shape;
    const past = inputs.cache?.length ?? 0;
    let h = this.embedTokens.forward(inputIds);
    if (this.spec.embedScale !== null) h = F.scale(h, this.spec.embedScale);
    const positions = inputs.positionIds ?? defaultPositions(past, T);
    const full = this.tablesFor(this.spec.rope.full_attention, positions, h);
    const sliding = this.spec.rope.sliding_attention === this.spec.rope.full_attention ? full : this.tablesFor(this.spec.rope.sliding_attention, positions, h);
    const ctx: LayerContext = {
      keyMask: decoderKeyMask(inputs.attentionMask, B, past + T, h),
      rope: { full_attention: full, sliding_attention: sliding },
      cache: inputs.cache ?? null,
      layer: 0,
    };
    this.layers.items.forEach((layer, i) => {
      h = layer.forward(h, { ...ctx, layer: i });
    });
    return this.norm.forward(h);
  }
}

/** The decoder with a language-modelling head (tied to the embeddings when tie_word_embeddings). */
export class DecoderForCausalLM extends Module implements PretrainedTaskModel, CausalLM {
  readonly task: TaskName = 'text-generation';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules;
  readonly model: DecoderModel;
  constructor(readonly hfConfig: HfConfig, readonly spec: DecoderSpec) {
    super();
    this.architecture = spec.classes.causal;
    this.model = this.child('model', new DecoderModel(hfConfig, spec));
    if (!spec.tieEmbeddings) this.child('lm_head', new Linear(spec.hidden, spec.vocab, { bias: false, std: spec.std }));
    this.checkpointRules = spec.tieEmbeddings ? TIED_RULES : UNTIED_RULES;
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  get numLayers(): number {
    return this.spec.layers;
  }

  get vocabSize(): number {
    return this.spec.vocab;
  }

  get eosTokenIds(): number[] {
    return this.spec.eosIds;
  }

  get padTokenId(): number | null {
    return this.spec.padId;
  }

  newCache(): KVCache {
    return new KVCache(this.spec.layers);
  }

  /** transformers' Phi3ForCausalLM.prepare_inputs_for_generation: drop the cache when longrope switches to the long factors. */
  cacheInvalidAt(past: number, total: number): boolean {
    const rope = this.spec.rope.full_attention;
    return rope.longInvFreq !== null && past > 0 && total >= rope.originalMax + 1 && past <= rope.originalMax;
  }

  logits(inputs: DecoderInputs): Tensor {
    let h = this.model.hiddenStates(inputs);
    if (inputs.lastOnly) h = F.narrow(h, 1, h.shape[1] - 1, 1);
    let logits = this.spec.tieEmbeddings ? F.linear(h, this.model.embedTokens.weight, null) : projection(this, 'lm_head').forward(h);
    const cap = this.spec.finalSoftcap;
    if (cap !== null) logits = F.scale(F.tanh(F.scale(logits, 1 / cap)), cap);
    return logits;
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.logits({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { logits, loss: batch.labels ? causalLmLoss(logits, batch.labels) : null };
  }
}

/** transformers' GenericForSequenceClassification: `score` (no bias) on the last non-padding token. */
export class DecoderForSequenceClassification extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = UNTIED_RULES;
  readonly model: DecoderModel;
  readonly score: Linear;
  constructor(readonly hfConfig: HfConfig, readonly spec: DecoderSpec) {
    super();
    checkHeadLabels(this.task, hfConfig.num_labels);
    this.architecture = spec.classes.seqCls;
    this.model = this.child('model', new DecoderModel(hfConfig, spec));
    this.score = this.child('score', new Linear(spec.hidden, hfConfig.num_labels, { bias: false, std: spec.std }));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    const pooled = gatherPositions(hidden, lastNonPadIndex(batch.inputIds, this.spec.padId));
    const logits = this.score.forward(pooled);
    return { logits, loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null };
  }
}

/** transformers' GenericForTokenClassification: dropout then `score` (with bias) on every token. */
export class DecoderForTokenClassification extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'token-classification';
  readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = UNTIED_RULES;
  readonly model: DecoderModel;
  readonly score: Linear;
  constructor(readonly hfConfig: HfConfig, readonly spec: DecoderSpec) {
    super();
    checkHeadLabels(this.task, hfConfig.num_labels);
    if (spec.classes.tokenCls === null) throw new ModelError(`${spec.prefix} has no token-classification head in transformers`);
    this.architecture = spec.classes.tokenCls;
    this.model = this.child('model', new DecoderModel(hfConfig, spec));
    this.score = this.child('score', new Linear(spec.hidden, hfConfig.num_labels, { std: spec.std }));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.model.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    const logits = this.score.forward(dropoutIf(this, hidden, this.spec.classifierDropout));
    return { logits, loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null };
  }
}

/** Builds the task model for a DecoderSpec. */
export function buildDecoder(task: TaskName, config: HfConfig, spec: DecoderSpec, family: string, tasks: readonly TaskName[]): PretrainedTaskModel {
  switch (task) {
    case 'text-generation': return new DecoderForCausalLM(config, spec);
    case 'text-classification': return new DecoderForSequenceClassification(config, spec);
    case 'feature-extraction': return new DecoderModel(config, spec);
    case 'token-classification':
      if (spec.classes.tokenCls !== null) return new DecoderForTokenClassification(config, spec);
      break;
    default:
      break;
  }
  throw new ModelError(`${family} models have no "${task}" head; supported tasks: ${tasks.join(', ')}`);
}

/** eos_token_id as a list. */
export function idList(e: number | number[] | null): number[] {
  return e === null ? [] : Array.isArray(e) ? e : [e];
}

/** layer_types from config.json (kept in `extra`) checked against num_hidden_layers, or null when absent. */
export function layerTypesFromConfig(config: HfConfig, layers: number): LayerType[] | null {
  const raw = config.extra['layer_types'];
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.length !== layers || !raw.every((t) => t === 'full_attention' || t === 'sliding_attention')) {
    throw new ModelError(`config.json "layer_types" must list "full_attention" or "sliding_attention" for each of the ${layers} layers, got ${JSON.stringify(raw)}`);
  }
  return raw as LayerType[];
}

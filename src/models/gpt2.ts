// GPT-2 as in transformers' modeling_gpt2.py: learned positions, pre-LayerNorm blocks, fused qkv
// projection, tanh-GELU ("gelu_new") MLP, final LayerNorm, and two heads: GPT2LMHeadModel (lm_head tied
// to wte) and GPT2ForSequenceClassification (score on the last non-padding token).
// Checkpoint exceptions (GPT2_LAYOUT): Conv1D weights are stored (in, out) and transposed on load/save;
// lm_head.weight is tied to transformer.wte.weight and not saved. Not here: generation (src/generate).

import { ModelError } from '../errors.ts';
import type { Gpt2Config, HfConfig } from './hf-config.ts';
import { Dropout, Embedding, LayerNorm, Linear, Module } from '../nn/module.ts';
import { nextSeed } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import type { Tensor } from '../tensor/index.ts';
import {
  causalLmLoss, decoderKeyMask, defaultPositions, gatherPositions, KVCache, lastNonPadIndex, projection,
  type CausalLM, type DecoderInputs,
} from './decoder.ts';
import { activation, meanPool, ModuleList } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, sequenceClassificationLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/**
 * How GPT-2 checkpoints differ from our parameter paths, in one list:
 * - `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj` are Conv1D: weight stored (in, out), we keep (out, in);
 * - `lm_head.weight` is tied to `transformer.wte.weight` (not saved; accepted when present);
 * - `attn.bias` / `attn.masked_bias` are causal-mask buffers of old checkpoints (ignored);
 * - original OpenAI checkpoints have no `transformer.` prefix (pretrained.ts's base_model_prefix rule).
 */
export const GPT2_RULES: CheckpointRules = {
  tied: { 'lm_head.weight': 'transformer.wte.weight' },
  transposed: [/\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/],
  ignoreUnexpected: [/\.attn\.(masked_)?bias$/],
};
const GPT2_UNTIED_RULES: CheckpointRules = { ...GPT2_RULES, tied: {} };

/** transformers' Conv1D: a Linear whose checkpoint weight is stored transposed (see GPT2_LAYOUT). */
export class Conv1D extends Linear {}

interface BlockContext {
  keyMask: Tensor | null;
  cache: KVCache | null;
  layer: number;
}

export class GPT2Attention extends Module {
  private readonly attnDropout: number;
  private readonly residDropout: Dropout;
  private readonly scale: number;
  constructor(
    private readonly config: Gpt2Config,
    layerIdx: number,
  ) {
    super();
    const C = config.n_embd;
    const std = config.initializer_range;
    this.child('c_attn', new Conv1D(C, 3 * C, { std }));
    this.child('c_proj', new Conv1D(C, C, { std: std / Math.sqrt(2 * config.n_layer) }));
    this.attnDropout = config.attn_pdrop;
    this.residDropout = this.child('resid_dropout', new Dropout(config.resid_pdrop));
    let scale = config.scale_attn_weights ? 1 / Math.sqrt(C / config.n_head) : 1;
    if (config.scale_attn_by_inverse_layer_idx) scale /= layerIdx + 1;
    this.scale = scale;
  }

  forward(x: Tensor, ctx: BlockContext): Tensor {
    const [B, T, C] = x.shape;
    const H = this.config.n_head;
    const D = C / H;
    const qkv = projection(this, 'c_attn').forward(x); // (B, T, 3C)
    const heads = (i: number): Tensor => F.permute(F.reshape(F.narrow(qkv, 2, i * C, C), [B, T, H, D]), [0, 2, 1, 3]);
    const q = heads(0);
    let k = heads(1);
    let v = heads(2);
    if (ctx.cache) ({ k, v } = ctx.cache.append(ctx.layer, k, v));
    const dropoutP = this.training ? this.attnDropout : 0;
    const y = F.attention(q, k, v, { keyMask: ctx.keyMask, causal: true, scale: this.scale, dropoutP, seed: dropoutP > 0 ? nextSeed() : 0 });
    const merged = F.reshape(F.permute(y, [0, 2, 1, 3]), [B, T, C]);
    return this.residDropout.forward(projection(this, 'c_proj').forward(merged));
  }
}

export class GPT2MLP extends Module {
  private readonly act: (x: Tensor) => Tensor;
  private readonly dropout: Dropout;
  constructor(config: Gpt2Config) {
    super();
    const C = config.n_embd;
    const inner = config.n_inner ?? 4 * C;
    const std = config.initializer_range;
    this.child('c_fc', new Conv1D(C, inner, { std }));
    this.child('c_proj', new Conv1D(inner, C, { std: std / Math.sqrt(2 * config.n_layer) }));
    this.act = activation(config.activation_function, 'activation_function');
    this.dropout = this.child('dropout', new Dropout(config.resid_pdrop));
  }

  forward(x: Tensor): Tensor {
    const h = this.act(projection(this, 'c_fc').forward(x));
    return this.dropout.forward(projection(this, 'c_proj').forward(h));
  }
}

export class GPT2Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: GPT2Attention;
  readonly ln2: LayerNorm;
  readonly mlp: GPT2MLP;
  constructor(config: Gpt2Config, layerIdx: number) {
    super();
    this.ln1 = this.child('ln_1', new LayerNorm(config.n_embd, config.layer_norm_epsilon));
    this.attn = this.child('attn', new GPT2Attention(config, layerIdx));
    this.ln2 = this.child('ln_2', new LayerNorm(config.n_embd, config.layer_norm_epsilon));
    this.mlp = this.child('mlp', new GPT2MLP(config));
  }

  forward(x: Tensor, ctx: BlockContext): Tensor {
    const h = F.add(x, this.attn.forward(this.ln1.forward(x), ctx));
    return F.add(h, this.mlp.forward(this.ln2.forward(h)));
  }
}

/**
 * The GPT-2 trunk (transformers' GPT2Model): embeddings, blocks, final LayerNorm. As a task model it
 * does feature extraction: `logits` are the hidden states averaged over the attention mask, (B, C).
 * @example const emb = gpt2.forward({ inputIds, attentionMask }).logits; // (B, n_embd)
 */
export class GPT2Model extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string = 'GPT2Model';
  readonly baseModelPrefix: string = 'transformer';
  readonly checkpointRules: CheckpointRules = GPT2_UNTIED_RULES;
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly h: ModuleList<GPT2Block>;
  readonly lnF: LayerNorm;
  private readonly drop: Dropout;
  constructor(readonly hfConfig: Gpt2Config) {
    super();
    const config = hfConfig;
    const std = config.initializer_range;
    this.wte = this.child('wte', new Embedding(config.vocab_size, config.n_embd, { std }));
    this.wpe = this.child('wpe', new Embedding(config.n_positions, config.n_embd, { std }));
    this.drop = this.child('drop', new Dropout(config.embd_pdrop));
    this.h = this.child('h', new ModuleList(Array.from({ length: config.n_layer }, (_, i) => new GPT2Block(config, i))));
    this.lnF = this.child('ln_f', new LayerNorm(config.n_embd, config.layer_norm_epsilon));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { loss: null, logits: meanPool(hidden, batch.attentionMask) };
  }

  /** Final hidden states (B, T, C). */
  hiddenStates(inputs: DecoderInputs): Tensor {
    const { inputIds } = inputs;
    if (inputIds.ndim !== 2) throw new ModelError(`input_ids must be (batch, tokens), got ${inputIds.describe()}`);
    const [B, T] = inputIds.shape;
    const past = inputs.cache?.length ?? 0;
    if (past + T > this.hfConfig.n_positions) {
      throw new ModelError(`GPT-2 takes at most n_positions = ${this.hfConfig.n_positions} tokens; got ${past + T}. Truncate the input (max_length) or use a shorter block size`);
    }
    const pos = inputs.positionIds ?? defaultPositions(past, T);
    let h = F.add(this.wte.forward(inputIds), this.wpe.forward(pos));
    h = this.drop.forward(h);
    const ctx: BlockContext = { keyMask: decoderKeyMask(inputs.attentionMask, B, past + T, h), cache: inputs.cache ?? null, layer: 0 };
    this.h.items.forEach((block, layer) => {
      h = block.forward(h, { ...ctx, layer });
    });
    return this.lnF.forward(h);
  }
}

function eosIds(config: Gpt2Config): number[] {
  const e = config.eos_token_id;
  return e === null ? [] : Array.isArray(e) ? e : [e];
}

/**
 * GPT-2 with a language-modelling head (transformers' GPT2LMHeadModel); lm_head is tied to wte
 * unless config.tie_word_embeddings is false.
 * @example
 * const model = new GPT2LMHeadModel(parseHfConfig(json, 'config.json') as Gpt2Config);
 * const { loss, logits } = model.forward({ inputIds, attentionMask, labels: inputIds });
 */
export class GPT2LMHeadModel extends Module implements PretrainedTaskModel, CausalLM {
  readonly task: TaskName = 'text-generation';
  readonly architecture: string = 'GPT2LMHeadModel';
  readonly baseModelPrefix: string = 'transformer';
  readonly checkpointRules: CheckpointRules;
  readonly transformer: GPT2Model;
  private readonly lmHead: Linear | null;
  constructor(readonly hfConfig: Gpt2Config) {
    super();
    this.transformer = this.child('transformer', new GPT2Model(hfConfig));
    this.lmHead = hfConfig.tie_word_embeddings ? null : this.child('lm_head', new Linear(hfConfig.n_embd, hfConfig.vocab_size, { bias: false, std: hfConfig.initializer_range }));
    this.checkpointRules = hfConfig.tie_word_embeddings ? GPT2_RULES : GPT2_UNTIED_RULES;
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  get numLayers(): number {
    return this.hfConfig.n_layer;
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
    return new KVCache(this.hfConfig.n_layer);
  }

  logits(inputs: DecoderInputs): Tensor {
    let h = this.transformer.hiddenStates(inputs);
    if (inputs.lastOnly) h = F.narrow(h, 1, h.shape[1] - 1, 1);
    return this.lmHead ? this.lmHead.forward(h) : F.linear(h, this.transformer.wte.weight, null);
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.logits({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    return { logits, loss: batch.labels ? causalLmLoss(logits, batch.labels) : null };
  }
}

/**
 * GPT-2 with a classification head on the last non-padding token (transformers'
 * GPT2ForSequenceClassification; needs pad_token_id for batches larger than 1).
 * @example const { logits } = new GPT2ForSequenceClassification(cfg).forward({ inputIds, attentionMask });
 */
export class GPT2ForSequenceClassification extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly architecture: string = 'GPT2ForSequenceClassification';
  readonly baseModelPrefix: string = 'transformer';
  readonly checkpointRules: CheckpointRules = GPT2_UNTIED_RULES;
  readonly transformer: GPT2Model;
  readonly score: Linear;
  constructor(readonly hfConfig: Gpt2Config) {
    super();
    checkHeadLabels(this.task, hfConfig.num_labels);
    this.transformer = this.child('transformer', new GPT2Model(hfConfig));
    this.score = this.child('score', new Linear(hfConfig.n_embd, hfConfig.num_labels, { bias: false, std: hfConfig.initializer_range }));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.transformer.hiddenStates({ inputIds: batch.inputIds, attentionMask: batch.attentionMask ?? null });
    const pooled = gatherPositions(hidden, lastNonPadIndex(batch.inputIds, this.hfConfig.pad_token_id));
    const logits = projection(this, 'score').forward(pooled);
    return { logits, loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null };
  }
}

const GPT2_TASKS: readonly TaskName[] = ['text-generation', 'text-classification', 'feature-extraction'];

/** The GPT-2 family for pretrained.ts. */
export const GPT2_FAMILY: ModelFamily = {
  modelTypes: ['gpt2'],
  baseModelPrefix: 'transformer',
  tasks: GPT2_TASKS,
  architectures: {
    GPT2LMHeadModel: 'text-generation',
    GPT2ForSequenceClassification: 'text-classification',
    GPT2Model: 'feature-extraction',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'GPT-2', ['gpt2']);
    switch (task) {
      case 'text-generation': return new GPT2LMHeadModel(cfg);
      case 'text-classification': return new GPT2ForSequenceClassification(cfg);
      case 'feature-extraction': return new GPT2Model(cfg);
      default: throw unsupportedTask('GPT-2', task, GPT2_TASKS);
    }
  },
};

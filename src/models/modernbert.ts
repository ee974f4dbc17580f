// ModernBERT as transformers' modeling_modernbert.py computes it with its eager/SDPA (padded) attention:
// token embeddings → LayerNorm (no bias by default); pre-norm layers (no norm before layer 0's attention)
// with a fused Wqkv, RoPE whose base differs between global layers (every global_attn_every_n_layers-th,
// global_rope_theta) and local layers (local_rope_theta, attending within |i - j| <= local_attention / 2),
// GeGLU MLP (Wi split into input and gate: Wo(act(input) * gate)), no biases by default, final_norm.
// Heads: the prediction head (dense → act → norm) then classifier, for sequence classification (cls or
// mean pooling), token classification and QA; masked LM (head, then decoder tied to tok_embeddings + bias). Padding is masked as transformers' padded path does, so pad
// positions get the same values as transformers' default attention; pad tokens are not dropped (the unpadded
// flash path would zero them). Not here: the block math shared elsewhere (attention.ts).

import { ConfigError, ModelError } from '../errors.ts';
import type { HfConfig, ModernBertConfig } from './hf-config.ts';
import { isJsonObject } from '../io/json.ts';
import { Dropout, Embedding, Linear, Module } from '../nn/module.ts';
import { nextSeed, normalInit } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { defaultPositions, intValues } from './decoder.ts';
import { maskedAttention } from './attention.ts';
import { activation, batchShape, checkCompanion, embedWithPadding, firstToken, keyMaskOf, meanPool, ModuleList } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, questionAnsweringLoss, sequenceClassificationLoss, splitQaLogits, tokenLevelLoss } from './heads.ts';
import { TiedDecoder } from './bert.ts';
import { applyRotary } from './llama.ts';
import { plainInvFreq } from './rope-decoder.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/** nn.LayerNorm(hidden, eps, bias=norm_bias): weight always, bias only when norm_bias. */
export class ModernBertLayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(dim: number, readonly eps: number, withBias: boolean) {
    super();
    this.weight = this.param('weight', F.untracked(() => Tensor.full([dim], 1)));
    this.bias = withBias ? this.param('bias', F.untracked(() => Tensor.zeros([dim]))) : null;
  }

  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** Whether layer i attends locally (transformers: layer_id % global_attn_every_n_layers != 0). */
function isLocal(cfg: ModernBertConfig, i: number): boolean {
  return i % cfg.global_attn_every_n_layers !== 0;
}

/** RoPE bases of global and local layers (v5 configs: rope_parameters per layer type). */
export function modernBertRopeBases(cfg: ModernBertConfig): { global: number; local: number } {
  let global = cfg.global_rope_theta;
  let local = cfg.local_rope_theta ?? global;
  const rp = cfg.extra['rope_parameters'];
  const theta = (v: unknown): number | null => (isJsonObject(v as never) && typeof (v as { rope_theta?: unknown }).rope_theta === 'number' ? (v as { rope_theta: number }).rope_theta : null);
  if (isJsonObject(rp)) {
    global = theta(rp['full_attention']) ?? global;
    local = theta(rp['sliding_attention']) ?? local;
  }
  return { global, local };
}

interface EncoderContext {
  keyMask: Tensor | null;
  rope: { global: { cos: Tensor; sin: Tensor }; local: { cos: Tensor; sin: Tensor } };
}

export class ModernBertAttention extends Module {
  readonly Wqkv: Linear;
  readonly Wo: Linear;
  constructor(private readonly cfg: ModernBertConfig, private readonly local: boolean) {
    super();
    const C = cfg.hidden_size;
    this.Wqkv = this.child('Wqkv', new Linear(C, 3 * C, { bias: cfg.attention_bias, std: cfg.initializer_range }));
    this.Wo = this.child('Wo', new Linear(C, C, { bias: cfg.attention_bias, std: cfg.initializer_range / Math.sqrt(2 * cfg.num_hidden_layers) }));
  }

  forward(x: Tensor, ctx: EncoderContext): Tensor {
    const [B, T, C] = x.shape;
    const H = this.cfg.num_attention_heads;
    const D = C / H;
    const qkv = F.reshape(this.Wqkv.forward(x), [B, T, 3, H, D]); // transformers: view(bs, -1, 3, H, D)
    const part = (i: number) => F.transpose(F.reshape(F.narrow(qkv, 2, i, 1), [B, T, H, D]), 1, 2); // (B, H, T, D)
    const { cos, sin } = this.local ? ctx.rope.local : ctx.rope.global;
    const q = applyRotary(part(0), cos, sin);
    const k = applyRotary(part(1), cos, sin);
    const p = this.training ? this.cfg.attention_dropout : 0;
    const y = maskedAttention(q, k, part(2), {
      keyMask: ctx.keyMask, causal: false, scale: D ** -0.5, dropoutP: p,
      halfWindow: this.local ? Math.floor(this.cfg.local_attention / 2) : null,
    });
    const out = this.Wo.forward(F.reshape(F.transpose(y, 1, 2), [B, T, C]));
    return p > 0 ? F.dropout(out, p, nextSeed()) : out;
  }
}


/** GeGLU: Wo(drop(act(input) * gate)) with input, gate = Wi(x).chunk(2). */
export class ModernBertMLP extends Module {
  readonly Wi: Linear;
  readonly Wo: Linear;
  readonly drop: Dropout;
  private readonly act: (x: Tensor) => Tensor;
  constructor(private readonly cfg: ModernBertConfig) {
    super();
    const { hidden_size: C, intermediate_size: I, mlp_bias: bias, initializer_range: std } = cfg;
    this.Wi = this.child('Wi', new Linear(C, 2 * I, { bias, std }));
    this.act = activation(cfg.hidden_activation, 'hidden_activation');
    this.drop = this.child('drop', new Dropout(cfg.mlp_dropout));
    this.Wo = this.child('Wo', new Linear(I, C, { bias, std: std / Math.sqrt(2 * cfg.num_hidden_layers) }));
  }

  forward(x: Tensor): Tensor {
    const I = this.cfg.intermediate_size;
    const h = this.Wi.forward(x);
    const input = F.narrow(h, h.ndim - 1, 0, I);
    const gate = F.narrow(h, h.ndim - 1, I, I);
    return this.Wo.forward(this.drop.forward(F.mul(this.act(input), gate)));
  }
}

export class ModernBertEncoderLayer extends Module {
  readonly attn: ModernBertAttention;
  readonly mlp: ModernBertMLP;
  readonly mlpNorm: ModernBertLayerNorm;
  constructor(cfg: ModernBertConfig, private readonly index: number) {
    super();
    if (index !== 0) this.child('attn_norm', new ModernBertLayerNorm(cfg.hidden_size, cfg.norm_eps, cfg.norm_bias));
    this.attn = this.child('attn', new ModernBertAttention(cfg, isLocal(cfg, index)));
    this.mlpNorm = this.child('mlp_norm', new ModernBertLayerNorm(cfg.hidden_size, cfg.norm_eps, cfg.norm_bias));
    this.mlp = this.child('mlp', new ModernBertMLP(cfg));
  }

  forward(x: Tensor, ctx: EncoderContext): Tensor {
    const normed = this.index === 0 ? x : this.childModule<ModernBertLayerNorm>('attn_norm').forward(x);
    const h = F.add(x, this.attn.forward(normed, ctx));
    return F.add(h, this.mlp.forward(this.mlpNorm.forward(h)));
  }
}

/** Embeddings: drop(norm(tok_embeddings(ids))). */
export class ModernBertEmbeddings extends Module {
  readonly tokEmbeddings: Embedding;
  readonly norm: ModernBertLayerNorm;
  readonly drop: Dropout;
  constructor(private readonly cfg: ModernBertConfig) {
    super();
    this.tokEmbeddings = this.child('tok_embeddings', new Embedding(cfg.vocab_size, cfg.hidden_size, { std: cfg.initializer_range, paddingIdx: cfg.pad_token_id }));
    this.norm = this.child('norm', new ModernBertLayerNorm(cfg.hidden_size, cfg.norm_eps, cfg.norm_bias));
    this.drop = this.child('drop', new Dropout(cfg.embedding_dropout));
  }

  forward(ids: Tensor): Tensor {
    return this.drop.forward(this.norm.forward(embedWithPadding(this.tokEmbeddings.weight, ids, this.cfg.pad_token_id)));
  }
}

function ropeTable(invFreq: Float64Array, T: number, like: Tensor): { cos: Tensor; sin: Tensor } {
  const pos = intValues(defaultPositions(0, T));
  const half = invFreq.length;
  const D = 2 * half;
  const f = Math.fround;
  const cos = new Float64Array(T * D);
  const sin = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < half; j++) {
      const a = f(pos[t] * invFreq[j]);
      cos[t * D + j] = cos[t * D + j + half] = f(Math.cos(a));
      sin[t * D + j] = sin[t * D + j + half] = f(Math.sin(a));
    }
  }
  return { cos: Tensor.from(cos, [1, 1, T, D], like.dtype, like.backend), sin: Tensor.from(sin, [1, 1, T, D], like.dtype, like.backend) };
}

const RULES: CheckpointRules = { ignoreUnexpected: [/(^|\.)rotary_emb\./] };

/** The bare ModernBERT (ModernBertModel); as a task model it mean-pools (feature extraction). */
export class ModernBertModel extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string = 'ModernBertModel';
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = RULES;
  readonly embeddings: ModernBertEmbeddings;
  readonly layers: ModuleList<ModernBertEncoderLayer>;
  readonly finalNorm: ModernBertLayerNorm;
  private readonly invFreq: { global: Float64Array; local: Float64Array };
  constructor(readonly hfConfig: ModernBertConfig) {
    super();
    const cfg = hfConfig;
    if (!['cls', 'mean'].includes(cfg.classifier_pooling)) throw new ConfigError('classifier_pooling', `config.json: must be "cls" or "mean", got ${JSON.stringify(cfg.classifier_pooling)}`);
    const D = cfg.hidden_size / cfg.num_attention_heads;
    const bases = modernBertRopeBases(cfg);
    this.invFreq = { global: plainInvFreq(bases.global, D), local: plainInvFreq(bases.local, D) };
    this.embeddings = this.child('embeddings', new ModernBertEmbeddings(cfg));
    this.layers = this.child('layers', new ModuleList(Array.from({ length: cfg.num_hidden_layers }, (_, i) => new ModernBertEncoderLayer(cfg, i))));
    this.finalNorm = this.child('final_norm', new ModernBertLayerNorm(cfg.hidden_size, cfg.norm_eps, cfg.norm_bias));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  /** Last hidden states (B, T, C) after final_norm. */
  encode(batch: ModelBatch): Tensor {
    const { B, T } = batchShape(batch.inputIds);
    checkCompanion('attention_mask', batch.attentionMask, B, T);
    if (T > this.hfConfig.max_position_embeddings) throw new ModelError(`sequence length ${T} exceeds max_position_embeddings ${this.hfConfig.max_position_embeddings}; truncate inputs`);
    let h = this.embeddings.forward(batch.inputIds);
    const ctx: EncoderContext = {
      keyMask: keyMaskOf(batch.attentionMask, h),
      rope: { global: ropeTable(this.invFreq.global, T, h), local: ropeTable(this.invFreq.local, T, h) },
    };
    for (const layer of this.layers.items) h = layer.forward(h, ctx);
    return this.finalNorm.forward(h);
  }

  forward(batch: ModelBatch): ModelOutput {
    return { loss: null, logits: meanPool(this.encode(batch), batch.attentionMask) };
  }
}

/** ModernBertPredictionHead: norm(act(dense(x))). */
export class ModernBertPredictionHead extends Module {
  readonly dense: Linear;
  readonly norm: ModernBertLayerNorm;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: ModernBertConfig) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { bias: cfg.classifier_bias, std: cfg.initializer_range / Math.sqrt(2 * cfg.num_hidden_layers) }));
    this.act = activation(cfg.classifier_activation, 'classifier_activation');
    this.norm = this.child('norm', new ModernBertLayerNorm(cfg.hidden_size, cfg.norm_eps, cfg.norm_bias));
  }

  forward(x: Tensor): Tensor {
    return this.norm.forward(this.act(this.dense.forward(x)));
  }
}

abstract class ModernBertTaskModel extends Module implements PretrainedTaskModel {
  abstract readonly task: TaskName;
  abstract readonly architecture: string;
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules = RULES;
  readonly model: ModernBertModel;
  readonly head: ModernBertPredictionHead;
  readonly drop: Dropout;
  readonly classifier: Linear;
  constructor(readonly hfConfig: ModernBertConfig, task: TaskName) {
    super();
    checkHeadLabels(task, hfConfig.num_labels);
    this.model = this.child('model', new ModernBertModel(hfConfig));
    this.head = this.child('head', new ModernBertPredictionHead(hfConfig));
    this.drop = this.child('drop', new Dropout(hfConfig.classifier_dropout));
    this.classifier = this.child('classifier', new Linear(hfConfig.hidden_size, hfConfig.num_labels, { std: hfConfig.hidden_size ** -0.5 }));
    // transformers: trunc_normal_(std = hidden_size^-0.5, a/b = ± initializer_cutoff_factor · std) for the classifier.
    const std = hfConfig.hidden_size ** -0.5;
    const cut = hfConfig.initializer_cutoff_factor * std;
    const w = this.classifier.weight.data as Float32Array;
    const freshT = normalInit([w.length], std);
    const fresh = freshT.data as Float32Array;
    for (let i = 0; i < w.length; i++) w[i] = Math.max(-cut, Math.min(cut, fresh[i]));
    freshT.dispose();
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  /** classifier(drop(head(x))). */
  protected project(x: Tensor): Tensor {
    return this.classifier.forward(this.drop.forward(this.head.forward(x)));
  }

  abstract forward(batch: ModelBatch): ModelOutput;
}

export class ModernBertForSequenceClassification extends ModernBertTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly architecture: string = 'ModernBertForSequenceClassification';
  constructor(cfg: ModernBertConfig) {
    super(cfg, 'text-classification');
  }

  forward(batch: ModelBatch): ModelOutput {
    const hidden = this.model.encode(batch);
    const pooled = this.hfConfig.classifier_pooling === 'mean' ? meanPool(hidden, batch.attentionMask) : firstToken(hidden);
    const logits = this.project(pooled);
    return { logits, loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null };
  }
}

export class ModernBertForTokenClassification extends ModernBertTaskModel {
  readonly task: TaskName = 'token-classification';
  readonly architecture: string = 'ModernBertForTokenClassification';
  constructor(cfg: ModernBertConfig) {
    super(cfg, 'token-classification');
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.project(this.model.encode(batch));
    return { logits, loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null };
  }
}

export class ModernBertForQuestionAnswering extends ModernBertTaskModel {
  readonly task: TaskName = 'question-answering';
  readonly architecture: string = 'ModernBertForQuestionAnswering';
  constructor(cfg: ModernBertConfig) {
    super(cfg, 'question-answering');
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.project(this.model.encode(batch));
    const { start, end } = splitQaLogits(logits);
    const loss = batch.startPositions && batch.endPositions ? questionAnsweringLoss(start, end, batch.startPositions, batch.endPositions) : null;
    return { logits, startLogits: start, endLogits: end, loss };
  }
}


/**
 * ModernBertForMaskedLM: decoder(head(hidden)), the decoder's weight tied to model.embeddings.tok_embeddings
 * (tie_word_embeddings, default true; "decoder.weight" is the tied alias transformers does not save) with
 * its own bias when decoder_bias. Loss: cross-entropy over labels != -100. sparse_prediction: transformers
 * then decodes only the rows whose label is not sparse_pred_ignore_index and returns those (N, V) logits;
 * the loss is the same as here (those labels are treated as ignored), but we return all (B, T, V) logits.
 */
export class ModernBertForMaskedLM extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'fill-mask';
  readonly architecture: string = 'ModernBertForMaskedLM';
  readonly baseModelPrefix: string = 'model';
  readonly checkpointRules: CheckpointRules;
  readonly model: ModernBertModel;
  readonly head: ModernBertPredictionHead;
  readonly decoder: TiedDecoder;
  constructor(readonly hfConfig: ModernBertConfig) {
    super();
    const cfg = hfConfig;
    this.model = this.child('model', new ModernBertModel(cfg));
    this.head = this.child('head', new ModernBertPredictionHead(cfg));
    const std = cfg.initializer_range / Math.sqrt(2 * cfg.num_hidden_layers);
    this.decoder = this.child('decoder', new TiedDecoder(this.model.embeddings.tokEmbeddings, cfg.tie_word_embeddings, std, cfg.decoder_bias));
    this.checkpointRules = { ...RULES, tied: cfg.tie_word_embeddings ? { 'decoder.weight': 'model.embeddings.tok_embeddings.weight' } : {} };
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.decoder.forward(this.head.forward(this.model.encode(batch)));
    if (!batch.labels) return { logits, loss: null };
    let labels = batch.labels;
    const skip = this.hfConfig.sparse_pred_ignore_index;
    if (this.hfConfig.sparse_prediction && skip !== -100 && labels.dtype === 'int32') {
      const ids = F.contiguous(labels).intData;
      labels = Tensor.from(Int32Array.from(ids, (v) => (v === skip ? -100 : v)), labels.shape, 'int32', labels.backend);
    }
    return { logits, loss: tokenLevelLoss(this.task, logits, labels) };
  }
}

const TASKS: readonly TaskName[] = ['feature-extraction', 'text-classification', 'token-classification', 'question-answering', 'fill-mask'];

/** The ModernBERT family for pretrained.ts. */
export const MODERNBERT_FAMILY: ModelFamily = {
  modelTypes: ['modernbert'],
  baseModelPrefix: 'model',
  tasks: TASKS,
  architectures: {
    ModernBertModel: 'feature-extraction',
    ModernBertForSequenceClassification: 'text-classification',
    ModernBertForTokenClassification: 'token-classification',
    ModernBertForQuestionAnswering: 'question-answering',
    ModernBertForMaskedLM: 'fill-mask',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'ModernBERT', ['modernbert']);
    switch (task) {
      case 'feature-extraction': return new ModernBertModel(cfg);
      case 'text-classification': return new ModernBertForSequenceClassification(cfg);
      case 'token-classification': return new ModernBertForTokenClassification(cfg);
      case 'question-answering': return new ModernBertForQuestionAnswering(cfg);
      case 'fill-mask': return new ModernBertForMaskedLM(cfg);
      default: throw unsupportedTask('ModernBERT', task, TASKS);
    }
  },
};

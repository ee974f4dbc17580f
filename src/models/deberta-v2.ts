// DeBERTa-v2 / v3 as transformers' modeling_deberta_v2.py builds it: word (+ optional absolute position
// and token-type) embeddings, LayerNorm, masked by the attention mask; a post-LN encoder whose attention
// adds disentangled relative-position terms to q·k — content→position (c2p: q_i · K_r[δ(i,j)]) and
// position→content (p2c: k_j · Q_r[δ(i,j)]) with δ the log-bucketed relative position
// (make_log_bucket_position), the shared relative embeddings (encoder.rel_embeddings, LayerNorm'd when
// norm_rel_ebd has layer_norm), projected by query_proj/key_proj (share_att_key) or pos_*_proj, all scaled
// by √(D · (1 + #pos_att_type)). Heads: sequence classification (ContextPooler + classifier, DeBERTa's own
// loss when problem_type is unset), token classification, question answering, masked LM (both layouts
// transformers picks between by config.json "legacy").
// Not here: the ConvLayer of v2-xlarge (refused), the tokenizer (src/tokenizers).
// Shapes: B batch, T tokens, C hidden, H heads, D head width, S relative span (att_span), N labels.

import { ConfigError, ModelError } from '../errors.ts';
import type { DebertaV2Config, HfConfig } from './hf-config.ts';
import { nextSeed } from '../nn/init.ts';
import { Dropout, Embedding, LayerNorm, Linear, Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { maskedAttention } from './attention.ts';
import { TiedDecoder } from './bert.ts';
import { activation, batchShape, checkCompanion, embedWithPadding, firstToken, meanPool, ModuleList } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, questionAnsweringLoss, sequenceClassificationLoss, splitQaLogits, tokenLevelLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/** pos_att_type as a list ("p2c|c2p" or ["p2c", "c2p"] in config.json). */
export function posAttTypes(cfg: DebertaV2Config): string[] {
  const raw = cfg.extra['pos_att_type'];
  if (raw === undefined || raw === null) return [];
  const list = typeof raw === 'string' ? raw.toLowerCase().split('|').map((s) => s.trim()) : raw;
  if (!Array.isArray(list) || !list.every((x) => x === 'c2p' || x === 'p2c')) {
    throw new ConfigError('pos_att_type', `config.json: must list "c2p" and/or "p2c", got ${JSON.stringify(raw)}`);
  }
  return list as string[];
}

/** transformers' make_log_bucket_position for one relative position, in float32 as torch computes it. */
export function logBucketPosition(rel: number, bucketSize: number, maxPosition: number): number {
  const f = Math.fround;
  const mid = Math.floor(bucketSize / 2);
  const abs = rel < mid && rel > -mid ? mid - 1 : Math.abs(rel);
  if (abs <= mid) return rel;
  const logPos = Math.ceil(f(f(f(Math.log(f(abs / mid))) / f(Math.log(f((maxPosition - 1) / mid)))) * (mid - 1))) + mid;
  return Math.sign(rel) * logPos;
}

/** Relative span S (att_span) and the clamped index δ(i, j) = clamp(bucket(i - j) + S, 0, 2S - 1), (T, T). */
export function relativeIndex(cfg: DebertaV2Config, T: number): { span: number; index: Int32Array } {
  const maxRel = cfg.max_relative_positions < 1 ? cfg.max_position_embeddings : cfg.max_relative_positions;
  const buckets = cfg.position_buckets;
  const span = buckets > 0 ? buckets : maxRel;
  const index = new Int32Array(T * T);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const rel = buckets > 0 && maxRel > 0 ? logBucketPosition(i - j, buckets, maxRel) : i - j;
      index[i * T + j] = Math.min(Math.max(rel + span, 0), 2 * span - 1);
    }
  }
  return { span, index };
}

function headDim(cfg: DebertaV2Config): number {
  return cfg.attention_head_size ?? cfg.hidden_size / cfg.num_attention_heads;
}

/** Word (+ position, token-type) embeddings → embed_proj → LayerNorm → × mask → dropout. */
export class DebertaV2Embeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  private readonly E: number;
  constructor(private readonly cfg: DebertaV2Config) {
    super();
    const std = cfg.initializer_range;
    this.E = cfg.embedding_size ?? cfg.hidden_size;
    this.wordEmbeddings = this.child('word_embeddings', new Embedding(cfg.vocab_size, this.E, { std, paddingIdx: cfg.pad_token_id }));
    if (cfg.position_biased_input) this.child('position_embeddings', new Embedding(cfg.max_position_embeddings, this.E, { std }));
    if (cfg.type_vocab_size > 0) this.child('token_type_embeddings', new Embedding(cfg.type_vocab_size, this.E, { std }));
    if (this.E !== cfg.hidden_size) this.child('embed_proj', new Linear(this.E, cfg.hidden_size, { bias: false, std }));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.dropout = this.child('dropout', new Dropout(cfg.hidden_dropout_prob));
  }

  /** ids, token types: int32 (B, T); mask float (B, T) or null → (B, T, C). */
  forward(inputIds: Tensor, tokenTypeIds: Tensor | undefined, mask: Tensor | null): Tensor {
    const { T } = batchShape(inputIds);
    let x = embedWithPadding(this.wordEmbeddings.weight, inputIds, this.cfg.pad_token_id);
    if (this.cfg.position_biased_input) {
      if (T > this.cfg.max_position_embeddings) throw new ModelError(`sequence length ${T} exceeds max_position_embeddings ${this.cfg.max_position_embeddings}; truncate inputs`);
      const pos = Tensor.from(Int32Array.from({ length: T }, (_, t) => t), [T], 'int32', inputIds.backend);
      x = F.add(x, F.embedding(this.childModule<Embedding>('position_embeddings').weight, pos));
    }
    if (this.cfg.type_vocab_size > 0) {
      const types = tokenTypeIds ?? Tensor.zeros(inputIds.shape, 'int32', inputIds.backend);
      x = F.add(x, F.embedding(this.childModule<Embedding>('token_type_embeddings').weight, types));
    }
    if (this.E !== this.cfg.hidden_size) x = this.childModule<Linear>('embed_proj').forward(x);
    x = this.layerNorm.forward(x);
    if (mask) x = F.mul(x, F.unsqueeze(mask, 2));
    return this.dropout.forward(x);
  }
}

/** What every layer's attention shares: the relative embeddings, the index δ and the additive mask. */
interface RelContext {
  /** (2S, C) relative embeddings after LayerNorm and dropout. */
  rel: Tensor;
  span: number;
  /** δ(i, j), (T, T). */
  index: Int32Array;
  /** (B, 1, T, T): 1 where query or key is padding (masked_fill with the float32 minimum), else 0. */
  mask: Tensor | null;
}

/** Rows of a (..., R) tensor picked per (i, j): out[b, h, i, j] = src[b, h, row(i, j), index[i * T + j]]. */
function gatherRelative(src: Tensor, index: Int32Array, T: number, rowIsQuery: boolean): Tensor {
  const [B, H, , R] = src.shape;
  const flat = F.reshape(src, [B * H * T * R, 1]);
  const ids = new Int32Array(B * H * T * T);
  for (let bh = 0; bh < B * H; bh++) {
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const row = rowIsQuery ? i : j;
        ids[(bh * T + i) * T + j] = (bh * T + row) * R + index[i * T + j];
      }
    }
  }
  return F.reshape(F.embedding(flat, Tensor.from(ids, [B * H * T * T], 'int32', src.backend)), [B, H, T, T]);
}

/** transformers' DisentangledSelfAttention. */
export class DisentangledSelfAttention extends Module {
  readonly queryProj: Linear;
  readonly keyProj: Linear;
  readonly valueProj: Linear;
  private readonly types: string[];
  constructor(private readonly cfg: DebertaV2Config) {
    super();
    const C = cfg.hidden_size;
    const A = cfg.num_attention_heads * headDim(cfg);
    const std = cfg.initializer_range;
    this.types = posAttTypes(cfg);
    this.queryProj = this.child('query_proj', new Linear(C, A, { std }));
    this.keyProj = this.child('key_proj', new Linear(C, A, { std }));
    this.valueProj = this.child('value_proj', new Linear(C, A, { std }));
    if (cfg.relative_attention && !cfg.share_att_key) {
      if (this.types.includes('c2p')) this.child('pos_key_proj', new Linear(C, A, { std }));
      if (this.types.includes('p2c')) this.child('pos_query_proj', new Linear(C, A, { std }));
    }
  }

  forward(x: Tensor, ctx: RelContext): Tensor {
    const [B, T] = x.shape;
    const H = this.cfg.num_attention_heads;
    const D = headDim(this.cfg);
    const heads = (t: Tensor, n: number): Tensor => F.transpose(F.reshape(t, [B, n, H, D]), 1, 2); // (B, H, n, D)
    const q = heads(this.queryProj.forward(x), T);
    const k = heads(this.keyProj.forward(x), T);
    const v = heads(this.valueProj.forward(x), T);
    const factor = 1 + this.types.length;
    const scale = Math.fround(Math.sqrt(Math.fround(D * factor)));
    let bias: Tensor | null = null;
    if (this.cfg.relative_attention && this.types.length > 0) {
      const S2 = 2 * ctx.span;
      const rel = F.unsqueeze(F.narrow(ctx.rel, 0, 0, S2), 0); // (1, 2S, C)
      const posHeads = (name: string): Tensor => F.transpose(F.reshape(this.childModule<Linear>(name).forward(rel), [1, S2, H, D]), 1, 2); // (1, H, 2S, D)
      let score: Tensor | null = null;
      if (this.types.includes('c2p')) {
        const posKey = posHeads(this.cfg.share_att_key ? 'key_proj' : 'pos_key_proj');
        const c2p = gatherRelative(F.matmul(q, F.transpose(posKey, 2, 3)), ctx.index, T, true); // q_i · K_r[δ(i,j)]
        score = c2p;
      }
      if (this.types.includes('p2c')) {
        const posQuery = posHeads(this.cfg.share_att_key ? 'query_proj' : 'pos_query_proj');
        const p2c = gatherRelative(F.matmul(k, F.transpose(posQuery, 2, 3)), ctx.index, T, false); // k_j · Q_r[δ(i,j)]
        score = score ? F.add(score, p2c) : p2c;
      }
      bias = F.scale(score as Tensor, 1 / scale);
    }
    const dropoutP = this.training ? this.cfg.attention_probs_dropout_prob : 0;
    const y = maskedAttention(q, k, v, { keyMask: null, causal: false, scale: 1 / scale, bias, fillMask: ctx.mask, dropoutP });
    return F.reshape(F.transpose(y, 1, 2), [B, T, H * D]);
  }
}

/** dense → dropout → LayerNorm(x + residual), as DebertaV2SelfOutput and DebertaV2Output. */
export class DebertaV2Output extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(cfg: DebertaV2Config, inFeatures: number) {
    super();
    this.dense = this.child('dense', new Linear(inFeatures, cfg.hidden_size, { std: cfg.initializer_range }));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.dropout = this.child('dropout', new Dropout(cfg.hidden_dropout_prob));
  }

  forward(x: Tensor, residual: Tensor): Tensor {
    return this.layerNorm.forward(F.add(this.dropout.forward(this.dense.forward(x)), residual));
  }
}

export class DebertaV2Attention extends Module {
  readonly self: DisentangledSelfAttention;
  readonly output: DebertaV2Output;
  constructor(cfg: DebertaV2Config) {
    super();
    this.self = this.child('self', new DisentangledSelfAttention(cfg));
    this.output = this.child('output', new DebertaV2Output(cfg, cfg.num_attention_heads * headDim(cfg)));
  }

  forward(x: Tensor, ctx: RelContext): Tensor {
    return this.output.forward(this.self.forward(x, ctx), x);
  }
}

export class DebertaV2Intermediate extends Module {
  readonly dense: Linear;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: DebertaV2Config) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.intermediate_size, { std: cfg.initializer_range }));
    this.act = activation(cfg.hidden_act, 'hidden_act');
  }

  forward(x: Tensor): Tensor {
    return this.act(this.dense.forward(x));
  }
}

export class DebertaV2Layer extends Module {
  readonly attention: DebertaV2Attention;
  readonly intermediate: DebertaV2Intermediate;
  readonly output: DebertaV2Output;
  constructor(cfg: DebertaV2Config) {
    super();
    this.attention = this.child('attention', new DebertaV2Attention(cfg));
    this.intermediate = this.child('intermediate', new DebertaV2Intermediate(cfg));
    this.output = this.child('output', new DebertaV2Output(cfg, cfg.intermediate_size));
  }

  forward(x: Tensor, ctx: RelContext): Tensor {
    const a = this.attention.forward(x, ctx);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

/** Layers plus the shared relative embeddings (and their LayerNorm). */
export class DebertaV2Encoder extends Module {
  readonly layer: ModuleList<DebertaV2Layer>;
  private readonly normRel: boolean;
  constructor(private readonly cfg: DebertaV2Config) {
    super();
    if (cfg.conv_kernel_size > 0) {
      throw new ModelError(`config.json "conv_kernel_size" ${cfg.conv_kernel_size}: DeBERTa-v2's ConvLayer (the v2 xlarge/xxlarge models) is not implemented; DeBERTa-v3 models have none`);
    }
    this.layer = this.child('layer', new ModuleList(Array.from({ length: cfg.num_hidden_layers }, () => new DebertaV2Layer(cfg))));
    if (cfg.relative_attention) {
      const { span } = relativeIndex(cfg, 0);
      this.child('rel_embeddings', new Embedding(2 * span, cfg.hidden_size, { std: cfg.initializer_range }));
    }
    this.normRel = cfg.norm_rel_ebd.toLowerCase().split('|').map((s) => s.trim()).includes('layer_norm');
    if (this.normRel) this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
  }

  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [B, T] = x.shape;
    let rel = x;
    let span = 0;
    let index: Int32Array = new Int32Array(0);
    if (this.cfg.relative_attention) {
      ({ span, index } = relativeIndex(this.cfg, T));
      rel = this.childModule<Embedding>('rel_embeddings').weight;
      if (this.normRel) rel = this.childModule<LayerNorm>('LayerNorm').forward(rel);
      if (this.training && this.cfg.hidden_dropout_prob > 0) rel = F.dropout(rel, this.cfg.hidden_dropout_prob, nextSeed());
    }
    let mask4: Tensor | null = null;
    if (mask) {
      const m = F.contiguous(F.cast(mask, 'float32')).floatData;
      const add = new Float32Array(B * T * T);
      for (let b = 0; b < B; b++) for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) add[(b * T + i) * T + j] = m[b * T + i] !== 0 && m[b * T + j] !== 0 ? 0 : 1;
      mask4 = F.cast(Tensor.from(add, [B, 1, T, T], 'float32', x.backend), x.dtype);
    }
    const ctx: RelContext = { rel, span, index, mask: mask4 };
    let h = x;
    for (const layer of this.layer.items) h = layer.forward(h, ctx);
    return h;
  }
}

const DEBERTA_RULES: CheckpointRules = {
  ignoreUnexpected: [/(^|\.)embeddings\.position_ids$/, /(^|\.)embeddings\.position_embeddings\.weight$/],
};

/** The bare DeBERTa-v2 (transformers' DebertaV2Model); as a task model it mean-pools (feature extraction). */
export class DebertaV2Model extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string = 'DebertaV2Model';
  readonly baseModelPrefix: string = 'deberta';
  readonly checkpointRules: CheckpointRules = DEBERTA_RULES;
  readonly embeddings: DebertaV2Embeddings;
  readonly encoder: DebertaV2Encoder;
  constructor(readonly hfConfig: DebertaV2Config) {
    super();
    this.embeddings = this.child('embeddings', new DebertaV2Embeddings(hfConfig));
    this.encoder = this.child('encoder', new DebertaV2Encoder(hfConfig));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  /** Last hidden states (B, T, C). */
  encode(batch: ModelBatch): Tensor {
    const { B, T } = batchShape(batch.inputIds);
    checkCompanion('attention_mask', batch.attentionMask, B, T);
    checkCompanion('token_type_ids', batch.tokenTypeIds, B, T);
    const x0 = this.embeddings.wordEmbeddings.weight;
    const mask = batch.attentionMask ? F.cast(batch.attentionMask, x0.dtype) : null;
    return this.encoder.forward(this.embeddings.forward(batch.inputIds, batch.tokenTypeIds, mask), mask);
  }

  forward(batch: ModelBatch): ModelOutput {
    return { loss: null, logits: meanPool(this.encode(batch), batch.attentionMask) };
  }
}

abstract class DebertaV2TaskModel extends Module implements PretrainedTaskModel {
  abstract readonly task: TaskName;
  abstract readonly architecture: string;
  readonly baseModelPrefix: string = 'deberta';
  readonly checkpointRules: CheckpointRules = DEBERTA_RULES;
  readonly deberta: DebertaV2Model;
  constructor(readonly hfConfig: DebertaV2Config) {
    super();
    this.deberta = this.child('deberta', new DebertaV2Model(hfConfig));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  abstract forward(batch: ModelBatch): ModelOutput;
}

/** ContextPooler: first token → dropout → dense → pooler_hidden_act. */
export class ContextPooler extends Module {
  readonly dense: Linear;
  readonly dropout: Dropout;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: DebertaV2Config) {
    super();
    const P = cfg.pooler_hidden_size ?? cfg.hidden_size;
    this.dense = this.child('dense', new Linear(P, P, { std: cfg.initializer_range }));
    this.dropout = this.child('dropout', new Dropout(cfg.pooler_dropout));
    this.act = activation(cfg.pooler_hidden_act, 'pooler_hidden_act');
  }

  forward(hidden: Tensor): Tensor {
    return this.act(this.dense.forward(this.dropout.forward(firstToken(hidden))));
  }
}

/**
 * DebertaV2ForSequenceClassification's loss: with problem_type set, the usual rules; unset, DeBERTa's own
 * (MSE for one label; cross-entropy over rows with label >= 0 for class ids; −Σ log_softmax · labels for
 * soft labels), and problem_type stays unset as in transformers.
 */
export function debertaSequenceLoss(logits: Tensor, labels: Tensor, cfg: HfConfig): Tensor {
  if (cfg.problem_type !== null) return sequenceClassificationLoss(logits, labels, cfg);
  const [B, N] = logits.shape;
  if (N === 1) {
    const target = labels.dtype === logits.dtype ? labels : F.cast(labels, logits.dtype);
    return F.mse(F.reshape(logits, [B]), F.reshape(target, [labels.size]));
  }
  if (labels.ndim === 1 || labels.shape[labels.ndim - 1] === 1) {
    const ids = F.contiguous(F.cast(F.reshape(labels, [labels.size]), 'int32')).intData;
    const kept = [...ids.keys()].filter((i) => ids[i] >= 0);
    if (kept.length === 0) return F.scale(F.sum(logits), 0);
    const rows = F.embedding(logits, Tensor.from(Int32Array.from(kept), [kept.length], 'int32', logits.backend));
    return sequenceClassificationLoss(rows, Tensor.from(Int32Array.from(kept, (i) => ids[i]), [kept.length], 'int32', logits.backend), { ...cfg, problem_type: 'single_label_classification' });
  }
  const target = labels.dtype === logits.dtype ? labels : F.cast(labels, logits.dtype);
  return F.scale(F.sum(F.mul(F.logSoftmax(logits), target)), -1 / B);
}

export class DebertaV2ForSequenceClassification extends DebertaV2TaskModel {
  readonly task: TaskName = 'text-classification';
  readonly architecture: string = 'DebertaV2ForSequenceClassification';
  readonly pooler: ContextPooler;
  readonly classifier: Linear;
  readonly dropout: Dropout;
  constructor(cfg: DebertaV2Config) {
    super(cfg);
    checkHeadLabels(this.task, cfg.num_labels);
    this.pooler = this.child('pooler', new ContextPooler(cfg));
    this.classifier = this.child('classifier', new Linear(cfg.pooler_hidden_size ?? cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
    this.dropout = this.child('dropout', new Dropout(cfg.cls_dropout ?? cfg.hidden_dropout_prob));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.classifier.forward(this.dropout.forward(this.pooler.forward(this.deberta.encode(batch))));
    return { logits, loss: batch.labels ? debertaSequenceLoss(logits, batch.labels, this.hfConfig) : null };
  }
}

export class DebertaV2ForTokenClassification extends DebertaV2TaskModel {
  readonly task: TaskName = 'token-classification';
  readonly architecture: string = 'DebertaV2ForTokenClassification';
  readonly classifier: Linear;
  readonly dropout: Dropout;
  constructor(cfg: DebertaV2Config) {
    super(cfg);
    checkHeadLabels(this.task, cfg.num_labels);
    this.dropout = this.child('dropout', new Dropout(cfg.hidden_dropout_prob));
    this.classifier = this.child('classifier', new Linear(cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.classifier.forward(this.dropout.forward(this.deberta.encode(batch)));
    return { logits, loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null };
  }
}

export class DebertaV2ForQuestionAnswering extends DebertaV2TaskModel {
  readonly task: TaskName = 'question-answering';
  readonly architecture: string = 'DebertaV2ForQuestionAnswering';
  readonly qaOutputs: Linear;
  constructor(cfg: DebertaV2Config) {
    super(cfg);
    checkHeadLabels(this.task, cfg.num_labels);
    this.qaOutputs = this.child('qa_outputs', new Linear(cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.qaOutputs.forward(this.deberta.encode(batch));
    const { start, end } = splitQaLogits(logits);
    const loss = batch.startPositions && batch.endPositions ? questionAnsweringLoss(start, end, batch.startPositions, batch.endPositions) : null;
    return { logits, startLogits: start, endLogits: end, loss };
  }
}


/** LegacyDebertaV2PredictionHeadTransform: dense (C → E) → hidden_act → LayerNorm(E). */
export class LegacyDebertaV2PredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: DebertaV2Config) {
    super();
    const E = cfg.embedding_size ?? cfg.hidden_size;
    this.dense = this.child('dense', new Linear(cfg.hidden_size, E, { std: cfg.initializer_range }));
    this.act = activation(cfg.hidden_act, 'hidden_act');
    this.layerNorm = this.child('LayerNorm', new LayerNorm(E, cfg.layer_norm_eps));
  }

  forward(x: Tensor): Tensor {
    return this.layerNorm.forward(this.act(this.dense.forward(x)));
  }
}

/** LegacyDebertaV2LMPredictionHead (BERT's layout): transform, decoder (tied to word embeddings) + bias. */
export class LegacyDebertaV2LMPredictionHead extends Module {
  readonly transform: LegacyDebertaV2PredictionHeadTransform;
  readonly decoder: TiedDecoder;
  readonly bias: Tensor;
  constructor(cfg: DebertaV2Config, embeddings: Embedding) {
    super();
    this.transform = this.child('transform', new LegacyDebertaV2PredictionHeadTransform(cfg));
    this.decoder = this.child('decoder', new TiedDecoder(embeddings, cfg.tie_word_embeddings, cfg.initializer_range));
    this.bias = this.param('bias', F.untracked(() => Tensor.zeros([cfg.vocab_size])));
  }

  forward(hidden: Tensor): Tensor {
    return this.decoder.forward(this.transform.forward(hidden), this.bias);
  }
}

/** LegacyDebertaV2OnlyMLMHead: holds `predictions` (checkpoint keys cls.predictions.*). */
export class LegacyDebertaV2OnlyMLMHead extends Module {
  readonly predictions: LegacyDebertaV2LMPredictionHead;
  constructor(cfg: DebertaV2Config, embeddings: Embedding) {
    super();
    this.predictions = this.child('predictions', new LegacyDebertaV2LMPredictionHead(cfg, embeddings));
  }
}

/**
 * DebertaV2LMPredictionHead (the original DeBERTa layout, "legacy": false): dense (C → C) → hidden_act →
 * LayerNorm(C), then × word_embeddings^T + bias. The word embeddings are always the decoder (no own weight).
 */
export class DebertaV2LMPredictionHead extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly bias: Tensor;
  private readonly act: (x: Tensor) => Tensor;
  constructor(cfg: DebertaV2Config, private readonly embeddings: Embedding) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { std: cfg.initializer_range }));
    this.act = activation(cfg.hidden_act, 'hidden_act');
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.bias = this.param('bias', F.untracked(() => Tensor.zeros([cfg.vocab_size])));
  }

  forward(hidden: Tensor): Tensor {
    return F.linear(this.layerNorm.forward(this.act(this.dense.forward(hidden))), this.embeddings.weight, this.bias);
  }
}

/** DebertaV2OnlyMLMHead: holds `lm_head` (checkpoint keys lm_predictions.lm_head.*). */
export class DebertaV2OnlyMLMHead extends Module {
  readonly lmHead: DebertaV2LMPredictionHead;
  constructor(cfg: DebertaV2Config, embeddings: Embedding) {
    super();
    this.lmHead = this.child('lm_head', new DebertaV2LMPredictionHead(cfg, embeddings));
  }
}

/**
 * DebertaV2ForMaskedLM. config.json "legacy" (default true, as transformers) picks the head: true →
 * cls.predictions.{transform, decoder, bias} (BERT's layout; what transformers saves by default); false →
 * lm_predictions.lm_head.{dense, LayerNorm, bias}, the layout of Microsoft's original DeBERTa-v3
 * checkpoints (microsoft/deberta-v3-base ships these keys, so load it with "legacy": false to keep its
 * pretrained head). mask_predictions.* (the RTD discriminator of v3 checkpoints) is ignored on load.
 * Loss: cross-entropy over (B·T, V) with -100 ignored.
 */
export class DebertaV2ForMaskedLM extends DebertaV2TaskModel {
  readonly task: TaskName = 'fill-mask';
  readonly architecture: string = 'DebertaV2ForMaskedLM';
  override readonly checkpointRules: CheckpointRules;
  private readonly head: (hidden: Tensor) => Tensor;
  constructor(cfg: DebertaV2Config) {
    super(cfg);
    const words = this.deberta.embeddings.wordEmbeddings;
    const ignoreUnexpected = [...(DEBERTA_RULES.ignoreUnexpected ?? []), /^mask_predictions\./];
    if (cfg.legacy) {
      const cls = this.child('cls', new LegacyDebertaV2OnlyMLMHead(cfg, words));
      this.head = (h) => cls.predictions.forward(h);
      this.checkpointRules = {
        ignoreUnexpected,
        tied: {
          ...(cfg.tie_word_embeddings ? { 'cls.predictions.decoder.weight': 'deberta.embeddings.word_embeddings.weight' } : {}),
          'cls.predictions.decoder.bias': 'cls.predictions.bias',
        },
      };
    } else {
      const E = cfg.embedding_size ?? cfg.hidden_size;
      if (E !== cfg.hidden_size) {
        throw new ConfigError('legacy', `config.json: "legacy": false multiplies hidden states (${cfg.hidden_size}) by the word embeddings (${E} wide), so embedding_size must equal hidden_size (transformers fails the same way); use "legacy": true`);
      }
      const lm = this.child('lm_predictions', new DebertaV2OnlyMLMHead(cfg, words));
      this.head = (h) => lm.lmHead.forward(h);
      this.checkpointRules = { ignoreUnexpected };
    }
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.head(this.deberta.encode(batch));
    return { logits, loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null };
  }
}

const DEBERTA_TASKS: readonly TaskName[] = ['feature-extraction', 'text-classification', 'token-classification', 'question-answering', 'fill-mask'];

/** The DeBERTa-v2/v3 family for pretrained.ts. */
export const DEBERTA_V2_FAMILY: ModelFamily = {
  modelTypes: ['deberta-v2'],
  baseModelPrefix: 'deberta',
  tasks: DEBERTA_TASKS,
  architectures: {
    DebertaV2Model: 'feature-extraction',
    DebertaV2ForSequenceClassification: 'text-classification',
    DebertaV2ForTokenClassification: 'token-classification',
    DebertaV2ForQuestionAnswering: 'question-answering',
    DebertaV2ForMaskedLM: 'fill-mask',
  },
  build(task: TaskName, config: HfConfig): PretrainedTaskModel {
    const cfg = expectModelType(config, 'DeBERTa-v2', ['deberta-v2']);
    switch (task) {
      case 'feature-extraction': return new DebertaV2Model(cfg);
      case 'text-classification': return new DebertaV2ForSequenceClassification(cfg);
      case 'token-classification': return new DebertaV2ForTokenClassification(cfg);
      case 'question-answering': return new DebertaV2ForQuestionAnswering(cfg);
      case 'fill-mask': return new DebertaV2ForMaskedLM(cfg);
      default: throw unsupportedTask('DeBERTa-v2', task, DEBERTA_TASKS);
    }
  },
};

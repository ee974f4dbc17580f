// BERT as transformers' modeling_bert.py builds it, one class per block with the same parameter
// names (post-LN encoder, erf GELU, pooler = dense + tanh on [CLS]), and its task models:
// BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering, BertForMaskedLM,
// and BertModel itself for feature extraction (mean pooling). RoBERTa reuses the encoder (roberta.ts).
// Not here: loading/saving (pretrained.ts), losses (heads.ts).
// Shapes: B batch, T tokens, C hidden, H heads, D = C / H, N labels, V vocabulary.

import { DataError } from '../errors.ts';
import type { BertConfig, HfConfig } from './hf-config.ts';
import { nextSeed, sampleKeyedAttention } from '../nn/init.ts';
import { Dropout, Embedding, LayerNorm, Linear, Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { activation, batchShape, checkCompanion, embedWithPadding, firstToken, keyMaskOf, meanPool, ModuleList, type Activation } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type BuildOptions, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, questionAnsweringLoss, sequenceClassificationLoss, splitQaLogits, tokenLevelLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/** Word + position + token-type embeddings, then LayerNorm and dropout. */
export class BertEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly tokenTypeEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  readonly padTokenId: number | null;

  constructor(
    readonly cfg: BertConfig,
    /** padding_idx of the position table (RoBERTa: pad_token_id; BERT: none). */
    readonly positionPaddingIdx: number | null = null,
  ) {
    super();
    const std = cfg.initializer_range;
    this.padTokenId = cfg.pad_token_id;
    this.wordEmbeddings = this.child('word_embeddings', new Embedding(cfg.vocab_size, cfg.hidden_size, { std, paddingIdx: cfg.pad_token_id }));
    this.positionEmbeddings = this.child('position_embeddings', new Embedding(cfg.max_position_embeddings, cfg.hidden_size, { std, paddingIdx: positionPaddingIdx }));
    this.tokenTypeEmbeddings = this.child('token_type_embeddings', new Embedding(cfg.type_vocab_size, cfg.hidden_size, { std }));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.dropout = this.child('dropout', new Dropout(cfg.hidden_dropout_prob));
  }

  /** BERT's absolute positions 0..T-1 (T); RoBERTa overrides this. */
  positionIds(inputIds: Tensor): Tensor {
    const T = inputIds.shape[1];
    if (T > this.cfg.max_position_embeddings) {
      throw new DataError(`sequence length ${T} exceeds max_position_embeddings ${this.cfg.max_position_embeddings}; truncate inputs to ${this.cfg.max_position_embeddings} tokens`);
    }
    const ids = new Int32Array(T);
    for (let t = 0; t < T; t++) ids[t] = t;
    return Tensor.from(ids, [T], 'int32', inputIds.backend);
  }

  /** ids, token types: int32 (B, T) → (B, T, C). */
  forward(inputIds: Tensor, tokenTypeIds?: Tensor): Tensor {
    const types = tokenTypeIds ?? Tensor.zeros(inputIds.shape, 'int32', inputIds.backend);
    const words = embedWithPadding(this.wordEmbeddings.weight, inputIds, this.padTokenId);
    const tt = F.embedding(this.tokenTypeEmbeddings.weight, types);
    const pos = embedWithPadding(this.positionEmbeddings.weight, this.positionIds(inputIds), this.positionPaddingIdx);
    const x = F.add(F.add(words, tt), pos);
    return this.dropout.forward(this.layerNorm.forward(x));
  }
}

/** Multi-head self-attention: query/key/value projections and fused scaled-dot-product attention. */
export class BertSelfAttention extends Module {
  readonly query: Linear;
  readonly key: Linear;
  readonly value: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropoutP: number;

  constructor(cfg: BertConfig) {
    super();
    const C = cfg.hidden_size;
    const std = cfg.initializer_range;
    this.numHeads = cfg.num_attention_heads;
    this.headDim = C / this.numHeads;
    this.dropoutP = cfg.attention_probs_dropout_prob;
    this.query = this.child('query', new Linear(C, C, { std }));
    this.key = this.child('key', new Linear(C, C, { std }));
    this.value = this.child('value', new Linear(C, C, { std }));
  }

  private heads(x: Tensor): Tensor {
    const [B, T] = x.shape;
    return F.permute(F.reshape(x, [B, T, this.numHeads, this.headDim]), [0, 2, 1, 3]); // (B, H, T, D)
  }

  /** x: (B, T, C); keyMask: float (B, T) or null → context (B, T, C). */
  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    const [B, T, C] = x.shape;
    const q = this.heads(this.query.forward(x));
    const k = this.heads(this.key.forward(x));
    const v = this.heads(this.value.forward(x));
    const p = this.training ? this.dropoutP : 0;
    const ctx = sampleKeyedAttention(q, k, v, { keyMask, dropoutP: p, seed: p > 0 ? nextSeed() : 0 }); // (B, H, T, D)
    return F.reshape(F.permute(ctx, [0, 2, 1, 3]), [B, T, C]);
  }
}

/** dense + dropout + residual + LayerNorm (post-LN). Used after attention and after the feed-forward. */
export class BertSelfOutput extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(cfg: BertConfig, inFeatures = cfg.hidden_size) {
    super();
    this.dense = this.child('dense', new Linear(inFeatures, cfg.hidden_size, { std: cfg.initializer_range }));
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.dropout = this.child('dropout', new Dropout(cfg.hidden_dropout_prob));
  }

  forward(h: Tensor, residual: Tensor): Tensor {
    return this.layerNorm.forward(F.add(this.dropout.forward(this.dense.forward(h)), residual));
  }
}

/** BertOutput has BertSelfOutput's structure with the intermediate width as input. */
export class BertOutput extends BertSelfOutput {
  constructor(cfg: BertConfig) {
    super(cfg, cfg.intermediate_size);
  }
}

export class BertAttention extends Module {
  readonly self: BertSelfAttention;
  readonly output: BertSelfOutput;
  constructor(cfg: BertConfig) {
    super();
    this.self = this.child('self', new BertSelfAttention(cfg));
    this.output = this.child('output', new BertSelfOutput(cfg));
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    return this.output.forward(this.self.forward(x, keyMask), x);
  }
}

/** Feed-forward up-projection with hidden_act. */
export class BertIntermediate extends Module {
  readonly dense: Linear;
  readonly act: Activation;
  constructor(cfg: BertConfig) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.intermediate_size, { std: cfg.initializer_range }));
    this.act = activation(cfg.hidden_act, 'hidden_act');
  }

  forward(x: Tensor): Tensor {
    return this.act(this.dense.forward(x));
  }
}

export class BertLayer extends Module {
  readonly attention: BertAttention;
  readonly intermediate: BertIntermediate;
  readonly output: BertOutput;
  constructor(cfg: BertConfig) {
    super();
    this.attention = this.child('attention', new BertAttention(cfg));
    this.intermediate = this.child('intermediate', new BertIntermediate(cfg));
    this.output = this.child('output', new BertOutput(cfg));
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    const a = this.attention.forward(x, keyMask);
    return this.output.forward(this.intermediate.forward(a), a);
  }
}

export class BertEncoder extends Module {
  readonly layer: ModuleList<BertLayer>;
  constructor(cfg: BertConfig) {
    super();
    this.layer = this.child('layer', new ModuleList(Array.from({ length: cfg.num_hidden_layers }, () => new BertLayer(cfg))));
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    let h = x;
    for (const l of this.layer.items) h = l.forward(h, keyMask);
    return h;
  }
}

/** dense + tanh on the first token. */
export class BertPooler extends Module {
  readonly dense: Linear;
  constructor(cfg: BertConfig) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { std: cfg.initializer_range }));
  }

  forward(hidden: Tensor): Tensor {
    return F.tanh(this.dense.forward(firstToken(hidden)));
  }
}

/** What the bare encoder returns. */
export interface EncoderOutput {
  /** Last hidden state (B, T, C). */
  hidden: Tensor;
  /** Pooler output (B, C), or null without a pooler. */
  pooled: Tensor | null;
}

const BERT_BASE_RULES: CheckpointRules = { ignoreMissing: [/position_ids$/] };

/**
 * The bare encoder (transformers' BertModel). As a task model it does feature extraction:
 * `logits` are the mean of the last hidden states over the attention mask, (B, C).
 * @example const emb = bert.forward({ inputIds, attentionMask }).logits; // (B, hidden_size)
 */
export class BertModel extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly baseModelPrefix: string = 'bert';
  readonly checkpointRules: CheckpointRules = BERT_BASE_RULES;
  readonly embeddings: BertEmbeddings;
  readonly encoder: BertEncoder;
  readonly pooler: BertPooler | null;

  constructor(
    readonly hfConfig: BertConfig,
    options: BuildOptions = {},
    embeddings?: BertEmbeddings,
    readonly architecture: string = 'BertModel',
  ) {
    super();
    this.embeddings = this.child('embeddings', embeddings ?? new BertEmbeddings(hfConfig));
    this.encoder = this.child('encoder', new BertEncoder(hfConfig));
    this.pooler = options.addPoolingLayer === false ? null : this.child('pooler', new BertPooler(hfConfig));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  /** Runs embeddings, encoder and pooler. */
  encode(batch: ModelBatch): EncoderOutput {
    const { B, T } = batchShape(batch.inputIds);
    checkCompanion('attention_mask', batch.attentionMask, B, T);
    checkCompanion('token_type_ids', batch.tokenTypeIds, B, T);
    const x = this.embeddings.forward(batch.inputIds, batch.tokenTypeIds);
    const hidden = this.encoder.forward(x, keyMaskOf(batch.attentionMask, x));
    return { hidden, pooled: this.pooler ? this.pooler.forward(hidden) : null };
  }

  forward(batch: ModelBatch): ModelOutput {
    return { loss: null, logits: meanPool(this.encode(batch).hidden, batch.attentionMask) };
  }
}

/** How a BERT-shaped task model is named and what bare model it wraps (RoBERTa passes its own). */
export interface EncoderParts {
  /** base_model_prefix and child name of the bare model ("bert", "roberta"). */
  prefix: string;
  /** transformers class name ("BertForTokenClassification", "RobertaForTokenClassification"). */
  architecture: string;
  base: BertModel;
}

/** Shared plumbing of the BERT-shaped task models: the bare model under its prefix, config, naming. */
export abstract class BertTaskModel extends Module implements PretrainedTaskModel {
  abstract readonly task: TaskName;
  readonly baseModelPrefix: string;
  readonly architecture: string;
  readonly base: BertModel;

  constructor(
    readonly hfConfig: BertConfig,
    parts: EncoderParts,
    readonly checkpointRules: CheckpointRules,
  ) {
    super();
    this.baseModelPrefix = parts.prefix;
    this.architecture = parts.architecture;
    this.base = this.child(parts.prefix, parts.base);
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  abstract forward(batch: ModelBatch): ModelOutput;
}

function headDropout(cfg: BertConfig): number {
  return cfg.classifier_dropout ?? cfg.hidden_dropout_prob;
}

function bertParts(cfg: BertConfig, architecture: string, addPoolingLayer: boolean): EncoderParts {
  return { prefix: 'bert', architecture, base: new BertModel(cfg, { addPoolingLayer }) };
}

/** Pooler output → dropout → classifier (B, N); loss by problem_type. */
export class BertForSequenceClassification extends BertTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly dropout: Dropout;
  readonly classifier: Linear;
  constructor(cfg: BertConfig, parts: EncoderParts = bertParts(cfg, 'BertForSequenceClassification', true)) {
    super(cfg, parts, BERT_BASE_RULES);
    checkHeadLabels(this.task, cfg.num_labels);
    this.dropout = this.child('dropout', new Dropout(headDropout(cfg)));
    this.classifier = this.child('classifier', new Linear(cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const { pooled } = this.base.encode(batch);
    if (!pooled) throw new DataError(`${this.architecture} needs the pooler`);
    const logits = this.classifier.forward(this.dropout.forward(pooled));
    return { loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null, logits };
  }
}

const NO_POOLER_RULES: CheckpointRules = { ignoreUnexpected: [/pooler/], ignoreMissing: [/position_ids$/] };

/** Hidden states → dropout → classifier (B, T, N); cross-entropy with -100 ignored. */
export class BertForTokenClassification extends BertTaskModel {
  readonly task: TaskName = 'token-classification';
  readonly dropout: Dropout;
  readonly classifier: Linear;
  constructor(cfg: BertConfig, parts: EncoderParts = bertParts(cfg, 'BertForTokenClassification', false)) {
    super(cfg, parts, NO_POOLER_RULES);
    checkHeadLabels(this.task, cfg.num_labels);
    this.dropout = this.child('dropout', new Dropout(headDropout(cfg)));
    this.classifier = this.child('classifier', new Linear(cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.classifier.forward(this.dropout.forward(this.base.encode(batch).hidden));
    return { loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null, logits };
  }
}

/** Hidden states → qa_outputs (B, T, 2) split into start/end logits; no dropout (as transformers). */
export class BertForQuestionAnswering extends BertTaskModel {
  readonly task: TaskName = 'question-answering';
  readonly qaOutputs: Linear;
  constructor(cfg: BertConfig, parts: EncoderParts = bertParts(cfg, 'BertForQuestionAnswering', false)) {
    super(cfg, parts, NO_POOLER_RULES);
    checkHeadLabels(this.task, cfg.num_labels);
    this.qaOutputs = this.child('qa_outputs', new Linear(cfg.hidden_size, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.qaOutputs.forward(this.base.encode(batch).hidden);
    const { start, end } = splitQaLogits(logits);
    const loss = batch.startPositions && batch.endPositions ? questionAnsweringLoss(start, end, batch.startPositions, batch.endPositions) : null;
    return { loss, logits, startLogits: start, endLogits: end };
  }
}

/** dense → hidden_act → LayerNorm (BertPredictionHeadTransform). */
export class BertPredictionHeadTransform extends Module {
  readonly dense: Linear;
  readonly act: Activation;
  readonly layerNorm: LayerNorm;
  constructor(cfg: BertConfig) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { std: cfg.initializer_range }));
    this.act = activation(cfg.hidden_act, 'hidden_act');
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
  }

  forward(x: Tensor): Tensor {
    return this.layerNorm.forward(this.act(this.dense.forward(x)));
  }
}

/**
 * A vocabulary projection whose weight is either the word-embedding matrix (tied, not a parameter
 * of its own: transformers saves it once) or its own `weight` when tie_word_embeddings is false.
 * BERT and RoBERTa keep the bias in the parent head; DistilBERT's vocab_projector owns it (`withBias`).
 */
export class TiedDecoder extends Module {
  readonly own: Linear | null;
  readonly bias: Tensor | null;
  constructor(
    private readonly embeddings: Embedding,
    tied: boolean,
    std: number,
    withBias = false,
  ) {
    super();
    const [V, C] = embeddings.weight.shape;
    this.own = tied ? null : new Linear(C, V, { bias: false, std });
    if (this.own) this.param('weight', this.own.weight);
    this.bias = withBias ? this.param('bias', F.untracked(() => Tensor.zeros([V]))) : null;
  }

  get weight(): Tensor {
    return this.own ? this.own.weight : this.embeddings.weight;
  }

  /** x: (..., C) → (..., V), with the parent's bias when given, else its own. */
  forward(x: Tensor, bias: Tensor | null = this.bias): Tensor {
    return F.linear(x, this.weight, bias);
  }
}

/** BertLMPredictionHead: transform, then decoder (tied to word embeddings) + bias. */
export class BertLMPredictionHead extends Module {
  readonly transform: BertPredictionHeadTransform;
  readonly decoder: TiedDecoder;
  readonly bias: Tensor;
  constructor(cfg: BertConfig, embeddings: Embedding) {
    super();
    this.transform = this.child('transform', new BertPredictionHeadTransform(cfg));
    this.decoder = this.child('decoder', new TiedDecoder(embeddings, cfg.tie_word_embeddings, cfg.initializer_range));
    this.bias = this.param('bias', F.untracked(() => Tensor.zeros([cfg.vocab_size])));
  }

  forward(hidden: Tensor): Tensor {
    return this.decoder.forward(this.transform.forward(hidden), this.bias);
  }
}

/** BertOnlyMLMHead: holds `predictions`. */
export class BertOnlyMLMHead extends Module {
  readonly predictions: BertLMPredictionHead;
  constructor(cfg: BertConfig, embeddings: Embedding) {
    super();
    this.predictions = this.child('predictions', new BertLMPredictionHead(cfg, embeddings));
  }
}

/** Hidden states → MLM head (B, T, V); cross-entropy with -100 ignored (continued pretraining). */
export class BertForMaskedLM extends BertTaskModel {
  readonly task: TaskName = 'fill-mask';
  readonly cls: BertOnlyMLMHead;
  constructor(cfg: BertConfig) {
    const parts = bertParts(cfg, 'BertForMaskedLM', false);
    super(cfg, parts, {
      tied: {
        ...(cfg.tie_word_embeddings ? { 'cls.predictions.decoder.weight': 'bert.embeddings.word_embeddings.weight' } : {}),
        'cls.predictions.decoder.bias': 'cls.predictions.bias',
      },
      ignoreUnexpected: [/pooler/],
      ignoreMissing: [/position_ids$/],
    });
    this.cls = this.child('cls', new BertOnlyMLMHead(cfg, parts.base.embeddings.wordEmbeddings));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.cls.predictions.forward(this.base.encode(batch).hidden);
    return { loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null, logits };
  }
}

const BERT_TASKS: readonly TaskName[] = ['feature-extraction', 'text-classification', 'token-classification', 'question-answering', 'fill-mask'];

/** The BERT family for pretrained.ts. */
export const BERT_FAMILY: ModelFamily = {
  modelTypes: ['bert'],
  baseModelPrefix: 'bert',
  tasks: BERT_TASKS,
  architectures: {
    BertModel: 'feature-extraction',
    BertForSequenceClassification: 'text-classification',
    BertForTokenClassification: 'token-classification',
    BertForQuestionAnswering: 'question-answering',
    BertForMaskedLM: 'fill-mask',
    BertForPreTraining: 'fill-mask',
  },
  build(task: TaskName, config: HfConfig, options: BuildOptions = {}): PretrainedTaskModel {
    const cfg = expectModelType(config, 'BERT', ['bert']);
    switch (task) {
      case 'feature-extraction': return new BertModel(cfg, options);
      case 'text-classification': return new BertForSequenceClassification(cfg);
      case 'token-classification': return new BertForTokenClassification(cfg);
      case 'question-answering': return new BertForQuestionAnswering(cfg);
      case 'fill-mask': return new BertForMaskedLM(cfg);
      default: throw unsupportedTask('BERT', task, BERT_TASKS);
    }
  },
};

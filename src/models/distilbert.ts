// DistilBERT as transformers' modeling_distilbert.py builds it: embeddings without token types
// (optionally fixed sinusoidal positions), post-LN transformer blocks with q_lin/k_lin/v_lin/out_lin and
// ffn.lin1/lin2, and its task models (pre_classifier + ReLU for sequence classification, qa_dropout for
// QA, vocab_transform / vocab_layer_norm / vocab_projector for masked LM). LayerNorm eps is 1e-12.
// Not here: loading/saving (pretrained.ts), losses (heads.ts).
// Shapes: B batch, T tokens, C = dim, H = n_heads, D = C / H, N labels, V vocabulary.

import { DataError } from '../errors.ts';
import type { DistilBertConfig, HfConfig } from './hf-config.ts';
import { nextSeed, sampleKeyedAttention } from '../nn/init.ts';
import { Dropout, Embedding, LayerNorm, Linear, Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { TiedDecoder } from './bert.ts';
import { activation, batchShape, checkCompanion, embedWithPadding, firstToken, keyMaskOf, meanPool, ModuleList, type Activation } from './common.ts';
import { configJsonFor, expectModelType, unsupportedTask, type BuildOptions, type CheckpointRules, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, questionAnsweringLoss, sequenceClassificationLoss, splitQaLogits, tokenLevelLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/** DistilBERT hard-codes this LayerNorm epsilon. */
const LN_EPS = 1e-12;

/**
 * transformers' create_sinusoidal_embeddings: row p, column j holds sin (even j) or cos (odd j) of
 * p / 10000^(2⌊j/2⌋ / dim).
 */
export function sinusoidalTable(nPos: number, dim: number): Float32Array {
  const out = new Float32Array(nPos * dim);
  for (let p = 0; p < nPos; p++) {
    for (let j = 0; j < dim; j++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
      out[p * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

/** Word + position embeddings, LayerNorm, dropout. */
export class DistilBertEmbeddings extends Module {
  readonly wordEmbeddings: Embedding;
  readonly positionEmbeddings: Embedding;
  readonly layerNorm: LayerNorm;
  readonly dropout: Dropout;
  constructor(readonly cfg: DistilBertConfig) {
    super();
    const std = cfg.initializer_range;
    this.wordEmbeddings = this.child('word_embeddings', new Embedding(cfg.vocab_size, cfg.dim, { std, paddingIdx: cfg.pad_token_id }));
    this.positionEmbeddings = this.child('position_embeddings', new Embedding(cfg.max_position_embeddings, cfg.dim, { std }));
    if (cfg.sinusoidal_pos_embds) {
      // Fixed, not trained (requires_grad=False in transformers), but saved with the weights.
      (this.positionEmbeddings.weight.data as Float32Array).set(sinusoidalTable(cfg.max_position_embeddings, cfg.dim));
      this.positionEmbeddings.weight.requiresGrad = false;
    }
    this.layerNorm = this.child('LayerNorm', new LayerNorm(cfg.dim, LN_EPS));
    this.dropout = this.child('dropout', new Dropout(cfg.dropout));
  }

  forward(inputIds: Tensor): Tensor {
    const T = inputIds.shape[1];
    if (T > this.cfg.max_position_embeddings) {
      throw new DataError(`sequence length ${T} exceeds max_position_embeddings ${this.cfg.max_position_embeddings}; truncate inputs to ${this.cfg.max_position_embeddings} tokens`);
    }
    const positions = new Int32Array(T);
    for (let t = 0; t < T; t++) positions[t] = t;
    const pos = F.embedding(this.positionEmbeddings.weight, Tensor.from(positions, [T], 'int32', inputIds.backend)); // (T, C)
    const words = embedWithPadding(this.wordEmbeddings.weight, inputIds, this.cfg.pad_token_id);
    return this.dropout.forward(this.layerNorm.forward(F.add(words, pos)));
  }
}

/** q_lin / k_lin / v_lin, fused attention, out_lin (no dropout after out_lin, as transformers). */
export class MultiHeadSelfAttention extends Module {
  readonly qLin: Linear;
  readonly kLin: Linear;
  readonly vLin: Linear;
  readonly outLin: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropoutP: number;
  constructor(cfg: DistilBertConfig) {
    super();
    const C = cfg.dim;
    const std = cfg.initializer_range;
    this.numHeads = cfg.n_heads;
    this.headDim = C / cfg.n_heads;
    this.dropoutP = cfg.attention_dropout;
    this.qLin = this.child('q_lin', new Linear(C, C, { std }));
    this.kLin = this.child('k_lin', new Linear(C, C, { std }));
    this.vLin = this.child('v_lin', new Linear(C, C, { std }));
    this.outLin = this.child('out_lin', new Linear(C, C, { std }));
  }

  private heads(x: Tensor): Tensor {
    const [B, T] = x.shape;
    return F.permute(F.reshape(x, [B, T, this.numHeads, this.headDim]), [0, 2, 1, 3]); // (B, H, T, D)
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    const [B, T, C] = x.shape;
    const p = this.training ? this.dropoutP : 0;
    const ctx = sampleKeyedAttention(this.heads(this.qLin.forward(x)), this.heads(this.kLin.forward(x)), this.heads(this.vLin.forward(x)), {
      keyMask,
      dropoutP: p,
      seed: p > 0 ? nextSeed() : 0,
    });
    return this.outLin.forward(F.reshape(F.permute(ctx, [0, 2, 1, 3]), [B, T, C]));
  }
}

/** lin1 → activation → lin2 → dropout. */
export class FFN extends Module {
  readonly lin1: Linear;
  readonly lin2: Linear;
  readonly dropout: Dropout;
  readonly act: Activation;
  constructor(cfg: DistilBertConfig) {
    super();
    const std = cfg.initializer_range;
    this.lin1 = this.child('lin1', new Linear(cfg.dim, cfg.hidden_dim, { std }));
    this.lin2 = this.child('lin2', new Linear(cfg.hidden_dim, cfg.dim, { std }));
    this.dropout = this.child('dropout', new Dropout(cfg.dropout));
    this.act = activation(cfg.activation, 'activation');
  }

  forward(x: Tensor): Tensor {
    return this.dropout.forward(this.lin2.forward(this.act(this.lin1.forward(x))));
  }
}

/** sa = LN(attention(x) + x); out = LN(ffn(sa) + sa). */
export class TransformerBlock extends Module {
  readonly attention: MultiHeadSelfAttention;
  readonly saLayerNorm: LayerNorm;
  readonly ffn: FFN;
  readonly outputLayerNorm: LayerNorm;
  constructor(cfg: DistilBertConfig) {
    super();
    this.attention = this.child('attention', new MultiHeadSelfAttention(cfg));
    this.saLayerNorm = this.child('sa_layer_norm', new LayerNorm(cfg.dim, LN_EPS));
    this.ffn = this.child('ffn', new FFN(cfg));
    this.outputLayerNorm = this.child('output_layer_norm', new LayerNorm(cfg.dim, LN_EPS));
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    const sa = this.saLayerNorm.forward(F.add(this.attention.forward(x, keyMask), x));
    return this.outputLayerNorm.forward(F.add(this.ffn.forward(sa), sa));
  }
}

export class Transformer extends Module {
  readonly layer: ModuleList<TransformerBlock>;
  constructor(cfg: DistilBertConfig) {
    super();
    this.layer = this.child('layer', new ModuleList(Array.from({ length: cfg.n_layers }, () => new TransformerBlock(cfg))));
  }

  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    let h = x;
    for (const l of this.layer.items) h = l.forward(h, keyMask);
    return h;
  }
}

const BASE_RULES: CheckpointRules = { ignoreMissing: [/position_ids$/] };

/** The bare DistilBertModel; feature extraction by mean pooling over the attention mask. */
export class DistilBertModel extends Module implements PretrainedTaskModel {
  readonly task: TaskName = 'feature-extraction';
  readonly architecture: string = 'DistilBertModel';
  readonly baseModelPrefix: string = 'distilbert';
  readonly checkpointRules: CheckpointRules = BASE_RULES;
  readonly embeddings: DistilBertEmbeddings;
  readonly transformer: Transformer;
  constructor(readonly hfConfig: DistilBertConfig) {
    super();
    this.embeddings = this.child('embeddings', new DistilBertEmbeddings(hfConfig));
    this.transformer = this.child('transformer', new Transformer(hfConfig));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  /** Last hidden state (B, T, C). DistilBERT has no token types: tokenTypeIds are ignored. */
  encode(batch: ModelBatch): Tensor {
    const { B, T } = batchShape(batch.inputIds);
    checkCompanion('attention_mask', batch.attentionMask, B, T);
    const x = this.embeddings.forward(batch.inputIds);
    return this.transformer.forward(x, keyMaskOf(batch.attentionMask, x));
  }

  forward(batch: ModelBatch): ModelOutput {
    return { loss: null, logits: meanPool(this.encode(batch), batch.attentionMask) };
  }
}

/** Shared plumbing of the DistilBERT task models: the bare model under "distilbert". */
abstract class DistilBertTaskModel extends Module implements PretrainedTaskModel {
  abstract readonly task: TaskName;
  readonly baseModelPrefix: string = 'distilbert';
  readonly distilbert: DistilBertModel;
  constructor(
    readonly hfConfig: DistilBertConfig,
    readonly architecture: string,
    readonly checkpointRules: CheckpointRules = BASE_RULES,
  ) {
    super();
    this.distilbert = this.child('distilbert', new DistilBertModel(hfConfig));
  }

  get config(): Record<string, unknown> {
    return configJsonFor(this.hfConfig, this.architecture);
  }

  abstract forward(batch: ModelBatch): ModelOutput;
}

/** hidden[:, 0] → pre_classifier → ReLU → dropout(seq_classif_dropout) → classifier. */
export class DistilBertForSequenceClassification extends DistilBertTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly preClassifier: Linear;
  readonly classifier: Linear;
  readonly dropout: Dropout;
  constructor(cfg: DistilBertConfig) {
    super(cfg, 'DistilBertForSequenceClassification');
    checkHeadLabels(this.task, cfg.num_labels);
    const std = cfg.initializer_range;
    this.preClassifier = this.child('pre_classifier', new Linear(cfg.dim, cfg.dim, { std }));
    this.classifier = this.child('classifier', new Linear(cfg.dim, cfg.num_labels, { std }));
    this.dropout = this.child('dropout', new Dropout(cfg.seq_classif_dropout));
  }

  forward(batch: ModelBatch): ModelOutput {
    const pooled = F.relu(this.preClassifier.forward(firstToken(this.distilbert.encode(batch))));
    const logits = this.classifier.forward(this.dropout.forward(pooled));
    return { loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null, logits };
  }
}

/** hidden → dropout(dropout) → classifier (B, T, N). */
export class DistilBertForTokenClassification extends DistilBertTaskModel {
  readonly task: TaskName = 'token-classification';
  readonly dropout: Dropout;
  readonly classifier: Linear;
  constructor(cfg: DistilBertConfig) {
    super(cfg, 'DistilBertForTokenClassification');
    checkHeadLabels(this.task, cfg.num_labels);
    this.dropout = this.child('dropout', new Dropout(cfg.dropout));
    this.classifier = this.child('classifier', new Linear(cfg.dim, cfg.num_labels, { std: cfg.initializer_range }));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.classifier.forward(this.dropout.forward(this.distilbert.encode(batch)));
    return { loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null, logits };
  }
}

/** hidden → dropout(qa_dropout) → qa_outputs (B, T, 2). */
export class DistilBertForQuestionAnswering extends DistilBertTaskModel {
  readonly task: TaskName = 'question-answering';
  readonly qaOutputs: Linear;
  readonly dropout: Dropout;
  constructor(cfg: DistilBertConfig) {
    super(cfg, 'DistilBertForQuestionAnswering');
    checkHeadLabels(this.task, cfg.num_labels);
    this.qaOutputs = this.child('qa_outputs', new Linear(cfg.dim, cfg.num_labels, { std: cfg.initializer_range }));
    this.dropout = this.child('dropout', new Dropout(cfg.qa_dropout));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.qaOutputs.forward(this.dropout.forward(this.distilbert.encode(batch)));
    const { start, end } = splitQaLogits(logits);
    const loss = batch.startPositions && batch.endPositions ? questionAnsweringLoss(start, end, batch.startPositions, batch.endPositions) : null;
    return { loss, logits, startLogits: start, endLogits: end };
  }
}

/** vocab_transform → activation → vocab_layer_norm → vocab_projector (tied to word embeddings). */
export class DistilBertForMaskedLM extends DistilBertTaskModel {
  readonly task: TaskName = 'fill-mask';
  readonly vocabTransform: Linear;
  readonly vocabLayerNorm: LayerNorm;
  readonly vocabProjector: TiedDecoder;
  readonly act: Activation;
  constructor(cfg: DistilBertConfig) {
    super(cfg, 'DistilBertForMaskedLM', {
      tied: cfg.tie_word_embeddings ? { 'vocab_projector.weight': 'distilbert.embeddings.word_embeddings.weight' } : {},
      ignoreMissing: [/position_ids$/],
    });
    this.act = activation(cfg.activation, 'activation');
    this.vocabTransform = this.child('vocab_transform', new Linear(cfg.dim, cfg.dim, { std: cfg.initializer_range }));
    this.vocabLayerNorm = this.child('vocab_layer_norm', new LayerNorm(cfg.dim, LN_EPS));
    this.vocabProjector = this.child('vocab_projector', new TiedDecoder(this.distilbert.embeddings.wordEmbeddings, cfg.tie_word_embeddings, cfg.initializer_range, true));
  }

  forward(batch: ModelBatch): ModelOutput {
    const h = this.vocabLayerNorm.forward(this.act(this.vocabTransform.forward(this.distilbert.encode(batch))));
    const logits = this.vocabProjector.forward(h);
    return { loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null, logits };
  }
}

const DISTILBERT_TASKS: readonly TaskName[] = ['feature-extraction', 'text-classification', 'token-classification', 'question-answering', 'fill-mask'];

/** The DistilBERT family for pretrained.ts. */
export const DISTILBERT_FAMILY: ModelFamily = {
  modelTypes: ['distilbert'],
  baseModelPrefix: 'distilbert',
  tasks: DISTILBERT_TASKS,
  architectures: {
    DistilBertModel: 'feature-extraction',
    DistilBertForSequenceClassification: 'text-classification',
    DistilBertForTokenClassification: 'token-classification',
    DistilBertForQuestionAnswering: 'question-answering',
    DistilBertForMaskedLM: 'fill-mask',
  },
  build(task: TaskName, config: HfConfig, _options: BuildOptions = {}): PretrainedTaskModel {
    const cfg = expectModelType(config, 'DistilBERT', ['distilbert']);
    switch (task) {
      case 'feature-extraction': return new DistilBertModel(cfg);
      case 'text-classification': return new DistilBertForSequenceClassification(cfg);
      case 'token-classification': return new DistilBertForTokenClassification(cfg);
      case 'question-answering': return new DistilBertForQuestionAnswering(cfg);
      case 'fill-mask': return new DistilBertForMaskedLM(cfg);
      default: throw unsupportedTask('DistilBERT', task, DISTILBERT_TASKS);
    }
  },
};

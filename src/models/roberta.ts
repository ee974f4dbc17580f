// RoBERTa and XLM-RoBERTa as transformers' modeling_roberta.py builds them: BERT's encoder with
// position ids computed from input_ids and padding_idx (create_position_ids_from_input_ids), a
// classification head on <s> (dense + tanh + out_proj) and the RobertaLMHead (dense, gelu, layer_norm,
// decoder tied to the word embeddings). Token classification and QA heads are BERT's, under "roberta".
// Not here: the shared encoder blocks (bert.ts), loading/saving (pretrained.ts).

import { DataError } from '../errors.ts';
import type { BertConfig, HfConfig } from './hf-config.ts';
import { Dropout, Embedding, LayerNorm, Linear, Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import {
  BertEmbeddings, BertForQuestionAnswering, BertForTokenClassification, BertModel, BertTaskModel, TiedDecoder, type EncoderParts,
} from './bert.ts';
import { firstToken } from './common.ts';
import { expectModelType, unsupportedTask, type BuildOptions, type ModelFamily, type PretrainedTaskModel } from './family.ts';
import { checkHeadLabels, sequenceClassificationLoss, tokenLevelLoss } from './heads.ts';
import type { ModelBatch, ModelOutput, TaskName } from './types.ts';

/**
 * RoBERTa's position ids (transformers' create_position_ids_from_input_ids): non-padding tokens are
 * numbered padding_idx + 1, padding_idx + 2, ... in order; padding tokens get padding_idx.
 * ids: int32 (B, T) → int32 (B, T).
 * @example robertaPositionIds([[0, 5, 6, 1, 1]], 1) → [[2, 3, 4, 1, 1]]
 */
export function robertaPositionIds(inputIds: Tensor, paddingIdx: number): Tensor {
  const [B, T] = inputIds.shape;
  const ids = F.contiguous(inputIds).intData;
  const out = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let count = 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (ids[i] !== paddingIdx) count++;
      out[i] = ids[i] !== paddingIdx ? count + paddingIdx : paddingIdx;
    }
  }
  return Tensor.from(out, [B, T], 'int32', inputIds.backend);
}

/** BertEmbeddings with RoBERTa's position ids and a padding row in the position table. */
export class RobertaEmbeddings extends BertEmbeddings {
  readonly paddingIdx: number;
  constructor(cfg: BertConfig) {
    const pad = cfg.pad_token_id ?? 1;
    super(cfg, pad);
    this.paddingIdx = pad;
  }

  override positionIds(inputIds: Tensor): Tensor {
    const pos = robertaPositionIds(inputIds, this.paddingIdx);
    const max = this.cfg.max_position_embeddings;
    const top = pos.intData.reduce((m, v) => Math.max(m, v), 0);
    if (top >= max) {
      throw new DataError(
        `sequence of ${top - this.paddingIdx} tokens needs position ${top}, but max_position_embeddings is ${max}; ` +
          `truncate inputs to ${max - this.paddingIdx - 1} tokens`,
      );
    }
    return pos;
  }
}

const ARCH_PREFIX: Record<'roberta' | 'xlm-roberta', string> = { roberta: 'Roberta', 'xlm-roberta': 'XLMRoberta' };

function archName(cfg: BertConfig, suffix: string): string {
  return `${ARCH_PREFIX[cfg.model_type === 'xlm-roberta' ? 'xlm-roberta' : 'roberta']}${suffix}`;
}

/** The bare RoBERTa encoder (RobertaModel / XLMRobertaModel); feature extraction by mean pooling. */
export class RobertaModel extends BertModel {
  override readonly baseModelPrefix: string = 'roberta';
  constructor(cfg: BertConfig, options: BuildOptions = {}) {
    super(cfg, options, new RobertaEmbeddings(cfg), archName(cfg, 'Model'));
  }
}

function robertaParts(cfg: BertConfig, suffix: string): EncoderParts {
  return { prefix: 'roberta', architecture: archName(cfg, suffix), base: new RobertaModel(cfg, { addPoolingLayer: false }) };
}

/** <s> → dropout → dense → tanh → dropout → out_proj (RobertaClassificationHead). */
export class RobertaClassificationHead extends Module {
  readonly dense: Linear;
  readonly dropout: Dropout;
  readonly outProj: Linear;
  constructor(cfg: BertConfig) {
    super();
    const std = cfg.initializer_range;
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { std }));
    this.dropout = this.child('dropout', new Dropout(cfg.classifier_dropout ?? cfg.hidden_dropout_prob));
    this.outProj = this.child('out_proj', new Linear(cfg.hidden_size, cfg.num_labels, { std }));
  }

  forward(hidden: Tensor): Tensor {
    const x = this.dropout.forward(F.tanh(this.dense.forward(this.dropout.forward(firstToken(hidden)))));
    return this.outProj.forward(x);
  }
}

/** RobertaForSequenceClassification: no pooler; the head reads <s> itself. */
export class RobertaForSequenceClassification extends BertTaskModel {
  readonly task: TaskName = 'text-classification';
  readonly classifier: RobertaClassificationHead;
  constructor(cfg: BertConfig) {
    super(cfg, robertaParts(cfg, 'ForSequenceClassification'), { ignoreMissing: [/position_ids$/] });
    checkHeadLabels(this.task, cfg.num_labels);
    this.classifier = this.child('classifier', new RobertaClassificationHead(cfg));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.classifier.forward(this.base.encode(batch).hidden);
    return { loss: batch.labels ? sequenceClassificationLoss(logits, batch.labels, this.hfConfig) : null, logits };
  }
}

/** dense → gelu (always erf GELU, whatever hidden_act says) → layer_norm → decoder + bias. */
export class RobertaLMHead extends Module {
  readonly dense: Linear;
  readonly layerNorm: LayerNorm;
  readonly decoder: TiedDecoder;
  readonly bias: Tensor;
  constructor(cfg: BertConfig, embeddings: Embedding) {
    super();
    this.dense = this.child('dense', new Linear(cfg.hidden_size, cfg.hidden_size, { std: cfg.initializer_range }));
    this.layerNorm = this.child('layer_norm', new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps));
    this.decoder = this.child('decoder', new TiedDecoder(embeddings, cfg.tie_word_embeddings, cfg.initializer_range));
    this.bias = this.param('bias', F.untracked(() => Tensor.zeros([cfg.vocab_size])));
  }

  forward(hidden: Tensor): Tensor {
    return this.decoder.forward(this.layerNorm.forward(F.gelu(this.dense.forward(hidden))), this.bias);
  }
}

/** RobertaForMaskedLM (continued pretraining). */
export class RobertaForMaskedLM extends BertTaskModel {
  readonly task: TaskName = 'fill-mask';
  readonly lmHead: RobertaLMHead;
  constructor(cfg: BertConfig) {
    const parts = robertaParts(cfg, 'ForMaskedLM');
    super(cfg, parts, {
      tied: {
        ...(cfg.tie_word_embeddings ? { 'lm_head.decoder.weight': 'roberta.embeddings.word_embeddings.weight' } : {}),
        'lm_head.decoder.bias': 'lm_head.bias',
      },
      ignoreUnexpected: [/pooler/],
      ignoreMissing: [/position_ids$/],
    });
    this.lmHead = this.child('lm_head', new RobertaLMHead(cfg, parts.base.embeddings.wordEmbeddings));
  }

  forward(batch: ModelBatch): ModelOutput {
    const logits = this.lmHead.forward(this.base.encode(batch).hidden);
    return { loss: batch.labels ? tokenLevelLoss(this.task, logits, batch.labels) : null, logits };
  }
}

const ROBERTA_TASKS: readonly TaskName[] = ['feature-extraction', 'text-classification', 'token-classification', 'question-answering', 'fill-mask'];

function architectures(prefix: string): Record<string, TaskName> {
  return {
    [`${prefix}Model`]: 'feature-extraction',
    [`${prefix}ForSequenceClassification`]: 'text-classification',
    [`${prefix}ForTokenClassification`]: 'token-classification',
    [`${prefix}ForQuestionAnswering`]: 'question-answering',
    [`${prefix}ForMaskedLM`]: 'fill-mask',
  };
}

/** The RoBERTa / XLM-RoBERTa family for pretrained.ts. */
export const ROBERTA_FAMILY: ModelFamily = {
  modelTypes: ['roberta', 'xlm-roberta'],
  baseModelPrefix: 'roberta',
  tasks: ROBERTA_TASKS,
  architectures: { ...architectures('Roberta'), ...architectures('XLMRoberta') },
  build(task: TaskName, config: HfConfig, options: BuildOptions = {}): PretrainedTaskModel {
    const cfg = expectModelType(config, 'RoBERTa', ['roberta', 'xlm-roberta']);
    switch (task) {
      case 'feature-extraction': return new RobertaModel(cfg, options);
      case 'text-classification': return new RobertaForSequenceClassification(cfg);
      case 'token-classification': return new BertForTokenClassification(cfg, robertaParts(cfg, 'ForTokenClassification'));
      case 'question-answering': return new BertForQuestionAnswering(cfg, robertaParts(cfg, 'ForQuestionAnswering'));
      case 'fill-mask': return new RobertaForMaskedLM(cfg);
      default: throw unsupportedTask('RoBERTa', task, ROBERTA_TASKS);
    }
  },
};

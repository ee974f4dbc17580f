// Model and tokenizer for the classification pipeline: load a Hugging Face folder (or Hub id) with a
// sequence-classification head sized to the label map, or build a compact BERT plus a WordPiece
// tokenizer trained on the training text (the offline demo), optionally adapted first with a short
// masked-LM pass. Also saving and reloading weights for checkpoints.

import type { LabelMap, TextDataset } from '../data/index.ts';
import { makeHfConfig, setLabels } from '../io/hf-config.ts';
import { resolveModel } from '../hub/index.ts';
import { BERT_FAMILY } from '../models/bert.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { fromPretrained, loadCheckpointInto, savePretrained } from '../models/pretrained.ts';
import { loadCheckpointTensors } from '../io/checkpoint.ts';
import type { ProblemType } from '../models/types.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { trainWordPieceTokenizer } from '../tokenizers/train-wordpiece.ts';
import type { TrainingArguments } from '../train/args.ts';
import type { PipelineConfig } from './config.ts';
import { maskedLmPretrain } from './mlm.ts';
import type { PipelineEvents } from './text-classification.ts';

export interface LoadedClassifier {
  model: PretrainedTaskModel;
  tokenizer: Tokenizer;
  /** The model's maximum sequence length (max_position_embeddings, minus RoBERTa's offset). */
  maxPositions: number;
  description: string;
}

function maxPositionsOf(model: PretrainedTaskModel, tokenizer: Tokenizer): number {
  const cfg = model.hfConfig as unknown as Record<string, unknown>;
  let max = typeof cfg.max_position_embeddings === 'number' ? cfg.max_position_embeddings : 512;
  if (cfg.model_type === 'roberta' || cfg.model_type === 'xlm-roberta') max -= 2;
  const tmax = tokenizer.config.modelMaxLength;
  return typeof tmax === 'number' && tmax > 0 && tmax < max ? tmax : max;
}

/**
 * Loads a folder or Hub id for sequence classification. With `labels`, the head is sized to them (a new
 * head when the checkpoint's differs); without, the folder's own head and labels are used.
 */
export async function loadClassifier(idOrPath: string, problem: ProblemType | null, labels: LabelMap | null, ev?: PipelineEvents): Promise<LoadedClassifier> {
  const dir = await resolveModel(idOrPath, { onMessage: (m: string) => ev?.message?.(m) });
  const tokenizer = await loadTokenizer(dir);
  const model = await fromPretrained(dir, {
    task: 'text-classification',
    ...(problem ? { problemType: problem } : {}),
    ...(labels ? { id2label: labels.labels } : problem === 'regression' ? { numLabels: 1 } : {}),
    tokenizer,
    warn: (m: string) => ev?.message?.(m),
  });
  return { model, tokenizer, maxPositions: maxPositionsOf(model, tokenizer), description: `${idOrPath} (${model.architecture})` };
}

/** A compact BERT and its tokenizer, built from the training text. */
export async function scratchClassifier(
  train: TextDataset,
  p: PipelineConfig,
  args: TrainingArguments,
  problem: ProblemType,
  labels: LabelMap | null,
  ev?: PipelineEvents,
): Promise<LoadedClassifier> {
  const t0 = performance.now();
  const tokenizer = trainWordPieceTokenizer(
    train.examples.map((e) => (e.textPair ? `${e.text} ${e.textPair}` : e.text)),
    { vocabSize: p.scratch_vocab_size, lowercase: true, modelMaxLength: Math.max(args.max_length, 128) },
  );
  ev?.message?.(`tokenizer: WordPiece, ${tokenizer.vocabSize} tokens, trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const base = makeHfConfig('bert', {
    vocab_size: tokenizer.vocabSize,
    hidden_size: p.scratch_hidden_size,
    num_hidden_layers: p.scratch_num_layers,
    num_attention_heads: p.scratch_num_heads,
    intermediate_size: p.scratch_intermediate_size,
    max_position_embeddings: Math.max(args.max_length, 128),
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    pad_token_id: tokenizer.padTokenId ?? 0,
    ...(problem !== 'single_label_classification' ? { problem_type: problem } : {}),
    ...(problem === 'regression' ? { num_labels: 1 } : {}),
  });
  const config = labels ? setLabels(base, labels.labels) : base;
  const model = BERT_FAMILY.build('text-classification', config);
  const loaded: LoadedClassifier = { model, tokenizer, maxPositions: maxPositionsOf(model, tokenizer), description: `compact BERT trained from scratch (L${p.scratch_num_layers} H${p.scratch_hidden_size})` };
  if (p.mlm_pretrain_epochs > 0) await maskedLmPretrain(loaded, train, p.mlm_pretrain_epochs, args, ev);
  return loaded;
}

/** Writes the model and tokenizer as a Hugging Face folder. */
export async function saveClassifier(c: LoadedClassifier, dir: string): Promise<void> {
  await savePretrained(c.model, dir, { tokenizer: c.tokenizer });
}

/** Loads weights saved by saveClassifier back into the same model. */
export async function loadWeightsInto(c: LoadedClassifier, dir: string): Promise<void> {
  const ckpt = await loadCheckpointTensors(dir);
  loadCheckpointInto(c.model, ckpt.tensors, { source: dir, files: ckpt.files });
}

// The contract between models and everything above them (trainer, evaluation, serving, export):
// what a batch holds, what a forward pass returns, and the task names (Hugging Face's spellings).
// Types only. Each model family lives in its own file (bert.ts, distilbert.ts, roberta.ts, gpt2.ts, llama.ts).

import type { Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/index.ts';

/** Hugging Face task names. */
export type TaskName =
  | 'text-classification' // single-label, multi-label or regression, by problem_type
  | 'token-classification'
  | 'question-answering'
  | 'fill-mask'
  | 'feature-extraction' // sentence embeddings (mean pooling over the attention mask)
  | 'text-generation';

/** transformers' problem_type for sequence classification. */
export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression';

/** One batch, as the collator builds it. All (B, T) tensors are row-major; ids are int32. */
export interface ModelBatch {
  inputIds: Tensor; // int32 (B, T)
  attentionMask?: Tensor; // int32 (B, T): 1 = token, 0 = padding
  tokenTypeIds?: Tensor; // int32 (B, T)
  /**
   * Labels: int32 (B) for single-label classification, float32 (B, numLabels) for multi-label,
   * float32 (B) or (B, 1) for regression, int32 (B, T) with -100 ignored for token classification,
   * masked LM and causal LM (causal LM labels are shifted inside the model, as transformers does).
   */
  labels?: Tensor;
  startPositions?: Tensor; // int32 (B), question answering
  endPositions?: Tensor; // int32 (B)
}

export interface ModelOutput {
  /** The task loss (a one-element tensor) when labels were given. */
  loss: Tensor | null;
  /** (B, numLabels), (B, T, numLabels), (B, T, vocab) or (B, hidden) for feature extraction. */
  logits: Tensor;
  /** Question answering: (B, T) each. */
  startLogits?: Tensor;
  endLogits?: Tensor;
}

/** A loaded model with a task head, ready to train, evaluate, save and export. */
export interface TaskModel extends Module {
  readonly task: TaskName;
  /** The model's config.json contents (Hugging Face field names), kept up to date (id2label, ...). */
  readonly config: Record<string, unknown>;
  forward(batch: ModelBatch): ModelOutput;
}

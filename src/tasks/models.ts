// A loaded model with its tokenizer (the unit every pipeline passes around), and writing it as / reading
// its weights back from a Hugging Face folder (checkpoints, the final output, best-model reload).
// Loading a folder or building a compact model from scratch lives in task-run.ts (loadTaskModel,
// scratchTaskModel); loadClassifier here is the text-classification flavour of it.

import type { LabelMap } from '../data/index.ts';
import { loadCheckpointTensors } from '../io/checkpoint.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { loadCheckpointInto, savePretrained } from '../models/pretrained.ts';
import type { ProblemType } from '../models/types.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { loadTaskModel } from './task-run.ts';
import type { PipelineEvents } from './text-classification.ts';

export interface LoadedClassifier {
  model: PretrainedTaskModel;
  tokenizer: Tokenizer;
  /** The model's maximum sequence length (max_position_embeddings, minus RoBERTa's offset). */
  maxPositions: number;
  description: string;
  /** Parameters the checkpoint did not have (newly initialised when training starts from a base model). */
  newlyInitialized?: string[];
}

/**
 * Loads a folder or Hub id for sequence classification. With `labels`, the head is sized to them (a new
 * head when the checkpoint's differs); without, the folder's own head and labels are used.
 */
export async function loadClassifier(
  idOrPath: string,
  problem: ProblemType | null,
  labels: LabelMap | null,
  ev?: PipelineEvents,
  /** Inference (predict, evaluate): missing or unused weights are an error, never a random head. */
  inference = false,
): Promise<LoadedClassifier> {
  return loadTaskModel(idOrPath, 'text-classification', labels, ev, {
    ...(inference ? { strict: true } : {}),
    ...(problem ? { problemType: problem } : {}),
    ...(!labels && problem === 'regression' ? { numLabels: 1 } : {}),
  });
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

// The task registry (transformers.js SUPPORTED_TASKS style): task name → handler. The server and the
// pipeline loader look tasks up here. Encoder tasks run one forward pass per row (TaskHandler); text
// generation decodes token by token (GenerationTaskHandler). Not here: the decoding loop (src/generate/).

import type { TaskName } from '../../models/types.ts';
import type { GenerationTaskHandler, TaskHandler } from '../types.ts';
import { featureExtraction } from './feature-extraction.ts';
import { fillMask } from './fill-mask.ts';
import { questionAnswering } from './question-answering.ts';
import { textClassification } from './text-classification.ts';
import { textGeneration } from './text-generation.ts';
import { tokenClassification } from './token-classification.ts';

/** A handler with its type parameters erased (the pipeline treats items and outputs as opaque). */
export type AnyTaskHandler = TaskHandler<unknown, unknown, unknown, unknown>;
/** A generative handler with its type parameters erased. */
export type AnyGenerationHandler = GenerationTaskHandler<unknown, unknown, unknown>;

/** Tasks the inference pipelines serve. */
export const PIPELINE_TASKS: Readonly<Partial<Record<TaskName, AnyTaskHandler | AnyGenerationHandler>>> = {
  'text-classification': textClassification as unknown as AnyTaskHandler,
  'token-classification': tokenClassification as unknown as AnyTaskHandler,
  'question-answering': questionAnswering as unknown as AnyTaskHandler,
  'fill-mask': fillMask as unknown as AnyTaskHandler,
  'feature-extraction': featureExtraction as unknown as AnyTaskHandler,
  'text-generation': textGeneration as unknown as AnyGenerationHandler,
};

/** Task names with a pipeline. */
export const PIPELINE_TASK_NAMES = Object.keys(PIPELINE_TASKS) as TaskName[];

/** Whether a handler decodes token by token (text-generation) rather than running rows. */
export function isGenerationHandler(h: AnyTaskHandler | AnyGenerationHandler): h is AnyGenerationHandler {
  return h.kind === 'generation';
}

export { featureExtraction, fillMask, questionAnswering, textClassification, textGeneration, tokenClassification };

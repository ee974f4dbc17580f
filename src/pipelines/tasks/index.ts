// The task registry (transformers.js SUPPORTED_TASKS style): task name → handler. The server and the
// pipeline loader look tasks up here. Not here: text generation (src/generate/).

import type { TaskName } from '../../models/types.ts';
import type { TaskHandler } from '../types.ts';
import { featureExtraction } from './feature-extraction.ts';
import { fillMask } from './fill-mask.ts';
import { questionAnswering } from './question-answering.ts';
import { textClassification } from './text-classification.ts';
import { tokenClassification } from './token-classification.ts';

/** A handler with its type parameters erased (the pipeline treats items and outputs as opaque). */
export type AnyTaskHandler = TaskHandler<unknown, unknown, unknown, unknown>;

/** Tasks the inference pipelines serve. */
export const PIPELINE_TASKS: Readonly<Partial<Record<TaskName, AnyTaskHandler>>> = {
  'text-classification': textClassification as unknown as AnyTaskHandler,
  'token-classification': tokenClassification as unknown as AnyTaskHandler,
  'question-answering': questionAnswering as unknown as AnyTaskHandler,
  'fill-mask': fillMask as unknown as AnyTaskHandler,
  'feature-extraction': featureExtraction as unknown as AnyTaskHandler,
};

/** Task names with a pipeline. */
export const PIPELINE_TASK_NAMES = Object.keys(PIPELINE_TASKS) as TaskName[];

export { featureExtraction, fillMask, questionAnswering, textClassification, tokenClassification };

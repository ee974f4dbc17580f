// Public API of the inference pipelines: load a model folder as a Hugging Face-style pipeline
// (text-classification, token-classification, question-answering, fill-mask, feature-extraction) and
// the pure post-processing functions behind it. Not here: HTTP (src/serve/), generation (src/generate/).

export { TextPipeline, pipeline, DEFAULT_MAX_TEXT_LENGTH, DEFAULT_MAX_ITEMS, type PipelineOptions, type PreparedRequest } from './pipeline.ts';
export { PipelineInputError, type RowOutput, type PipelineContext, type TaskHandler, type PipelineOutput } from './types.ts';
export { PIPELINE_TASKS, PIPELINE_TASK_NAMES } from './tasks/index.ts';
export type { TextOrPair, TextClassificationParams } from './tasks/text-classification.ts';
export type { TokenClassificationParams } from './tasks/token-classification.ts';
export type { QaInput, QaParams, QaAnswer } from './tasks/question-answering.ts';
export type { FillMaskParams, FillMaskCandidate } from './tasks/fill-mask.ts';
export type { FeatureExtractionParams } from './tasks/feature-extraction.ts';
export * from './postprocess.ts';

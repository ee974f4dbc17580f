// Public API of the inference pipelines: load a model folder as a Hugging Face-style pipeline
// (text-classification, token-classification, question-answering, fill-mask, feature-extraction,
// text-generation) and the pure post-processing functions behind it. Not here: HTTP (src/serve/), the
// decoding loop (src/generate/).

export {
  TextPipeline,
  RequestPreparer,
  pipeline,
  DEFAULT_MAX_TEXT_LENGTH,
  DEFAULT_MAX_ITEMS,
  DEFAULT_MAX_NEW_TOKENS_LIMIT,
  type PipelineOptions,
  type PreparedRequest,
  type PreparedRows,
  type PreparedGeneration,
} from './pipeline.ts';
export {
  PipelineInputError,
  type RowOutput,
  type PipelineContext,
  type TaskHandler,
  type GenerationTaskHandler,
  type GenerationJob,
  type PipelineOutput,
} from './types.ts';
export { PIPELINE_TASKS, PIPELINE_TASK_NAMES, isGenerationHandler } from './tasks/index.ts';
export { DEFAULT_MAX_NEW_TOKENS, type TextGenerationParams } from './tasks/text-generation.ts';
export type { TextOrPair, TextClassificationParams } from './tasks/text-classification.ts';
export type { TokenClassificationParams } from './tasks/token-classification.ts';
export type { QaInput, QaParams, QaAnswer } from './tasks/question-answering.ts';
export type { FillMaskParams, FillMaskCandidate } from './tasks/fill-mask.ts';
export type { FeatureExtractionParams } from './tasks/feature-extraction.ts';
export * from './postprocess.ts';

// finetune's library entry point: everything the CLI does, as functions. Importing it selects the
// native backend when the addon is built (else the reference backend). TypeScript sources: run under
// tsx (`node --import tsx`) or a bundler that compiles TypeScript.
//
// @example
// import { resolveSettings, trainTextClassifier } from 'finetune';
// const { pipeline, args } = resolveSettings([{ source: 'code', values: { train_file: 'reviews.csv' } }]);
// const run = await trainTextClassifier(pipeline, args, { message: console.log });

import './backend/index.ts';

// Settings and the end-to-end tasks.
export { resolveSettings, DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from './tasks/config.ts';
export { DEFAULT_TRAINING_ARGUMENTS, applyOverrides, readConfigFile, type TrainingArguments } from './train/args.ts';
export { trainTextClassifier, type ClassifierRun, type PipelineEvents } from './tasks/text-classification.ts';
export { trainTokenClassifier } from './tasks/token-classification.ts';
export { trainQuestionAnswering } from './tasks/question-answering.ts';
export { trainMaskedLm } from './tasks/fill-mask.ts';
export { trainCausalLm } from './tasks/text-generation.ts';
export { runDemo, spamAssassinDataset } from './tasks/demo.ts';
export { predict, predictTexts, predictWith, type Prediction, type PredictInput, type PredictOptions, type PredictRecord } from './inference/predict.ts';
export { writeRunOutputs, allResults, modelCard } from './tasks/run-outputs.ts';
export { pushToHub } from './hub/upload.ts';
export { TensorBoardWriter } from './report/tensorboard.ts';
export { gridTrials, randomTrials, runSearch, type SearchSpace } from './hpo/search.ts';

// Building blocks.
export { Trainer, type TrainResult, type LogRecord } from './train/trainer.ts';
export { FeatureBatches } from './train/batches.ts';
export { loadDataset, splitDataset, preprocessDataset, collate } from './data/index.ts';
export { loadTokenizer } from './tokenizers/load.ts';
export { trainWordPieceTokenizer } from './tokenizers/train-wordpiece.ts';
export { Tokenizer } from './tokenizers/tokenizer.ts';
export {
  fromPretrained,
  savePretrained,
  createModel,
  createBert,
  AutoModel,
  AutoModelForSequenceClassification,
  AutoModelForTokenClassification,
  AutoModelForQuestionAnswering,
  AutoModelForMaskedLM,
} from './models/pretrained.ts';
export { generate } from './generate/generate.ts';
export { textGeneration, textGenerationBatch } from './inference/text-generation.ts';
export { applyLora, mergeLora } from './lora/inject.ts';
export { saveLoraAdapter, loadLoraAdapter } from './lora/adapter.ts';
export { pipeline, TextPipeline } from './inference/index.ts';
export { startServer } from './serve/index.ts';
export { exportModel, exportOnnx } from './export/index.ts';
export { resolveModel } from './hub/index.ts';
export { AdamW, decayGroups } from './optim/adamw.ts';
export { learningRate } from './optim/schedules.ts';
export * as F from './tensor/index.ts';
export * from './errors.ts';

// Text classification end to end, as a library call: read and clean the data, split it, build the
// label map, load (or build) tokenizer and model, tokenise, train with evaluation and checkpoints,
// evaluate on the test split, save a Hugging Face folder, write metrics.jsonl and report.html.
// The CLI's `finetune train` is a thin shell over trainTextClassifier().

import { assertKnownLabels, labelMapFromDataset, loadDataset, nearDuplicateLabelsWarning, type Features, type LabelMap, type TextDataset } from '../data/index.ts';
import { ConfigError, DataError } from '../errors.ts';
import { setClassWeights } from '../models/heads.ts';
import type { ProblemType, TaskModel } from '../models/types.ts';
import { manualSeed } from '../nn/init.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { FeatureBatches } from '../train/batches.ts';
import type { TrainingArguments } from '../train/args.ts';
import type { TrainResult } from '../train/trainer.ts';
import { preprocessOptions, type PipelineConfig } from './config.ts';
import { resolveClassWeights } from './class-weights.ts';
import { evaluateClassifier, type EvalResult } from './evaluate.ts';
import { loadClassifier, type LoadedClassifier } from './models.ts';
import { countsOf, loadSplits, scratchTaskModel, trainEvaluateSave } from './task-run.ts';
import { setUpLora } from './lora.ts';

export interface PipelineEvents {
  message?: (msg: string) => void;
  /** Stops training between steps (the CLI aborts it on Ctrl-C). */
  signal?: AbortSignal;
  progress?: (label: string, total: number) => { update(done: number, info?: Record<string, string | number>): void; stop(): void };
}

export interface ClassifierRun {
  outputDir: string;
  train: TrainResult;
  validation: EvalResult | null;
  test: EvalResult | null;
  labels: string[];
  reportPath: string | null;
  /** The loss weight of each label, when --class-weights was given. */
  classWeights?: Record<string, number>;
  /** Split sizes and preparation notes (for all_results.json and the model card). */
  dataCounts?: { trainExamples?: number; validationExamples?: number; testExamples?: number; preparation?: string[] };
}

/** Tokenises text examples into features with labels encoded by the label map. */
export function textFeatures(ds: TextDataset, tokenizer: Tokenizer, maxLength: number, labels: LabelMap | null): Features[] {
  return ds.examples.map((ex) => {
    const enc = tokenizer.encode(ex.text, ex.textPair ?? null, { truncation: 'longest_first', maxLength });
    const f: Features = { inputIds: enc.ids, tokenTypeIds: enc.typeIds };
    if (ds.task === 'single_label_classification' && ex.label !== undefined && labels) f.label = labels.label2id[ex.label];
    if (ds.task === 'multi_label_classification' && ex.labels !== undefined && labels) {
      const v = new Array<number>(labels.labels.length).fill(0);
      for (const l of ex.labels) v[labels.label2id[l]] = 1;
      f.labelVector = v;
    }
    if (ds.task === 'regression' && ex.target !== undefined) f.target = ex.target;
    return f;
  });
}

/** Reads a text dataset with the pipeline's column and cleaning settings. */
export async function readTextDataset(file: string, p: PipelineConfig, problem: ProblemType, labelled = true): Promise<TextDataset> {
  const ds = await loadDataset(file, {
    read: {
      ...(p.format ? { format: p.format } : {}),
      ...(p.has_header !== null ? { hasHeader: p.has_header } : {}),
      ...(p.column_names ? { columnNames: p.column_names } : {}),
      maxRecordSize: p.max_record_size,
    },
    columns: {
      task: problem,
      text: p.text_column.includes(',') ? p.text_column.split(',').map((s) => s.trim()) : p.text_column,
      ...(p.text_pair_column ? { textPair: p.text_pair_column } : {}),
      ...(labelled ? { label: p.label_column } : {}),
      blankLabels: p.blank_labels,
      ...(p.label_names ? { labelNames: p.label_names } : {}),
    },
    preprocess: preprocessOptions(p),
  });
  if (ds.task === 'token_classification' || ds.task === 'question_answering') throw new DataError(`${file}: expected a text dataset`);
  return ds;
}

/**
 * Trains a text classifier. `datasets` may be given directly (the demo builds its own); otherwise
 * they are read from the files named in `p`.
 */
export async function trainTextClassifier(
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
  given?: { train: TextDataset; validation?: TextDataset; test?: TextDataset },
): Promise<ClassifierRun> {
  manualSeed(args.seed);
  const problem: ProblemType = p.problem_type ?? 'single_label_classification';
  // 1. Data.
  const splits = await loadSplits(
    p,
    args,
    ev,
    given,
    (file) => readTextDataset(file, p, problem),
    'no training data: pass --train-file (CSV, TSV, JSONL, JSON or Parquet), or run `finetune train` without arguments for the built-in demo',
  );
  const { train, validation, test } = splits;
  // 2. Labels.
  const labelMap = problem === 'regression' ? null : labelMapFromDataset(train);
  if (labelMap) {
    if (validation.examples.length) assertKnownLabels(validation, labelMap);
    if (test?.examples.length) assertKnownLabels(test, labelMap);
    ev?.message?.(`labels (${labelMap.labels.length}): ${labelMap.labels.join(', ')}`);
    const similar = nearDuplicateLabelsWarning(labelMap.labels, train.file);
    if (similar) ev?.message?.(similar);
  }
  const labels = labelMap?.labels ?? ['value'];
  // 3. Tokenizer and model.
  let loaded: LoadedClassifier;
  if (p.model) {
    loaded = await loadClassifier(p.model, problem, labelMap, ev);
  } else {
    ev?.message?.(`no --model given: building a compact BERT (${p.scratch_num_layers} layers, hidden ${p.scratch_hidden_size}) and a ${p.scratch_vocab_size}-token WordPiece vocabulary from the training text`);
    const texts = train.examples.map((e) => (e.textPair ? `${e.text} ${e.textPair}` : e.text));
    const fields = { ...(problem !== 'single_label_classification' ? { problem_type: problem } : {}), ...(problem === 'regression' ? { num_labels: 1 } : {}) };
    loaded = await scratchTaskModel(texts, 'text-classification', p, args, labelMap, ev, fields);
  }
  const persist = setUpLora(p, loaded, 'text-classification', ev);
  const { model, tokenizer } = loaded;
  let classWeights: Record<string, number> | undefined;
  if (args.class_weights !== null) {
    if (!labelMap || problem !== 'single_label_classification') throw new ConfigError('class_weights', `applies to single-label classification; problem_type is ${problem}`);
    const w = resolveClassWeights(args.class_weights, labelMap, train.examples.map((e) => e.label ?? ''));
    setClassWeights(model.hfConfig, w);
    classWeights = Object.fromEntries(labelMap.labels.map((l, i) => [l, w[i] as number]));
    ev?.message?.(`class weights (${args.class_weights}): ${labelMap.labels.map((l, i) => `${l} ${(w[i] as number).toFixed(4)}`).join(', ')}`);
  }
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  ev?.message?.(`model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}`);
  // 4. Features.
  const padTokenId = tokenizer.padTokenId ?? 0;
  const trainBatches = new FeatureBatches(textFeatures(train, tokenizer, maxLength, labelMap), {
    batchSize: args.per_device_train_batch_size,
    seed: args.seed,
    shuffle: true,
    groupByLength: args.group_by_length,
    padTokenId,
  });
  const evaluator = (ds: TextDataset | undefined, collectPredictions = false) => {
    if (!ds || ds.examples.length === 0) return null;
    const batches = new FeatureBatches(textFeatures(ds, tokenizer, maxLength, labelMap), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
    return async (m: TaskModel) => {
      const r = await evaluateClassifier(m, batches, problem, labels, undefined, collectPredictions);
      r.predictions?.forEach((pred, i) => (pred.text = ds.examples[i]?.text));
      return r;
    };
  };
  // 5-6. Train, evaluate, save, report.
  const run = await trainEvaluateSave(
    { task: 'text-classification', loaded, train: trainBatches, validate: evaluator(validation), test: evaluator(test, true), labels, dataFile: train.file, dataCounts: countsOf(splits), ...(persist ? { persist } : {}) },
    args,
    ev,
  );
  return classWeights ? { ...run, classWeights } : run;
}

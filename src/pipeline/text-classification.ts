// Text classification end to end, as a library call: read and clean the data, split it, build the
// label map, load (or build) tokenizer and model, tokenise, train with evaluation and checkpoints,
// evaluate on the test split, save a Hugging Face folder, write metrics.jsonl and report.html.
// The CLI's `finetune train` is a thin shell over trainTextClassifier().

import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  assertKnownLabels,
  formatPrepSteps,
  labelMapFromDataset,
  loadDataset,
  splitDataset,
  type Features,
  type LabelMap,
  type TextDataset,
} from '../data/index.ts';
import { DataError } from '../errors.ts';
import type { ProblemType } from '../models/types.ts';
import { manualSeed } from '../nn/init.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { FeatureBatches } from '../train/batches.ts';
import type { TrainingArguments } from '../train/args.ts';
import { Trainer, type LogRecord, type TrainResult } from '../train/trainer.ts';
import { preprocessOptions, type PipelineConfig } from './config.ts';
import { evaluateClassifier, type EvalResult } from './evaluate.ts';
import { loadClassifier, loadWeightsInto, saveClassifier, scratchClassifier, type LoadedClassifier } from './models.ts';

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
    },
    columns: {
      task: problem,
      text: p.text_column.includes(',') ? p.text_column.split(',').map((s) => s.trim()) : p.text_column,
      ...(p.text_pair_column ? { textPair: p.text_pair_column } : {}),
      ...(labelled ? { label: p.label_column } : {}),
      blankLabels: p.blank_labels,
    },
    preprocess: preprocessOptions(p),
  });
  if (ds.task === 'token_classification' || ds.task === 'question_answering') throw new DataError(`${file}: expected a text dataset`);
  return ds;
}

function say(ev: PipelineEvents | undefined, msg: string): void {
  ev?.message?.(msg);
}

/** Prints what preprocessing dropped or changed. */
function reportPrep(ev: PipelineEvents | undefined, name: string, ds: TextDataset): void {
  const lines = formatPrepSteps(ds);
  say(ev, `${name}: ${ds.examples.length} examples from ${ds.file}`);
  for (const l of lines) say(ev, `  ${l}`);
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
  let train: TextDataset;
  let validation: TextDataset | undefined;
  let test: TextDataset | undefined;
  if (given) {
    ({ train, validation, test } = given);
  } else {
    if (!p.train_file) throw new DataError('no training data: pass --train-file (CSV, TSV, JSONL, JSON or Parquet), or run `finetune train` without arguments for the built-in demo');
    train = await readTextDataset(p.train_file, p, problem);
    if (p.validation_file) validation = await readTextDataset(p.validation_file, p, problem);
    if (p.test_file) test = await readTextDataset(p.test_file, p, problem);
  }
  reportPrep(ev, 'train', train);
  if (!validation || (!test && p.test_split > 0)) {
    const splits = splitDataset(train, { seed: args.seed, validation: validation ? 0 : p.validation_split, test: test ? 0 : p.test_split });
    train = splits.train;
    validation = validation ?? splits.validation;
    test = test ?? splits.test;
    say(ev, `split (seed ${args.seed}, stratified): train ${train.examples.length}, validation ${validation.examples.length}${test ? `, test ${test.examples.length}` : ''}`);
  }
  if (train.examples.length === 0) throw new DataError(`${train.file}: no training examples left after preprocessing`);
  // 2. Labels.
  const labelMap = problem === 'regression' ? null : labelMapFromDataset(train);
  if (labelMap) {
    if (validation.examples.length) assertKnownLabels(validation, labelMap);
    if (test?.examples.length) assertKnownLabels(test, labelMap);
    say(ev, `labels (${labelMap.labels.length}): ${labelMap.labels.join(', ')}`);
  }
  const labels = labelMap?.labels ?? ['value'];
  // 3. Tokenizer and model.
  let loaded: LoadedClassifier;
  if (p.model) {
    loaded = await loadClassifier(p.model, problem, labelMap, ev);
  } else {
    say(ev, `no --model given: building a compact BERT (${p.scratch_num_layers} layers, hidden ${p.scratch_hidden_size}) and a ${p.scratch_vocab_size}-token WordPiece vocabulary from the training text`);
    loaded = await scratchClassifier(train, p, args, problem, labelMap, ev);
  }
  const { model, tokenizer } = loaded;
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  say(ev, `model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}`);
  // 4. Features.
  const padTokenId = tokenizer.padTokenId ?? 0;
  const trainBatches = new FeatureBatches(textFeatures(train, tokenizer, maxLength, labelMap), {
    batchSize: args.per_device_train_batch_size,
    seed: args.seed,
    shuffle: true,
    groupByLength: args.group_by_length,
    padTokenId,
  });
  const evalBatches = (ds: TextDataset): FeatureBatches =>
    new FeatureBatches(textFeatures(ds, tokenizer, maxLength, labelMap), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
  const valBatches = validation.examples.length ? evalBatches(validation) : null;
  // 5. Train.
  mkdirSync(args.output_dir, { recursive: true });
  const logPath = join(args.output_dir, 'metrics.jsonl');
  const history: LogRecord[] = [];
  let bar: ReturnType<NonNullable<PipelineEvents['progress']>> | null = null;
  const trainer = new Trainer({
    model,
    args,
    train: trainBatches,
    evaluate: valBatches ? async (m) => (await evaluateClassifier(m, valBatches, problem, labels)).metrics : undefined,
    saveModel: (dir) => saveClassifier(loaded, dir),
    loadModel: (dir) => loadWeightsInto(loaded, dir),
    signal: ev?.signal,
    events: {
      onStep: (s) => {
        bar ??= ev?.progress?.('train', s.totalSteps) ?? null;
        bar?.update(s.step, { loss: s.loss, lr: s.lr, epoch: s.epoch });
      },
      onLog: (rec) => {
        history.push(rec);
        appendFileSync(logPath, JSON.stringify(rec) + '\n');
        if (Object.keys(rec).some((k) => k.startsWith('eval_'))) {
          const parts = Object.entries(rec).filter(([k]) => k.startsWith('eval_') && !k.includes('count')).map(([k, v]) => `${k.slice(5)} ${typeof v === 'number' ? v.toFixed(4) : v}`);
          say(ev, `step ${rec.step} (epoch ${Number(rec.epoch).toFixed(2)}): ${parts.join(', ')}`);
        }
      },
      onMessage: (m) => say(ev, m),
    },
  });
  if (args.resume_from_checkpoint) await trainer.resume(args.resume_from_checkpoint);
  const result = await trainer.train();
  (bar as { stop(): void } | null)?.stop();
  // 6. Final evaluation and save.
  const valResult = valBatches ? await evaluateClassifier(model, valBatches, problem, labels) : null;
  const testResult = test?.examples.length ? await evaluateClassifier(model, evalBatches(test), problem, labels) : null;
  if (testResult) {
    const rec: LogRecord = { step: result.globalStep, epoch: result.epochs };
    for (const [k, v] of Object.entries(testResult.metrics)) rec[`test_${k}`] = v;
    appendFileSync(logPath, JSON.stringify(rec) + '\n');
    history.push(rec);
  }
  await saveClassifier(loaded, args.output_dir);
  say(ev, `saved the model to ${args.output_dir} (config.json, model.safetensors, tokenizer files)`);
  let reportPath: string | null = null;
  if (args.report) {
    reportPath = join(args.output_dir, 'report.html');
    const { writeRunReport } = await import('./report.ts'); // loaded only when a report is wanted
    await writeRunReport(reportPath, {
      title: `finetune: ${loaded.description}`,
      model: loaded.description,
      data: train.file,
      args,
      history,
      result,
      validation: valResult,
      test: testResult,
      dataCounts: {
        trainExamples: train.examples.length,
        validationExamples: validation.examples.length,
        ...(test ? { testExamples: test.examples.length } : {}),
        preparation: formatPrepSteps(train),
      },
    });
    say(ev, `report: ${reportPath}`);
  }
  return { outputDir: args.output_dir, train: result, validation: valResult, test: testResult, labels, reportPath };
}

// The steps every task pipeline shares (text and token classification, question answering, masked LM): load a
// model folder with the task's head or build a compact BERT + WordPiece tokenizer from the training
// text, then train with evaluation and checkpoints, evaluate the test split, save a Hugging Face folder,
// write metrics.jsonl and report.html; and the data splits (loadSplits) every task starts from.
// Not here: data reading, features or metrics of any one task (each task's own file).

import { appendFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatPrepSteps, splitDataset, type Dataset, type LabelMap, type TextDataset } from '../data/index.ts';
import { ConfigError, DataError, ModelError } from '../errors.ts';
import { resolveModel } from '../hub/index.ts';
import { makeHfConfig, setLabels } from '../models/hf-config.ts';
import type { JsonObject } from '../io/json.ts';
import { prepareOutputDir } from '../io/output-dir.ts';
import { replaceModelFolder } from '../io/atomic.ts';
import { truncateMetricsLog } from '../train/checkpoint.ts';
import { BERT_FAMILY } from '../models/bert.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { isAdapterFolder, readLoraConfig, type PeftTaskType } from '../lora/config.ts';
import { loadPretrained, type FromPretrainedOptions } from '../models/pretrained.ts';
import type { TaskModel, TaskName } from '../models/types.ts';
import { loadTokenizer } from '../tokenizers/load.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { trainWordPieceTokenizer } from '../tokenizers/train-wordpiece.ts';
import type { TrainingArguments } from '../train/args.ts';
import type { FeatureBatches } from '../train/batches.ts';
import { Trainer, type LogRecord } from '../train/trainer.ts';
import type { PipelineConfig, PipelineTask } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import { dataParallelFromEnv, isMainRank } from '../distributed/data-parallel.ts';
import { maskedLmPretrain } from './mlm.ts';
import { loadWeightsInto, saveClassifier, type LoadedClassifier } from './models.ts';
import type { ClassifierRun, PipelineEvents } from './text-classification.ts';
import { autocastAsync } from '../tensor/index.ts';

/** The result of a task run: ClassifierRun's fields (so the CLI prints it the same way) plus the task. */
export interface TaskRun extends ClassifierRun {
  task: PipelineTask;
}

/** A model with a task head, its tokenizer and length limit (the same shape the classifier uses). */
export type LoadedTaskModel = LoadedClassifier;

export function say(ev: PipelineEvents | undefined, msg: string): void {
  ev?.message?.(msg);
}

/** Prints a dataset's size and what preprocessing dropped or changed. */
export function reportPrep(ev: PipelineEvents | undefined, name: string, ds: Dataset): void {
  say(ev, `${name}: ${ds.examples.length} examples from ${ds.file}`);
  for (const l of formatPrepSteps(ds)) say(ev, `  ${l}`);
}

/** The model's maximum sequence length (max_position_embeddings, minus RoBERTa's offset; capped by the tokenizer's). */
export function maxPositionsOf(model: PretrainedTaskModel, tokenizer: Tokenizer): number {
  const cfg = model.hfConfig as unknown as Record<string, unknown>;
  let max = typeof cfg.max_position_embeddings === 'number' ? cfg.max_position_embeddings : 512;
  if (cfg.model_type === 'roberta' || cfg.model_type === 'xlm-roberta') max -= 2;
  const tmax = tokenizer.config.modelMaxLength;
  return typeof tmax === 'number' && tmax > 0 && tmax < max ? tmax : max;
}

/**
 * Loads a folder or Hub id with the head of `task`. With `labels`, a labelled head is sized to them (a new
 * head when the checkpoint's differs); without, the folder's own head and labels are used.
 *
 * @example
 * const { model, tokenizer } = await loadTaskModel('./bert-base-cased', 'token-classification', labelMap);
 */
export async function loadTaskModel(
  idOrPath: string,
  task: TaskName,
  labels: LabelMap | null,
  ev?: PipelineEvents,
  extra: Pick<FromPretrainedOptions, 'problemType' | 'numLabels' | 'strict' | 'streaming'> = {},
): Promise<LoadedTaskModel> {
  const onMessage = (m: string) => say(ev, m);
  const dir = await resolveModel(idOrPath, { onMessage });
  if (!extra.strict && isAdapterFolder(dir)) {
    throw new ConfigError(
      'model',
      `${idOrPath} is a LoRA adapter folder; to train further from it, merge it into full weights first: ` +
        `\`finetune export --format hf ${idOrPath} ${idOrPath}-merged\`, then --model ${idOrPath}-merged`,
    );
  }
  const resolveBase = (base: string) => resolveModel(base, { onMessage });
  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadTokenizer(dir);
  } catch (err) {
    // An adapter folder written by PEFT alone has no tokenizer: its base model's is the one it was trained with.
    if (!isAdapterFolder(dir)) throw err;
    const base = (await readLoraConfig(dir)).base_model_name_or_path;
    if (!base) throw err;
    tokenizer = await loadTokenizer(await resolveBase(base));
  }
  const { model, info } = await loadPretrained(dir, {
    task,
    ...extra,
    ...(labels ? { id2label: labels.labels } : {}),
    tokenizer,
    warn: onMessage,
    resolveBase,
  });
  const adapter = info.adapter ? ` + LoRA adapter (r ${info.adapter.config.r}) on ${info.adapter.baseDir}` : '';
  return {
    model,
    tokenizer,
    maxPositions: maxPositionsOf(model, tokenizer),
    description: `${idOrPath} (${model.architecture}${adapter})`,
    newlyInitialized: [...info.missingKeys, ...info.mismatchedKeys.map((m) => m.key)],
  };
}

const PIPELINE_TASK_OF_PEFT_TYPE: Partial<Record<PeftTaskType, PipelineTask>> = {
  SEQ_CLS: 'text-classification',
  TOKEN_CLS: 'token-classification',
  QUESTION_ANS: 'question-answering',
  CAUSAL_LM: 'text-generation',
};

const TASK_OF_ARCHITECTURE: [RegExp, PipelineTask][] = [
  [/(ForCausalLM|LMHeadModel)$/, 'text-generation'],
  [/ForTokenClassification$/, 'token-classification'],
  [/ForQuestionAnswering$/, 'question-answering'],
  [/For(MaskedLM|PreTraining)$/, 'fill-mask'],
  [/ForSequenceClassification$/, 'text-classification'],
];

/**
 * The pipeline task of a saved model folder, from config.json `architectures` (text-classification when
 * it names none of the task heads); a PEFT adapter folder for a causal LM is text-generation.
 *
 * @example
 * await taskOfModel('ner-model'); // 'token-classification' (config.json: BertForTokenClassification)
 */
export async function taskOfModel(idOrPath: string): Promise<PipelineTask> {
  const dir = await resolveModel(idOrPath);
  if (!existsSync(join(dir, 'config.json')) && isAdapterFolder(dir)) {
    const type = (await readLoraConfig(dir)).task_type;
    const task = type === null ? undefined : PIPELINE_TASK_OF_PEFT_TYPE[type];
    if (task === undefined) {
      throw new ModelError(`${join(dir, 'adapter_config.json')}: task_type ${JSON.stringify(type)} does not say which task the adapter was trained for; pass --task`);
    }
    return task;
  }
  let archs: unknown;
  try {
    archs = (JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { architectures?: unknown }).architectures;
  } catch (err) {
    throw new ModelError(`${join(dir, 'config.json')}: cannot read the model's config (${(err as Error).message}); is ${idOrPath} a model folder written by \`finetune train\`?`);
  }
  for (const a of Array.isArray(archs) ? archs : []) {
    for (const [re, task] of TASK_OF_ARCHITECTURE) if (typeof a === 'string' && re.test(a)) return task;
  }
  return 'text-classification';
}

/**
 * A compact BERT with the head of `task` and a WordPiece tokenizer trained on `texts` (the offline path when
 * no pretrained model is at hand), optionally adapted first with `p.mlm_pretrain_epochs` of masked LM.
 *
 * @example
 * const loaded = await scratchTaskModel(train.examples.map((e) => e.tokens.join(' ')), 'token-classification', p, args, labels);
 */
export async function scratchTaskModel(
  texts: string[],
  task: TaskName,
  p: PipelineConfig,
  args: TrainingArguments,
  labels: LabelMap | null,
  ev?: PipelineEvents,
  /** Extra config.json fields for the new model (e.g. problem_type). */
  configFields: JsonObject = {},
): Promise<LoadedTaskModel> {
  const t0 = performance.now();
  const maxPositions = Math.max(args.max_length, 128);
  const tokenizer = trainWordPieceTokenizer(texts, { vocabSize: p.scratch_vocab_size, lowercase: true, modelMaxLength: maxPositions });
  say(ev, `tokenizer: WordPiece, ${tokenizer.vocabSize} tokens, trained in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const base = makeHfConfig('bert', {
    vocab_size: tokenizer.vocabSize,
    hidden_size: p.scratch_hidden_size,
    num_hidden_layers: p.scratch_num_layers,
    num_attention_heads: p.scratch_num_heads,
    intermediate_size: p.scratch_intermediate_size,
    max_position_embeddings: maxPositions,
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    pad_token_id: tokenizer.padTokenId ?? 0,
    ...configFields,
  });
  const config = labels ? setLabels(base, labels.labels) : base;
  const model = BERT_FAMILY.build(task, config);
  const loaded: LoadedTaskModel = {
    model,
    tokenizer,
    maxPositions: maxPositionsOf(model, tokenizer),
    description: `compact BERT trained from scratch (L${p.scratch_num_layers} H${p.scratch_hidden_size})`,
  };
  if (p.mlm_pretrain_epochs > 0 && task !== 'fill-mask') {
    const ds: TextDataset = { file: '<training text>', originKind: 'record', steps: [], task: 'single_label_classification', labelled: false, examples: texts.map((text, i) => ({ text, origin: i + 1 })) };
    await maskedLmPretrain(loaded, ds, p.mlm_pretrain_epochs, args, ev);
  }
  return loaded;
}

/** What trainEvaluateSave needs beyond the settings. */
export interface TrainEvaluateSaveInput {
  task: PipelineTask;
  loaded: LoadedTaskModel;
  train: FeatureBatches;
  /** Evaluates on the validation split (null: no validation data). */
  validate: ((model: TaskModel) => Promise<EvalResult>) | null;
  /** Evaluates on the test split once at the end (null: no test data). */
  test: ((model: TaskModel) => Promise<EvalResult>) | null;
  /** Label names for the result (empty for QA and masked LM). */
  labels: string[];
  /** The training data file, named in the report. */
  dataFile: string;
  /** Split sizes and preparation notes for the report. */
  dataCounts?: { trainExamples?: number; validationExamples?: number; testExamples?: number; preparation?: string[] };
  /** How the model is written and read back (default: the whole model and tokenizer as a Hugging Face folder). */
  persist?: ModelPersistence;
}

/** Writing and reading a model during and after training (e.g. only a LoRA adapter). */
export interface ModelPersistence {
  /** Writes the model files of a checkpoint-N folder. */
  checkpoint(dir: string): Promise<void>;
  /** Loads what checkpoint() wrote back into the same model (resume, best model at the end). */
  load(dir: string): Promise<void>;
  /** Writes the final output folder; returns what was saved, for the log line. */
  final(dir: string): Promise<string>;
}

function wholeModel(loaded: LoadedTaskModel): ModelPersistence {
  return {
    checkpoint: (dir) => saveClassifier(loaded, dir),
    load: (dir) => loadWeightsInto(loaded, dir),
    final: async (dir) => {
      await replaceModelFolder(dir, (tmp) => saveClassifier(loaded, tmp)); // old or new model whole, never a mix
      return `config.json with ${loaded.model.architecture}, model.safetensors, tokenizer files`;
    },
  };
}

/**
 * Steps 5 and 6 of every pipeline: train (with evaluation, checkpoints, early stopping and resume), evaluate
 * the validation and test splits, save the model folder, append metrics.jsonl and write report.html.
 */
export async function trainEvaluateSave(input: TrainEvaluateSaveInput, args: TrainingArguments, ev?: PipelineEvents): Promise<TaskRun> {
  const persist = input.persist ?? wholeModel(input.loaded);
  // Only rank 0 of a data-parallel run writes (and so locks) the output folder.
  const release = isMainRank()
    ? prepareOutputDir(args.output_dir, { overwrite: args.overwrite_output_dir, resume: args.resume_from_checkpoint !== null })
    : () => {};
  try {
    return await trainInLockedFolder(input, args, persist, ev);
  } finally {
    release();
  }
}

async function trainInLockedFolder(input: TrainEvaluateSaveInput, args: TrainingArguments, persist: ModelPersistence, ev?: PipelineEvents): Promise<TaskRun> {
  const { loaded, validate } = input;
  const { model } = loaded;
  const logPath = join(args.output_dir, 'metrics.jsonl');
  const history: LogRecord[] = [];
  let bar: ReturnType<NonNullable<PipelineEvents['progress']>> | null = null;
  const dp = dataParallelFromEnv(); // set by `finetune launch` / torchrun variables; null for one process
  const quiet = dp !== null && !dp.isMain; // ranks other than 0 neither log, evaluate nor save
  const trainer = new Trainer({
    model,
    args,
    train: input.train,
    dataParallel: dp ?? undefined,
    evaluate: validate ? async (m) => (await validate(m)).metrics : undefined,
    saveModel: (dir) => persist.checkpoint(dir),
    loadModel: (dir) => persist.load(dir),
    signal: ev?.signal,
    events: quiet ? {} : {
      onStep: (s) => {
        bar ??= ev?.progress?.('train', s.totalSteps) ?? null;
        bar?.update(s.step, { loss: s.loss, lr: s.lr, epoch: s.epoch });
      },
      onLog: (rec) => {
        history.push(rec);
        appendFileSync(logPath, JSON.stringify(rec) + '\n');
        if (Object.keys(rec).some((k) => k.startsWith('eval_'))) {
          const parts = Object.entries(rec)
            .filter(([k]) => k.startsWith('eval_') && !k.includes('count') && !k.includes('tokens'))
            .map(([k, v]) => `${k.slice(5)} ${typeof v === 'number' ? v.toFixed(4) : v}`);
          say(ev, `step ${rec.step} (epoch ${Number(rec.epoch).toFixed(2)}): ${parts.join(', ')}`);
        }
      },
      onMessage: (m) => say(ev, m),
    },
  });
  if (args.resume_from_checkpoint) {
    const step = await trainer.resume(args.resume_from_checkpoint);
    truncateMetricsLog(logPath, step); // the lost part of the interrupted run is logged again
  }
  const result = await trainer.train();
  (bar as { stop(): void } | null)?.stop();
  dp?.destroy();
  if (quiet) return { task: input.task, outputDir: args.output_dir, train: result, validation: null, test: null, labels: input.labels, reportPath: null };
  if (result.interrupted) {
    // No final evaluation and no final save: a partial model never replaces the folder's earlier final model.
    const rec: LogRecord = { step: result.globalStep, epoch: result.epochs, status: 'interrupted' };
    appendFileSync(logPath, JSON.stringify(rec) + '\n');
    history.push(rec);
    say(ev, `not saved as the final model (interrupted); ${args.output_dir} keeps the model files it held before this run`);
    const reportPath = args.report ? join(args.output_dir, 'report.html') : null;
    if (reportPath) {
      const { writeRunReport } = await import('./report.ts');
      await writeRunReport(reportPath, {
        title: `finetune ${input.task}: ${loaded.description}`, task: input.task, model: loaded.description, data: input.dataFile,
        ...(input.dataCounts ? { dataCounts: input.dataCounts } : {}), args, history, result, validation: null, test: null,
      });
    }
    return { task: input.task, outputDir: args.output_dir, train: result, validation: null, test: null, labels: input.labels, reportPath };
  }
  // --bf16: the final evaluations run under autocast, as the trainer's periodic ones.
  const precision = args.bf16 ? 'bf16' : 'fp32';
  const valResult = validate ? await autocastAsync(precision, () => validate(model)) : null;
  const testFn = input.test;
  const testResult = testFn ? await autocastAsync(precision, () => testFn(model)) : null;
  if (testResult) {
    const rec: LogRecord = { step: result.globalStep, epoch: result.epochs };
    for (const [k, v] of Object.entries(testResult.metrics)) rec[`test_${k}`] = v;
    appendFileSync(logPath, JSON.stringify(rec) + '\n');
    history.push(rec);
  }
  const saved = await persist.final(args.output_dir);
  say(ev, `saved the model to ${args.output_dir} (${saved})`);
  let reportPath: string | null = null;
  if (args.report) {
    reportPath = join(args.output_dir, 'report.html');
    const { writeRunReport } = await import('./report.ts'); // loaded only when a report is wanted
    await writeRunReport(reportPath, {
      title: `finetune ${input.task}: ${loaded.description}`,
      task: input.task,
      model: loaded.description,
      data: input.dataFile,
      ...(input.dataCounts ? { dataCounts: input.dataCounts } : {}),
      args,
      history,
      result,
      validation: valResult,
      test: testResult,
    });
    say(ev, `report: ${reportPath}`);
  }
  return { task: input.task, outputDir: args.output_dir, train: result, validation: valResult, test: testResult, labels: input.labels, reportPath, ...(input.dataCounts ? { dataCounts: input.dataCounts } : {}) };
}

/** Train / validation / test splits of one task's data. */
export interface TaskSplits<D extends Dataset> {
  train: D;
  validation: D;
  test?: D;
}

/**
 * Step 1 of every pipeline: the given datasets, or the files named in `p` read with `read`; then the
 * validation (and test) split carved from the training data when no file gives it (seeded, stratified
 * for classification unless `stratify` is false). Reports sizes and preprocessing.
 */
export async function loadSplits<D extends Dataset>(
  p: PipelineConfig,
  args: TrainingArguments,
  ev: PipelineEvents | undefined,
  given: { train: D; validation?: D; test?: D } | undefined,
  read: (file: string) => Promise<D>,
  noDataHint: string,
  stratify = true,
): Promise<TaskSplits<D>> {
  let train: D;
  let validation: D | undefined;
  let test: D | undefined;
  if (given) {
    ({ train, validation, test } = given);
  } else {
    if (!p.train_file) throw new DataError(noDataHint);
    train = await read(p.train_file);
    if (p.validation_file) validation = await read(p.validation_file);
    if (p.test_file) test = await read(p.test_file);
  }
  reportPrep(ev, 'train', train);
  if (!validation || (!test && p.test_split > 0)) {
    const splits = splitDataset(train, { seed: args.seed, validation: validation ? 0 : p.validation_split, test: test ? 0 : p.test_split, stratify });
    train = splits.train;
    validation = validation ?? splits.validation;
    test = test ?? splits.test;
    say(ev, `split (seed ${args.seed}${stratify ? ', stratified' : ''}): train ${train.examples.length}, validation ${validation.examples.length}${test ? `, test ${test.examples.length}` : ''}`);
  }
  if (train.examples.length === 0) throw new DataError(`${train.file}: no training examples left after preprocessing`);
  return { train, validation, ...(test ? { test } : {}) };
}

/** The split sizes and preparation notes the report shows. */
export function countsOf<D extends Dataset>(s: TaskSplits<D>): NonNullable<TrainEvaluateSaveInput['dataCounts']> {
  return {
    trainExamples: s.train.examples.length,
    validationExamples: s.validation.examples.length,
    ...(s.test ? { testExamples: s.test.examples.length } : {}),
    preparation: formatPrepSteps(s.train),
  };
}

/** Yields to the event loop (between evaluation batches, so signals and progress get through). */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

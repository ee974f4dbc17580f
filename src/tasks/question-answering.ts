// Extractive question answering (SQuAD-style) end to end, as a library call: read context/question/answers,
// split, load (or build) tokenizer and model, cut long contexts into overlapping windows (doc_stride) and
// label each window with the answer's token span (or the CLS index when the answer is not inside it) as
// transformers' run_qa prepare_train_features does, train, then evaluate by post-processing the windows'
// start/end logits into answer texts (n-best, max_answer_length) scored with SQuAD exact match and F1,
// example by example as the batches stream past; save the model folder, metrics.jsonl and report.html.
// Not here: the inference pipeline (src/inference/tasks/question-answering.ts), span choice (src/eval/qa.ts).

import { answerTokenPositions, buildDataset, describeOrigin, preprocessDataset, readTable, type Features, type QaDataset, type QaExample } from '../data/index.ts';
import { ConfigError, DataError, FinetuneError } from '../errors.ts';
import { bestAnswer, type QaFeatureOutput } from '../eval/qa.ts';
import { SquadMetrics } from '../eval/squad.ts';
import type { TaskModel } from '../models/types.ts';
import { manualSeed } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import type { TrainingArguments } from '../train/args.ts';
import { FeatureBatches } from '../train/batches.ts';
import { preprocessOptions, type PipelineConfig } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import { countsOf, loadSplits, loadTaskModel, say, scratchTaskModel, tick, trainEvaluateSave, type LoadedTaskModel, type TaskRun } from './task-run.ts';
import { setUpLora } from './lora.ts';
import type { PipelineEvents } from './text-classification.ts';

/** One window of one example: model inputs, the answer's token span, and where each token sits in the context. */
export interface QaFeature extends Features {
  /** Index of the example (in its dataset) this window belongs to; windows of an example are consecutive. */
  exampleIndex: number;
  /** Per token: [start, end) code-point offsets into the context, or null for question, special and padding tokens. */
  offsets: ([number, number] | null)[];
  startPosition: number;
  endPosition: number;
}

/** Windowing settings (transformers' run_qa names in the comments). */
export interface QaFeatureOptions {
  /** Tokens per window, question and special tokens included (max_seq_length). */
  maxLength: number;
  /** Tokens shared by consecutive windows of one context (doc_stride). */
  docStride: number;
}

/** The doc_stride in effect: the configured one, else min(128, max_length / 4). */
export function docStrideFor(p: PipelineConfig, maxLength: number): number {
  return p.doc_stride ?? Math.min(128, Math.floor(maxLength / 4));
}

/**
 * Tokenises question + context (context first when the tokenizer pads on the left), splitting long contexts
 * into windows of `maxLength` tokens that share `docStride` tokens, and labels every window with the first
 * answer's token span as run_qa's prepare_train_features does (src/data/qa.ts): the CLS index when there is
 * no answer or it is not wholly inside the window's context. One deliberate difference from run_qa: the
 * scan stays within the context, where run_qa's loop can step onto the final [SEP] (offsets (0, 0)) when
 * the answer ends the window.
 *
 * @example
 * const feats = qaFeatures(ds, tok, { maxLength: 384, docStride: 128 });
 * feats[0].startPosition; // token index of the answer's first token in window 0, or 0 (CLS) when outside
 */
export function qaFeatures(ds: QaDataset, tokenizer: Tokenizer, opts: QaFeatureOptions): QaFeature[] {
  const padOnRight = tokenizer.config.paddingSide === 'right';
  const contextIndex = padOnRight ? 1 : 0;
  const cls = tokenizer.clsTokenId ?? tokenizer.bosTokenId;
  const out: QaFeature[] = [];
  ds.examples.forEach((ex, exampleIndex) => {
    const question = ex.question.trimStart(); // run_qa: q.lstrip()
    let enc;
    try {
      enc = padOnRight
        ? tokenizer.encode(question, ex.context, { truncation: 'only_second', maxLength: opts.maxLength, stride: opts.docStride })
        : tokenizer.encode(ex.context, question, { truncation: 'only_first', maxLength: opts.maxLength, stride: opts.docStride });
    } catch (err) {
      if (!(err instanceof FinetuneError || err instanceof RangeError)) throw err;
      const q = tokenizer.encode(question, null, { addSpecialTokens: false }).ids.length;
      throw new DataError(
        `${ds.file}: ${describeOrigin(ds.originKind, ex.origin)}: the question (${q} tokens) leaves too little room for the context in max_length ${opts.maxLength} ` +
          `with doc_stride ${opts.docStride} (the stride must be smaller than the context tokens per window); raise --max-length or lower --doc-stride`,
        { cause: err },
      );
    }
    for (const w of [enc, ...(enc.overflowing ?? [])]) {
      const clsIndex = cls === null ? 0 : Math.max(0, w.ids.indexOf(cls));
      const { startPosition, endPosition } =
        ex.answers.answerStart.length === 0
          ? { startPosition: clsIndex, endPosition: clsIndex }
          : answerTokenPositions(w.offsets, w.sequenceIds, ex.answers.answerStart[0] as number, ex.answers.text[0] as string, { contextSequenceId: contextIndex, clsIndex });
      out.push({
        inputIds: w.ids,
        tokenTypeIds: w.typeIds,
        exampleIndex,
        offsets: w.offsets.map((o, t) => (w.sequenceIds[t] === contextIndex ? [o[0], o[1]] : null)),
        startPosition,
        endPosition,
      });
    }
  });
  return out;
}

/**
 * Reads a SQuAD-style file: context, question and answers ({"text": [...], "answer_start": [...]}) columns.
 *
 * @example
 * const ds = await readQaDataset('squad-train.jsonl', { ...DEFAULT_PIPELINE_CONFIG, task: 'question-answering' });
 */
export async function readQaDataset(file: string, p: PipelineConfig, labelled = true): Promise<QaDataset> {
  const table = await readTable(file, {
    ...(p.format ? { format: p.format } : {}),
    ...(p.has_header !== null ? { hasHeader: p.has_header } : {}),
    ...(p.column_names ? { columnNames: p.column_names } : {}),
      maxRecordSize: p.max_record_size,
  });
  // SQuAD's "id" column names the predictions when the file has one (else the line/record number does).
  const mapped = buildDataset(table, {
    task: 'question_answering',
    context: p.context_column,
    question: p.question_column,
    ...(labelled ? { answers: p.answers_column } : {}),
    ...(table.columns.includes('id') ? { id: 'id' } : {}),
  });
  const ds = preprocessDataset(mapped, preprocessOptions(p)).dataset;
  if (ds.task !== 'question_answering') throw new DataError(`${file}: expected question-answering data`);
  return ds;
}

/** Post-processing settings (transformers' run_qa defaults: 20 and 30). */
export interface QaEvalOptions {
  nBestSize: number;
  maxAnswerLength: number;
  /** SQuAD v2: the empty answer may win. */
  allowNoAnswer: boolean;
  /** Hears every example's predicted answer and its score (start + end logit), e.g. to write predictions.json. */
  onPrediction?: (id: string, text: string, score: number) => void;
}

/** Maps code-point offsets of `context` to UTF-16 offsets (what String.slice takes); identity for BMP text. */
function utf16Offsets(context: string, offsets: readonly ([number, number] | null)[]): ([number, number] | null)[] {
  if (!/[\uD800-\uDFFF]/.test(context)) return offsets as ([number, number] | null)[];
  const at: number[] = [0];
  for (const ch of context) at.push((at[at.length - 1] as number) + ch.length);
  return offsets.map((o) => (o === null ? null : [at[o[0]] as number, at[o[1]] as number]));
}

/**
 * Evaluates an extractive QA model: mean loss over windows, and SQuAD exact_match / f1 (percent) of the
 * answer chosen from each example's windows. Batches stream: only the current example's logits are held.
 *
 * @example
 * const feats = qaFeatures(ds, tok, { maxLength: 384, docStride: 128 });
 * const r = await evaluateQuestionAnswering(model, ds, new FeatureBatches(feats, { batchSize: 32, seed: 0, shuffle: false, padTokenId: 0 }), { nBestSize: 20, maxAnswerLength: 30, allowNoAnswer: false });
 */
export async function evaluateQuestionAnswering(
  model: TaskModel,
  ds: QaDataset,
  data: FeatureBatches,
  opts: QaEvalOptions,
  onBatch?: (done: number, total: number) => void,
): Promise<EvalResult> {
  const features = data.features as readonly QaFeature[];
  const squad = new SquadMetrics();
  let current = -1;
  let windows: QaFeatureOutput[] = [];
  const finish = (): void => {
    if (current < 0) return;
    const ex = ds.examples[current] as QaExample;
    const answer = bestAnswer(ex.context, windows, { nBest: opts.nBestSize, maxAnswerLength: opts.maxAnswerLength, allowNoAnswer: opts.allowNoAnswer });
    squad.update(answer.text, ex.answers.text);
    opts.onPrediction?.(ex.id, answer.text, answer.score);
    windows = [];
  };
  let lossSum = 0;
  let lossCount = 0;
  let done = 0;
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  for (const { batch, indices } of data.inOrder()) {
    const rows: { index: number; start: Float32Array; end: Float32Array }[] = [];
    F.tidy(() =>
      F.noGrad(() => {
        const out = model.forward(batch);
        if (!out.startLogits || !out.endLogits) throw new DataError(`${ds.file}: the model gives no start/end logits; is it a question-answering model?`);
        const T = batch.inputIds.shape[1] as number;
        const start = F.contiguous(out.startLogits).floatData;
        const end = F.contiguous(out.endLogits).floatData;
        indices.forEach((i, r) => {
          const L = (features[i] as QaFeature).inputIds.length;
          rows.push({ index: i, start: Float32Array.from(start.subarray(r * T, r * T + L)), end: Float32Array.from(end.subarray(r * T, r * T + L)) });
        });
        if (out.loss) {
          lossSum += out.loss.item() * indices.length;
          lossCount += indices.length;
        }
      }),
    );
    for (const { index, start, end } of rows) {
      const f = features[index] as QaFeature;
      if (f.exampleIndex !== current) {
        finish();
        current = f.exampleIndex;
      }
      windows.push({ startLogits: start, endLogits: end, offsets: utf16Offsets((ds.examples[current] as QaExample).context, f.offsets) });
    }
    done++;
    onBatch?.(done, data.batchesPerEpoch);
    await tick();
  }
  finish();
  if (wasTraining) model.train();
  const metrics = { ...squad.compute() };
  if (lossCount > 0) metrics.loss = lossSum / lossCount;
  return { metrics, samples: features.length, steps: done, runtime: (performance.now() - started) / 1000 };
}

/**
 * Trains an extractive QA model (`finetune train --task question-answering`). `datasets` may be given
 * directly; otherwise they are read from the files named in `p` (question/context/answers columns).
 *
 * @example
 * const run = await trainQuestionAnswering({ ...DEFAULT_PIPELINE_CONFIG, task: 'question-answering', train_file: 'squad.jsonl' }, { ...args, max_length: 384 });
 * run.validation?.metrics.f1;
 */
export async function trainQuestionAnswering(
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
  given?: { train: QaDataset; validation?: QaDataset; test?: QaDataset },
): Promise<TaskRun> {
  manualSeed(args.seed);
  if (args.class_weights !== null) throw new ConfigError('class_weights', 'applies to text-classification and token-classification, not question-answering; drop --class-weights');
  // 1. Data.
  const splits = await loadSplits(p, args, ev, given, (file) => readQaDataset(file, p), 'no training data: pass --train-file with question, context and answers columns (SQuAD layout)');
  const { train, validation, test } = splits;
  // 2. Answers: SQuAD v2 when some question has none.
  const unanswerable = train.examples.filter((e) => e.answers.text.length === 0).length;
  const allowNoAnswer = unanswerable > 0;
  if (allowNoAnswer) say(ev, `${unanswerable} training question(s) have no answer: evaluating as SQuAD v2 (the empty answer may win)`);
  // 3. Tokenizer and model.
  let loaded: LoadedTaskModel;
  if (p.model) {
    loaded = await loadTaskModel(p.model, 'question-answering', null, ev);
  } else {
    say(ev, `no --model given: building a compact BERT (${p.scratch_num_layers} layers, hidden ${p.scratch_hidden_size}) and a ${p.scratch_vocab_size}-token WordPiece vocabulary from the questions and contexts`);
    const contexts = [...new Set(train.examples.map((e) => e.context))];
    loaded = await scratchTaskModel([...contexts, ...train.examples.map((e) => e.question)], 'question-answering', p, args, null, ev);
  }
  const persist = setUpLora(p, loaded, 'question-answering', ev);
  const { model, tokenizer } = loaded;
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  const docStride = docStrideFor(p, maxLength);
  say(ev, `model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}, doc_stride ${docStride}`);
  // 4. Features (windows).
  const padTokenId = tokenizer.padTokenId ?? 0;
  const windowsOf = (ds: QaDataset, name: string): QaFeature[] => {
    const feats = qaFeatures(ds, tokenizer, { maxLength, docStride });
    if (feats.length > ds.examples.length) say(ev, `${name}: ${ds.examples.length} examples → ${feats.length} windows (long contexts split with doc_stride ${docStride})`);
    return feats;
  };
  const trainBatches = new FeatureBatches(windowsOf(train, 'train'), {
    batchSize: args.per_device_train_batch_size,
    seed: args.seed,
    shuffle: true,
    groupByLength: args.group_by_length,
    padTokenId,
  });
  const evalOpts: QaEvalOptions = { nBestSize: p.n_best_size, maxAnswerLength: p.max_answer_length, allowNoAnswer };
  const evaluator = (ds: QaDataset, name: string, collectPredictions = false): ((m: TaskModel) => Promise<EvalResult>) => {
    const batches = new FeatureBatches(windowsOf(ds, name), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
    if (!collectPredictions) return (m) => evaluateQuestionAnswering(m, ds, batches, evalOpts);
    return async (m) => {
      // Per example: the predicted answer and its score (start + end logit, as run_qa's n-best), beside the gold answers.
      const records: Record<string, unknown>[] = [];
      const r = await evaluateQuestionAnswering(m, ds, batches, {
        ...evalOpts,
        onPrediction: (id, text, score) => {
          const ex = ds.examples[records.length] as QaExample;
          records.push({ index: records.length, id, question: ex.question, prediction_text: text, score: Number.isFinite(score) ? score : null, answers: ex.answers.text });
        },
      });
      return { ...r, records };
    };
  };
  // 5–6. Train, evaluate, save, report.
  return trainEvaluateSave(
    {
      task: 'question-answering',
      loaded,
      train: trainBatches,
      validate: validation.examples.length ? evaluator(validation, 'validation') : null,
      test: test?.examples.length ? evaluator(test, 'test', true) : null,
      labels: [],
      dataFile: train.file,
      dataCounts: countsOf(splits),
      ...(persist ? { persist } : {}),
    },
    args,
    ev,
  );
}

/**
 * `finetune evaluate` for a saved QA model: reads `file`, windows it, scores SQuAD exact match and F1, and
 * returns the predicted answer of every example (id → text, as run_qa's predictions.json).
 *
 * @example
 * const { result, predictions } = await evaluateQaFile('qa-model', 'dev.jsonl', p, args);
 */
export async function evaluateQaFile(
  modelDir: string,
  file: string,
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
): Promise<{ result: EvalResult; examples: number; predictions: Record<string, string> }> {
  const loaded = await loadTaskModel(modelDir, 'question-answering', null, ev, { strict: true });
  const ds = await readQaDataset(file, p);
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  const feats = qaFeatures(ds, loaded.tokenizer, { maxLength, docStride: docStrideFor(p, maxLength) });
  const batches = new FeatureBatches(feats, { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId: loaded.tokenizer.padTokenId ?? 0 });
  const predictions: Record<string, string> = {};
  const allowNoAnswer = ds.examples.some((e) => e.answers.text.length === 0);
  const result = await evaluateQuestionAnswering(loaded.model, ds, batches, {
    nBestSize: p.n_best_size,
    maxAnswerLength: p.max_answer_length,
    allowNoAnswer,
    onPrediction: (id, text) => (predictions[id] = text),
  });
  return { result, examples: ds.examples.length, predictions };
}

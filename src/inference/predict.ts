// `finetune predict`: runs the task a model folder was trained for (config.json architectures, or the
// adapter's task_type) through the same inference pipelines `serve` uses (src/inference): labels and
// scores for text classification, entities for token classification, answers for question answering,
// fill-mask candidates, text generation. Inputs come from flags or a data file read with the same
// format flags as train/evaluate. Not here: the task rules (src/inference/tasks), HTTP (src/serve).

import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { readTable, type CellValue, type Row, type TableFormat } from '../data/read.ts';
import { ConfigError, DataError } from '../errors.ts';
import type { TaskName } from '../models/types.ts';
import { TextPipeline } from './pipeline.ts';
import { DEFAULT_PIPELINE_CONFIG } from '../tasks/config.ts';
import type { LoadedClassifier } from '../tasks/models.ts';
import { textFeatures } from '../tasks/text-classification.ts';
import { labelNames } from '../models/hf-config.ts';
import type { ProblemType } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import { FeatureBatches } from '../train/batches.ts';

export interface Prediction {
  text: string;
  label: string;
  score: number;
  scores: { label: string; score: number }[];
}

/** Where predict's inputs come from: flags, or a data file with the same reading options as train/evaluate. */
export interface PredictInput {
  /** --text: texts (prompts for text-generation, texts with the mask token for fill-mask). */
  texts?: string[];
  /** --question / --context: one question-answering input. */
  question?: string;
  context?: string;
  /** --data: a file (.txt: one text per line; else CSV, TSV, JSONL, JSON, Parquet). */
  file?: string;
  format?: TableFormat | null;
  hasHeader?: boolean | null;
  columnNames?: string[] | null;
  /** Text column(s) of --data; several comma-separated columns are joined with a newline, as in training. */
  textColumn?: string;
  textPairColumn?: string | null;
  questionColumn?: string;
  contextColumn?: string;
}

export interface PredictOptions {
  /** Run as this task (must be the one the folder was trained for, or feature-extraction); default: the folder's. */
  task?: TaskName;
  /** Pipeline parameters, as `parameters` of a serve request (top_k, aggregation_strategy, max_new_tokens...). */
  parameters?: Record<string, unknown>;
  batchSize?: number;
  /** Loading messages (default: stderr). */
  warn?: (message: string) => void;
}

/** One result: the input it answers (text, or question + context) followed by the pipeline's output. */
export type PredictRecord = Record<string, unknown>;

function cellText(v: CellValue | undefined): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function column(rows: Row[], origins: number[], file: string, names: string, flag: string, available: string[]): string[] {
  const cols = names.split(',').map((s) => s.trim());
  for (const c of cols) {
    if (!available.includes(c)) throw new DataError(`${file}: no column "${c}" (${flag}); the file has: ${available.join(', ')}`);
  }
  return rows.map((r, i) => {
    const parts = cols.map((c) => cellText(r[c]));
    if (parts.some((p) => p === null)) throw new DataError(`${file}: row at ${origins[i]} has no value in ${flag} "${names}"`);
    return parts.join('\n');
  });
}

/** The pipeline inputs for `task` from flags and/or the data file. */
async function inputsFor(task: TaskName, input: PredictInput): Promise<{ items: unknown[]; shown: PredictRecord[] }> {
  const items: unknown[] = [];
  const shown: PredictRecord[] = [];
  if (task === 'question-answering') {
    if (input.texts?.length) throw new ConfigError('text', 'question-answering takes --question and --context (or --data with question and context columns), not --text');
    if ((input.question === undefined) !== (input.context === undefined)) throw new ConfigError(input.question === undefined ? 'question' : 'context', 'give both --question and --context');
    if (input.question !== undefined && input.context !== undefined) {
      items.push({ question: input.question, context: input.context });
      shown.push({ question: input.question, context: input.context });
    }
  } else {
    if (input.question !== undefined || input.context !== undefined) throw new ConfigError('question', `--question/--context are for question-answering; this model does ${task}: give --text or --data`);
    for (const t of input.texts ?? []) {
      items.push(t);
      shown.push({ text: t });
    }
  }
  if (input.file) {
    const file = input.file;
    if (extname(file).toLowerCase() === '.txt' && !input.format) {
      if (task === 'question-answering') throw new ConfigError('data', `${file}: question-answering needs question and context columns (CSV, TSV, JSONL, JSON or Parquet), not a .txt file`);
      for (const line of (await readFile(file, 'utf8')).split(/\r?\n/)) {
        if (line.trim() === '') continue;
        items.push(line);
        shown.push({ text: line });
      }
    } else {
      const table = await readTable(file, {
        ...(input.format ? { format: input.format } : {}),
        ...(input.hasHeader !== null && input.hasHeader !== undefined ? { hasHeader: input.hasHeader } : {}),
        ...(input.columnNames ? { columnNames: input.columnNames } : {}),
      });
      if (task === 'question-answering') {
        const qs = column(table.rows, table.origins, file, input.questionColumn ?? 'question', '--question-column', table.columns);
        const cs = column(table.rows, table.origins, file, input.contextColumn ?? 'context', '--context-column', table.columns);
        qs.forEach((question, i) => {
          items.push({ question, context: cs[i] });
          shown.push({ question, context: cs[i] });
        });
      } else {
        const texts = column(table.rows, table.origins, file, input.textColumn ?? 'text', '--text-column', table.columns);
        const pairs = input.textPairColumn && task === 'text-classification' ? column(table.rows, table.origins, file, input.textPairColumn, '--text-pair-column', table.columns) : null;
        texts.forEach((text, i) => {
          items.push(pairs ? { text, text_pair: pairs[i] } : text);
          shown.push(pairs ? { text, text_pair: pairs[i] } : { text });
        });
      }
    }
  }
  if (items.length === 0) {
    throw new DataError(task === 'question-answering' ? 'nothing to predict: give --question "..." --context "..." or --data <file>' : 'nothing to predict: give --text "..." or --data <file>');
  }
  return { items, shown };
}

/** The pipeline's result of one item as the fields of its output record. */
function resultFields(task: TaskName, result: unknown): PredictRecord {
  if (task === 'token-classification') return { entities: result };
  if (task === 'fill-mask') return { predictions: result };
  if (task === 'feature-extraction') return { embedding: result };
  if (task === 'text-generation') return Array.isArray(result) && result.length === 1 ? { ...(result[0] as PredictRecord) } : { generations: result };
  if (Array.isArray(result)) return { answers: result };
  return { ...(result as PredictRecord) };
}

/**
 * Loads a model folder (or a LoRA adapter folder) for the task it was trained for and runs every input.
 *
 * @example
 * const { task, records } = await predict('ner-model', { texts: ['alice lives in paris'] }, { parameters: { aggregation_strategy: 'simple' } });
 * // task 'token-classification'; records[0].entities = [{ entity_group: 'PER', word: 'alice', ... }, ...]
 */
export async function predict(modelDir: string, input: PredictInput, options: PredictOptions = {}): Promise<{ task: TaskName; records: PredictRecord[] }> {
  const warn = options.warn ?? ((m: string) => void process.stderr.write(`${m}\n`));
  const pipe = await TextPipeline.load(modelDir, { ...(options.task ? { task: options.task } : {}), warn });
  try {
    const task = pipe.task;
    if (task === 'feature-extraction' && options.task !== 'feature-extraction') {
      throw new ConfigError(
        'task',
        `${modelDir} has no task head (config.json architectures: ${pipe.model.hfConfig.architectures?.join(', ') ?? 'none'}); fine-tune it first with \`finetune train --model ${modelDir}\`, or pass --task feature-extraction for embeddings`,
      );
    }
    const { items, shown } = await inputsFor(task, input);
    const results = pipe.run(items, options.parameters ?? {}, { batchSize: options.batchSize ?? 32 });
    return { task, records: results.map((r, i) => ({ ...shown[i], ...resultFields(task, r) })) };
  } finally {
    pipe.dispose();
  }
}

function softmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Scores texts with an already loaded text classifier (library use; `predict` serves the CLI). */
export function predictWith(c: LoadedClassifier, texts: string[], batchSize = 32): Prediction[] {
  const cfg = c.model.hfConfig;
  const problem = (cfg.problem_type as ProblemType | null) ?? 'single_label_classification';
  const names = labelNames(cfg);
  const ds = { file: '<input>', originKind: 'record' as const, steps: [], task: problem, labelled: false, examples: texts.map((text, i) => ({ text, origin: i + 1 })) };
  const batches = new FeatureBatches(textFeatures(ds, c.tokenizer, c.maxPositions, null), { batchSize, seed: 0, shuffle: false, padTokenId: c.tokenizer.padTokenId ?? 0 });
  const out: Prediction[] = [];
  c.model.eval();
  for (const { batch, indices } of batches.inOrder()) {
    F.tidy(() =>
      F.noGrad(() => {
        const logits = F.contiguous(c.model.forward(batch).logits).floatData;
        const K = logits.length / indices.length;
        indices.forEach((idx, r) => {
          const row = logits.subarray(r * K, (r + 1) * K);
          const probs = problem === 'regression' ? Array.from(row) : problem === 'multi_label_classification' ? Array.from(row, (v) => 1 / (1 + Math.exp(-v))) : softmax(row);
          const scores = probs.map((score, k) => ({ label: problem === 'regression' ? 'value' : (names[k] ?? `LABEL_${k}`), score })).sort((a, b) => b.score - a.score);
          out.push({ text: texts[idx], label: scores[0].label, score: scores[0].score, scores });
        });
      }),
    );
  }
  return out;
}

/** Scores texts (given directly or read from a file) with a saved text classifier; other tasks are refused. */
export async function predictTexts(modelDir: string, input: { texts?: string[]; file?: string; textColumn?: string }): Promise<Prediction[]> {
  const { task, records } = await predict(modelDir, { ...input, textColumn: input.textColumn ?? DEFAULT_PIPELINE_CONFIG.text_column });
  if (task !== 'text-classification') throw new ConfigError('model', `${modelDir} is a ${task} model; predictTexts scores text classifiers (use predict())`);
  return records as unknown as Prediction[];
}

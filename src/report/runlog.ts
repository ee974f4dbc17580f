// The run log: one typed record per logging/evaluation step plus a summary of the run, and the JSONL
// logger that appends each record to `<outdir>/metrics.jsonl` as it happens (one line per record,
// written straight to the file descriptor, so a killed run keeps every line it finished). On resume the
// log is cut back to the checkpoint's step so the file never holds a step twice.
// Not here: rendering (html.ts, svg.ts).

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.ts';

/** One line of the metrics log. Optional fields are present when that step logged them. */
export interface LogRecord {
  /** Optimizer step (1-based: the step just completed). */
  step: number;
  /** Fractional epoch, e.g. 1.25. */
  epoch: number;
  /** Seconds since the run started. */
  time?: number;
  /** Mean training loss over the logging interval. */
  loss?: number;
  /** Learning rate used for this step. */
  lr?: number;
  /** Gradient norm before clipping. */
  gradNorm?: number;
  /** Evaluation metrics at this step, e.g. { loss: 0.21, accuracy: 0.95, f1_macro: 0.93 }. */
  eval?: Record<string, number>;
}

/** One trial of a hyperparameter search. */
export interface SearchTrial {
  id: string | number;
  params: Record<string, string | number | boolean>;
  metrics: Record<string, number>;
  status?: 'completed' | 'failed' | 'stopped';
  durationSeconds?: number;
  /** The best trial's model is kept; the others are cleaned up. */
  kept?: boolean;
}

/** Facts about the whole run, shown in the report. Everything is optional. */
export interface RunSummary {
  title?: string;
  /** Hugging Face task name, e.g. 'text-classification'. */
  task?: string;
  /** Model folder or Hub id, and its type (bert, gpt2...). */
  model?: string;
  modelType?: string;
  outputDir?: string;
  status?: 'completed' | 'stopped early' | 'interrupted' | 'failed';
  data?: {
    train?: string;
    validation?: string;
    test?: string;
    trainExamples?: number;
    validationExamples?: number;
    testExamples?: number;
    /** Preparation notes, e.g. the lines of formatPrepSteps(). */
    preparation?: string[];
  };
  /** Hyperparameters by their TrainingArguments names (learning_rate, per_device_train_batch_size...). */
  hyperparameters?: Record<string, string | number | boolean | null>;
  startedAt?: string;
  finishedAt?: string;
  /** Named durations in seconds, e.g. { total: 212, training: 190, evaluation: 15 }. */
  durations?: Record<string, number>;
  bestCheckpoint?: { path: string; step: number; metric: string; value: number };
  /** Final evaluation (e.g. on the test split). */
  finalMetrics?: Record<string, number>;
  /** Which split `finalMetrics` and the confusion matrix come from. */
  finalSplit?: string;
  /** Class names in id order, for the confusion matrix and per-class table. */
  labels?: string[];
  /** Rows = true label, columns = predicted label (sklearn layout). */
  confusionMatrix?: number[][];
  perClass?: { label: string; precision: number; recall: number; f1: number; support: number }[];
  search?: { metric: string; direction: 'maximize' | 'minimize'; trials: SearchTrial[] };
  notes?: string[];
  /** The run's headline number: the test metric, else the best evaluation metric. */
  headline?: { metric: string; value: number; split: string };
  /** The learning rate of every optimizer step from step 1 (from the schedule), so warmup shows. */
  lrSchedule?: [step: number, lr: number][];
  /** Throughput figures by name, e.g. { 'train samples/s': 410, 'train steps/s': 12.8 }. */
  throughput?: Record<string, number>;
  /** Entity-level scores of token classification (seqeval), one row per entity type. */
  perEntity?: { type: string; precision: number; recall: number; f1: number; support: number }[];
  /** The misclassified examples of the final split with the highest loss. */
  misclassified?: { text: string; label: string; predicted: string; score: number; loss: number }[];
  /** Sample continuations of the trained causal LM (greedy), for text generation. */
  generations?: { prompt: string; text: string }[];
  /** Every setting of the run by name (model, data, columns, labels, LoRA, versions...). */
  settings?: Record<string, string>;
}

/** Everything the HTML report needs. */
export interface RunLog {
  records: LogRecord[];
  summary: RunSummary;
}

/** JSON with non-finite numbers written as null (JSON has no NaN/Infinity). */
function toJsonLine(record: LogRecord): string {
  return JSON.stringify(record, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

function isRecord(v: unknown): v is LogRecord {
  return typeof v === 'object' && v !== null && typeof (v as LogRecord).step === 'number' && typeof (v as LogRecord).epoch === 'number';
}

/**
 * Read a metrics.jsonl file. A last line cut short (a run killed mid-write) is skipped and reported in
 * `partialLastLine`; any other bad line is an error naming the line.
 *
 * @example
 * const { records } = readMetricsLog('out/metrics.jsonl');
 */
export function readMetricsLog(path: string): { records: LogRecord[]; partialLastLine: boolean } {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const endsCleanly = text.endsWith('\n') || text === '';
  const records: LogRecord[] = [];
  let partialLastLine = false;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    const isLast = i === lines.length - 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      if (isLast && !endsCleanly) {
        partialLastLine = true;
        continue;
      }
      throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`, i + 1, { cause: err });
    }
    if (!isRecord(value)) throw new FileFormatError(path, 'a metrics record needs numeric "step" and "epoch"', i + 1);
    records.push(value);
  }
  return { records, partialLastLine };
}

/**
 * Appends one JSON line per record to `<outDir>/metrics.jsonl`.
 *
 * @example
 * const log = MetricsLogger.open('out');                       // new run: starts an empty file
 * log.log({ step: 10, epoch: 0.1, loss: 0.69, lr: 2e-5 });
 * const resumed = MetricsLogger.open('out', { resumeFromStep: 500 }); // keeps records up to step 500
 */
export class MetricsLogger {
  private fd: number | null;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly fsync: boolean,
  ) {
    this.fd = fd;
  }

  /**
   * Open the log. A new run (no `resumeFromStep`) truncates an existing file; a resumed run keeps the
   * records with step ≤ `resumeFromStep` and drops later ones (they belong to the lost part of the run).
   * `fsync: true` also forces each line to disk (slower; the default relies on the OS).
   */
  static open(outDir: string, opts: { resumeFromStep?: number; fsync?: boolean } = {}): MetricsLogger {
    mkdirSync(outDir, { recursive: true });
    const path = join(outDir, 'metrics.jsonl');
    if (opts.resumeFromStep !== undefined && existsSync(path)) {
      const { records } = readMetricsLog(path);
      const kept = records.filter((r) => r.step <= (opts.resumeFromStep as number));
      const tmp = `${path}.tmp`;
      writeFileSync(tmp, kept.map((r) => `${toJsonLine(r)}\n`).join(''));
      renameSync(tmp, path);
    } else if (opts.resumeFromStep === undefined) {
      writeFileSync(path, '');
    }
    return new MetricsLogger(path, openSync(path, 'a'), opts.fsync ?? false);
  }

  /** Append one record as one line. */
  log(record: LogRecord): void {
    if (this.fd === null) throw new FileFormatError(this.path, 'the metrics log is closed');
    writeSync(this.fd, `${toJsonLine(record)}\n`);
    if (this.fsync) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

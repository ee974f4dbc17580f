// Shared types of the inference pipelines: the per-task handler contract (parse → preprocess → model
// rows → postprocess), what a model row returns, the pipeline context, and the input error the HTTP
// server turns into a 4xx. Not here: the math of post-processing (postprocess.ts), the model loop
// (pipeline.ts), any task (tasks/*.ts).

import { DataError } from '../errors.ts';
import type { ProblemType, TaskName } from '../models/types.ts';
import type { EncodeResult, Tokenizer } from '../tokenizers/index.ts';

/**
 * A request could not be understood: bad JSON shape, wrong type, empty list, text too long, unknown
 * parameter... `field` names where (e.g. "inputs[2].context"); the server answers 400 with it.
 */
export class PipelineInputError extends DataError {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

/** What one model row (one encoded sequence) produced, unpadded: only its own `length` tokens. */
export interface RowOutput {
  /** Tokens in the row (before padding). */
  length: number;
  /** Row-major logits: (numLabels) for sequence heads, (length, width) for token heads, (hidden) for embeddings. */
  logits: Float32Array;
  /** Width of the last logits axis. */
  width: number;
  /** Question answering: (length) each. */
  startLogits?: Float32Array;
  endLogits?: Float32Array;
}

/** What a task handler may read about the model and tokenizer. */
export interface PipelineContext {
  tokenizer: Tokenizer;
  /** Class index → label name (from config.json id2label). */
  id2label: Record<number, string>;
  numLabels: number;
  problemType: ProblemType | null;
  /** Longest token sequence the model takes (min of model_max_length and position embeddings). */
  maxLength: number;
  /** Longest accepted text, in characters (UTF-16 code units, as String.length counts). */
  maxTextLength: number;
}

/** Inputs and parameters already validated, plus the model rows to run. */
export interface Prepared<I, P, X> {
  items: I[];
  params: P;
  /** Per item: its rows and whatever the handler needs later. */
  perItem: Array<{ rows: EncodeResult[]; extra: X }>;
}

/**
 * One task: how its inputs and parameters look, how an input becomes model rows, and how the rows'
 * outputs become the Hugging Face pipeline result.
 */
export interface TaskHandler<I, P, O, X = null> {
  readonly task: TaskName;
  /** One input item (already checked to be one element of `inputs`); `field` names it in errors. */
  parseItem(value: unknown, field: string, ctx: PipelineContext): I;
  /** The `parameters` object (undefined → defaults). Unknown keys are errors. */
  parseParams(value: unknown, ctx: PipelineContext): P;
  /** Tokenizes one item into one or more model rows. */
  preprocess(item: I, params: P, ctx: PipelineContext, field: string): { rows: EncodeResult[]; extra: X };
  /** Builds the result of one item from its rows' outputs (same order as its rows). */
  postprocess(item: I, params: P, rows: EncodeResult[], outputs: RowOutput[], extra: X, ctx: PipelineContext): O;
}

/** Every task result, as JSON-serialisable values. */
export type PipelineOutput = unknown;

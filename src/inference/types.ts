// Shared types of the inference pipelines: the per-task handler contracts (encoder tasks: parse →
// preprocess → model rows → postprocess; generative tasks: parse → check → run a decoding job), what a
// model row returns, the pipeline context, and the input error the HTTP server turns into a 4xx.
// Not here: the math of post-processing (postprocess.ts), the model loop (pipeline.ts), any task (tasks/*.ts).

import { DataError } from '../errors.ts';
import type { CausalLM } from '../models/decoder.ts';
import type { GenerationConfigJson } from '../models/hf-config.ts';
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
  /** text-generation: the most new tokens one request may ask for (the server's limit). */
  maxNewTokens: number;
  /** text-generation: the model folder's generation_config.json (sampling defaults, stop ids), or null. */
  generationConfig: GenerationConfigJson | null;
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
  /** Absent for encoder tasks (see GenerationTaskHandler). */
  readonly kind?: 'rows';
  /** One input item (already checked to be one element of `inputs`); `field` names it in errors. */
  parseItem(value: unknown, field: string, ctx: PipelineContext): I;
  /** The `parameters` object (undefined → defaults). Unknown keys are errors. */
  parseParams(value: unknown, ctx: PipelineContext): P;
  /** Tokenizes one item into one or more model rows. */
  preprocess(item: I, params: P, ctx: PipelineContext, field: string): { rows: EncodeResult[]; extra: X };
  /** Builds the result of one item from its rows' outputs (same order as its rows). */
  postprocess(item: I, params: P, rows: EncodeResult[], outputs: RowOutput[], extra: X, ctx: PipelineContext): O;
}

/**
 * A validated generation request as plain data (structured-cloneable, so it can cross to the server's
 * generation worker with postMessage): the items and the settings resolved for this request.
 */
export interface GenerationJob<I = unknown, P = unknown> {
  items: I[];
  params: P;
}

/**
 * A task that decodes token by token (text-generation) instead of running one forward pass per row.
 * The pipeline validates a request with parseItem/parseParams/check on the calling thread (tokenizer
 * only, no weights), and run() executes the job with the model — in-process, or in the server's
 * generation worker.
 */
export interface GenerationTaskHandler<I, P, O> {
  readonly task: TaskName;
  readonly kind: 'generation';
  /** Whether a list given as `inputs` is one item rather than a list of items (a chat: a list of messages). */
  isOneItem(inputs: readonly unknown[]): boolean;
  parseItem(value: unknown, field: string, ctx: PipelineContext): I;
  /** The `parameters` object (undefined → defaults). Unknown keys are errors. */
  parseParams(value: unknown, ctx: PipelineContext): P;
  /** Checks that need the tokenizer (prompt length, chat template); returns the settings resolved for these items. */
  check(items: readonly I[], params: P, ctx: PipelineContext, fields: readonly string[]): P;
  /** Runs the job: one result per item. `deadline` (epoch ms) ends decoding early when it passes. */
  run(model: CausalLM, job: GenerationJob<I, P>, ctx: PipelineContext, options: { deadline?: number }): O[];
}

/** Every task result, as JSON-serialisable values. */
export type PipelineOutput = unknown;

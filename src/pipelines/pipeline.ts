// The inference pipeline: a model folder's tokenizer + task model + the task's handler. prepare()
// validates and tokenizes a request into model rows, forward() runs any rows (from any requests) as one
// padded batch under noGrad + tidy, and the prepared request's finish() turns its rows' outputs into
// Hugging Face pipeline results; the server's micro-batcher calls these three separately, run() chains
// them. Not here: task rules (tasks/*.ts), HTTP (src/serve/), text generation (src/generate/).

import { stat } from 'node:fs/promises';
import { ConfigError, ModelError } from '../errors.ts';
import { labelNames, type HfConfig } from '../io/hf-config.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { familyFor, loadPretrained } from '../models/pretrained.ts';
import type { TaskName } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { loadTokenizer, type EncodeResult, type Tokenizer } from '../tokenizers/index.ts';
import { isRecord } from './parse.ts';
import { PIPELINE_TASKS, PIPELINE_TASK_NAMES, type AnyTaskHandler } from './tasks/index.ts';
import { PipelineInputError, type PipelineContext, type PipelineOutput, type RowOutput } from './types.ts';

/** Default limit on one text's length (characters). */
export const DEFAULT_MAX_TEXT_LENGTH = 20_000;
/** Default limit on input items in one call. */
export const DEFAULT_MAX_ITEMS = 256;

export interface PipelineOptions {
  /** The task; default: the one config.json `architectures` names. Must match the saved head. */
  task?: TaskName;
  /** Longest accepted text in characters (default 20,000). */
  maxTextLength?: number;
  /** Most input items per call (default 256). */
  maxItems?: number;
  /** Where loading warnings go (default console.warn). */
  warn?: (message: string) => void;
}

/** A validated, tokenized request: its model rows, and how to turn their outputs into results. */
export interface PreparedRequest {
  /** Model rows to run, in order (one or more per input item). */
  rows: EncodeResult[];
  /** Results, one per input item, from the rows' outputs (same order as `rows`). */
  finish(outputs: RowOutput[]): PipelineOutput[];
}

/** Longest token sequence the model's position embeddings allow. */
function maxPositions(cfg: HfConfig): number {
  switch (cfg.model_type) {
    case 'bert':
      return cfg.max_position_embeddings;
    case 'roberta':
    case 'xlm-roberta': // positions start after the padding index
      return cfg.max_position_embeddings - (cfg.pad_token_id ?? 1) - 1;
    case 'distilbert':
      return cfg.max_position_embeddings;
    case 'gpt2':
      return cfg.n_positions;
    default:
      return cfg.max_position_embeddings;
  }
}

function usesTokenTypes(cfg: HfConfig): boolean {
  return (cfg.model_type === 'bert' || cfg.model_type === 'roberta' || cfg.model_type === 'xlm-roberta') && cfg.type_vocab_size > 1;
}

/**
 * A loaded inference pipeline (transformers' `pipeline(task, model)`).
 *
 * @example
 * const clf = await TextPipeline.load('runs/sst2/best');
 * clf.run(['great film', { text: 'a', text_pair: 'b' }]); // [{ label: 'POSITIVE', score: 0.98, scores: [...] }, ...]
 */
export class TextPipeline {
  private constructor(
    readonly modelDir: string,
    readonly task: TaskName,
    readonly model: PretrainedTaskModel,
    readonly tokenizer: Tokenizer,
    readonly context: PipelineContext,
    private readonly handler: AnyTaskHandler,
    private readonly maxItems: number,
  ) {}

  /** Loads tokenizer and model from a folder; throws a ModelError that says what is wrong with the folder. */
  static async load(modelDir: string, options: PipelineOptions = {}): Promise<TextPipeline> {
    if (options.task !== undefined && PIPELINE_TASKS[options.task] === undefined) {
      throw new ConfigError('task', `"${options.task}" has no inference pipeline here; supported: ${PIPELINE_TASK_NAMES.join(', ')}`);
    }
    const st = await stat(modelDir).catch(() => null);
    if (st === null || !st.isDirectory()) throw new ModelError(`${modelDir}: no such model folder; pass a folder with config.json, model.safetensors and tokenizer files`);
    const tokenizer = await loadTokenizer(modelDir);
    const { model, info } = await loadPretrained(modelDir, { task: options.task, tokenizer, warn: options.warn });
    const handler = PIPELINE_TASKS[model.task];
    if (handler === undefined) {
      model.dispose();
      throw new ConfigError('task', `${modelDir} holds a ${model.task} model (${model.architecture}); it has no inference pipeline here; supported: ${PIPELINE_TASK_NAMES.join(', ')}`);
    }
    // A head trained for another task (or one the checkpoint lacks) would give meaningless outputs.
    const saved = (model.hfConfig.architectures ?? []).map((a) => familyFor(model.hfConfig.model_type).architectures[a]).find((t) => t !== undefined);
    if (saved !== undefined && saved !== model.task && model.task !== 'feature-extraction') {
      model.dispose();
      throw new ModelError(
        `${modelDir} was saved as ${model.hfConfig.architectures!.join(', ')} (${saved}); serving it as ${model.task} would use a head trained ` +
          `for another task. Serve it as ${saved} (or feature-extraction), or fine-tune a ${model.task} head first.`,
      );
    }
    const missing = info.missingKeys.filter((k) => !/position_ids$/.test(k));
    if (missing.length > 0) {
      model.dispose();
      throw new ModelError(
        `${modelDir}: the checkpoint has no weights for ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''} of ${model.architecture} ` +
          `(task ${model.task}); it was saved as ${model.hfConfig.architectures?.join(', ') ?? 'a bare encoder'}. Serve it with its own task, or fine-tune this head first.`,
      );
    }
    model.eval();
    const cfg = model.hfConfig;
    const names = labelNames(cfg);
    const context: PipelineContext = {
      tokenizer,
      id2label: Object.fromEntries(names.map((n, i) => [i, n])),
      numLabels: cfg.num_labels,
      problemType: cfg.problem_type,
      maxLength: Math.min(tokenizer.config.modelMaxLength ?? Infinity, maxPositions(cfg)),
      maxTextLength: options.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH,
    };
    return new TextPipeline(modelDir, model.task, model, tokenizer, context, handler, options.maxItems ?? DEFAULT_MAX_ITEMS);
  }

  /**
   * Validates `inputs` (one item or a non-empty list) and `parameters`, and tokenizes them.
   * Throws PipelineInputError (naming the field) for anything malformed.
   */
  prepare(inputs: unknown, parameters?: unknown): PreparedRequest {
    if (inputs === undefined || inputs === null) throw new PipelineInputError('inputs', 'is required');
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const field = (i: number) => (Array.isArray(inputs) ? `inputs[${i}]` : 'inputs');
    if (list.length === 0) throw new PipelineInputError('inputs', 'the list is empty; send at least one input');
    if (list.length > this.maxItems) throw new PipelineInputError('inputs', `${list.length} inputs in one request; the limit is ${this.maxItems}`);
    const h = this.handler;
    const ctx = this.context;
    const params = h.parseParams(parameters, ctx);
    const items = list.map((v, i) => h.parseItem(v, field(i), ctx));
    const perItem = items.map((item, i) => h.preprocess(item, params, ctx, field(i)));
    const rows = perItem.flatMap((p) => p.rows);
    return {
      rows,
      finish: (outputs: RowOutput[]) => {
        let k = 0;
        return items.map((item, i) => {
          const p = perItem[i]!;
          const own = outputs.slice(k, k + p.rows.length);
          k += p.rows.length;
          return h.postprocess(item, params, p.rows, own, p.extra, ctx);
        });
      },
    };
  }

  /** Runs rows as one right-padded batch (no gradients; every intermediate tensor freed). */
  forward(rows: readonly EncodeResult[]): RowOutput[] {
    if (rows.length === 0) return [];
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.ids.length));
    const padId = this.tokenizer.padTokenId ?? 0;
    const ids = new Int32Array(B * T).fill(padId);
    const mask = new Int32Array(B * T);
    const types = new Int32Array(B * T);
    rows.forEach((r, b) => {
      for (let t = 0; t < r.ids.length; t++) {
        ids[b * T + t] = r.ids[t]!;
        mask[b * T + t] = r.attentionMask[t] ?? 1;
        types[b * T + t] = r.typeIds[t] ?? 0;
      }
    });
    const withTypes = usesTokenTypes(this.model.hfConfig);
    return F.noGrad(() =>
      F.tidy(() => {
        const out = this.model.forward({
          inputIds: Tensor.wrap(ids, [B, T]),
          attentionMask: Tensor.wrap(mask, [B, T]),
          tokenTypeIds: withTypes ? Tensor.wrap(types, [B, T]) : undefined,
        });
        const logits = F.contiguous(out.logits);
        const data = logits.data;
        const start = out.startLogits ? F.contiguous(out.startLogits).data : null;
        const end = out.endLogits ? F.contiguous(out.endLogits).data : null;
        const perToken = logits.ndim === 3;
        const width = logits.shape[logits.ndim - 1]!;
        return rows.map((r, b): RowOutput => {
          const len = r.ids.length;
          const from = perToken ? b * T * width : b * width;
          const o: RowOutput = { length: len, width, logits: Float32Array.from(data.subarray(from, from + (perToken ? len : 1) * width)) };
          if (start && end) {
            o.startLogits = Float32Array.from(start.subarray(b * T, b * T + len));
            o.endLogits = Float32Array.from(end.subarray(b * T, b * T + len));
          }
          return o;
        });
      }),
    );
  }

  /**
   * Validates, tokenizes, runs (in batches of `batchSize` rows) and post-processes: one result per input.
   *
   * @example pipe.run('Paris is in [MASK].', { top_k: 3 }) // fill-mask: [{ score, token, token_str, sequence }, ...] x1
   */
  run(inputs: unknown, parameters?: unknown, options: { batchSize?: number } = {}): PipelineOutput[] {
    const prepared = this.prepare(inputs, parameters);
    const bs = Math.max(1, options.batchSize ?? 32);
    const outputs: RowOutput[] = [];
    for (let i = 0; i < prepared.rows.length; i += bs) outputs.push(...this.forward(prepared.rows.slice(i, i + bs)));
    return prepared.finish(outputs);
  }

  /** Frees the model's parameters. */
  dispose(): void {
    this.model.dispose();
  }
}

/**
 * transformers-style entry point: `await pipeline('text-classification', dir)`.
 *
 * @example
 * const ner = await pipeline('token-classification', 'runs/ner/best');
 * ner.run('Ada Lovelace lived in London', { aggregation_strategy: 'simple' });
 */
export async function pipeline(task: TaskName | undefined, modelDir: string, options: Omit<PipelineOptions, 'task'> = {}): Promise<TextPipeline> {
  return TextPipeline.load(modelDir, { ...options, task });
}

/** True for an object that looks like `{ inputs, parameters }` (the HTTP body shape). */
export function isPredictBody(v: unknown): v is { inputs: unknown; parameters?: unknown } {
  return isRecord(v) && 'inputs' in v;
}

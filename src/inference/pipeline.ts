// The inference pipeline: a model folder's tokenizer + task model + the task's handler. prepare()
// validates and tokenizes a request (RequestPreparer: tokenizer and config only, no weights); for encoder
// tasks forward() runs model rows (from any requests) as one padded batch under noGrad + tidy and the
// prepared request's finish() turns their outputs into Hugging Face pipeline results; for text-generation
// generate() runs the prepared job. The server's micro-batcher calls these separately, run() chains them.
// Not here: task rules (tasks/*.ts), HTTP and threads (src/serve/), the decoding loop (src/generate/).

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, ModelError } from '../errors.ts';
import type { CausalLM } from '../models/decoder.ts';
import { labelNames, readHfConfig, readModelFolderConfigs, type GenerationConfigJson, type HfConfig } from '../models/hf-config.ts';
import { loadLoraAdapter } from '../lora/adapter.ts';
import { isAdapterFolder, readLoraConfig } from '../lora/config.ts';
import { describeAdapterFolder } from '../models/adapter-folder.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { familyFor, loadPretrained } from '../models/pretrained.ts';
import type { TaskName } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { loadTokenizer, type EncodeResult, type Tokenizer } from '../tokenizers/index.ts';
import { isRecord } from './parse.ts';
import { PIPELINE_TASKS, PIPELINE_TASK_NAMES, isGenerationHandler, type AnyGenerationHandler, type AnyTaskHandler } from './tasks/index.ts';
import { PipelineInputError, type GenerationJob, type PipelineContext, type PipelineOutput, type RowOutput } from './types.ts';

/** Default limit on one text's length (characters). */
export const DEFAULT_MAX_TEXT_LENGTH = 20_000;
/** Default limit on input items in one call. */
export const DEFAULT_MAX_ITEMS = 256;
/** Default limit on max_new_tokens of one text-generation request. */
export const DEFAULT_MAX_NEW_TOKENS_LIMIT = 256;

export interface PipelineOptions {
  /** The task; default: the one config.json `architectures` names. Must match the saved head. */
  task?: TaskName;
  /** Longest accepted text in characters (default 20,000). */
  maxTextLength?: number;
  /** Most input items per call (default 256). */
  maxItems?: number;
  /** text-generation: the most new tokens a request may ask for (default 256). */
  maxNewTokens?: number;
  /** A LoRA adapter folder (PEFT layout: adapter_config.json + adapter_model.safetensors) applied on top of the model. */
  adapter?: string;
  /** Where loading warnings go (default console.warn). */
  warn?: (message: string) => void;
}

/** A validated, tokenized encoder-task request: its model rows, and how to turn their outputs into results. */
export interface PreparedRows {
  kind: 'rows';
  /** Model rows to run, in order (one or more per input item). */
  rows: EncodeResult[];
  /** Results, one per input item, from the rows' outputs (same order as `rows`). */
  finish(outputs: RowOutput[]): PipelineOutput[];
}

/** A validated text-generation request: plain data, run with TextPipeline.generate (here or in a worker). */
export interface PreparedGeneration {
  kind: 'generation';
  job: GenerationJob;
}

export type PreparedRequest = PreparedRows | PreparedGeneration;

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
 * The request side of a pipeline: a model folder's task, tokenizer and limits, without its weights.
 * It validates and tokenizes requests; the HTTP server uses it on its event-loop thread while a
 * text-generation model runs in a worker thread.
 *
 * @example
 * const req = await RequestPreparer.load('runs/stories-lm', { task: 'text-generation' });
 * req.prepare('Once upon a time', { max_new_tokens: 1e6 }); // throws PipelineInputError('parameters.max_new_tokens', ...)
 */
export class RequestPreparer {
  private constructor(
    readonly modelDir: string,
    readonly task: TaskName,
    readonly tokenizer: Tokenizer,
    readonly context: PipelineContext,
    readonly handler: AnyTaskHandler | AnyGenerationHandler,
    private readonly maxItems: number,
  ) {}

  /** Reads the folder's tokenizer and JSON configs; throws a ModelError/ConfigError that says what is wrong. */
  static async load(modelDir: string, options: PipelineOptions = {}): Promise<RequestPreparer> {
    if (options.task !== undefined && PIPELINE_TASKS[options.task] === undefined) {
      throw new ConfigError('task', `"${options.task}" has no inference pipeline here; supported: ${PIPELINE_TASK_NAMES.join(', ')}`);
    }
    const st = await stat(modelDir).catch(() => null);
    if (st === null || !st.isDirectory()) throw new ModelError(`${modelDir}: no such model folder; pass a folder with config.json, model.safetensors and tokenizer files`);
    // A LoRA adapter folder: config.json and tokenizer from the folder, or (written by PEFT alone) from its base.
    const peft = isAdapterFolder(modelDir) ? await describeAdapterFolder(modelDir) : null;
    const tokenizer = await loadTokenizer(peft?.tokenizerDir ?? modelDir);
    let cfg = await readHfConfig(peft?.configDir ?? modelDir);
    if (peft?.numLabels !== undefined && peft.numLabels !== cfg.num_labels) {
      const id2label = Object.fromEntries(Array.from({ length: peft.numLabels }, (_, i) => [i, `LABEL_${i}`]));
      cfg = { ...cfg, num_labels: peft.numLabels, id2label, label2id: Object.fromEntries(Object.entries(id2label).map(([i, n]) => [n, Number(i)])) };
    }
    if (peft?.task !== undefined && options.task === undefined) options = { ...options, task: peft.task };
    const family = familyFor(cfg.model_type, join(peft?.configDir ?? modelDir, 'config.json'));
    const saved = peft?.task ?? (cfg.architectures ?? []).map((a) => family.architectures[a]).find((t) => t !== undefined);
    const task = options.task ?? saved ?? 'feature-extraction';
    const handler = PIPELINE_TASKS[task];
    if (handler === undefined) {
      throw new ConfigError('task', `${modelDir} holds a ${task} model (${cfg.architectures?.join(', ') ?? cfg.model_type}); it has no inference pipeline here; supported: ${PIPELINE_TASK_NAMES.join(', ')}`);
    }
    // A head trained for another task (or one the checkpoint lacks) would give meaningless outputs.
    if (saved !== undefined && saved !== task && task !== 'feature-extraction') {
      throw new ModelError(
        `${modelDir} was saved as ${cfg.architectures!.join(', ')} (${saved}); serving it as ${task} would use a head trained ` +
          `for another task. Serve it as ${saved} (or feature-extraction), or fine-tune a ${task} head first.`,
      );
    }
    if (options.adapter !== undefined) await readLoraConfig(options.adapter); // a bad adapter folder fails here, before any weights load
    let generationConfig: GenerationConfigJson | null = null;
    if (isGenerationHandler(handler)) generationConfig = (await readModelFolderConfigs(modelDir)).generationConfig;
    const maxNewTokens = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS_LIMIT;
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new ConfigError('maxNewTokens', `must be a positive integer, got ${maxNewTokens}`);
    const names = labelNames(cfg);
    const context: PipelineContext = {
      tokenizer,
      id2label: Object.fromEntries(names.map((n, i) => [i, n])),
      numLabels: cfg.num_labels,
      problemType: cfg.problem_type,
      maxLength: Math.min(tokenizer.config.modelMaxLength ?? Infinity, maxPositions(cfg)),
      maxTextLength: options.maxTextLength ?? DEFAULT_MAX_TEXT_LENGTH,
      maxNewTokens,
      generationConfig,
    };
    return new RequestPreparer(modelDir, task, tokenizer, context, handler, options.maxItems ?? DEFAULT_MAX_ITEMS);
  }

  /**
   * Validates `inputs` (one item or a non-empty list; for text-generation a list of {role, content}
   * messages is one chat) and `parameters`, and tokenizes them. Throws PipelineInputError (naming the
   * field) for anything malformed.
   */
  prepare(inputs: unknown, parameters?: unknown): PreparedRequest {
    const it = this.prepareSteps(inputs, parameters);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * prepare() that yields to the event loop between items, so tokenizing a large request (64 texts of
   * 20,000 characters) never blocks other requests (/health) for longer than one item takes.
   */
  async prepareAsync(inputs: unknown, parameters?: unknown): Promise<PreparedRequest> {
    const it = this.prepareSteps(inputs, parameters);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The steps of prepare(): yields after each item is tokenized. */
  private *prepareSteps(inputs: unknown, parameters?: unknown): Generator<void, PreparedRequest, void> {
    if (inputs === undefined || inputs === null) throw new PipelineInputError('inputs', 'is required');
    const h = this.handler;
    const ctx = this.context;
    const isList = Array.isArray(inputs) && !(isGenerationHandler(h) && h.isOneItem(inputs));
    const list: unknown[] = isList ? (inputs as unknown[]) : [inputs];
    const field = (i: number) => (isList ? `inputs[${i}]` : 'inputs');
    if (list.length === 0) throw new PipelineInputError('inputs', 'the list is empty; send at least one input');
    if (list.length > this.maxItems) throw new PipelineInputError('inputs', `${list.length} inputs in one request; the limit is ${this.maxItems}`);
    if (isGenerationHandler(h)) {
      const params = h.parseParams(parameters, ctx);
      const items = list.map((v, i) => h.parseItem(v, field(i), ctx));
      return { kind: 'generation', job: { items, params: h.check(items, params, ctx, items.map((_, i) => field(i))) } };
    }
    const params = h.parseParams(parameters, ctx);
    const items = list.map((v, i) => h.parseItem(v, field(i), ctx));
    const perItem: ReturnType<typeof h.preprocess>[] = [];
    for (let i = 0; i < items.length; i++) {
      perItem.push(h.preprocess(items[i], params, ctx, field(i)));
      if (i < items.length - 1) yield;
    }
    const rows = perItem.flatMap((p) => p.rows);
    return {
      kind: 'rows',
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
}

/** The model as a CausalLM, or a ModelError saying it cannot generate. */
function asCausalLm(model: PretrainedTaskModel, source: string): PretrainedTaskModel & CausalLM {
  const m = model as PretrainedTaskModel & Partial<CausalLM>;
  if (typeof m.logits !== 'function' || typeof m.newCache !== 'function') {
    throw new ModelError(`${source}: ${model.architecture} cannot generate text; text-generation needs a decoder with a language-modelling head (GPT-2, Llama, Mistral, Qwen2, Qwen3, Gemma 2/3, Phi-3)`);
  }
  return m as PretrainedTaskModel & CausalLM;
}

/**
 * A loaded inference pipeline (transformers' `pipeline(task, model)`).
 *
 * @example
 * const clf = await TextPipeline.load('runs/sst2/best');
 * clf.run(['great film', { text: 'a', text_pair: 'b' }]); // [{ label: 'POSITIVE', score: 0.98, scores: [...] }, ...]
 * const lm = await TextPipeline.load('stories260K/hf', { task: 'text-generation' });
 * lm.run('Once upon a time', { max_new_tokens: 20 }); // [[{ generated_text: 'Once upon a time, there was ...', finish_reason: 'length' }]]
 */
export class TextPipeline {
  private constructor(
    /** Validation and tokenization (no weights). */
    readonly requests: RequestPreparer,
    readonly model: PretrainedTaskModel,
  ) {}

  get modelDir(): string {
    return this.requests.modelDir;
  }
  get task(): TaskName {
    return this.requests.task;
  }
  get tokenizer(): Tokenizer {
    return this.requests.tokenizer;
  }
  get context(): PipelineContext {
    return this.requests.context;
  }

  /** Loads tokenizer and model (and a LoRA adapter when given); throws a ModelError that says what is wrong with the folder. */
  static async load(modelDir: string, options: PipelineOptions = {}): Promise<TextPipeline> {
    return TextPipeline.withModel(await RequestPreparer.load(modelDir, options), options);
  }

  /** Loads the weights (and `options.adapter`) behind an already loaded RequestPreparer. */
  static async withModel(requests: RequestPreparer, options: Pick<PipelineOptions, 'adapter' | 'warn'> = {}): Promise<TextPipeline> {
    const modelDir = requests.modelDir;
    const { model, info } = await loadPretrained(modelDir, { task: requests.task, tokenizer: requests.tokenizer, warn: options.warn, strict: true });
    try {
      if (isGenerationHandler(requests.handler)) asCausalLm(model, modelDir);
      const fromAdapter = options.adapter !== undefined ? (await loadLoraAdapter(model, options.adapter)).savedModuleParams : [];
      const missing = info.missingKeys.filter((k) => !/position_ids$/.test(k) && !fromAdapter.includes(k));
      if (missing.length > 0) {
        throw new ModelError(
          `${modelDir}: the checkpoint has no weights for ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? ', ...' : ''} of ${model.architecture} ` +
            `(task ${model.task}); it was saved as ${model.hfConfig.architectures?.join(', ') ?? 'a bare encoder'}. Serve it with its own task, or fine-tune this head first.`,
        );
      }
    } catch (err) {
      model.dispose();
      throw err;
    }
    model.eval();
    return new TextPipeline(requests, model);
  }

  /** See RequestPreparer.prepare. */
  prepare(inputs: unknown, parameters?: unknown): PreparedRequest {
    return this.requests.prepare(inputs, parameters);
  }

  /** Runs rows as one right-padded batch (no gradients; every intermediate tensor freed). Encoder tasks only. */
  forward(rows: readonly EncodeResult[]): RowOutput[] {
    if (rows.length === 0) return [];
    if (isGenerationHandler(this.requests.handler)) throw new ModelError(`${this.task} decodes token by token: use generate() with a prepared job, or run()`);
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
   * Runs a prepared text-generation job (all its prompts as one left-padded batch): one result per
   * item. `deadline` (epoch ms) stops decoding early once it passes.
   *
   * @example
   * const p = lm.prepare(['Once upon', 'The dog'], { max_new_tokens: 8 });
   * if (p.kind === 'generation') lm.generate(p.job); // [[{ generated_text, finish_reason }], [...]]
   */
  generate(job: GenerationJob, options: { deadline?: number } = {}): PipelineOutput[] {
    const h = this.requests.handler;
    if (!isGenerationHandler(h)) throw new ModelError(`${this.task} does not generate text; use prepare() + forward(), or run()`);
    return h.run(asCausalLm(this.model, this.modelDir), job, this.context, options);
  }

  /**
   * Validates, tokenizes, runs (encoder tasks: in batches of `batchSize` rows; text-generation: one
   * left-padded batch) and post-processes: one result per input.
   *
   * @example pipe.run('Paris is in [MASK].', { top_k: 3 }) // fill-mask: [{ score, token, token_str, sequence }, ...] x1
   */
  run(inputs: unknown, parameters?: unknown, options: { batchSize?: number } = {}): PipelineOutput[] {
    const prepared = this.prepare(inputs, parameters);
    if (prepared.kind === 'generation') return this.generate(prepared.job);
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

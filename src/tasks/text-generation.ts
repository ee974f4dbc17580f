// Causal language-model fine-tuning end to end (`finetune train --task text-generation`): load a local
// GPT-2 or Llama-family folder, read plain text (packed into blocks), prompt/completion JSONL (loss on the
// completion only) or chat JSONL (the tokenizer's chat template), train every weight or only LoRA adapters,
// report eval loss and perplexity, and save a PEFT adapter folder, merged full weights, or the whole model.
// Also loading a model (+ adapter) for `finetune generate` and `finetune evaluate`.
// Not here: the data builders (src/data/causal-lm.ts), LoRA itself (src/lora), decoding (src/generate).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { replaceModelFolder } from '../io/atomic.ts';
import { lmFeatures, readCausalLmDataset, type CausalLmFileOptions, type LmDataset } from '../data/causal-lm.ts';
import { splitIndices } from '../data/index.ts';
import { ConfigError, DataError, ModelError } from '../errors.ts';
import { PerplexityMetric } from '../eval/perplexity.ts';
import type { CausalLM } from '../models/decoder.ts';
import { generate } from '../generate/generate.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { resolveModel } from '../hub/index.ts';
import { readModelFolderConfigs, type GenerationConfigJson } from '../models/hf-config.ts';
import { loadLoraAdapter } from '../lora/adapter.ts';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, isAdapterFolder, readLoraConfig } from '../lora/config.ts';
import { applyLora, loraState } from '../lora/inject.ts';
import { streamingQuantizedLoad } from '../lora/quantize.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import type { TaskModel } from '../models/types.ts';
import { manualSeed } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import type { TrainingArguments } from '../train/args.ts';
import { FeatureBatches } from '../train/batches.ts';
import type { PipelineConfig } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import { loraSettings, setUpLora } from './lora.ts';
import { loadTaskModel, say, tick, trainEvaluateSave, type LoadedTaskModel, type ModelPersistence, type TaskRun } from './task-run.ts';
import type { PipelineEvents } from './text-classification.ts';

export { DEFAULT_LORA_TARGET_MODULES } from '../lora/config.ts';
export { loraSettings } from './lora.ts';

/** A causal LM with its tokenizer: a task model that generation can also drive. */
export interface LoadedCausalLm extends LoadedTaskModel {
  model: PretrainedTaskModel & CausalLM;
  /** The base model folder (or Hub id) as given or as named by the adapter. */
  baseModel: string;
  /** The PEFT adapter folder applied on top, or null. */
  adapterDir: string | null;
  /** generation_config.json of the base folder (sampling defaults), or null. */
  generationConfig: GenerationConfigJson | null;
}

/** A finished causal-LM run: where the adapter or model went and which base it needs. */
export interface CausalLmRun extends TaskRun {
  /** The model folder or Hub id training started from. */
  baseModel: string;
  /** True when output_dir holds a PEFT adapter (load it on top of baseModel). */
  adapter: boolean;
}

/** The model as a CausalLM, or a ModelError saying it is not a decoder with a language-modelling head. */
export function asCausalLm(model: PretrainedTaskModel, source: string): PretrainedTaskModel & CausalLM {
  const m = model as PretrainedTaskModel & Partial<CausalLM>;
  if (typeof m.logits !== 'function' || typeof m.newCache !== 'function') {
    throw new ModelError(`${source}: ${model.architecture} cannot generate text; text-generation needs a decoder with a language-modelling head (GPT-2, Llama, Mistral, Qwen2, Qwen3, Gemma 2/3, Phi-3)`);
  }
  return m as PretrainedTaskModel & CausalLM;
}

/**
 * Loads a causal LM for generation or evaluation: a model folder (or Hub id), optionally with a PEFT
 * adapter on top. A folder holding only adapter_config.json (no config.json) is taken as the adapter,
 * its base model read from `base_model_name_or_path`, as PEFT's AutoPeftModelForCausalLM does.
 *
 * @example
 * const { model, tokenizer } = await loadCausalLm('stories260K/hf', { adapter: 'stories-lora' });
 * const { model: same } = await loadCausalLm('stories-lora'); // base from adapter_config.json
 */
export async function loadCausalLm(idOrPath: string, opts: { adapter?: string | null } = {}, ev?: PipelineEvents): Promise<LoadedCausalLm> {
  let base = idOrPath;
  let adapterDir = opts.adapter ?? null;
  if (adapterDir === null && isAdapterFolder(idOrPath)) {
    const cfg = await readLoraConfig(idOrPath);
    if (!cfg.base_model_name_or_path) {
      throw new ConfigError(
        'model',
        `${join(idOrPath, ADAPTER_CONFIG_NAME)} names no base model (base_model_name_or_path); pass --model <base model folder> --adapter ${idOrPath}`,
      );
    }
    adapterDir = idOrPath;
    base = cfg.base_model_name_or_path;
    say(ev, `${idOrPath} is a LoRA adapter for ${base}`);
  }
  if (adapterDir !== null && !existsSync(join(adapterDir, ADAPTER_CONFIG_NAME))) {
    throw new ModelError(
      `${adapterDir}: no ${ADAPTER_CONFIG_NAME}; --adapter takes a PEFT adapter folder (${ADAPTER_CONFIG_NAME} + ${ADAPTER_WEIGHTS_NAME}) ` +
        'written by `finetune train --lora-r …`',
    );
  }
  let dir: string;
  try {
    dir = await resolveModel(base, { onMessage: (m: string) => say(ev, m) });
  } catch (err) {
    if (adapterDir !== null && opts.adapter == null) {
      throw new ModelError(
        `the adapter ${adapterDir} was trained on ${base}, which is not found (${(err as Error).message}); pass --model <base model folder> --adapter ${adapterDir}`,
        { cause: err },
      );
    }
    throw err;
  }
  const loaded = await loadTaskModel(dir, 'text-generation', null, ev, { strict: true });
  const model = asCausalLm(loaded.model, base);
  let description = `${base} (${model.architecture})`;
  if (adapterDir !== null) {
    const state = await loadLoraAdapter(model, adapterDir);
    description += ` + LoRA adapter ${adapterDir} (r ${state.config.r}, ${state.layers.size} layers)`;
  }
  const { generationConfig } = await readModelFolderConfigs(dir);
  return { ...loaded, model, description, baseModel: base, adapterDir, generationConfig };
}

/**
 * Evaluates a causal LM batch by batch: loss = mean negative log-likelihood per predicted token over the
 * whole set (tokens whose shifted label is not -100; not a mean of batch means), perplexity = exp(loss).
 *
 * @example
 * const r = await evaluateCausalLm(model, new FeatureBatches(lmFeatures(ds.examples), { batchSize: 8, seed: 0, shuffle: false, padTokenId: 0 }));
 * r.metrics.perplexity;
 */
export async function evaluateCausalLm(model: TaskModel, data: FeatureBatches, onBatch?: (done: number, total: number) => void, collectPredictions = false): Promise<EvalResult> {
  const metric = new PerplexityMetric();
  const records: Record<string, unknown>[] = [];
  let done = 0;
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  for (const { batch, indices } of data.inOrder()) {
    F.tidy(() =>
      F.noGrad(() => {
        if (!batch.labels) return;
        const [B, T] = batch.labels.shape as [number, number];
        const labels = F.contiguous(batch.labels).intData;
        let count = 0; // the model predicts labels[t] from position t - 1, so position 0 is never scored
        for (let b = 0; b < B; b++) for (let t = 1; t < T; t++) if (labels[b * T + t] !== -100) count++;
        if (count === 0) return;
        const out = model.forward(batch);
        if (out.loss) metric.update(out.loss.item() * count, count);
        if (collectPredictions) {
          // Each example's own mean NLL over its predicted tokens (float64 log-softmax of the host logits).
          const logits = F.contiguous(out.logits).floatData; // (B, T, V)
          const V = logits.length / (B * T);
          indices.forEach((index, b) => {
            let nll = 0;
            let n = 0;
            for (let t = 1; t < T; t++) {
              const y = labels[b * T + t] as number;
              if (y === -100) continue;
              const o = (b * T + t - 1) * V;
              let max = -Infinity;
              for (let j = 0; j < V; j++) max = Math.max(max, logits[o + j] as number);
              let z = 0;
              for (let j = 0; j < V; j++) z += Math.exp((logits[o + j] as number) - max);
              nll += Math.log(z) + max - (logits[o + y] as number);
              n++;
            }
            records.push(n ? { index, tokens: n, loss: nll / n, perplexity: Math.exp(nll / n) } : { index, tokens: 0, loss: null, perplexity: null });
          });
        }
      }),
    );
    done++;
    onBatch?.(done, data.batchesPerEpoch);
    await tick();
  }
  if (wasTraining) model.train();
  const { loss, perplexity } = metric.compute() as { loss: number; perplexity: number };
  return { metrics: { loss, perplexity }, samples: data.features.length, steps: done, runtime: (performance.now() - started) / 1000, ...(collectPredictions ? { records } : {}) };
}

/** Test examples given a greedy continuation in predictions.jsonl (a few: generation is a forward per token). */
const SAMPLE_CONTINUATIONS = 3;

/**
 * Adds a greedy continuation to the first `n` prediction records: the prompt is the tokens before the
 * first learned one (prompt/completion, chat), or the first half of a plain-text block; at most 32 new
 * tokens, as many as the reference continuation has. Fields: prompt, reference, generated (decoded text).
 */
function addGreedyContinuations(model: CausalLM & TaskModel, tokenizer: Tokenizer, ds: LmDataset, records: Record<string, unknown>[], n: number): void {
  const wasTraining = model.training;
  model.eval();
  try {
    for (const rec of records.slice(0, n)) {
      const ex = ds.examples[rec.index as number];
      if (!ex) continue;
      let cut = ex.labels.findIndex((l, t) => t > 0 && l !== -100);
      if (ds.kind === 'text' || cut <= 0) cut = Math.max(1, Math.floor(ex.inputIds.length / 2));
      const reference = ex.inputIds.slice(cut, cut + 32);
      if (reference.length === 0) continue;
      const { tokens } = generate(model, [ex.inputIds.slice(0, cut)], { maxNewTokens: reference.length, doSample: false });
      rec.prompt = tokenizer.decode(ex.inputIds.slice(0, cut), { skipSpecialTokens: true });
      rec.reference = tokenizer.decode(reference, { skipSpecialTokens: true });
      rec.generated = tokenizer.decode(tokens[0] ?? [], { skipSpecialTokens: true });
    }
  } finally {
    if (wasTraining) model.train();
  }
}

function fileOptions(p: PipelineConfig, maxLength: number): CausalLmFileOptions {
  return {
    maxLength,
    textColumn: p.text_column,
    ...(p.format ? { format: p.format } : {}),
    ...(p.has_header !== null ? { hasHeader: p.has_header } : {}),
    ...(p.column_names ? { columnNames: p.column_names } : {}),
      maxRecordSize: p.max_record_size,
  };
}

/** One line per dataset: what it holds, in tokens, and what preparation dropped or cut. */
function describeLmData(ev: PipelineEvents | undefined, name: string, ds: LmDataset, maxLength: number): void {
  let tokens = 0;
  let learned = 0;
  for (const e of ds.examples) {
    tokens += e.inputIds.length;
    for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== -100) learned++;
  }
  const n = (x: number): string => x.toLocaleString('en-US');
  const what =
    ds.kind === 'text'
      ? `${ds.examples.length} blocks of up to ${maxLength} tokens (plain text packed)`
      : `${ds.examples.length} ${ds.kind === 'chat' ? 'chats (chat template)' : 'prompt/completion pairs'}, ${n(learned)} of ${n(tokens)} tokens learned`;
  say(ev, `${name}: ${what}, ${n(tokens)} tokens from ${ds.file}`);
  for (const s of ds.steps) {
    const detail = s.detail ? ` (${s.detail})` : '';
    say(ev, `  ${ds.file}: ${s.action} ${s.count} row${s.count === 1 ? '' : 's'}: ${s.step}${detail} — first at ${s.origins.slice(0, 5).join(', ')}`);
  }
}

function pick(ds: LmDataset, idx: readonly number[]): LmDataset {
  return { ...ds, examples: idx.map((i) => ds.examples[i]!) };
}

/** The pad id for batches: the tokenizer's, else the model's, else EOS (labels of padding are -100 anyway). */
function padIdOf(loaded: LoadedTaskModel): number {
  const cfg = loaded.model.hfConfig as unknown as { pad_token_id?: number | null; eos_token_id?: number | number[] | null };
  const eos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id[0] : cfg.eos_token_id;
  return loaded.tokenizer.padTokenId ?? cfg.pad_token_id ?? loaded.tokenizer.eosTokenId ?? eos ?? 0;
}

/**
 * Fine-tunes a causal LM (`finetune train --task text-generation`). With `p.lora_r` > 0 only LoRA
 * adapters train and output_dir receives a PEFT adapter folder (adapter_config.json +
 * adapter_model.safetensors), or with `p.merge_lora` the merged full weights; otherwise every weight
 * trains and output_dir is a full model folder. Metrics: eval loss and perplexity.
 *
 * @example
 * const run = await trainCausalLm(
 *   { ...DEFAULT_PIPELINE_CONFIG, task: 'text-generation', model: 'stories260K/hf', train_file: 'stories.txt', lora_r: 8, lora_alpha: 16 },
 *   { ...DEFAULT_TRAINING_ARGUMENTS, learning_rate: 1e-3, output_dir: 'stories-lora' },
 * );
 * run.validation?.metrics.perplexity;
 */
export async function trainCausalLm(p: PipelineConfig, args: TrainingArguments, ev?: PipelineEvents): Promise<CausalLmRun> {
  manualSeed(args.seed);
  if (args.class_weights !== null) throw new ConfigError('class_weights', 'applies to text-classification and token-classification, not text-generation; drop --class-weights');
  if (!p.model) {
    throw new ConfigError('model', 'text-generation fine-tunes a pretrained decoder: pass --model <folder with a GPT-2 or Llama-family checkpoint>');
  }
  if (!p.train_file) {
    throw new DataError('no training data: pass --train-file (a .txt file of plain text, or JSONL with "prompt"/"completion" or "messages")');
  }
  if (p.merge_lora && p.lora_r === 0) throw new ConfigError('merge_lora', 'needs LoRA: set lora_r (e.g. 8)');
  // 1. Model and tokenizer first: the tokenizer turns the data into tokens.
  // --load-in-4bit/8bit: LoRA is applied while loading and the frozen base weights go from the file's bytes
  // straight to nf4/int8 (the embedding to bf16); the fp32 base is never held.
  const quantFormat = p.lora_r > 0 && (p.load_in_4bit || p.load_in_8bit) ? (p.load_in_4bit ? 'nf4' : 'int8') : null;
  const streaming = quantFormat
    ? streamingQuantizedLoad(quantFormat, { doubleQuant: p.bnb_4bit_use_double_quant }, (m) => applyLora(m, loraSettings(p, m.hfConfig.model_type, p.model!)))
    : undefined;
  const loaded = await loadTaskModel(p.model, 'text-generation', null, ev, streaming ? { streaming } : {});
  const model = asCausalLm(loaded.model, p.model);
  const { tokenizer } = loaded;
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  // 2. Data.
  const opts = fileOptions(p, maxLength);
  let train = await readCausalLmDataset(p.train_file, tokenizer, opts);
  let validation = p.validation_file ? await readCausalLmDataset(p.validation_file, tokenizer, opts) : undefined;
  let test = p.test_file ? await readCausalLmDataset(p.test_file, tokenizer, opts) : undefined;
  if (!validation || (!test && p.test_split > 0)) {
    let idx;
    try {
      idx = splitIndices(train.examples.length, { seed: args.seed, validation: validation ? 0 : p.validation_split, test: test ? 0 : p.test_split });
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      const text = train.kind === 'text';
      const size = text ? `the text packs into ${train.examples.length} block(s) of ${maxLength} tokens` : `${train.examples.length} example(s)`;
      throw new DataError(`${train.file}: ${err.message} (${size}); give a --validation-file${text ? ' or a smaller --max-length' : ''}`, { cause: err });
    }
    validation = validation ?? pick(train, idx.validation);
    if (!test && p.test_split > 0) test = pick(train, idx.test);
    train = pick(train, idx.train);
    say(ev, `split (seed ${args.seed}): train ${train.examples.length}, validation ${validation.examples.length}${test ? `, test ${test.examples.length}` : ''}`);
  }
  if (train.examples.length === 0) throw new DataError(`${train.file}: no training examples left`);
  describeLmData(ev, 'train', train, maxLength);
  describeLmData(ev, 'validation', validation, maxLength);
  if (test) describeLmData(ev, 'test', test, maxLength);
  // 3. LoRA: wrap the targets, freeze everything else.
  const persist: ModelPersistence | undefined = setUpLora(p, loaded, 'text-generation', ev);
  if (persist && streaming && quantFormat) {
    const q = streaming.report;
    say(ev, `base weights: ${q.layers} LoRA base Linear weights in ${quantFormat}${p.bnb_4bit_use_double_quant ? ' (double quant)' : ''}` +
      `${q.embedding ? ` and ${q.embedding} in bf16` : ''}, quantised while reading: ` +
      `${(q.storedBytes / 2 ** 20).toFixed(1)} MiB stored (the ${q.layers} Linear weights would take ${(q.fp32Bytes / 2 ** 20).toFixed(1)} MiB in fp32)`);
  }
  say(ev, `model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}`);
  // 4. Features.
  const padTokenId = padIdOf(loaded);
  const trainBatches = new FeatureBatches(lmFeatures(train.examples), {
    batchSize: args.per_device_train_batch_size,
    seed: args.seed,
    shuffle: true,
    groupByLength: args.group_by_length,
    padTokenId,
  });
  const evaluator = (ds: LmDataset, collectPredictions = false): ((m: TaskModel) => Promise<EvalResult>) => {
    const batches = new FeatureBatches(lmFeatures(ds.examples), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
    if (!collectPredictions) return (m) => evaluateCausalLm(m, batches);
    return async (m) => {
      const r = await evaluateCausalLm(m, batches, undefined, true);
      addGreedyContinuations(model, tokenizer, ds, r.records ?? [], SAMPLE_CONTINUATIONS);
      return r;
    };
  };
  // 5–6. Train, evaluate, save, report.
  const run = await trainEvaluateSave(
    {
      task: 'text-generation',
      loaded,
      train: trainBatches,
      validate: validation.examples.length ? evaluator(validation) : null,
      test: test?.examples.length ? evaluator(test, true) : null,
      labels: [],
      dataFile: train.file,
      ...(persist ? { persist } : {}),
    },
    args,
    ev,
  );
  return { ...run, baseModel: p.model, adapter: p.lora_r > 0 && !p.merge_lora };
}

/**
 * `finetune evaluate` for a causal LM (a model folder, or a LoRA adapter folder whose base model is
 * named in adapter_config.json): loss and perplexity on `file`, read as for training.
 *
 * @example
 * const { result } = await evaluateCausalLmFile('stories-lora', 'held-out.txt', p, args);
 */
export async function evaluateCausalLmFile(
  modelDir: string,
  file: string,
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
  adapter: string | null = null,
): Promise<{ result: EvalResult; examples: number }> {
  const loaded = await loadCausalLm(modelDir, { adapter }, ev);
  const ds = await readCausalLmDataset(file, loaded.tokenizer, fileOptions(p, Math.min(args.max_length, loaded.maxPositions)));
  const batches = new FeatureBatches(lmFeatures(ds.examples), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId: padIdOf(loaded) });
  if (loraState(loaded.model)) say(ev, `model: ${loaded.description}`);
  return { result: await evaluateCausalLm(loaded.model, batches), examples: ds.examples.length };
}

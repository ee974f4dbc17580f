// from_pretrained / save_pretrained for every model family, as transformers does them: a registry of
// families keyed by config.json model_type, a checkpoint → parameter map that is 1:1 except for the
// exceptions listed in CHECKPOINT_KEY_EXCEPTIONS (plus each class's tied/ignored keys), transformers'
// missing/unexpected-key warnings, new heads initialised as transformers does, and folders written back
// (config.json, model.safetensors or shards, tokenizer files) that Python transformers loads.
// Not here: the models (bert.ts, ...), safetensors/config parsing (src/io), tokenizers (src/tokenizers).

import { readdir, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, ModelError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { loadCheckpointTensors, SAFETENSORS_INDEX_NAME, SAFETENSORS_WEIGHTS_NAME } from '../io/checkpoint.ts';
import { checkConfigAgainstWeights } from './config-weights.ts';
import { makeHfConfig, parseHfConfig, writeHfConfig, type HfConfig, type ProblemType } from './hf-config.ts';
import { SCHEMAS } from './hf-config-schema.ts';
import { isJsonObject, pythonJsonDumps, readJsonFile, type JsonObject } from '../io/json.ts';
import { toFloat32, writeSafetensors, type SafetensorsEntry, type TensorToWrite } from '../io/safetensors.ts';
import { isAdapterFolder, type LoraConfig } from '../lora/config.ts';
import { loraState } from '../lora/inject.ts';
import { deferredInit, manualSeed } from '../nn/init.ts';
import { syncHost, type Tensor } from '../tensor/index.ts';
import { saveTokenizer } from '../tokenizers/save.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import { BERT_FAMILY } from './bert.ts';
import { DEBERTA_V2_FAMILY } from './deberta-v2.ts';
import { DISTILBERT_FAMILY } from './distilbert.ts';
import { GEMMA_FAMILY } from './gemma.ts';
import { GPT2_FAMILY } from './gpt2.ts';
import { LLAMA_FAMILY } from './llama.ts';
import { MODERNBERT_FAMILY } from './modernbert.ts';
import type { BuildOptions, CheckpointRules, ModelFamily, PretrainedTaskModel } from './family.ts';
import { loadAdapterFolder } from './adapter-folder.ts';
import { PHI3_FAMILY } from './phi3.ts';
import { QWEN3_FAMILY } from './qwen3.ts';
import { checkHeadLabels } from './heads.ts';
import { ROBERTA_FAMILY } from './roberta.ts';
import type { TaskName } from './types.ts';

// ---------------------------------------------------------------------------------------------
// Registry

const FAMILIES = new Map<string, ModelFamily>();
let builtinsRegistered = false;

/** The built-in families, registered on first use (not at import time, so family files may import this one). */
function registry(): Map<string, ModelFamily> {
  if (!builtinsRegistered) {
    builtinsRegistered = true;
    for (const f of [BERT_FAMILY, DISTILBERT_FAMILY, ROBERTA_FAMILY, GPT2_FAMILY, LLAMA_FAMILY, QWEN3_FAMILY, GEMMA_FAMILY, PHI3_FAMILY, DEBERTA_V2_FAMILY, MODERNBERT_FAMILY]) {
      for (const t of f.modelTypes) if (!FAMILIES.has(t)) FAMILIES.set(t, f);
    }
  }
  return FAMILIES;
}

/**
 * Registers a model family for its model_type values (replacing the one registered before).
 * @example registerModelFamily(MY_FAMILY);
 */
export function registerModelFamily(family: ModelFamily): void {
  const r = registry();
  for (const t of family.modelTypes) r.set(t, family);
}

/** The family that builds `modelType`, or a ModelError naming the file and the supported types. */
export function familyFor(modelType: string, file = 'config.json'): ModelFamily {
  const f = registry().get(modelType);
  if (!f) throw new ModelError(`${file}: model_type "${modelType}" has no model implementation here; supported: ${registeredModelTypes().join(', ')}`);
  return f;
}

/** model_type values with a registered family. */
export function registeredModelTypes(): string[] {
  return [...registry().keys()];
}

// ---------------------------------------------------------------------------------------------
// Checkpoint key exceptions: every way a checkpoint name may differ from our parameter name.

/**
 * The one list of generic checkpoint-key exceptions (per-class ones — tied weights, transposed
 * weights, transformers' `_keys_to_ignore_on_load_*` — are declared by each class in `checkpointRules`):
 * 1. base_model_prefix: a bare-model checkpoint (`embeddings.…`) loads into a task model (`bert.embeddings.…`)
 *    and a task-model checkpoint loads into the bare model, as transformers' prefix logic does.
 * 2. Legacy LayerNorm names from TF-era checkpoints: `….gamma` → `….weight`, `….beta` → `….bias`.
 * 3. Buffers some checkpoints carry that are not parameters: dropped silently (transformers does not
 *    report model buffers as unexpected).
 */
export const CHECKPOINT_KEY_EXCEPTIONS = {
  legacyRenames: [
    { from: /\.gamma$/, to: '.weight' },
    { from: /\.beta$/, to: '.bias' },
  ],
  buffers: [
    /(^|\.)embeddings\.position_ids$/, // BERT / RoBERTa / DistilBERT position ids (persistent in old versions)
    /(^|\.)embeddings\.token_type_ids$/, // BERT's zero token-type buffer
    /(^|\.)attn\.(masked_)?bias$/, // GPT-2's causal-mask buffers
    /\.rotary_emb\.inv_freq$/, // Llama's RoPE frequencies
  ],
} as const;

/** How checkpoint keys were matched to parameters. */
export interface KeyMapping {
  /** parameter name → checkpoint key it is loaded from. */
  assignments: Map<string, string>;
  /** Checkpoint keys nothing loads from (after the ignore rules), in checkpoint order. */
  unexpected: string[];
  /** Parameters nothing loads into (after the ignore rules). */
  missing: string[];
}

function anyMatch(patterns: readonly RegExp[] | undefined, key: string): boolean {
  return patterns?.some((p) => p.test(key)) ?? false;
}

/**
 * Matches checkpoint keys to the model's parameters with transformers' rules (see
 * CHECKPOINT_KEY_EXCEPTIONS and the model's checkpointRules). Pure: reads names only.
 * @example mapCheckpointKeys(model, ['bert.embeddings.LayerNorm.gamma', ...]).assignments
 */
export function mapCheckpointKeys(model: PretrainedTaskModel, checkpointKeys: readonly string[]): KeyMapping {
  const params = new Set(model.namedParameters().map(([n]) => n));
  const rules: CheckpointRules = model.checkpointRules;
  const tied = rules.tied ?? {};
  const prefix = model.baseModelPrefix ? `${model.baseModelPrefix}.` : '';
  const expectsPrefix = prefix !== '' && [...params].some((n) => n.startsWith(prefix));
  const hasPrefix = prefix !== '' && checkpointKeys.some((k) => k.startsWith(prefix));
  const known = (n: string) => params.has(n) || n in tied;

  /** Our name for a checkpoint key, or null when it has none. */
  const ourName = (key: string): string | null => {
    const candidates: string[] = [];
    if (expectsPrefix && !hasPrefix) candidates.push(prefix + key, key); // bare checkpoint → task model
    else if (!expectsPrefix && hasPrefix) {
      if (!key.startsWith(prefix)) return null; // task checkpoint → bare model: head keys are unexpected
      candidates.push(key.slice(prefix.length));
    } else candidates.push(key);
    for (const c of candidates) {
      if (known(c)) return c;
      for (const r of CHECKPOINT_KEY_EXCEPTIONS.legacyRenames) {
        const renamed = c.replace(r.from, r.to);
        if (renamed !== c && known(renamed)) return renamed;
      }
    }
    return null;
  };

  const assignments = new Map<string, string>();
  const viaAlias = new Map<string, string>();
  const unexpected: string[] = [];
  for (const key of checkpointKeys) {
    const name = ourName(key);
    if (name === null) {
      if (anyMatch(CHECKPOINT_KEY_EXCEPTIONS.buffers, key) || anyMatch(rules.ignoreUnexpected, key)) continue;
      unexpected.push(key);
    } else if (params.has(name)) {
      assignments.set(name, key);
    } else {
      const target = tied[name];
      if (target !== undefined && params.has(target)) viaAlias.set(target, key);
    }
  }
  for (const [target, key] of viaAlias) if (!assignments.has(target)) assignments.set(target, key);
  const missing = [...params].filter((n) => !assignments.has(n) && !anyMatch(rules.ignoreMissing, n));
  return { assignments, unexpected, missing };
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Options of {@link fromPretrained}. Label options act like transformers' `from_pretrained(num_labels=…, id2label=…)`. */
/** Takes over one checkpoint tensor (e.g. quantises it) instead of copying it into parameter p; true when it did. */
export type ConsumeTensor = (name: string, p: Tensor, entry: SafetensorsEntry, transpose: boolean) => boolean;

export interface FromPretrainedOptions {
  /**
   * Streaming load (quantised bases): the model is built with deferred initialisation (no parameter
   * memory until read), beforeLoad runs on it (e.g. applyLora), the checkpoint is read one tensor at a
   * time and consume may take a tensor instead of the fp32 parameter.
   */
  streaming?: { beforeLoad: (model: PretrainedTaskModel) => void; consume: ConsumeTensor };
  /** The head to build; default: from config.json `architectures`, else feature extraction (AutoModel). */
  task?: TaskName;
  /** Number of labels; a count different from config.json's resets id2label to LABEL_0.., as transformers does. */
  numLabels?: number;
  /** Label names by class index (an array, or {0: "neg", 1: "pos"}). */
  id2label?: readonly string[] | Readonly<Record<number, string>>;
  /** Label name → class index; must agree with id2label. */
  label2id?: Readonly<Record<string, number>>;
  problemType?: ProblemType;
  /** Other config.json fields to override (config.json spelling), e.g. { hidden_dropout_prob: 0 }. */
  config?: JsonObject;
  /** Re-initialise checkpoint tensors whose shape differs from the model's instead of failing. */
  ignoreMismatchedSizes?: boolean;
  /** When given, its ids must fit the embedding matrix. */
  tokenizer?: Tokenizer;
  /** Where transformers-style loading warnings go (default console.warn). */
  warn?: (message: string) => void;
  /**
   * Inference loading (predict, evaluate, serve, export): a parameter the checkpoint lacks, or a checkpoint
   * tensor no parameter takes, is a ModelError naming the keys, never a random initialisation.
   */
  strict?: boolean;
  /** Resolves an adapter folder's base_model_name_or_path (e.g. a Hub id) to a local folder. */
  resolveBase?: (nameOrPath: string) => Promise<string>;
}

/** What loading found, as transformers' `output_loading_info`. */
export interface LoadingInfo {
  /** Parameters the checkpoint did not have (newly initialised); mismatched ones are listed apart. */
  missingKeys: string[];
  unexpectedKeys: string[];
  /** Checkpoint tensors of the wrong shape, re-initialised (only with ignoreMismatchedSizes). */
  mismatchedKeys: { key: string; checkpointShape: number[]; modelShape: number[] }[];
  /** The safetensors files read. */
  files: string[];
  /** Set when the folder was a PEFT adapter: it and its base model folder. */
  adapter?: { dir: string; baseDir: string; config: LoraConfig };
}

const pyList = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;
const shapeOf = (s: readonly number[]) => `[${s.join(', ')}]`;

function labelRecord(id2label: readonly string[] | Readonly<Record<number, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(id2label)) (id2label as readonly string[]).forEach((n, i) => (out[String(i)] = n));
  else for (const [k, v] of Object.entries(id2label)) out[k] = v;
  return out;
}

/** Applies the label/config options to the raw config.json object, as transformers' kwargs do. */
function applyConfigOptions(raw: JsonObject, o: FromPretrainedOptions, file: string): JsonObject {
  const out: JsonObject = { ...raw, ...(o.config ?? {}) };
  if (o.id2label !== undefined) {
    const rec = labelRecord(o.id2label);
    const n = Object.keys(rec).length;
    if (o.numLabels !== undefined && o.numLabels !== n) {
      throw new ConfigError('num_labels', `numLabels ${o.numLabels} does not match the ${n} names in id2label`);
    }
    out['id2label'] = rec;
    out['label2id'] = o.label2id ? { ...o.label2id } : Object.fromEntries(Object.entries(rec).map(([k, v]) => [v, Number(k)]));
    delete out['num_labels'];
  } else if (o.numLabels !== undefined) {
    if (!Number.isInteger(o.numLabels) || o.numLabels < 1) throw new ConfigError('num_labels', `must be a positive integer, got ${o.numLabels}`);
    const current = isJsonObject(out['id2label']) ? Object.keys(out['id2label']).length : (out['num_labels'] ?? 2);
    if (current !== o.numLabels) {
      delete out['id2label'];
      delete out['label2id'];
      out['num_labels'] = o.numLabels;
    }
  } else if (o.label2id !== undefined) {
    out['label2id'] = { ...o.label2id };
  }
  if (o.problemType !== undefined) out['problem_type'] = o.problemType;
  // Only a label2id the caller passes is checked: transformers never checks, and some Hub configs disagree.
  if (o.label2id !== undefined && isJsonObject(out['label2id']) && isJsonObject(out['id2label'])) {
    const id2label = out['id2label'];
    for (const [name, id] of Object.entries(out['label2id'])) {
      if (id2label[String(id)] !== name) {
        throw new ConfigError('label2id', `${file}: label2id maps "${name}" to ${String(id)} but id2label[${String(id)}] is ${JSON.stringify(id2label[String(id)] ?? null)}`);
      }
    }
  }
  return out;
}

/** The task for a config: the caller's, else the one its first known architecture implies, else feature extraction. */
function taskFor(family: ModelFamily, config: HfConfig, requested: TaskName | undefined): TaskName {
  if (requested !== undefined) return requested;
  for (const a of config.architectures ?? []) {
    const t = family.architectures[a];
    if (t !== undefined) return t;
  }
  return 'feature-extraction';
}

/** The head's label count fits the task, and id2label numbers the classes 0..n-1 (the classifier's rows). */
function checkLabels(task: TaskName, config: HfConfig, file: string): void {
  checkHeadLabels(task, config.num_labels);
  if (task !== 'text-classification' && task !== 'token-classification') return;
  const ids = Object.keys(config.id2label).map(Number).sort((a, b) => a - b);
  if (ids.some((id, i) => id !== i)) {
    throw new ConfigError('id2label', `${file}: class indices must be 0..${ids.length - 1} (one per classifier row), got ${ids.join(', ')}`);
  }
}

/** Largest token id a tokenizer can produce. */
function maxTokenId(tok: Tokenizer): number {
  let max = -1;
  for (const id of tok.getVocab().values()) if (id > max) max = id;
  return max;
}

/** The 2-D transpose of a row-major (R, C) array. */
function transpose2d(src: Float32Array, R: number, C: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = src[r * C + c];
  return out;
}

/**
 * Loads a Hugging Face model folder (config.json + model.safetensors or shards) into the model class
 * for `options.task`, reporting what was missing and unexpected. Nothing is half-loaded: every name
 * and shape is checked before any parameter is written. A PEFT adapter folder (adapter_config.json and
 * no weights of its own) loads its base model (base_model_name_or_path) with the adapter applied, as
 * transformers' from_pretrained does with PEFT installed. With `strict` (inference: predict, evaluate,
 * serve, export) a parameter the checkpoint lacks or a checkpoint tensor no parameter takes is an error
 * naming the keys and the folder, never a random initialisation.
 * @example
 * const { model, info } = await loadPretrained('models/bert-base-uncased', { task: 'text-classification', numLabels: 3 });
 * info.missingKeys; // ['classifier.weight', 'classifier.bias'] (newly initialised)
 */
export async function loadPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<{ model: PretrainedTaskModel; info: LoadingInfo }> {
  if (isAdapterFolder(dir)) return loadAdapterFolder(dir, options, { loadFolder, checkTask, checkNothingMissing });
  const { model, info, configFile, savedTask } = await loadFolder(dir, dir, options);
  try {
    if (options.strict) {
      checkTask(dir, configFile, savedTask, options.task);
      // Feature extraction returns token states, never the pooled output: a checkpoint without a pooler serves it.
      const unusedHere = options.task === 'feature-extraction' ? info.missingKeys.filter((k) => /(^|\.)pooler\./.test(k)) : [];
      checkNothingMissing(model, dir, info, unusedHere);
      // Unused checkpoint tensors are expected only when a head is deliberately dropped (another task requested).
      const headDropped = options.task !== undefined && savedTask !== undefined && savedTask !== options.task;
      if (info.unexpectedKeys.length > 0 && !headDropped) {
        throw new ModelError(
          `${dir}: ${info.unexpectedKeys.length} checkpoint tensor(s) in ${fileList(info)} fit no parameter of ${model.architecture} built from ${configFile}: ` +
            `${pyList(info.unexpectedKeys.slice(0, 6))}${info.unexpectedKeys.length > 6 ? ' ...' : ''}. config.json does not describe these weights ` +
            '(model_type, num_hidden_layers or the head changed?); use the config.json saved with them.',
        );
      }
    }
  } catch (err) {
    model.dispose();
    throw err;
  }
  const warn = options.warn ?? ((m: string) => console.warn(m));
  for (const m of loadingWarnings(model.architecture, dir, info)) warn(m);
  return { model, info };
}

const fileList = (info: LoadingInfo): string => (info.files.length ? info.files.map((f) => basename(f)).join(', ') : 'the checkpoint');

/** Strict loading: a head saved for one task is never run as another's (feature extraction drops the head). */
export function checkTask(dir: string, configFile: string, saved: TaskName | undefined, requested: TaskName | undefined): void {
  if (saved === undefined || requested === undefined || saved === requested || requested === 'feature-extraction') return;
  throw new ModelError(
    `${dir}: the model was trained for ${saved} (${configFile} architectures), not ${requested}; its head would give meaningless ${requested} outputs. ` +
      `Use it as ${saved}, or fine-tune a ${requested} model first.`,
  );
}

/** Strict loading: every parameter not in `covered` must have come from the checkpoint. */
export function checkNothingMissing(model: PretrainedTaskModel, dir: string, info: LoadingInfo, covered: readonly string[]): void {
  const missing = [...info.missingKeys, ...info.mismatchedKeys.map((m) => m.key)].filter((k) => !covered.includes(k));
  if (missing.length === 0) return;
  throw new ModelError(
    `${dir}: ${fileList(info)} has no weights for ${missing.length} parameter(s) of ${model.architecture}: ${pyList(missing.slice(0, 6))}${missing.length > 6 ? ' ...' : ''}. ` +
      'Loading it for inference would give them random values. Is this the folder `finetune train` wrote (config.json and model.safetensors of one run)? ' +
      'Weights renamed or removed, or config.json changed (model_type, num_hidden_layers, architectures), do not fit.',
  );
}

/** config.json of `configDir` + the weights of `weightsDir`, loaded (no strict checks, no warnings). */
export async function loadFolder(
  configDir: string,
  weightsDir: string,
  options: FromPretrainedOptions,
): Promise<{ model: PretrainedTaskModel; info: LoadingInfo; configFile: string; savedTask: TaskName | undefined }> {
  const configFile = join(configDir, 'config.json');
  if (!(await stat(configFile).then((s) => s.isFile(), () => false))) {
    throw new ModelError(`${configDir}: no config.json; pass a Hugging Face model folder (config.json + model.safetensors)`);
  }
  const { value, floatPaths } = await readJsonFile(configFile);
  if (!isJsonObject(value)) throw new ModelError(`${configFile}: config.json must hold a JSON object`);
  const config = parseHfConfig(applyConfigOptions(value, options, configFile), configFile, floatPaths);
  const family = familyFor(config.model_type, configFile);
  const task = taskFor(family, config, options.task);
  const savedTask = (config.architectures ?? []).map((a) => family.architectures[a]).find((t) => t !== undefined);
  checkLabels(task, config, configFile);
  const vocabSize = (config as { vocab_size?: number }).vocab_size;
  if (options.tokenizer && vocabSize !== undefined) {
    const top = maxTokenId(options.tokenizer);
    if (top >= vocabSize) {
      throw new ModelError(
        `${configFile}: the tokenizer produces ids up to ${top} (${options.tokenizer.vocabSize} tokens) but vocab_size is ${vocabSize}, ` +
          `so the word-embedding matrix has only ${vocabSize} rows; use the tokenizer saved with this model`,
      );
    }
  }
  const ckpt = await loadCheckpointTensors(weightsDir, { lazy: options.streaming !== undefined });
  checkConfigAgainstWeights(config, ckpt.tensors, configFile); // before allocating
  const model = options.streaming ? deferredInit(() => family.build(task, config)) : family.build(task, config);
  try {
    options.streaming?.beforeLoad(model);
    const info = loadCheckpointInto(model, ckpt.tensors, {
      source: weightsDir, files: ckpt.files, ignoreMismatchedSizes: options.ignoreMismatchedSizes ?? false, consume: options.streaming?.consume,
    });
    return { model, info, configFile, savedTask };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * Copies checkpoint tensors into a model's parameters by {@link mapCheckpointKeys}. Parameters the
 * checkpoint lacks keep their fresh initialisation (normal(0, initializer_range), zero bias, LayerNorm 1/0).
 * Throws a ModelError listing every shape mismatch unless ignoreMismatchedSizes (then they are re-initialised too).
 */
export function loadCheckpointInto(
  model: PretrainedTaskModel,
  tensors: Map<string, SafetensorsEntry>,
  opts: { source: string; files?: string[]; ignoreMismatchedSizes?: boolean; consume?: ConsumeTensor },
): LoadingInfo {
  const mapping = mapCheckpointKeys(model, [...tensors.keys()]);
  const params = new Map(model.namedParameters());
  const transposed = model.checkpointRules.transposed ?? [];
  const mismatched: LoadingInfo['mismatchedKeys'] = [];
  const plan: { name: string; p: Tensor; entry: SafetensorsEntry; transpose: boolean }[] = [];
  for (const [name, key] of mapping.assignments) {
    const p = params.get(name) as Tensor;
    const entry = tensors.get(key) as SafetensorsEntry;
    const transpose = anyMatch(transposed, name) && entry.shape.length === 2;
    const shape = transpose ? [entry.shape[1], entry.shape[0]] : entry.shape;
    if (shape.length !== p.ndim || shape.some((s, i) => s !== p.shape[i])) {
      mismatched.push({ key, checkpointShape: [...entry.shape], modelShape: [...p.shape] });
    } else {
      plan.push({ name, p, entry, transpose });
    }
  }
  if (mismatched.length > 0 && opts.ignoreMismatchedSizes !== true) {
    const where = (k: string) => (tensors.get(k) as SafetensorsEntry).file;
    const lines = mismatched.map((m) => `  ${where(m.key)}: "${m.key}" has shape ${shapeOf(m.checkpointShape)}, ${model.architecture} expects ${shapeOf(m.modelShape)}`);
    const headHint = mismatched.some((m) => /classifier|qa_outputs|out_proj/.test(m.key))
      ? ' The head does not fit: set numLabels / id2label to the checkpoint\'s label count, or pass ignoreMismatchedSizes: true to train a new head.'
      : ' Check that config.json belongs to these weights (vocab_size, hidden_size, ...), or pass ignoreMismatchedSizes: true to re-initialise them.';
    throw new ModelError(`${opts.source}: checkpoint tensors do not fit ${model.architecture}:\n${lines.join('\n')}\n${headHint}`);
  }
  for (const { name, p, entry: lazyEntry, transpose } of plan) {
    const entry = { ...lazyEntry }; // reads the bytes once when the checkpoint was opened lazily
    if (opts.consume?.(name, p, entry, transpose)) continue;
    const v = toFloat32(entry);
    (p.data as Float32Array | Float64Array).set(transpose ? transpose2d(v, entry.shape[0], entry.shape[1]) : v);
  }
  return { missingKeys: mapping.missing, unexpectedKeys: mapping.unexpected, mismatchedKeys: mismatched, files: opts.files ?? [] };
}

/** transformers' loading warnings for what was missing, mismatched and unexpected. */
export function loadingWarnings(architecture: string, source: string, info: LoadingInfo): string[] {
  const out: string[] = [];
  if (info.unexpectedKeys.length > 0) {
    out.push(
      `Some weights of the model checkpoint at ${source} were not used when initializing ${architecture}: ${pyList(info.unexpectedKeys)}\n` +
        `- This IS expected if you are initializing ${architecture} from the checkpoint of a model trained on another task or with another architecture (e.g. initializing a BertForSequenceClassification model from a BertForPreTraining model).\n` +
        `- This IS NOT expected if you are initializing ${architecture} from the checkpoint of a model that you expect to be exactly identical (initializing a BertForSequenceClassification model from a BertForSequenceClassification model).`,
    );
  }
  if (info.missingKeys.length > 0) {
    out.push(
      `Some weights of ${architecture} were not initialized from the model checkpoint at ${source} and are newly initialized: ${pyList(info.missingKeys)}\n` +
        'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.',
    );
  }
  if (info.mismatchedKeys.length > 0) {
    const lines = info.mismatchedKeys.map((m) => `- ${m.key}: found shape ${shapeOf(m.checkpointShape)} in the checkpoint and ${shapeOf(m.modelShape)} in the model instantiated`);
    out.push(
      `Some weights of ${architecture} were not initialized from the model checkpoint at ${source} and are newly initialized because the shapes did not match:\n${lines.join('\n')}\n` +
        'You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference.',
    );
  }
  return out;
}

/**
 * Loads a model folder for a task (see {@link loadPretrained}); warnings go to `options.warn`.
 * @example const model = await fromPretrained('models/distilbert-base-uncased', { task: 'token-classification', id2label: ['O', 'B-PER', 'I-PER'] });
 */
export async function fromPretrained(dir: string, options: FromPretrainedOptions = {}): Promise<PretrainedTaskModel> {
  return (await loadPretrained(dir, options)).model;
}

// ---------------------------------------------------------------------------------------------
// Fresh models

/**
 * A freshly initialised model (transformers' `_init_weights`: normal(0, initializer_range) for linear
 * and embedding weights, zero biases and padding rows, LayerNorm 1/0). `seed` reseeds the global generator.
 * @example const model = createModel(makeHfConfig('bert', { hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512, vocab_size: 8000 }), 'fill-mask', { seed: 0 });
 */
export function createModel(config: HfConfig, task: TaskName, options: BuildOptions & { seed?: number } = {}): PretrainedTaskModel {
  const family = familyFor(config.model_type, '<config>');
  checkLabels(task, config, '<config>');
  if (options.seed !== undefined) manualSeed(options.seed);
  return family.build(task, config, options);
}

/**
 * A small BERT built from config.json-style fields (transformers' defaults for the rest), randomly
 * initialised — for training a compact model from scratch.
 * @example const bert = createBert({ vocab_size: tok.vocabSize, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512 }, 'fill-mask', { seed: 42 });
 */
export function createBert(fields: JsonObject, task: TaskName = 'fill-mask', options: { seed?: number } = {}): PretrainedTaskModel {
  return createModel(makeHfConfig('bert', fields), task, options);
}

// ---------------------------------------------------------------------------------------------
// Saving

/** Options of {@link savePretrained}. */
export interface SavePretrainedOptions {
  /** Also write the tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab). */
  tokenizer?: Tokenizer;
  /** Largest shard in bytes before splitting into model-0000k-of-0000n.safetensors (default 5 GB, as transformers v4). */
  maxShardSize?: number;
}

/** The state dict transformers would save: every parameter once (tied aliases dropped), in checkpoint layout. */
export function stateDictForSave(model: PretrainedTaskModel): Map<string, TensorToWrite> {
  const transposed = model.checkpointRules.transposed ?? [];
  const out = new Map<string, TensorToWrite>();
  for (const [name, p] of model.namedParameters()) {
    const values = Float32Array.from(p.floatData); // a snapshot: training may go on while the file is written
    if (anyMatch(transposed, name) && p.ndim === 2) {
      out.set(name, { dtype: 'F32', shape: [p.shape[1], p.shape[0]], data: transpose2d(values, p.shape[0], p.shape[1]) });
    } else {
      out.set(name, { dtype: 'F32', shape: [...p.shape], data: values });
    }
  }
  return out;
}

const WEIGHT_FILE_RE = /^model(-\d{5}-of-\d{5})?\.safetensors$/;
const TASKS_WITH_LABELS: readonly TaskName[] = ['text-classification', 'token-classification'];

/**
 * The config as saved: architectures = [class], id2label/label2id written for labelled heads, dtype
 * float32. A config made in code gets every field of its model type written (as transformers writes
 * model-specific fields even at their defaults); a config read from a file keeps that file's fields.
 */
function configForSave(model: PretrainedTaskModel): HfConfig {
  const cfg = model.hfConfig;
  const keys = new Set(cfg.source?.keys ?? Object.keys(SCHEMAS[cfg.model_type]));
  if (TASKS_WITH_LABELS.includes(model.task)) {
    keys.add('id2label');
    keys.add('label2id');
  }
  const extra: JsonObject = { ...cfg.extra };
  if ('torch_dtype' in extra && !('dtype' in extra)) extra['torch_dtype'] = 'float32';
  else extra['dtype'] = 'float32';
  return {
    ...cfg,
    architectures: [model.architecture],
    extra,
    source: { file: cfg.source?.file ?? '<in-memory config>', keys: [...keys], floatPaths: cfg.source?.floatPaths ?? [] },
  };
}

/**
 * Writes a folder Python transformers loads with `from_pretrained`: config.json (architectures,
 * id2label/label2id), model.safetensors (or shards + model.safetensors.index.json) with the names
 * transformers saves, and the tokenizer files when a tokenizer is given. Every file is written
 * atomically; weight files of an earlier save that this one does not rewrite are removed.
 * @example await savePretrained(model, 'out/my-classifier', { tokenizer });
 */
export async function savePretrained(model: PretrainedTaskModel, dir: string, options: SavePretrainedOptions = {}): Promise<string[]> {
  if (loraState(model)) throw new ModelError(`${dir}: this model carries a LoRA adapter; merge it first (mergeLora) or save the adapter (saveLoraAdapter)`);
  const maxShard = options.maxShardSize ?? 5_000_000_000;
  await syncHost(model.parameters()); // device backends: parameters become readable on the host
  const state = stateDictForSave(model);
  const shards: [string, TensorToWrite][][] = [[]];
  let current = 0;
  for (const entry of state) {
    const bytes = entry[1].data.byteLength;
    if (current > 0 && current + bytes > maxShard) {
      shards.push([]);
      current = 0;
    }
    (shards.at(-1) as [string, TensorToWrite][]).push(entry);
    current += bytes;
  }
  const written: string[] = [];
  const metadata = { format: 'pt' };
  if (shards.length === 1) {
    const file = join(dir, SAFETENSORS_WEIGHTS_NAME);
    await writeSafetensors(file, Object.fromEntries(shards[0]), metadata);
    written.push(file);
  } else {
    const n = String(shards.length).padStart(5, '0');
    const weightMap: JsonObject = {};
    let total = 0;
    for (let i = 0; i < shards.length; i++) {
      const name = `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`;
      for (const [k, t] of shards[i]) {
        weightMap[k] = name;
        total += t.data.byteLength;
      }
      await writeSafetensors(join(dir, name), Object.fromEntries(shards[i]), metadata);
      written.push(join(dir, name));
    }
    const index = join(dir, SAFETENSORS_INDEX_NAME);
    await writeFileAtomic(index, pythonJsonDumps({ metadata: { total_size: total }, weight_map: weightMap }, { indent: 2 }) + '\n');
    written.push(index);
  }
  // Remove weight files of an earlier save (a single file replaced by shards, or the reverse).
  const keep = new Set(written.map((f) => basename(f)));
  for (const name of await readdir(dir)) {
    if ((WEIGHT_FILE_RE.test(name) || name === SAFETENSORS_INDEX_NAME) && !keep.has(name)) await unlink(join(dir, name));
  }
  await writeHfConfig(dir, configForSave(model));
  written.push(join(dir, 'config.json'));
  if (options.tokenizer) written.push(...(await saveTokenizer(options.tokenizer, dir)));
  return written;
}

/**
 * Writes only config.json as savePretrained would (architectures, id2label/label2id): beside a LoRA
 * adapter it records the task head and its labels, so the adapter folder is usable on its own.
 */
export async function saveModelConfig(model: PretrainedTaskModel, dir: string): Promise<string> {
  await writeHfConfig(dir, configForSave(model));
  return join(dir, 'config.json');
}

// ---------------------------------------------------------------------------------------------
// Auto classes

/** `fromPretrained` with the task fixed, like transformers' AutoModelFor… classes. */
export interface AutoModelClass {
  readonly task: TaskName;
  fromPretrained(dir: string, options?: Omit<FromPretrainedOptions, 'task'>): Promise<PretrainedTaskModel>;
  fromConfig(config: HfConfig, options?: { seed?: number }): PretrainedTaskModel;
}

function autoClass(task: TaskName): AutoModelClass {
  return {
    task,
    fromPretrained: (dir, options = {}) => fromPretrained(dir, { ...options, task }),
    fromConfig: (config, options = {}) => createModel(config, task, options),
  };
}

/** The bare encoder with mean pooling (feature extraction). @example await AutoModel.fromPretrained(dir) */
export const AutoModel = autoClass('feature-extraction');
/** @example await AutoModelForSequenceClassification.fromPretrained(dir, { numLabels: 2 }) */
export const AutoModelForSequenceClassification = autoClass('text-classification');
/** @example await AutoModelForTokenClassification.fromPretrained(dir, { id2label: ['O', 'B-LOC', 'I-LOC'] }) */
export const AutoModelForTokenClassification = autoClass('token-classification');
/** @example await AutoModelForQuestionAnswering.fromPretrained(dir) */
export const AutoModelForQuestionAnswering = autoClass('question-answering');
/** @example await AutoModelForMaskedLM.fromPretrained(dir) */
export const AutoModelForMaskedLM = autoClass('fill-mask');

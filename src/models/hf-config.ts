// Reads a Hugging Face model folder's config.json into a typed config (dispatching on `model_type`
// as AutoConfig does, filling transformers' defaults), and writes it back as Python `transformers`
// writes it (`json.dumps(indent=2, sort_keys=True)`, floats as floats, unknown fields kept). Also reads
// tokenizer_config.json, special_tokens_map.json and generation_config.json as loosely typed JSON.
// Not here: the field tables (hf-config-schema.ts), the model code that uses a config (src/models).

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, FileFormatError, ModelError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import {
  BERT_FIELDS, DEBERTA_V2_FIELDS, DEFAULT_ARCHITECTURE, DISTILBERT_FIELDS, GEMMA2_FIELDS, GEMMA3_TEXT_FIELDS, GPT2_FIELDS, LLAMA_FIELDS, MODERNBERT_FIELDS, PHI3_FIELDS, POSITIVE_INT_FIELDS, QWEN3_FIELDS,
  PROBABILITY_FIELDS, SCHEMAS, SUPPORTED_MODEL_TYPES,
  type FieldKind, type FieldSpec, type FieldsOf, type ModelType,
} from './hf-config-schema.ts';
import { isJsonObject, parseJson, pythonJsonDumps, readJsonFile, type JsonObject, type JsonValue } from '../io/json.ts';

export { SUPPORTED_MODEL_TYPES, type ModelType } from './hf-config-schema.ts';

/** `problem_type` values transformers accepts for sequence classification. */
export type ProblemType = 'regression' | 'single_label_classification' | 'multi_label_classification';
const PROBLEM_TYPES: readonly string[] = ['regression', 'single_label_classification', 'multi_label_classification'];

/** The transformers version written when a config has none (the version our goldens come from). */
export const WRITTEN_TRANSFORMERS_VERSION = '5.17.0';

/** Where a config came from; used to write back only what the file had or what changed. */
export interface ConfigSource {
  file: string;
  /** Top-level keys present in the file (aliases already mapped to the canonical name). */
  keys: string[];
  /** JSON pointers of numbers the file wrote as floats. */
  floatPaths: string[];
}

/** Fields every config has, whatever its model_type. */
export interface ConfigCommon {
  /** Model classes the weights fit, e.g. ["BertForSequenceClassification"]; null when absent. */
  architectures: string[] | null;
  /** Class index → label name (JSON keys are strings; here they are numbers). */
  id2label: Record<number, string>;
  /** Label name → class index. */
  label2id: Record<string, number>;
  /** Number of labels. Setting a different count and writing resets id2label to LABEL_i, as transformers does. */
  num_labels: number;
  problem_type: ProblemType | null;
  /** Fields of config.json this reader does not model, kept verbatim and written back. */
  extra: JsonObject;
  /** The file this config was read from, or null for a config made in code. */
  source: ConfigSource | null;
}

export type BertConfig = ConfigCommon & FieldsOf<typeof BERT_FIELDS> & { model_type: 'bert' | 'roberta' | 'xlm-roberta' };
export type DistilBertConfig = ConfigCommon & FieldsOf<typeof DISTILBERT_FIELDS> & { model_type: 'distilbert' };
export type Gpt2Config = ConfigCommon & FieldsOf<typeof GPT2_FIELDS> & { model_type: 'gpt2' };
/** Llama, Mistral and Qwen2 share this shape; num_key_value_heads and head_dim are resolved. */
export type LlamaConfig = ConfigCommon &
  Omit<FieldsOf<typeof LLAMA_FIELDS>, 'num_key_value_heads' | 'head_dim'> & {
    model_type: 'llama' | 'mistral' | 'qwen2';
    num_key_value_heads: number;
    head_dim: number;
  };
/** Qwen3 (num_key_value_heads resolved). */
export type Qwen3Config = ConfigCommon & Omit<FieldsOf<typeof QWEN3_FIELDS>, 'num_key_value_heads'> & { model_type: 'qwen3'; num_key_value_heads: number };
/** Gemma 2 (num_key_value_heads resolved). */
export type Gemma2Config = ConfigCommon & Omit<FieldsOf<typeof GEMMA2_FIELDS>, 'num_key_value_heads'> & { model_type: 'gemma2'; num_key_value_heads: number };
/** Gemma 3 text (num_key_value_heads resolved). */
export type Gemma3TextConfig = ConfigCommon & Omit<FieldsOf<typeof GEMMA3_TEXT_FIELDS>, 'num_key_value_heads'> & { model_type: 'gemma3_text'; num_key_value_heads: number };
/** Phi-3 (num_key_value_heads and head_dim resolved). */
export type Phi3Config = ConfigCommon &
  Omit<FieldsOf<typeof PHI3_FIELDS>, 'num_key_value_heads' | 'head_dim'> & { model_type: 'phi3'; num_key_value_heads: number; head_dim: number };
/** DeBERTa-v2 / v3; `pos_att_type` (a list or "p2c|c2p") stays in `extra`. */
export type DebertaV2Config = ConfigCommon & FieldsOf<typeof DEBERTA_V2_FIELDS> & { model_type: 'deberta-v2' };
/** ModernBERT. */
export type ModernBertConfig = ConfigCommon & FieldsOf<typeof MODERNBERT_FIELDS> & { model_type: 'modernbert' };
/** Any supported config; switch on `model_type` to narrow. */
export type HfConfig = BertConfig | DistilBertConfig | Gpt2Config | LlamaConfig | Qwen3Config | Gemma2Config | Gemma3TextConfig | Phi3Config | DebertaV2Config | ModernBertConfig;

function isModelType(s: string): s is ModelType {
  return (SUPPORTED_MODEL_TYPES as string[]).includes(s);
}

function kindOk(kind: FieldKind, v: JsonValue): boolean {
  const isInt = (x: JsonValue) => typeof x === 'number' && Number.isInteger(x);
  switch (kind) {
    case 'int': return isInt(v);
    case 'float': return typeof v === 'number';
    case 'bool': return typeof v === 'boolean';
    case 'string': return typeof v === 'string';
    case 'int?': return v === null || isInt(v);
    case 'float?': return v === null || typeof v === 'number';
    case 'string?': return v === null || typeof v === 'string';
    case 'object?': return v === null || isJsonObject(v);
    case 'ids?': return v === null || isInt(v) || (Array.isArray(v) && v.every(isInt));
  }
}

const KIND_WORDS: Record<FieldKind, string> = {
  int: 'an integer', float: 'a number', bool: 'true or false', string: 'a string', 'int?': 'an integer or null',
  'float?': 'a number or null', 'string?': 'a string or null', 'object?': 'an object or null', 'ids?': 'a token id, a list of ids, or null',
};

function cloneJson<T extends JsonValue>(v: T): T {
  return structuredClone(v);
}

function defaultLabels(n: number): { id2label: Record<number, string>; label2id: Record<string, number> } {
  const id2label: Record<number, string> = {};
  const label2id: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    id2label[i] = `LABEL_${i}`;
    label2id[`LABEL_${i}`] = i;
  }
  return { id2label, label2id };
}

/** Normalisation epsilons: must be in (0, 1) (-1 or 1e400 would silently wreck every output). */
const EPS_FIELDS = new Set(['layer_norm_eps', 'layer_norm_epsilon', 'rms_norm_eps']);

/**
 * Upper bounds far above any published model, so a damaged config.json fails here with the field named
 * instead of as a RangeError (or an hour of allocation) when the model is built.
 */
const SIZE_LIMITS: Record<string, number> = {
  vocab_size: 1 << 24, hidden_size: 1 << 16, n_embd: 1 << 16, dim: 1 << 16, intermediate_size: 1 << 20, hidden_dim: 1 << 20,
  n_inner: 1 << 20, num_hidden_layers: 1024, n_layer: 1024, n_layers: 1024, num_attention_heads: 1024, n_head: 1024, n_heads: 1024,
  num_key_value_heads: 1024, head_dim: 1 << 14, max_position_embeddings: 1 << 24, n_positions: 1 << 24, type_vocab_size: 1 << 16,
};

function parseLabels(raw: JsonObject, file: string): Pick<ConfigCommon, 'id2label' | 'label2id' | 'num_labels'> {
  const bad = (key: string, detail: string) => new ConfigError(key, `${file}: ${detail}`);
  let id2label: Record<number, string>;
  const rawId2label = raw['id2label'];
  if (rawId2label !== undefined && rawId2label !== null) {
    if (!isJsonObject(rawId2label)) throw bad('id2label', 'must be an object like {"0": "negative", "1": "positive"}');
    id2label = {};
    for (const [k, v] of Object.entries(rawId2label)) {
      if (!/^(0|[1-9][0-9]*)$/.test(k)) throw bad('id2label', `key ${JSON.stringify(k)} is not a class index (0, 1, 2, ...)`);
      if (typeof v !== 'string') throw bad('id2label', `label for ${k} must be a string, got ${JSON.stringify(v)}`);
      id2label[Number(k)] = v;
    }
  } else {
    const n = raw['num_labels'] ?? 2;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw bad('num_labels', `must be a non-negative integer, got ${JSON.stringify(n)}`);
    id2label = defaultLabels(n).id2label;
  }
  let label2id: Record<string, number>;
  const rawLabel2id = raw['label2id'];
  if (rawLabel2id !== undefined && rawLabel2id !== null) {
    if (!isJsonObject(rawLabel2id)) throw bad('label2id', 'must be an object like {"negative": 0, "positive": 1}');
    label2id = {};
    for (const [k, v] of Object.entries(rawLabel2id)) {
      // transformers also accepts string ids here ("0"); keep them as numbers.
      const id = typeof v === 'string' && /^[0-9]+$/.test(v) ? Number(v) : v;
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw bad('label2id', `index for ${JSON.stringify(k)} must be a class index, got ${JSON.stringify(v)}`);
      label2id[k] = id;
    }
  } else {
    label2id = {};
    for (const [id, name] of Object.entries(id2label)) label2id[name] = Number(id);
  }
  const ids = Object.keys(id2label).map(Number).sort((a, b) => a - b);
  if (ids.some((id, i) => id !== i)) throw bad('id2label', `class ids must be 0..${ids.length - 1} without gaps, got ${ids.join(', ')}`);
  const seen = new Map<string, number>();
  for (const id of ids) {
    const name = id2label[id] as string;
    if (seen.has(name)) throw bad('id2label', `label "${name}" is given to classes ${seen.get(name)} and ${id}; every class needs its own label`);
    seen.set(name, id);
  }
  return { id2label, label2id, num_labels: Object.keys(id2label).length };
}

/**
 * Builds a typed config from a parsed config.json object. `file` names the file in errors;
 * `floatPaths` (from {@link parseJson}) lets {@link hfConfigToString} keep `1.0` as `1.0`.
 *
 * @example
 * const cfg = parseHfConfig({ model_type: 'bert', hidden_size: 64 }, 'config.json');
 * cfg.num_hidden_layers; // 12, transformers' default
 */
export function parseHfConfig(raw: JsonObject, file: string, floatPaths: Iterable<string> = []): HfConfig {
  const modelType = raw['model_type'];
  const supported = SUPPORTED_MODEL_TYPES.join(', ');
  if (typeof modelType !== 'string') {
    throw new ModelError(`${file}: no "model_type" field; add one of: ${supported}`);
  }
  if (!isModelType(modelType)) {
    throw new ModelError(`${file}: model_type "${modelType}" is not supported; supported model types: ${supported}`);
  }
  const schema: Record<string, FieldSpec> = SCHEMAS[modelType];
  const out: Record<string, JsonValue> = { model_type: modelType };
  const keys = new Set<string>(Object.keys(raw));
  const consumed = new Set(['model_type', 'architectures', 'id2label', 'label2id', 'num_labels', 'problem_type']);
  for (const [name, spec] of Object.entries(schema)) {
    consumed.add(name);
    let v = raw[name];
    if (spec.alias !== undefined && raw[spec.alias] !== undefined) {
      consumed.add(spec.alias);
      const av = raw[spec.alias] as JsonValue;
      if (v !== undefined && v !== av) {
        throw new ConfigError(name, `${file}: both "${name}" (${JSON.stringify(v)}) and its alias "${spec.alias}" (${JSON.stringify(av)}) are set and differ; keep one`);
      }
      v = av;
      keys.add(name);
    }
    if (v === undefined) {
      out[name] = cloneJson(spec.default);
      continue;
    }
    if (!kindOk(spec.kind, v)) throw new ConfigError(name, `${file}: must be ${KIND_WORDS[spec.kind]}, got ${JSON.stringify(v)}`);
    if (POSITIVE_INT_FIELDS.has(name) && !(modelType === 'deberta-v2' && name === 'type_vocab_size') && typeof v === 'number' && v <= 0) throw new ConfigError(name, `${file}: must be a positive integer, got ${v}`);
    if (PROBABILITY_FIELDS.has(name) && typeof v === 'number' && !(v >= 0 && v <= 1)) throw new ConfigError(name, `${file}: must be a probability in [0, 1], got ${v}`);
    if (EPS_FIELDS.has(name) && typeof v === 'number' && !(v > 0 && v < 1)) {
      throw new ConfigError(name, `${file}: a normalisation epsilon must be a small positive number (e.g. 1e-12, 1e-5), got ${v}; every output would be wrong with it`);
    }
    const limit = SIZE_LIMITS[name];
    if (limit !== undefined && typeof v === 'number' && v > limit) {
      throw new ConfigError(name, `${file}: ${v} is far beyond any real model (limit ${limit}); the file is damaged or not this model's config`);
    }
    out[name] = cloneJson(v);
  }
  const arch = raw['architectures'];
  if (arch !== undefined && arch !== null && !(Array.isArray(arch) && arch.every((a) => typeof a === 'string'))) {
    throw new ConfigError('architectures', `${file}: must be a list of class names, got ${JSON.stringify(arch)}`);
  }
  out['architectures'] = arch === undefined || arch === null ? null : [...(arch as string[])];
  const vocabSize = out['vocab_size'];
  const pad = out['pad_token_id'];
  // PyTorch's nn.Embedding(padding_idx) refuses such an id, so transformers cannot load it either; GPT-2's
  // embedding has no padding_idx (its configs often name an added pad token beyond vocab_size): not checked.
  if (modelType !== 'gpt2' && typeof vocabSize === 'number' && typeof pad === 'number' && (pad >= vocabSize || pad < -vocabSize)) {
    throw new ConfigError('pad_token_id', `${file}: ${pad} is not a token id of the vocabulary (vocab_size ${vocabSize})`);
  }
  const labels = parseLabels(raw, file);
  const problem = raw['problem_type'] ?? null;
  if (problem !== null && (typeof problem !== 'string' || !PROBLEM_TYPES.includes(problem))) {
    throw new ConfigError('problem_type', `${file}: must be one of ${PROBLEM_TYPES.join(', ')} or null, got ${JSON.stringify(problem)}`);
  }
  if (problem === 'single_label_classification' && labels.num_labels === 1) {
    throw new ConfigError('problem_type', `${file}: "single_label_classification" needs num_labels > 1; use 2 labels for binary classification, or "regression"`);
  }
  const extra: JsonObject = {};
  for (const [k, v] of Object.entries(raw)) if (!consumed.has(k)) extra[k] = cloneJson(v);
  const cfg = {
    ...out,
    ...labels,
    problem_type: problem,
    extra,
    source: { file, keys: [...keys], floatPaths: [...floatPaths] },
  } as unknown as HfConfig; // the schema loop above filled and checked every field of this type
  resolveFamily(cfg, file);
  return cfg;
}

function requireDivisible(key: string, file: string, a: number, b: number, what: string): void {
  if (a % b !== 0) throw new ConfigError(key, `${file}: ${what}`);
}

/** Family-specific defaults that depend on other fields, and shape checks transformers makes. */
function resolveFamily(cfg: HfConfig, file: string): void {
  switch (cfg.model_type) {
    case 'bert': case 'roberta': case 'xlm-roberta':
      requireDivisible('hidden_size', file, cfg.hidden_size, cfg.num_attention_heads,
        `hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`);
      return;
    case 'distilbert':
      requireDivisible('dim', file, cfg.dim, cfg.n_heads, `dim ${cfg.dim} is not a multiple of n_heads ${cfg.n_heads}`);
      return;
    case 'gpt2':
      requireDivisible('n_embd', file, cfg.n_embd, cfg.n_head, `n_embd ${cfg.n_embd} is not a multiple of n_head ${cfg.n_head}`);
      return;
    case 'llama': case 'mistral': case 'qwen2': {
      const c = cfg as Omit<LlamaConfig, 'num_key_value_heads' | 'head_dim'> & { num_key_value_heads: number | null; head_dim: number | null };
      const rp = c.extra['rope_parameters'];
      if (isJsonObject(rp)) {
        // transformers v5 writes RoPE settings as rope_parameters {rope_type, rope_theta, ...}.
        if (!(c.source?.keys.includes('rope_theta') ?? false) && typeof rp['rope_theta'] === 'number') c.rope_theta = rp['rope_theta'];
        if (c.rope_scaling === null && typeof rp['rope_type'] === 'string' && rp['rope_type'] !== 'default') c.rope_scaling = cloneJson(rp);
      }
      if (c.rope_scaling !== null && c.rope_scaling['rope_type'] === undefined && typeof c.rope_scaling['type'] === 'string') {
        c.rope_scaling['rope_type'] = c.rope_scaling['type']; // transformers' backward-compatibility rename
      }
      c.num_key_value_heads ??= c.num_attention_heads;
      c.head_dim ??= Math.floor(c.hidden_size / c.num_attention_heads);
      requireDivisible('num_key_value_heads', file, c.num_attention_heads, c.num_key_value_heads,
        `num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${c.num_key_value_heads}`);
      return;
    }
    case 'deberta-v2': case 'modernbert':
      requireDivisible('hidden_size', file, cfg.hidden_size, cfg.num_attention_heads,
        `hidden_size ${cfg.hidden_size} is not a multiple of num_attention_heads ${cfg.num_attention_heads}`);
      return;
    case 'qwen3': case 'gemma2': case 'gemma3_text': case 'phi3': {
      const c = cfg as { model_type: string; num_attention_heads: number; num_key_value_heads: number | null; hidden_size: number; head_dim: number | null;
        rope_theta: number; rope_scaling?: JsonObject | null; extra: JsonObject; source: ConfigSource | null };
      const rp = c.extra['rope_parameters'];
      const fileHas = (k: string) => c.source?.keys.includes(k) ?? false;
      // transformers v5 writes RoPE settings as rope_parameters; Gemma 3 keys them by layer type.
      const global = isJsonObject(rp) && isJsonObject(rp['full_attention']) ? rp['full_attention'] : rp;
      if (isJsonObject(global)) {
        if (!fileHas('rope_theta') && typeof global['rope_theta'] === 'number') c.rope_theta = global['rope_theta'];
        if ('rope_scaling' in c && c.rope_scaling === null && typeof global['rope_type'] === 'string' && global['rope_type'] !== 'default') c.rope_scaling = cloneJson(global);
      }
      if (c.model_type === 'gemma3_text' && isJsonObject(rp) && isJsonObject(rp['sliding_attention']) && !fileHas('rope_local_base_freq')) {
        const local = rp['sliding_attention']['rope_theta'];
        if (typeof local === 'number') (c as unknown as { rope_local_base_freq: number }).rope_local_base_freq = local;
      }
      if (c.rope_scaling && c.rope_scaling['rope_type'] === undefined && typeof c.rope_scaling['type'] === 'string') {
        c.rope_scaling['rope_type'] = c.rope_scaling['type']; // transformers' backward-compatibility rename
      }
      c.num_key_value_heads ??= c.num_attention_heads;
      c.head_dim ??= Math.floor(c.hidden_size / c.num_attention_heads);
      requireDivisible('num_key_value_heads', file, c.num_attention_heads, c.num_key_value_heads,
        `num_attention_heads ${c.num_attention_heads} is not a multiple of num_key_value_heads ${c.num_key_value_heads}`);
      return;
    }
  }
}

/**
 * Which attention projections carry a bias in a Llama-shaped model: Llama and Mistral follow
 * `attention_bias` for all four; Qwen2 always has q/k/v biases and no o_proj bias.
 */
export function attentionProjectionBias(cfg: LlamaConfig): { qkv: boolean; o: boolean } {
  if (cfg.model_type === 'qwen2') return { qkv: true, o: false };
  if (cfg.model_type === 'mistral') return { qkv: false, o: false };
  return { qkv: cfg.attention_bias, o: cfg.attention_bias };
}

/** The sliding attention window in effect (Qwen2 only uses it when use_sliding_window is set), or null. */
export function effectiveSlidingWindow(cfg: LlamaConfig): number | null {
  if (cfg.model_type === 'qwen2' && !cfg.use_sliding_window) return null;
  if (cfg.model_type === 'llama') return null;
  return cfg.sliding_window;
}

/** The weights dtype the config declares (`dtype`, or the older `torch_dtype`), e.g. "float32". */
export function configDtype(cfg: HfConfig): string | null {
  const d = cfg.extra['dtype'] ?? cfg.extra['torch_dtype'];
  return typeof d === 'string' ? d : null;
}

/** Label names ordered by class index. */
export function labelNames(cfg: HfConfig): string[] {
  return Object.keys(cfg.id2label).map(Number).sort((a, b) => a - b).map((i) => cfg.id2label[i] as string);
}

/**
 * Sets the labels (ids 0..n-1 in the given order), keeping id2label, label2id and num_labels in step.
 *
 * @example setLabels(cfg, ['negative', 'positive']); cfg.label2id.positive === 1
 */
export function setLabels<C extends HfConfig>(cfg: C, names: readonly string[]): C {
  if (new Set(names).size !== names.length) throw new ConfigError('id2label', `label names must be unique, got ${JSON.stringify(names)}`);
  cfg.id2label = {};
  cfg.label2id = {};
  names.forEach((n, i) => {
    cfg.id2label[i] = n;
    cfg.label2id[n] = i;
  });
  cfg.num_labels = names.length;
  return cfg;
}

/**
 * Builds a config in code: transformers' defaults for `modelType`, overridden by `fields`
 * (config.json spelling).
 *
 * @example const tiny = makeHfConfig('gpt2', { n_embd: 32, n_layer: 2, n_head: 4, vocab_size: 1200 });
 */
export function makeHfConfig(modelType: ModelType, fields: JsonObject = {}): HfConfig {
  const cfg = parseHfConfig({ ...fields, model_type: modelType }, '<in-memory config>');
  cfg.source = null;
  return cfg;
}

function deepEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The config as the JSON object transformers' `save_pretrained` would write: fields the file had or
 * whose value differs from the default, unknown fields kept, `model_type`, `architectures` and
 * `transformers_version` filled if absent.
 */
export function hfConfigToJson(cfg: HfConfig, options: { architectures?: string[] } = {}): JsonObject {
  const schema: Record<string, FieldSpec> = SCHEMAS[cfg.model_type];
  const present = new Set(cfg.source?.keys ?? []);
  const values = cfg as unknown as Record<string, JsonValue>; // read fields by their config.json names
  const out: JsonObject = cloneJson(cfg.extra);
  for (const [name, spec] of Object.entries(schema)) {
    const v = values[name];
    if (v === undefined) continue;
    if (!kindOk(spec.kind, v)) throw new ConfigError(name, `must be ${KIND_WORDS[spec.kind]}, got ${JSON.stringify(v)}`);
    if (present.has(name) || !deepEqual(v, spec.default)) out[name] = cloneJson(v);
  }
  const rp = out['rope_parameters'];
  if (isJsonObject(rp) && !isJsonObject(rp['full_attention']) && 'rope_theta' in out && !present.has('rope_theta')) {
    rp['rope_theta'] = out['rope_theta'] as JsonValue; // keep one source of truth for v5-style configs
    delete out['rope_theta'];
  }
  let { id2label, label2id } = cfg;
  if (cfg.num_labels !== Object.keys(id2label).length) ({ id2label, label2id } = defaultLabels(cfg.num_labels));
  const dflt = defaultLabels(2);
  if (present.has('id2label') || !deepEqual(id2label as JsonObject, dflt.id2label as JsonObject)) {
    out['id2label'] = Object.fromEntries(Object.entries(id2label));
    out['label2id'] = { ...label2id };
  } else if (present.has('label2id')) {
    out['label2id'] = { ...label2id };
  }
  if (cfg.problem_type !== null || present.has('problem_type')) out['problem_type'] = cfg.problem_type;
  out['model_type'] = cfg.model_type;
  out['architectures'] = cfg.architectures ?? options.architectures ?? [DEFAULT_ARCHITECTURE[cfg.model_type]];
  if (typeof out['transformers_version'] !== 'string') out['transformers_version'] = WRITTEN_TRANSFORMERS_VERSION;
  return out;
}

/**
 * config.json text exactly as Python writes it: `json.dumps(d, indent=2, sort_keys=True) + "\n"`,
 * float-typed fields written as floats (`0.0`, `1e-12`, `10000.0`).
 *
 * @example await writeFile('out/config.json', hfConfigToString(cfg));
 */
export function hfConfigToString(cfg: HfConfig, options: { architectures?: string[] } = {}): string {
  const schema: Record<string, FieldSpec> = SCHEMAS[cfg.model_type];
  const floats = new Set(cfg.source?.floatPaths ?? []);
  const json = hfConfigToJson(cfg, options);
  const isFloat = (pointer: string): boolean => {
    if (floats.has(pointer)) return true;
    const top = pointer.split('/')[1] ?? '';
    const kind = schema[top]?.kind;
    return pointer === `/${top}` && (kind === 'float' || kind === 'float?');
  };
  return pythonJsonDumps(json, { indent: 2, isFloat, intKeyObjects: new Set(['/id2label']) }) + '\n';
}

/**
 * Writes `<dir>/config.json` atomically.
 *
 * @example await writeHfConfig('out/my-model', cfg);
 */
export async function writeHfConfig(dir: string, cfg: HfConfig, options: { architectures?: string[] } = {}): Promise<void> {
  await writeFileAtomic(join(dir, 'config.json'), hfConfigToString(cfg, options));
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads config.json from a model folder (or a config file path) into a typed config.
 *
 * @example
 * const cfg = await readHfConfig('/models/bert-base-uncased');
 * if (cfg.model_type === 'bert') console.log(cfg.hidden_size);
 */
export async function readHfConfig(dirOrFile: string): Promise<HfConfig> {
  const st = await stat(dirOrFile).catch(() => null);
  if (st === null) throw new ModelError(`${dirOrFile}: no such folder or file; pass a model folder containing config.json`);
  const file = st.isDirectory() ? join(dirOrFile, 'config.json') : dirOrFile;
  if (!(await exists(file))) throw new ModelError(`${dirOrFile}: no config.json; a Hugging Face model folder needs one`);
  const { value, floatPaths } = await readJsonFile(file);
  if (!isJsonObject(value)) throw new FileFormatError(file, 'config.json must hold a JSON object');
  return parseHfConfig(value, file, floatPaths);
}

// ---------------------------------------------------------------------------------------------
// Other JSON files of a model folder, loosely typed.

/** A special token as tokenizer files store it: a string or an AddedToken-like object. */
export type SpecialTokenJson = string | (JsonObject & { content: string });

/** tokenizer_config.json; only the fields listed are checked, the rest is any JSON. */
export type TokenizerConfigJson = JsonObject & {
  tokenizer_class?: string;
  model_max_length?: number;
  do_lower_case?: boolean;
  padding_side?: string;
  truncation_side?: string;
  chat_template?: string | JsonValue[];
  added_tokens_decoder?: JsonObject;
};

/** special_tokens_map.json. */
export type SpecialTokensMapJson = JsonObject;

/** generation_config.json; only the fields listed are checked. */
export type GenerationConfigJson = JsonObject & {
  bos_token_id?: number | number[] | null;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | number[] | null;
  max_length?: number;
  max_new_tokens?: number | null;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
};

const TOKENIZER_CONFIG_CHECKS: Record<string, (v: JsonValue) => boolean> = {
  tokenizer_class: (v) => typeof v === 'string' || v === null,
  model_max_length: (v) => typeof v === 'number',
  do_lower_case: (v) => typeof v === 'boolean',
  padding_side: (v) => v === 'left' || v === 'right',
  truncation_side: (v) => v === 'left' || v === 'right',
  chat_template: (v) => typeof v === 'string' || Array.isArray(v) || v === null,
  added_tokens_decoder: isJsonObject,
};
const idsOrNull = (v: JsonValue) => v === null || typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
const GENERATION_CONFIG_CHECKS: Record<string, (v: JsonValue) => boolean> = {
  bos_token_id: idsOrNull, eos_token_id: idsOrNull, pad_token_id: idsOrNull,
  max_length: (v) => typeof v === 'number', max_new_tokens: (v) => v === null || typeof v === 'number',
  do_sample: (v) => typeof v === 'boolean', temperature: (v) => typeof v === 'number',
  top_k: (v) => typeof v === 'number', top_p: (v) => typeof v === 'number',
};

async function readOptionalJson(file: string, checks: Record<string, (v: JsonValue) => boolean>): Promise<JsonObject | null> {
  if (!(await exists(file))) return null;
  const { value } = await readJsonFile(file);
  if (!isJsonObject(value)) throw new FileFormatError(file, 'must hold a JSON object');
  for (const [k, ok] of Object.entries(checks)) {
    const v = value[k];
    if (v !== undefined && !ok(v)) throw new FileFormatError(file, `field "${k}" has an unexpected value ${JSON.stringify(v)}`);
  }
  return value;
}

/** Everything JSON in a model folder that describes the model and its tokenizer. */
export interface ModelFolderConfigs {
  config: HfConfig;
  tokenizerConfig: TokenizerConfigJson | null;
  specialTokensMap: SpecialTokensMapJson | null;
  generationConfig: GenerationConfigJson | null;
}

/**
 * Reads config.json plus tokenizer_config.json, special_tokens_map.json and generation_config.json
 * when present (null when absent).
 *
 * @example const { config, tokenizerConfig } = await readModelFolderConfigs('/models/gpt2');
 */
export async function readModelFolderConfigs(dir: string): Promise<ModelFolderConfigs> {
  const config = await readHfConfig(dir);
  return {
    config,
    tokenizerConfig: (await readOptionalJson(join(dir, 'tokenizer_config.json'), TOKENIZER_CONFIG_CHECKS)) as TokenizerConfigJson | null,
    specialTokensMap: await readOptionalJson(join(dir, 'special_tokens_map.json'), {}),
    generationConfig: (await readOptionalJson(join(dir, 'generation_config.json'), GENERATION_CONFIG_CHECKS)) as GenerationConfigJson | null,
  };
}

/** Parses config.json text (for callers that already hold it). */
export function parseHfConfigText(text: string, file: string): HfConfig {
  const { value, floatPaths } = parseJson(text, file);
  if (!isJsonObject(value)) throw new FileFormatError(file, 'config.json must hold a JSON object');
  return parseHfConfig(value, file, floatPaths);
}

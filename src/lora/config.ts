// LoRA settings in PEFT's adapter_config.json spelling (LoraConfig), with PEFT's defaults, validation
// that names the field, and reading/writing the file so Python `PeftModel.from_pretrained` accepts it.
// Not here: wrapping layers (layer.ts, inject.ts) or adapter weights (adapter.ts).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, FileFormatError, ModelError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { isJsonObject, parseJson, type JsonObject, type JsonValue } from '../io/json.ts';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';

/** PEFT task types (peft.TaskType) for the heads finetune trains; each decides PEFT's modules_to_save. */
export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_CLS' | 'TOKEN_CLS' | 'QUESTION_ANS' | 'FEATURE_EXTRACTION';

const PEFT_TASK_TYPES: readonly string[] = ['CAUSAL_LM', 'SEQ_CLS', 'TOKEN_CLS', 'QUESTION_ANS', 'FEATURE_EXTRACTION'];

/** PEFT's default target_modules per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export const DEFAULT_LORA_TARGET_MODULES: Readonly<Record<string, readonly string[]>> = {
  bert: ['query', 'value'],
  roberta: ['query', 'value'],
  'xlm-roberta': ['query', 'value'],
  distilbert: ['q_lin', 'v_lin'],
  gpt2: ['c_attn'],
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  qwen3: ['q_proj', 'v_proj'],
  gemma2: ['q_proj', 'v_proj'],
  gemma3_text: ['q_proj', 'v_proj'],
  phi3: ['qkv_proj'], // PEFT has no default for phi3; the fused q/k/v projection is the nearest to q_proj + v_proj
  'deberta-v2': ['query_proj', 'value_proj'],
};

/** Weight files whose presence makes a folder a full model rather than an adapter on top of one. */
const MODEL_WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin', 'pytorch_model.bin.index.json'];

/**
 * True when `dir` is a PEFT adapter folder without model weights of its own (adapter_config.json, no
 * model.safetensors): loading it means loading base_model_name_or_path and applying the adapter. Such a
 * folder written by finetune also holds config.json (the task head's labels) and the tokenizer files.
 */
export function isAdapterFolder(dir: string): boolean {
  return existsSync(join(dir, ADAPTER_CONFIG_NAME)) && !MODEL_WEIGHT_FILES.some((f) => existsSync(join(dir, f)));
}

/** The LoRA fields of adapter_config.json that this implementation honours (PEFT spelling). */
export interface LoraConfig {
  /** Rank of the update B·A. */
  r: number;
  /** Scale numerator: the update is multiplied by lora_alpha / r (or / sqrt(r) with use_rslora). */
  lora_alpha: number;
  /** Dropout on the adapter's input during training. */
  lora_dropout: number;
  /**
   * Modules to adapt: names matched as a suffix of the module path ("q_proj" matches
   * "model.layers.0.self_attn.q_proj"), one regex string matched against the whole path, or "all-linear".
   */
  target_modules: string[] | string;
  /** Modules never adapted (same matching rules as target_modules). */
  exclude_modules: string[] | string | null;
  /** Modules trained in full and saved with the adapter (e.g. the classification head "score"). */
  modules_to_save: string[] | null;
  /** Only layers with these indices are adapted (null: all). */
  layers_to_transform: number[] | number | null;
  /** The name before the layer index (e.g. "layers", "h"); null: the first numbered segment. */
  layers_pattern: string[] | string | null;
  /** Per-module rank overrides: pattern (suffix regex) → r. */
  rank_pattern: Record<string, number>;
  /** Per-module alpha overrides: pattern (suffix regex) → lora_alpha. */
  alpha_pattern: Record<string, number>;
  /** Scale by lora_alpha / sqrt(r) (rank-stabilised LoRA). */
  use_rslora: boolean;
  /** true: A Kaiming-uniform, B zero (the update starts at 0); "gaussian": A ~ N(0, 1/r); false: both random. */
  init_lora_weights: boolean | 'gaussian';
  /** PEFT's trainable-bias option; only "none" is supported. */
  bias: 'none';
  task_type: PeftTaskType | null;
  base_model_name_or_path: string | null;
  /** Whether the adapted layers store weights (in, out) (GPT-2's Conv1D); written for PEFT, derived on load. */
  fan_in_fan_out: boolean;
}

/** PEFT's defaults, except target_modules which must be given. */
export function loraConfig(fields: Partial<LoraConfig> & Pick<LoraConfig, 'target_modules'>): LoraConfig {
  const cfg: LoraConfig = {
    r: 8,
    lora_alpha: 8,
    lora_dropout: 0,
    exclude_modules: null,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    init_lora_weights: true,
    bias: 'none',
    task_type: null,
    base_model_name_or_path: null,
    fan_in_fan_out: false,
    ...fields,
  };
  validateLoraConfig(cfg, 'LoRA settings');
  return cfg;
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** Throws a ConfigError naming the field when a setting is out of range. */
export function validateLoraConfig(cfg: LoraConfig, where: string): void {
  const bad = (key: string, detail: string): ConfigError => new ConfigError(key, `${where}: ${detail}`);
  if (!isPositiveInt(cfg.r)) throw bad('r', `the LoRA rank must be a positive integer, got ${JSON.stringify(cfg.r)}`);
  if (typeof cfg.lora_alpha !== 'number' || !(cfg.lora_alpha > 0)) throw bad('lora_alpha', `must be a positive number, got ${JSON.stringify(cfg.lora_alpha)}`);
  if (typeof cfg.lora_dropout !== 'number' || !(cfg.lora_dropout >= 0 && cfg.lora_dropout < 1)) {
    throw bad('lora_dropout', `must be in [0, 1), got ${JSON.stringify(cfg.lora_dropout)}`);
  }
  const t = cfg.target_modules;
  if (!(typeof t === 'string' ? t.length > 0 : Array.isArray(t) && t.length > 0 && t.every((x) => typeof x === 'string' && x.length > 0))) {
    throw bad('target_modules', `must name the modules to adapt (e.g. ["q_proj", "v_proj"], or "all-linear"), got ${JSON.stringify(t)}`);
  }
  if (cfg.bias !== 'none') throw bad('bias', `only "none" is supported, got ${JSON.stringify(cfg.bias)}`);
  for (const [k, v] of Object.entries(cfg.rank_pattern)) if (!isPositiveInt(v)) throw bad('rank_pattern', `rank for "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
  for (const [k, v] of Object.entries(cfg.alpha_pattern)) if (typeof v !== 'number' || !(v > 0)) throw bad('alpha_pattern', `alpha for "${k}" must be positive, got ${JSON.stringify(v)}`);
  if (!(cfg.init_lora_weights === true || cfg.init_lora_weights === false || cfg.init_lora_weights === 'gaussian')) {
    throw bad('init_lora_weights', `supported: true, false or "gaussian", got ${JSON.stringify(cfg.init_lora_weights)}`);
  }
}

function stringList(v: JsonValue | undefined, key: string, file: string): string[] | string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  throw new FileFormatError(file, `"${key}" must be a string or a list of strings, got ${JSON.stringify(v)}`);
}

function numberMap(v: JsonValue | undefined, key: string, file: string): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (!isJsonObject(v)) throw new FileFormatError(file, `"${key}" must be an object, got ${JSON.stringify(v)}`);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'number') throw new FileFormatError(file, `"${key}.${k}" must be a number, got ${JSON.stringify(x)}`);
    out[k] = x;
  }
  return out;
}

/** Builds a LoraConfig from adapter_config.json contents; other PEFT methods and DoRA are refused. */
export function parseLoraConfig(raw: JsonObject, file: string): LoraConfig {
  const peftType = raw['peft_type'];
  if (peftType !== undefined && peftType !== 'LORA') {
    throw new ModelError(`${file}: peft_type "${String(peftType)}" is not supported; only LoRA adapters (peft_type "LORA") can be loaded`);
  }
  for (const unsupported of ['use_dora', 'lora_bias', 'use_qalora']) {
    if (raw[unsupported] === true) throw new ModelError(`${file}: "${unsupported}": true is not supported; only plain LoRA adapters can be loaded`);
  }
  if (raw['layer_replication'] !== undefined && raw['layer_replication'] !== null) {
    throw new ModelError(`${file}: "layer_replication" is not supported`);
  }
  const target = stringList(raw['target_modules'], 'target_modules', file);
  if (target === null) throw new FileFormatError(file, '"target_modules" is missing: the adapter does not say which modules it adapts');
  const modulesToSave = stringList(raw['modules_to_save'], 'modules_to_save', file);
  const ltt = raw['layers_to_transform'];
  if (!(ltt === undefined || ltt === null || typeof ltt === 'number' || (Array.isArray(ltt) && ltt.every((x) => typeof x === 'number')))) {
    throw new FileFormatError(file, `"layers_to_transform" must be a layer index or a list of them, got ${JSON.stringify(ltt)}`);
  }
  const init = raw['init_lora_weights'] ?? true;
  const task = raw['task_type'] ?? null;
  const cfg: LoraConfig = {
    r: raw['r'] as number,
    lora_alpha: (raw['lora_alpha'] ?? 8) as number,
    lora_dropout: (raw['lora_dropout'] ?? 0) as number,
    target_modules: target,
    exclude_modules: stringList(raw['exclude_modules'], 'exclude_modules', file),
    modules_to_save: typeof modulesToSave === 'string' ? [modulesToSave] : modulesToSave,
    layers_to_transform: (ltt ?? null) as number[] | number | null,
    layers_pattern: stringList(raw['layers_pattern'], 'layers_pattern', file),
    rank_pattern: numberMap(raw['rank_pattern'], 'rank_pattern', file),
    alpha_pattern: numberMap(raw['alpha_pattern'], 'alpha_pattern', file),
    use_rslora: raw['use_rslora'] === true,
    init_lora_weights: init === 'gaussian' ? 'gaussian' : init !== false,
    bias: (raw['bias'] ?? 'none') as 'none',
    task_type: typeof task === 'string' && PEFT_TASK_TYPES.includes(task) ? (task as PeftTaskType) : null,
    base_model_name_or_path: typeof raw['base_model_name_or_path'] === 'string' ? raw['base_model_name_or_path'] : null,
    fan_in_fan_out: raw['fan_in_fan_out'] === true,
  };
  validateLoraConfig(cfg, file);
  return cfg;
}

/** Reads `<dir>/adapter_config.json`. */
export async function readLoraConfig(dir: string): Promise<LoraConfig> {
  const file = join(dir, ADAPTER_CONFIG_NAME);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelError(`${dir}: no ${ADAPTER_CONFIG_NAME}; a PEFT adapter folder has adapter_config.json and adapter_model.safetensors`);
  }
  const { value } = parseJson(text, file);
  if (!isJsonObject(value)) throw new FileFormatError(file, 'must hold a JSON object');
  return parseLoraConfig(value, file);
}

/** adapter_config.json contents as PEFT writes them (sorted keys; PEFT fills any field we omit with its default). */
export function loraConfigJson(cfg: LoraConfig): JsonObject {
  const json: JsonObject = {
    alpha_pattern: cfg.alpha_pattern,
    base_model_name_or_path: cfg.base_model_name_or_path,
    bias: cfg.bias,
    exclude_modules: cfg.exclude_modules,
    fan_in_fan_out: cfg.fan_in_fan_out,
    inference_mode: true,
    init_lora_weights: cfg.init_lora_weights,
    layers_pattern: cfg.layers_pattern,
    layers_to_transform: cfg.layers_to_transform,
    lora_alpha: cfg.lora_alpha,
    lora_dropout: cfg.lora_dropout,
    modules_to_save: cfg.modules_to_save,
    peft_type: 'LORA',
    r: cfg.r,
    rank_pattern: cfg.rank_pattern,
    revision: null,
    target_modules: typeof cfg.target_modules === 'string' ? cfg.target_modules : [...cfg.target_modules].sort(),
    task_type: cfg.task_type,
    use_dora: false,
    use_rslora: cfg.use_rslora,
  };
  return json;
}

/** Writes `<dir>/adapter_config.json` atomically. */
export async function writeLoraConfig(dir: string, cfg: LoraConfig): Promise<void> {
  await writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(loraConfigJson(cfg), null, 2)}\n`);
}

// Training settings: typed defaults in one place, one comment per setting, named after Hugging Face
// TrainingArguments wherever one exists. Merged from a YAML/JSON config file and CLI flags (flags win),
// then validated with errors that name the key. No environment variables are read here.

import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { ConfigError, FileFormatError } from '../errors.ts';
import { SCHEDULES, type ScheduleName } from '../optim/schedules.ts';
import { UNSUPPORTED_TRAINING_ARGUMENTS, isHarmless, notSupportedMessage } from './hf-args.ts';

export interface TrainingArguments {
  output_dir: string; // where checkpoints, the final model, metrics.jsonl and report.html go
  overwrite_output_dir: boolean; // replace another run's files in output_dir instead of refusing to start
  num_train_epochs: number; // passes over the training data (ignored when max_steps > 0)
  max_steps: number; // total optimizer steps; -1 = derive from num_train_epochs
  per_device_train_batch_size: number; // examples per micro-batch
  per_device_eval_batch_size: number; // examples per evaluation batch
  gradient_accumulation_steps: number; // micro-batches per optimizer step
  learning_rate: number; // peak learning rate of AdamW
  weight_decay: number; // decoupled weight decay (not on biases and norm weights)
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  max_grad_norm: number; // global gradient-norm clip; 0 disables
  lr_scheduler_type: ScheduleName; // linear | cosine | constant | constant_with_warmup
  warmup_steps: number; // linear warmup steps (wins over warmup_ratio when > 0)
  warmup_ratio: number; // warmup as a fraction of total steps
  eval_strategy: 'no' | 'steps' | 'epoch'; // when to evaluate on the validation split
  eval_steps: number; // with eval_strategy "steps"
  save_strategy: 'no' | 'steps' | 'epoch' | 'best'; // when to write checkpoint-N folders
  save_steps: number; // with save_strategy "steps"
  save_total_limit: number; // keep at most this many checkpoints (the best is always kept); 0 = all
  logging_steps: number; // log the running loss every N optimizer steps
  load_best_model_at_end: boolean; // finish with the weights of the best evaluation
  metric_for_best_model: string; // e.g. "accuracy", "f1", "loss"
  greater_is_better: boolean | null; // null = infer (false for loss-like metrics)
  early_stopping_patience: number; // stop after N evaluations without improvement; 0 = never
  early_stopping_threshold: number; // minimum improvement that counts
  seed: number; // seeds data order, dropout and head initialisation
  group_by_length: boolean; // batch similar lengths together (less padding)
  max_length: number; // truncate inputs to this many tokens (capped by the model's maximum)
  resume_from_checkpoint: string | null; // a checkpoint folder, or "latest" in output_dir
  report: boolean; // write report.html at the end
  report_to: string[]; // integrations beside report.html: [] or ["tensorboard"] (event files in output_dir)
  class_weights: string | null; // text/token classification: "auto" (n_samples / (n_classes * count)) or a JSON file {label: weight}; null = unweighted
  push_to_hub: boolean; // upload the output folder to the Hugging Face Hub at the end
  hub_model_id: string | null; // "user/name" of the Hub repository (default: the output folder's name under the token's user)
  hub_token: string | null; // Hub token (default: the HF_TOKEN environment variable, read by the CLI)
  hub_private_repo: boolean | null; // create the repository private (null = the Hub's default)
  bf16: boolean; // bf16 mixed precision: matrix products on bf16 operands, fp32 master weights and accumulation
  gradient_checkpointing: boolean; // recompute each layer's activations in backward (less memory, ~1/3 more compute)
}

export const DEFAULT_TRAINING_ARGUMENTS: TrainingArguments = {
  output_dir: 'finetune-output',
  overwrite_output_dir: false,
  num_train_epochs: 3,
  max_steps: -1,
  per_device_train_batch_size: 16,
  per_device_eval_batch_size: 32,
  gradient_accumulation_steps: 1,
  learning_rate: 5e-5,
  weight_decay: 0.0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1.0,
  lr_scheduler_type: 'linear',
  warmup_steps: 0,
  warmup_ratio: 0.0,
  eval_strategy: 'epoch',
  eval_steps: 500,
  save_strategy: 'epoch',
  save_steps: 500,
  save_total_limit: 2,
  logging_steps: 10,
  load_best_model_at_end: true,
  metric_for_best_model: 'loss',
  greater_is_better: null,
  early_stopping_patience: 0,
  early_stopping_threshold: 0,
  seed: 42,
  group_by_length: false,
  max_length: 128,
  resume_from_checkpoint: null,
  report: true,
  report_to: [],
  class_weights: null,
  push_to_hub: false,
  hub_model_id: null,
  hub_token: null,
  hub_private_repo: null,
  bf16: false,
  gradient_checkpointing: false,
};

type Kind = 'int' | 'number' | 'bool' | 'string' | 'string?' | 'bool?' | 'list' | readonly string[];

const KINDS: { [K in keyof TrainingArguments]: Kind } = {
  output_dir: 'string',
  overwrite_output_dir: 'bool',
  num_train_epochs: 'number',
  max_steps: 'int',
  per_device_train_batch_size: 'int',
  per_device_eval_batch_size: 'int',
  gradient_accumulation_steps: 'int',
  learning_rate: 'number',
  weight_decay: 'number',
  adam_beta1: 'number',
  adam_beta2: 'number',
  adam_epsilon: 'number',
  max_grad_norm: 'number',
  lr_scheduler_type: SCHEDULES,
  warmup_steps: 'int',
  warmup_ratio: 'number',
  eval_strategy: ['no', 'steps', 'epoch'],
  eval_steps: 'int',
  save_strategy: ['no', 'steps', 'epoch', 'best'],
  save_steps: 'int',
  save_total_limit: 'int',
  logging_steps: 'int',
  load_best_model_at_end: 'bool',
  metric_for_best_model: 'string',
  greater_is_better: 'bool?',
  early_stopping_patience: 'int',
  early_stopping_threshold: 'number',
  seed: 'int',
  group_by_length: 'bool',
  max_length: 'int',
  resume_from_checkpoint: 'string?',
  report: 'bool',
  report_to: 'list',
  class_weights: 'string?',
  push_to_hub: 'bool',
  hub_model_id: 'string?',
  hub_token: 'string?',
  hub_private_repo: 'bool?',
  bf16: 'bool',
  gradient_checkpointing: 'bool',
};

/** report_to values finetune writes ("all" means every one of them; "none" none). */
export const REPORT_INTEGRATIONS = ['tensorboard'] as const;

/** Old or alternative spellings users bring from transformers. */
const ALIASES: Record<string, keyof TrainingArguments> = {
  evaluation_strategy: 'eval_strategy',
  train_batch_size: 'per_device_train_batch_size',
  batch_size: 'per_device_train_batch_size',
  eval_batch_size: 'per_device_eval_batch_size',
  epochs: 'num_train_epochs',
  lr: 'learning_rate',
};

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i][j] = Math.min(dp[i - 1][j] + 1, dp[i][j - 1] + 1, dp[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length][b.length];
}

/** The known key closest to `key`, for "did you mean" hints. */
export function closestKey(key: string, keys: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of keys) {
    const d = editDistance(key, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, key.length / 3) ? best : null;
}

function coerce(key: keyof TrainingArguments, value: unknown, source: string): unknown {
  const kind = KINDS[key];
  const bad = (what: string): never => {
    throw new ConfigError(key, `${what}, got ${JSON.stringify(value)}${source ? ` (from ${source})` : ''}`);
  };
  if (Array.isArray(kind)) {
    if (typeof value !== 'string' || !kind.includes(value)) bad(`must be one of ${kind.join(', ')}`);
    return value;
  }
  switch (kind) {
    case 'int':
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) bad(`must be a number`);
      if (kind === 'int' && !Number.isInteger(n) && !(key === 'warmup_steps' && (n as number) > 0 && (n as number) < 1)) bad('must be a whole number');
      return n;
    }
    case 'bool':
    case 'bool?': {
      if (kind === 'bool?' && (value === null || value === 'null')) return null;
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      return bad('must be true or false');
    }
    case 'string':
      if (typeof value !== 'string' || value === '') bad('must be a non-empty string');
      return value;
    case 'string?':
      if (value === null) return null;
      if (typeof value !== 'string') bad('must be a string');
      return value;
    case 'list': {
      const items = value === null ? [] : Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : bad('must be a name or a list of names');
      const names = items.map((x: unknown) => String(x).trim()).filter((x) => x !== '' && x !== 'none');
      if (names.includes('all')) return [...REPORT_INTEGRATIONS];
      for (const n of names) {
        if (!(REPORT_INTEGRATIONS as readonly string[]).includes(n)) {
          throw new ConfigError(key, `not supported: ${key} ${n} (use ${REPORT_INTEGRATIONS.join(', ')} or none; report.html is always written)`);
        }
      }
      return [...new Set(names)];
    }
  }
  return value;
}

/** Overrides from a plain object (a config file or flags); unknown keys are errors with a hint. */
export function applyOverrides(base: TrainingArguments, overrides: Record<string, unknown>, source = ''): TrainingArguments {
  const out: TrainingArguments = { ...base };
  const known = Object.keys(KINDS);
  for (const [rawKey, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const key = (ALIASES[rawKey] ?? rawKey) as keyof TrainingArguments;
    if (!(key in KINDS)) {
      const unsupported = UNSUPPORTED_TRAINING_ARGUMENTS[rawKey];
      if (unsupported) {
        if (isHarmless(unsupported, value)) continue;
        throw new ConfigError(rawKey, `${notSupportedMessage(rawKey, unsupported)}${source ? ` (in ${source})` : ''}`);
      }
      const hint = closestKey(rawKey, known);
      throw new ConfigError(rawKey, `is not a training setting${source ? ` (in ${source})` : ''}${hint ? `; did you mean "${hint}"?` : '.'} Run \`finetune train --help\` for the list.`);
    }
    const v = coerce(key, value, source);
    // transformers v5: a warmup_steps below 1 is a fraction of the total steps (the old warmup_ratio).
    if (key === 'warmup_steps' && typeof v === 'number' && v > 0 && v < 1) out.warmup_ratio = v;
    else (out as unknown as Record<string, unknown>)[key] = v;
  }
  return validate(out);
}

/** Range checks that need more than a type. */
export function validate(a: TrainingArguments): TrainingArguments {
  const positive: (keyof TrainingArguments)[] = ['per_device_train_batch_size', 'per_device_eval_batch_size', 'gradient_accumulation_steps', 'logging_steps', 'eval_steps', 'save_steps', 'max_length'];
  for (const k of positive) if (!((a[k] as number) > 0)) throw new ConfigError(k, `must be at least 1, got ${a[k]}`);
  if (!(a.learning_rate > 0 && a.learning_rate < 1)) throw new ConfigError('learning_rate', `must be in (0, 1), got ${a.learning_rate} (typical: 2e-5 to 5e-4)`);
  if (a.max_steps <= 0 && a.max_steps !== -1) throw new ConfigError('max_steps', 'must be positive, or -1 to use num_train_epochs');
  if (a.max_steps === -1 && !(a.num_train_epochs > 0)) throw new ConfigError('num_train_epochs', `must be positive, got ${a.num_train_epochs}`);
  if (a.weight_decay < 0) throw new ConfigError('weight_decay', 'must be >= 0');
  if (!(a.warmup_ratio >= 0 && a.warmup_ratio < 1)) throw new ConfigError('warmup_ratio', 'must be in [0, 1)');
  if (a.warmup_steps < 0) throw new ConfigError('warmup_steps', 'must be >= 0');
  for (const k of ['adam_beta1', 'adam_beta2'] as const) if (!(a[k] >= 0 && a[k] < 1)) throw new ConfigError(k, 'must be in [0, 1)');
  if (!(a.adam_epsilon > 0)) throw new ConfigError('adam_epsilon', 'must be > 0');
  if (a.max_grad_norm < 0) throw new ConfigError('max_grad_norm', 'must be >= 0 (0 disables clipping)');
  if (a.save_total_limit < 0) throw new ConfigError('save_total_limit', 'must be >= 0');
  if (a.early_stopping_patience < 0) throw new ConfigError('early_stopping_patience', 'must be >= 0');
  if (a.early_stopping_patience > 0 && a.eval_strategy === 'no') throw new ConfigError('early_stopping_patience', 'needs eval_strategy "steps" or "epoch"');
  return a;
}

/** Reads a YAML or JSON config file into a plain object (keys validated by applyOverrides). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileFormatError(path, `cannot read config file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const line = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw new FileFormatError(path, `not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`, line);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new FileFormatError(path, 'the config must be a mapping of setting: value');
  return value as Record<string, unknown>;
}

/** Whether a larger value of `metric` is better (transformers: everything but *loss*). */
export function greaterIsBetter(args: TrainingArguments): boolean {
  return args.greater_is_better ?? !/loss|error|mse|mae|perplexity/i.test(args.metric_for_best_model);
}

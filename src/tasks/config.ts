// The pipeline's own settings (which model, which data, which columns), beside the training
// settings of src/train/args.ts. One config file may hold both; each key belongs to exactly one.
// Typed defaults in one place, one comment per setting, validated with errors that name the key.

import { ConfigError } from '../errors.ts';
import type { ProblemType } from '../models/types.ts';
import type { PreprocessOptions } from '../data/index.ts';
import { DEFAULT_TRAINING_ARGUMENTS, applyOverrides, closestKey, type TrainingArguments } from '../train/args.ts';

/** The tasks `finetune train` runs (Hugging Face task names). */
export type PipelineTask = 'text-classification' | 'token-classification' | 'question-answering' | 'fill-mask' | 'text-generation';

export const PIPELINE_TASKS: readonly PipelineTask[] = ['text-classification', 'token-classification', 'question-answering', 'fill-mask', 'text-generation'];

export interface PipelineConfig {
  task: PipelineTask; // what to train: a text classifier, a token classifier (NER), extractive QA, masked-LM pretraining, or a causal LM (GPT-2/Llama)
  model: string | null; // a Hugging Face model folder or Hub id; null = build a compact BERT from the training text
  train_file: string | null; // CSV, TSV, JSONL, JSON or Parquet
  validation_file: string | null; // optional; else validation_split of train_file
  test_file: string | null; // optional held-out data evaluated once at the end
  format: 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet' | null; // null = from the file extension
  has_header: boolean | null; // CSV/TSV: whether the first row names the columns (null = yes)
  column_names: string[] | null; // names for header-less CSV/TSV columns
  max_record_size: number; // longest CSV row / JSON Lines line accepted, in characters (a longer one is an error naming the line)
  text_column: string; // the text (several columns: comma-separated, joined with a newline)
  text_pair_column: string | null; // second text of a pair
  label_column: string; // the label
  tokens_column: string; // token classification: the word list of each row
  tags_column: string; // token classification: one tag per word (e.g. B-PER, I-PER, O)
  question_column: string; // question answering: the question
  context_column: string; // question answering: the passage holding the answer
  answers_column: string; // question answering: {"text": [...], "answer_start": [...]} (character offsets)
  doc_stride: number | null; // question answering: tokens shared by consecutive windows of a long context (null = min(128, max_length / 4))
  max_answer_length: number; // question answering: longest predicted answer, in tokens
  n_best_size: number; // question answering: start and end candidates considered per window
  mlm_probability: number; // fill-mask: fraction of tokens masked for the masked-LM loss
  problem_type: ProblemType | null; // null = single-label classification (or regression for float labels)
  validation_split: number; // fraction of train_file held out for validation when no validation_file
  test_split: number; // fraction of train_file held out as a test split when no test_file
  strip_html: boolean; // remove HTML tags and decode entities
  strip_email_headers: boolean; // drop RFC 5322 headers of raw e-mails
  dedupe: boolean; // drop repeated texts
  normalize_unicode: boolean; // NFKC normalisation
  blank_labels: 'error' | 'drop'; // what to do with rows whose label is empty
  label_names: string[] | null; // names of integer labels (text classification) or tags (token classification), in id order, like a ClassLabel
  // Compact model built from scratch when `model` is null (the offline demo):
  scratch_vocab_size: number; // WordPiece vocabulary trained on the training text
  scratch_hidden_size: number;
  scratch_num_layers: number;
  scratch_num_heads: number;
  scratch_intermediate_size: number;
  mlm_pretrain_epochs: number; // masked-LM passes over the training text before fine-tuning (0 = none)
  // LoRA (every task; needs a pretrained `model`), PEFT's LoraConfig names without the "lora_" where PEFT has none:
  lora_r: number; // adapter rank; 0 = no LoRA (full fine-tuning: every weight trains)
  lora_alpha: number; // adapter updates are scaled by lora_alpha / lora_r
  lora_dropout: number; // dropout on the adapters' input while training
  lora_target_modules: string[] | string | null; // names matched as a module-path suffix ("q_proj,v_proj"), one regex, or "all-linear"; null = PEFT's default for the family
  merge_lora: boolean; // save the adapter merged into full weights (a plain model folder) instead of the adapter folder
  // Frozen base weights in less memory (LoRA only), transformers' BitsAndBytesConfig names:
  load_in_4bit: boolean; // base Linear weights in 4 bits (NF4, blocks of 64), dequantised inside the GEMM
  load_in_8bit: boolean; // base Linear weights in int8 with a per-row absmax
  bnb_4bit_quant_type: 'nf4'; // the 4-bit code (only nf4; bitsandbytes' fp4 is not implemented)
  bnb_4bit_use_double_quant: boolean; // quantise the 4-bit absmax constants to 8 bits (blocks of 256)
}

export const DEFAULT_PIPELINE_CONFIG: PipelineConfig = {
  task: 'text-classification',
  model: null,
  train_file: null,
  validation_file: null,
  test_file: null,
  format: null,
  has_header: null,
  column_names: null,
  max_record_size: 1 << 20,
  text_column: 'text',
  text_pair_column: null,
  label_column: 'label',
  tokens_column: 'tokens',
  tags_column: 'ner_tags',
  question_column: 'question',
  context_column: 'context',
  answers_column: 'answers',
  doc_stride: null,
  max_answer_length: 30,
  n_best_size: 20,
  mlm_probability: 0.15,
  problem_type: null,
  validation_split: 0.1,
  test_split: 0,
  strip_html: false,
  strip_email_headers: false,
  dedupe: false,
  normalize_unicode: false,
  blank_labels: 'error',
  label_names: null,
  scratch_vocab_size: 8000,
  scratch_hidden_size: 128,
  scratch_num_layers: 2,
  scratch_num_heads: 2,
  scratch_intermediate_size: 512,
  mlm_pretrain_epochs: 0,
  lora_r: 0,
  lora_alpha: 8,
  lora_dropout: 0,
  lora_target_modules: null,
  merge_lora: false,
  load_in_4bit: false,
  load_in_8bit: false,
  bnb_4bit_quant_type: 'nf4',
  bnb_4bit_use_double_quant: false,
};

const PIPELINE_KEYS = Object.keys(DEFAULT_PIPELINE_CONFIG) as (keyof PipelineConfig)[];

function asBool(key: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(key, `must be true or false, got ${JSON.stringify(v)}`);
}

function asNumber(key: string, v: unknown, lo: number, hi: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < lo || n > hi) throw new ConfigError(key, `must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return n;
}

function setPipelineKey(cfg: PipelineConfig, key: keyof PipelineConfig, v: unknown): void {
  const rec = cfg as unknown as Record<string, unknown>;
  const def = DEFAULT_PIPELINE_CONFIG[key];
  if (key === 'task') {
    if (!(PIPELINE_TASKS as readonly unknown[]).includes(v)) throw new ConfigError(key, `must be ${PIPELINE_TASKS.join(', ')}; got ${JSON.stringify(v)}`);
    rec[key] = v;
  } else if (key === 'doc_stride') {
    rec[key] = v === null ? null : asNumber(key, v, 0, 1e6);
    if (v !== null && !Number.isInteger(rec[key])) throw new ConfigError(key, `must be a whole number of tokens, got ${JSON.stringify(v)}`);
  } else if (key === 'mlm_probability') {
    const n = asNumber(key, v, 0, 1);
    if (n === 0) throw new ConfigError(key, 'must be above 0 (the fraction of tokens to mask, e.g. 0.15)');
    rec[key] = n;
  } else if (key === 'lora_r') {
    const n = asNumber(key, v, 0, 1e6);
    if (!Number.isInteger(n)) throw new ConfigError(key, `must be a whole number (the adapter rank, e.g. 8; 0 = no LoRA), got ${JSON.stringify(v)}`);
    rec[key] = n;
  } else if (key === 'lora_alpha') {
    const n = asNumber(key, v, 0, 1e6);
    if (n === 0) throw new ConfigError(key, 'must be above 0 (e.g. 16: updates are scaled by lora_alpha / lora_r)');
    rec[key] = n;
  } else if (key === 'lora_dropout') {
    const n = asNumber(key, v, 0, 1);
    if (n === 1) throw new ConfigError(key, 'must be below 1 (e.g. 0.05)');
    rec[key] = n;
  } else if (key === 'bnb_4bit_quant_type') {
    if (v === 'fp4') throw new ConfigError(key, 'fp4 is not supported; use nf4 (the QLoRA default)');
    if (v !== 'nf4') throw new ConfigError(key, `must be nf4, got ${JSON.stringify(v)}`);
    rec[key] = v;
  } else if (key === 'lora_target_modules') {
    rec[key] = parseTargetModules(v);
  } else if (key === 'column_names' || key === 'label_names') {
    rec[key] = v === null ? null : Array.isArray(v) ? v.map(String) : String(v).split(',').map((s) => s.trim());
  } else if (key === 'format') {
    if (v !== null && !['csv', 'tsv', 'jsonl', 'json', 'parquet'].includes(String(v))) throw new ConfigError(key, `must be csv, tsv, jsonl, json or parquet, got ${JSON.stringify(v)}`);
    rec[key] = v;
  } else if (key === 'problem_type') {
    if (v !== null && !['single_label_classification', 'multi_label_classification', 'regression'].includes(String(v))) {
      throw new ConfigError(key, 'must be single_label_classification, multi_label_classification or regression');
    }
    rec[key] = v;
  } else if (key === 'blank_labels') {
    if (v !== 'error' && v !== 'drop') throw new ConfigError(key, 'must be "error" or "drop"');
    rec[key] = v;
  } else if (key === 'has_header') {
    rec[key] = v === null ? null : asBool(key, v);
  } else if (typeof def === 'boolean') {
    rec[key] = asBool(key, v);
  } else if (typeof def === 'number') {
    rec[key] = key.endsWith('_split') ? asNumber(key, v, 0, 0.9) : asNumber(key, v, 0, 1e9);
  } else {
    if (v !== null && typeof v !== 'string') throw new ConfigError(key, `must be a string, got ${JSON.stringify(v)}`);
    rec[key] = v;
  }
}

/** Characters that make a lora_target_modules string a regular expression (PEFT: a string is a full-path regex). */
const REGEX_CHARS = /[\\^$*+?()[\]{}|]/;

/**
 * lora_target_modules as PEFT takes it: a list of names, one regex string, or "all-linear". From a
 * flag or a YAML string, "q_proj,v_proj" is a list; a string with regex characters stays one regex.
 */
function parseTargetModules(v: unknown): string[] | string | null {
  const key = 'lora_target_modules';
  if (v === null) return null;
  if (Array.isArray(v)) {
    const names = v.map((x) => (typeof x === 'string' ? x.trim() : ''));
    if (names.length === 0 || names.some((n) => n === '')) throw new ConfigError(key, `must list module names (e.g. ["q_proj", "v_proj"]), got ${JSON.stringify(v)}`);
    return names;
  }
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ConfigError(key, `must name the modules to adapt (e.g. "q_proj,v_proj", "all-linear" or a regex), got ${JSON.stringify(v)}`);
  }
  const s = v.trim();
  if (s.toLowerCase() === 'all-linear' || REGEX_CHARS.test(s)) return s;
  const names = s.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) throw new ConfigError(key, `has an empty name in ${JSON.stringify(v)}`);
  return names;
}

const CLASSIFICATION_METRICS = ['accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'precision_micro', 'recall_micro', 'f1_micro', 'precision_weighted', 'recall_weighted', 'f1_weighted'];
const MULTI_LABEL_METRICS = ['precision_micro', 'recall_micro', 'f1_micro', 'precision_macro', 'recall_macro', 'f1_macro', 'subset_accuracy'];
const REGRESSION_METRICS = ['mse', 'rmse', 'mae', 'r2', 'pearson', 'spearman'];

/** The evaluation metrics a task reports (names without eval_), so --metric-for-best-model is checked up front. */
export function metricsOfTask(task: PipelineTask, problemType: ProblemType | null): string[] {
  const byTask: Record<PipelineTask, string[]> = {
    'text-classification':
      problemType === 'multi_label_classification' ? MULTI_LABEL_METRICS
        : problemType === 'regression' ? REGRESSION_METRICS
          : problemType === 'single_label_classification' ? CLASSIFICATION_METRICS
            : [...new Set([...CLASSIFICATION_METRICS, ...MULTI_LABEL_METRICS, ...REGRESSION_METRICS])], // decided by the data
    'token-classification': ['precision', 'recall', 'f1', 'accuracy', 'precision_macro', 'recall_macro', 'f1_macro', 'precision_weighted', 'recall_weighted', 'f1_weighted'],
    'question-answering': ['exact_match', 'f1'],
    'fill-mask': ['perplexity'],
    'text-generation': ['perplexity'],
  };
  return ['loss', ...byTask[task]];
}

/** Settings that only make sense together (checked once every layer is merged). */
function checkCombinations(p: PipelineConfig, args?: TrainingArguments): void {
  if (args) {
    const metric = args.metric_for_best_model.replace(/^eval_/, '');
    const known = metricsOfTask(p.task, p.problem_type);
    if (!known.includes(metric)) {
      const hint = closestKey(metric, known);
      throw new ConfigError('metric_for_best_model', `"${args.metric_for_best_model}" is not a metric of ${p.task}${p.problem_type ? ` (${p.problem_type})` : ''}${hint ? `; did you mean "${hint}"?` : ''} (--metric-for-best-model takes one of: ${known.join(', ')})`);
    }
  }
  const loraKeys = ['lora_alpha', 'lora_dropout', 'lora_target_modules', 'merge_lora'] as const;
  if (p.lora_r > 0 && p.model === null) {
    throw new ConfigError('lora_r', 'LoRA adapts a pretrained model: pass --model <folder or Hub id> with --lora-r (a model built from scratch trains in full)');
  }
  const quant = (['load_in_4bit', 'load_in_8bit', 'bnb_4bit_use_double_quant'] as const).filter((k) => p[k]);
  if (quant.length && p.lora_r === 0) {
    throw new ConfigError(quant[0], 'quantised base weights are frozen, so they only train with LoRA: add --lora-r (e.g. 8) and --task text-generation, or drop the flag');
  }
  if (p.load_in_4bit && p.load_in_8bit) throw new ConfigError('load_in_8bit', 'choose one of --load-in-4bit and --load-in-8bit');
  if (p.bnb_4bit_use_double_quant && !p.load_in_4bit) throw new ConfigError('bnb_4bit_use_double_quant', 'only applies with --load-in-4bit');
  if ((p.load_in_4bit || p.load_in_8bit) && p.merge_lora) {
    throw new ConfigError('merge_lora', 'cannot merge an adapter into quantised base weights; save the adapter folder (drop --merge-lora) and merge into the full-precision base later');
  }
  if (p.lora_r === 0) {
    const changed = loraKeys.filter((k) => JSON.stringify(p[k]) !== JSON.stringify(DEFAULT_PIPELINE_CONFIG[k]));
    if (changed.length) throw new ConfigError(changed[0] as string, `only applies with LoRA: set lora_r (the adapter rank, e.g. 8) too`);
  }
}

/**
 * Splits a merged settings object (config file, then flags) into pipeline and training settings,
 * rejecting unknown keys with a "did you mean" hint.
 */
export function resolveSettings(layers: { values: Record<string, unknown>; source: string }[]): { pipeline: PipelineConfig; args: TrainingArguments } {
  const pipeline: PipelineConfig = { ...DEFAULT_PIPELINE_CONFIG };
  let args: TrainingArguments = { ...DEFAULT_TRAINING_ARGUMENTS };
  for (const { values, source } of layers) {
    const trainingPart: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) continue;
      if ((PIPELINE_KEYS as string[]).includes(k)) setPipelineKey(pipeline, k as keyof PipelineConfig, v);
      else trainingPart[k] = v;
    }
    try {
      args = applyOverrides(args, trainingPart, source);
    } catch (err) {
      if (err instanceof ConfigError && /is not a training setting/.test(err.message)) {
        const hint = closestKey(err.key, [...PIPELINE_KEYS, ...Object.keys(DEFAULT_TRAINING_ARGUMENTS)]);
        throw new ConfigError(err.key, `is not a setting${source ? ` (in ${source})` : ''}${hint ? `; did you mean "${hint}"?` : '.'} Run \`finetune train --help\` for the list.`);
      }
      throw err;
    }
  }
  checkCombinations(pipeline, args);
  return { pipeline, args };
}

/** Preprocessing options from the pipeline settings. */
export function preprocessOptions(p: PipelineConfig): PreprocessOptions {
  return {
    whitespace: true,
    dropEmpty: true,
    stripHtml: p.strip_html,
    stripEmailHeaders: p.strip_email_headers,
    dedupe: p.dedupe ? 'text' : false,
    normalize: p.normalize_unicode ? 'NFKC' : false,
  };
}

/** The columns a task reads, as "role column" pairs for the settings log. */
function columnsOf(p: PipelineConfig): string {
  const q = (s: string): string => JSON.stringify(s);
  switch (p.task) {
    case 'token-classification':
      return `tokens ${q(p.tokens_column)}, tags ${q(p.tags_column)}`;
    case 'question-answering':
      return `question ${q(p.question_column)}, context ${q(p.context_column)}, answers ${q(p.answers_column)}`;
    case 'fill-mask':
    case 'text-generation':
      return `text ${q(p.text_column)}`;
    default:
      return `text ${q(p.text_column)}${p.text_pair_column ? `, text pair ${q(p.text_pair_column)}` : ''}, label ${q(p.label_column)}`;
  }
}

/**
 * The effective settings of a run as a few log lines (what the run will actually use once defaults,
 * config file and flags are merged), printed before any work starts.
 *
 * @example
 * describeSettings(pipeline, args, ['command line'])[0]; // 'settings: task text-classification, model ...'
 */
export function describeSettings(p: PipelineConfig, a: TrainingArguments, sources: string[] = []): string[] {
  const length = a.max_steps > 0 ? `max_steps ${a.max_steps}` : `num_train_epochs ${a.num_train_epochs}`;
  const warmup = a.warmup_steps > 0 ? `warmup_steps ${a.warmup_steps}` : `warmup_ratio ${a.warmup_ratio}`;
  const batch = a.gradient_accumulation_steps > 1 ? `${a.per_device_train_batch_size} x ${a.gradient_accumulation_steps} accumulation steps` : String(a.per_device_train_batch_size);
  const data = p.train_file
    ? [`train ${p.train_file}`, p.validation_file ? `validation ${p.validation_file}` : `validation_split ${p.validation_split}`, p.test_file ? `test ${p.test_file}` : p.test_split > 0 ? `test_split ${p.test_split}` : 'no test split']
    : [`validation_split ${p.validation_split}`, p.test_split > 0 ? `test_split ${p.test_split}` : 'no test split'];
  const lines = [
    `settings (${sources.length ? sources.join(', then ') : 'defaults'}):`,
    `  task ${p.task}; model ${p.model ?? `none: a compact BERT built from scratch (L${p.scratch_num_layers} H${p.scratch_hidden_size}, ${p.scratch_vocab_size}-token vocabulary)`}`,
    `  data: ${data.join(', ')}; columns: ${columnsOf(p)}${p.problem_type ? `; problem_type ${p.problem_type}` : ''}`,
    `  training: learning_rate ${a.learning_rate}, batch size ${batch}, ${length}, ${warmup}, weight_decay ${a.weight_decay}, lr_scheduler_type ${a.lr_scheduler_type}, max_length ${a.max_length}, max_grad_norm ${a.max_grad_norm}, seed ${a.seed}`,
    `  evaluation: eval_strategy ${a.eval_strategy}${a.eval_strategy === 'steps' ? ` every ${a.eval_steps}` : ''}, metric_for_best_model ${a.metric_for_best_model}, save_strategy ${a.save_strategy}; output_dir ${a.output_dir}`,
  ];
  if (p.lora_r > 0) lines.push(`  LoRA: r ${p.lora_r}, alpha ${p.lora_alpha}, dropout ${p.lora_dropout}, target modules ${p.lora_target_modules === null ? "PEFT's default for the family" : String(p.lora_target_modules)}${p.merge_lora ? ', merged at the end' : ''}`);
  return lines;
}

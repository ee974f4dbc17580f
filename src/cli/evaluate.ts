// `finetune evaluate` (metrics of a saved model on a labelled file, any task) and `finetune predict`
// (the task the folder was trained for, on inputs from flags or a file), thin shells over the pipeline library.

import type { Command } from 'commander';
import { findUnknownLabels, labelMapFromConfig } from '../data/index.ts';
import { ConfigError, DataError } from '../errors.ts';
import { labelNames } from '../models/hf-config.ts';
import { prepareOutputFile, writeOutputFile } from '../io/output-dir.ts';
import { evaluateCausalLmFile } from '../tasks/text-generation.ts';
import { resolveSettings } from '../tasks/config.ts';
import { evaluateClassifier } from '../tasks/evaluate.ts';
import { evaluateMaskedLmFile } from '../tasks/fill-mask.ts';
import { evaluateQaFile } from '../tasks/question-answering.ts';
import { taskOfModel } from '../tasks/task-run.ts';
import { evaluateTokenClassifierFile, type TokenEvalResult } from '../tasks/token-classification.ts';
import { loadClassifier } from '../tasks/models.ts';
import { predict } from '../inference/predict.ts';
import { readTextDataset, textFeatures } from '../tasks/text-classification.ts';
import { FeatureBatches } from '../train/batches.ts';
import type { ProblemType } from '../models/types.ts';

function dataFlags(cmd: Command): Command {
  return cmd
    .option('--format <fmt>', 'csv | tsv | jsonl | json | parquet (default: from the extension)')
    .option('--no-header', 'CSV/TSV file has no header row')
    .option('--column-names <a,b>', 'column names for a header-less file')
    .option('--text-column <name>', 'text column', 'text')
    .option('--text-pair-column <name>', 'second text of a pair')
    .option('--label-column <name>', 'label column', 'label')
    .option('--task <task>', 'text-classification | token-classification | question-answering | fill-mask | text-generation (default: from the model\'s config.json)')
    .option('--tokens-column <name>', 'token-classification: word-list column', 'tokens')
    .option('--tags-column <name>', 'token-classification: tags column', 'ner_tags')
    .option('--question-column <name>', 'question-answering: question column', 'question')
    .option('--context-column <name>', 'question-answering: context column', 'context')
    .option('--answers-column <name>', 'question-answering: answers column', 'answers')
    .option('--doc-stride <n>', 'question-answering: tokens shared by windows of a long context')
    .option('--max-length <n>', 'truncate to this many tokens (text-generation: block size of packed text)', '128')
    .option('--batch-size <n>', 'examples per batch', '32')
    .option('--max-record-size <n>', 'longest CSV row / JSONL line accepted, in characters (default 1048576)');
}

interface DataOpts {
  model: string;
  data: string;
  format?: string;
  header: boolean;
  columnNames?: string;
  textColumn: string;
  textPairColumn?: string;
  labelColumn: string;
  task?: string;
  tokensColumn: string;
  tagsColumn: string;
  questionColumn: string;
  contextColumn: string;
  answersColumn: string;
  docStride?: string;
  maxLength: string;
  batchSize: string;
  maxRecordSize?: string;
  output?: string;
  adapter?: string;
}

function settingsFrom(o: DataOpts, cmd: Command) {
  return resolveSettings([
    {
      source: 'command line',
      values: {
        model: o.model,
        format: o.format,
        has_header: cmd.getOptionValueSource('header') === 'cli' ? o.header : undefined,
        column_names: o.columnNames,
        text_column: o.textColumn,
        text_pair_column: o.textPairColumn,
        label_column: o.labelColumn,
        task: o.task,
        tokens_column: o.tokensColumn,
        tags_column: o.tagsColumn,
        question_column: o.questionColumn,
        context_column: o.contextColumn,
        answers_column: o.answersColumn,
        doc_stride: o.docStride,
        max_length: o.maxLength,
        per_device_eval_batch_size: o.batchSize,
        max_record_size: o.maxRecordSize,
      },
    },
  ]);
}

export function registerEvaluate(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description('evaluate a fine-tuned model on a labelled file (any task finetune trains)')
    .requiredOption('--model <dir>', 'a model folder written by `finetune train`')
    .requiredOption('--data <file>', 'labelled data (.csv, .tsv, .jsonl, .json, .parquet)')
    .option('--output <file>', 'also write the metrics as JSON here')
    .option('--adapter <dir>', 'text-generation: a LoRA adapter folder to apply on top of --model')
    .addHelpText(
      'after',
      '\nExamples:\n  $ finetune evaluate --model finetune-demo --data new-emails.csv --text-column body --label-column label\n' +
        '  $ finetune evaluate --model ner-model --data test.jsonl --tokens-column tokens --tags-column ner_tags\n' +
        '  $ finetune evaluate --model qa-model --data dev.jsonl --max-length 384 --output predictions.json\n' +
        '  $ finetune evaluate --model domain-bert --data held-out.txt          # masked-LM perplexity\n' +
        '  $ finetune evaluate --model stories-lora --data held-out.txt         # causal-LM loss and perplexity (adapter folder)\n',
    );
  dataFlags(cmd).action(async (o: DataOpts) => {
    const { pipeline, args } = settingsFrom(o, cmd);
    if (o.output) prepareOutputFile(o.output, '--output', 'output'); // before the evaluation, not after
    const task = o.task !== undefined ? pipeline.task : o.adapter !== undefined ? 'text-generation' : await taskOfModel(o.model);
    if (o.adapter !== undefined && task !== 'text-generation') throw new ConfigError('adapter', `--adapter applies to text-generation models; task is "${task}"`);
    if (task !== 'text-classification') {
      const ev = { message: (m: string) => process.stderr.write(`${m}\n`) };
      const out =
        task === 'token-classification'
          ? await evaluateTokenClassifierFile(o.model, o.data, pipeline, args, ev)
          : task === 'question-answering'
            ? await evaluateQaFile(o.model, o.data, pipeline, args, ev)
            : task === 'text-generation'
              ? await evaluateCausalLmFile(o.model, o.data, pipeline, args, ev, o.adapter ?? null)
              : await evaluateMaskedLmFile(o.model, o.data, pipeline, args, ev);
      process.stdout.write(`${out.examples} examples from ${o.data} (${task})\n`);
      for (const [k, v] of Object.entries(out.result.metrics)) process.stdout.write(`  ${k.padEnd(20)} ${Number.isInteger(v) ? v : v.toFixed(4)}\n`);
      const perType = 'perType' in out.result ? (out.result as TokenEvalResult).perType : [];
      if (perType.length) {
        process.stdout.write(`per entity type:\n  ${'type'.padEnd(14)} ${['precision', 'recall', 'f1', 'number'].map((h) => h.padStart(9)).join(' ')}\n`);
        for (const t of perType) process.stdout.write(`  ${t.type.padEnd(14)} ${[t.precision, t.recall, t.f1].map((x) => x.toFixed(4).padStart(9)).join(' ')} ${String(t.number).padStart(9)}\n`);
      }
      if (o.output) writeOutputFile(o.output, JSON.stringify({ task, metrics: out.result.metrics, ...('perType' in out.result ? { per_type: perType } : {}), ...('predictions' in out ? { predictions: out.predictions } : {}) }, null, 2), '--output', 'output');
      return;
    }
    const loaded = await loadClassifier(o.model, null, null, { message: (m) => process.stderr.write(`${m}\n`) }, true);
    const cfg = loaded.model.hfConfig;
    const problem: ProblemType = (cfg.problem_type as ProblemType | null) ?? 'single_label_classification';
    const ds = await readTextDataset(o.data, pipeline, problem);
    const names = labelNames(cfg);
    const map = problem === 'regression' ? null : labelMapFromConfig({ id2label: Object.fromEntries(names.map((n, i) => [String(i), n])) });
    if (map) {
      const unknown = findUnknownLabels(ds, map);
      if (unknown.length) {
        throw new DataError(
          `${o.data}: ${unknown.length} label value(s) the model was not trained on: ${unknown.slice(0, 5).map((u) => `"${u.label}" (${u.count} rows, first at ${u.origins.slice(0, 3).join(', ')})`).join('; ')}. ` +
            `The model knows: ${map.labels.join(', ')}`,
        );
      }
    }
    const maxLength = Math.min(args.max_length, loaded.maxPositions);
    const batches = new FeatureBatches(textFeatures(ds, loaded.tokenizer, maxLength, map), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId: loaded.tokenizer.padTokenId ?? 0 });
    const result = await evaluateClassifier(loaded.model, batches, problem, map?.labels ?? ['value']);
    const m = result.metrics;
    process.stdout.write(`${ds.examples.length} examples from ${o.data}\n`);
    for (const [k, v] of Object.entries(m)) process.stdout.write(`  ${k.padEnd(20)} ${Number.isInteger(v) ? v : v.toFixed(4)}\n`);
    if (result.confusionMatrix && map && map.labels.length <= 12) {
      process.stdout.write(`confusion matrix (rows = true, columns = predicted):\n`);
      result.confusionMatrix.forEach((row, i) => process.stdout.write(`  ${map.labels[i].padEnd(14)} ${row.map((x) => String(x).padStart(6)).join(' ')}\n`));
    }
    if (o.output) writeOutputFile(o.output, JSON.stringify({ metrics: m, confusion_matrix: result.confusionMatrix, labels: map?.labels }, null, 2), '--output', 'output');
  });
}

function parseParams(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new ConfigError('params', `--params must be a JSON object (e.g. '{"top_k": 3}'): ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError('params', `--params must be a JSON object, got ${json}`);
  return v as Record<string, unknown>;
}

function positiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(flag, `--${flag} must be a positive whole number, got "${v}"`);
  return n;
}

interface PredictOpts {
  model: string;
  text?: string[];
  question?: string;
  context?: string;
  data?: string;
  format?: string;
  header: boolean;
  columnNames?: string;
  textColumn: string;
  textPairColumn?: string;
  questionColumn: string;
  contextColumn: string;
  task?: string;
  topK?: string;
  aggregationStrategy: string;
  maxNewTokens?: string;
  params?: string;
  batchSize: string;
}

export function registerPredict(program: Command): void {
  const cmd = program
    .command('predict')
    .description('run a fine-tuned model on new inputs, for the task it was trained for (labels, entities, answers, masked words, generated text)')
    .requiredOption('--model <dir>', 'a model folder written by `finetune train` (or its LoRA adapter folder)')
    .option('--text <text...>', 'one or more texts (prompts for text-generation; with the mask token for fill-mask)')
    .option('--question <q>', 'question-answering: the question (with --context)')
    .option('--context <c>', 'question-answering: the passage holding the answer')
    .option('--data <file>', 'a file of inputs: .txt one text per line; .csv, .tsv, .jsonl, .json, .parquet columns')
    .option('--format <fmt>', 'csv | tsv | jsonl | json | parquet (default: from the extension)')
    .option('--no-header', 'CSV/TSV file has no header row (name columns with --column-names)')
    .option('--column-names <a,b>', 'column names for a header-less file')
    .option('--text-column <name>', 'text column of --data (several: "subject,body")', 'text')
    .option('--text-pair-column <name>', 'text-classification: second text of a pair')
    .option('--question-column <name>', 'question-answering: question column of --data', 'question')
    .option('--context-column <name>', 'question-answering: context column of --data', 'context')
    .option('--task <task>', 'the task to run (default: the one the model was trained for; another is refused)')
    .option('--top-k <n>', 'text-classification: scores per text (default all); fill-mask: candidates (default 5); question-answering: answers (default 1)')
    .option('--aggregation-strategy <s>', 'token-classification: none | simple | first | average | max', 'simple')
    .option('--max-new-tokens <n>', 'text-generation: tokens to generate')
    .option('--params <json>', 'other pipeline parameters as JSON, as in a serve request (e.g. \'{"max_answer_len": 20}\')')
    .option('--batch-size <n>', 'inputs per forward pass', '32')
    .addHelpText(
      'after',
      '\nOutput: one JSON line per input.\nExamples:\n  $ finetune predict --model finetune-demo --text "WIN a FREE cruise, click here"\n' +
        '  $ finetune predict --model finetune-demo --data inbox.jsonl --text-column body > predictions.jsonl\n' +
        '  $ finetune predict --model sms-model --data sms.tsv --format tsv --no-header --column-names label,text\n' +
        '  $ finetune predict --model ner-model --text "Ada Lovelace lived in London"       # entities\n' +
        '  $ finetune predict --model qa-model --question "Where does Ada live?" --context "Ada lives in London."\n' +
        '  $ finetune predict --model stories-lora --text "Once upon a time" --max-new-tokens 30\n',
    );
  cmd.action(async (o: PredictOpts) => {
    const { pipeline } = resolveSettings([
      {
        source: 'command line',
        values: {
          format: o.format,
          has_header: cmd.getOptionValueSource('header') === 'cli' ? o.header : undefined,
          column_names: o.columnNames,
          task: o.task,
        },
      },
    ]);
    const topK = positiveInt('top-k', o.topK);
    const maxNew = positiveInt('max-new-tokens', o.maxNewTokens);
    const extra = parseParams(o.params);
    const task = o.task !== undefined ? pipeline.task : await taskOfModel(o.model);
    const parameters: Record<string, unknown> = {
      ...(topK !== undefined && task !== 'text-generation' ? { top_k: topK } : {}),
      ...(task === 'token-classification' ? { aggregation_strategy: o.aggregationStrategy } : {}),
      ...(maxNew !== undefined && task === 'text-generation' ? { max_new_tokens: maxNew } : {}),
      ...extra,
    };
    const { records } = await predict(
      o.model,
      {
        ...(o.text ? { texts: o.text } : {}),
        ...(o.question !== undefined ? { question: o.question } : {}),
        ...(o.context !== undefined ? { context: o.context } : {}),
        ...(o.data ? { file: o.data } : {}),
        format: pipeline.format,
        hasHeader: pipeline.has_header,
        columnNames: pipeline.column_names,
        textColumn: o.textColumn,
        textPairColumn: o.textPairColumn ?? null,
        questionColumn: o.questionColumn,
        contextColumn: o.contextColumn,
      },
      { ...(o.task !== undefined ? { task: pipeline.task } : {}), parameters, batchSize: positiveInt('batch-size', o.batchSize) ?? 32 },
    );
    for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
  });
}

// `finetune evaluate` (metrics of a saved classifier on a labelled file) and `finetune predict`
// (labels and scores for texts given as flags or a file), thin shells over the pipeline library.

import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { findUnknownLabels, labelMapFromConfig } from '../data/index.ts';
import { DataError } from '../errors.ts';
import { labelNames } from '../io/hf-config.ts';
import { resolveSettings } from '../pipeline/config.ts';
import { evaluateClassifier } from '../pipeline/evaluate.ts';
import { loadClassifier } from '../pipeline/models.ts';
import { predictTexts } from '../pipeline/predict.ts';
import { readTextDataset, textFeatures } from '../pipeline/text-classification.ts';
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
    .option('--max-length <n>', 'truncate to this many tokens', '128')
    .option('--batch-size <n>', 'examples per batch', '32');
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
  maxLength: string;
  batchSize: string;
  output?: string;
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
        max_length: o.maxLength,
        per_device_eval_batch_size: o.batchSize,
      },
    },
  ]);
}

export function registerEvaluate(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description('evaluate a fine-tuned classifier on a labelled file')
    .requiredOption('--model <dir>', 'a model folder written by `finetune train`')
    .requiredOption('--data <file>', 'labelled data (.csv, .tsv, .jsonl, .json, .parquet)')
    .option('--output <file>', 'also write the metrics as JSON here')
    .addHelpText('after', '\nExample:\n  $ finetune evaluate --model finetune-demo --data new-emails.csv --text-column body --label-column label\n');
  dataFlags(cmd).action(async (o: DataOpts) => {
    const { pipeline, args } = settingsFrom(o, cmd);
    const loaded = await loadClassifier(o.model, null, null, { message: (m) => process.stderr.write(`${m}\n`) });
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
    if (o.output) writeFileSync(o.output, JSON.stringify({ metrics: m, confusion_matrix: result.confusionMatrix, labels: map?.labels }, null, 2));
  });
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('predict labels for texts with a fine-tuned classifier')
    .requiredOption('--model <dir>', 'a model folder written by `finetune train`')
    .option('--text <text...>', 'one or more texts')
    .option('--data <file>', 'a file of texts (one per line for .txt; a text column otherwise)')
    .option('--text-column <name>', 'text column of --data', 'text')
    .option('--top-k <n>', 'scores to show per text (default: all)')
    .addHelpText('after', '\nExamples:\n  $ finetune predict --model finetune-demo --text "WIN a FREE cruise, click here"\n  $ finetune predict --model finetune-demo --data inbox.jsonl --text-column body > predictions.jsonl\n')
    .action(async (o: { model: string; text?: string[]; data?: string; textColumn: string; topK?: string }) => {
      if (!o.text && !o.data) throw new DataError('give --text "..." or --data <file>');
      const results = await predictTexts(o.model, { texts: o.text, file: o.data, textColumn: o.textColumn });
      for (const r of results) process.stdout.write(`${JSON.stringify(o.topK ? { ...r, scores: r.scores.slice(0, Number(o.topK)) } : r)}\n`);
    });
}

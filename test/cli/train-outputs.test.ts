// `finetune train` run as a user runs it (the real bin): the log prints the effective settings before
// any work, and the output folder holds training_args.json, all_results.json with Trainer's key names,
// a model card README.md whose front matter is Hub metadata, and predictions.jsonl that agrees with the
// test metrics. `--help` shows the typed defaults, including a scratch model's; flag errors name flags.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import { SCRATCH_TRAINING_DEFAULTS } from '../../src/tasks/demo.ts';
import { readEventFile } from '../helpers/tfevents.ts';
import { runCli, tempDir, writeSentimentCsv, type CliResult } from '../helpers/cli.ts';

const dir = tempDir('finetune-outputs-');
const out = join(dir, 'sentiment-model');
let run: CliResult;
after(() => rmSync(dir, { recursive: true, force: true }));

describe('finetune train writes what Trainer users expect', () => {
  before(() => {
    const data = writeSentimentCsv(dir, 80);
    run = runCli(['--threads', '1', 'train', '--train-file', data, '--test-split', '0.2', '--max-steps', '6', '--report-to', 'tensorboard', '--output-dir', out], { timeoutMs: 120_000 });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  });

  it('prints the effective settings before training', () => {
    const settings = run.stdout.indexOf('settings (defaults for a model built from scratch, then command line):');
    assert.ok(settings >= 0, run.stdout);
    assert.ok(settings < run.stdout.indexOf('optimizer:'), 'settings come before training starts');
    const block = run.stdout.slice(settings, run.stdout.indexOf('\ntrain:', settings));
    for (const want of ['learning_rate 0.001', 'batch size 32', 'max_steps 6', 'warmup_ratio 0.06', 'weight_decay 0.01', 'lr_scheduler_type linear', 'max_length 128', 'model none', 'text "text"', 'label "label"']) {
      assert.ok(block.includes(want), `settings lack "${want}":\n${block}`);
    }
    assert.match(run.stdout, /labels \(2\): negative, positive/);
  });

  it('training_args.json holds every setting', () => {
    const a = JSON.parse(readFileSync(join(out, 'training_args.json'), 'utf8')) as Record<string, unknown>;
    for (const k of Object.keys(DEFAULT_TRAINING_ARGUMENTS)) assert.ok(k in a, `missing ${k}`);
    assert.equal(a.learning_rate, 1e-3);
    assert.equal(a.max_steps, 6);
    assert.equal(a.text_column, 'text');
  });

  it('all_results.json uses Trainer key names', () => {
    const r = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
    for (const k of ['train_loss', 'train_runtime', 'train_samples_per_second', 'train_steps_per_second', 'epoch', 'eval_loss', 'eval_accuracy', 'eval_samples', 'test_loss', 'test_accuracy', 'test_f1_macro', 'test_samples']) {
      assert.equal(typeof r[k], 'number', `missing ${k}`);
    }
    assert.equal(r.test_samples, 16);
    assert.ok(Math.abs(r.train_steps_per_second * r.train_runtime - 6) < 1e-6, 'steps/s x runtime = 6 steps');
    // Trainer's speed metrics of the evaluations: 16 test examples in batches of 8 (the scratch default eval batch).
    for (const k of ['eval_runtime', 'eval_samples_per_second', 'eval_steps_per_second', 'test_runtime', 'test_samples_per_second', 'test_steps_per_second']) assert.ok(r[k]! > 0, `missing ${k}`);
    assert.ok(Math.abs(r.test_samples_per_second! * r.test_runtime! - 16) < 1e-6, 'test samples/s x runtime = 16');
  });

  it('README.md is a model card with Hub metadata front matter', () => {
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
    assert.ok(m, 'front matter between --- lines');
    const meta = parseYaml(m[1]) as Record<string, unknown>;
    assert.equal(meta.library_name, 'transformers');
    assert.equal(meta.pipeline_tag, 'text-classification');
    assert.deepEqual(meta.datasets, ['train.csv']);
    assert.ok((meta.metrics as string[]).includes('accuracy'));
    const results = (meta['model-index'] as { results: { metrics: { type: string; value: number }[] }[] }[])[0].results[0];
    const all = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(results.metrics.find((x) => x.type === 'accuracy')?.value, all.test_accuracy);
    assert.match(card, /## Training hyperparameters[\s\S]*learning_rate: 0\.001/);
  });

  it('--report-to tensorboard writes an event file with the loss, learning rate and eval metrics per step', () => {
    const events = readEventFile(out);
    assert.equal(events[0].fileVersion, 'brain.Event:2');
    const steps = events.filter((e) => 'train/loss' in e.scalars).map((e) => e.step);
    assert.ok(steps.length >= 1, 'loss logged');
    assert.ok(events.some((e) => 'train/learning_rate' in e.scalars));
    const evals = events.filter((e) => 'eval/accuracy' in e.scalars).map((e) => e.step);
    assert.deepEqual(evals, [2, 4, 6], 'one eval per epoch (2 steps each)');
    const all = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(events.at(-1)?.scalars['test/accuracy'], Math.fround(all.test_accuracy));
  });

  it('predictions.jsonl has one line per test example and agrees with the test accuracy', () => {
    const lines = readFileSync(join(out, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string; label: string; predicted: string; score: number; loss: number });
    assert.equal(lines.length, 16);
    const all = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
    const acc = lines.filter((l) => l.label === l.predicted).length / lines.length;
    assert.equal(acc, all.test_accuracy);
    const meanLoss = lines.reduce((s, l) => s + l.loss, 0) / lines.length;
    assert.ok(Math.abs(meanLoss - all.test_loss) < 1e-4, `mean per-example loss ${meanLoss} vs test_loss ${all.test_loss}`);
    for (const l of lines) {
      assert.ok(typeof l.text === 'string' && l.text.length > 0);
      assert.ok(l.score >= 0.5 && l.score <= 1, 'two classes: the predicted one has p >= 0.5');
    }
  });
});

describe('finetune train --help and flag errors', () => {
  it('--help shows the real defaults, and the scratch-model ones', () => {
    const r = runCli(['train', '--help']);
    const help = r.stdout.replace(/\s+/g, ' ');
    assert.match(help, /--learning-rate <lr> peak learning rate \(default 5e-5; 0\.001 with no --model/);
    assert.match(help, new RegExp(`--per-device-train-batch-size <n> training batch size \\(default ${DEFAULT_TRAINING_ARGUMENTS.per_device_train_batch_size}; ${SCRATCH_TRAINING_DEFAULTS.per_device_train_batch_size} with no --model`));
    assert.match(help, /--num-train-epochs <n> epochs \(default 3\)/);
    assert.match(help, /The demo \(no --train-file\) uses: .*num_train_epochs 2/);
  });

  it('a config key Trainer has but finetune does not says "not supported"', () => {
    const cfg = join(dir, 'hf.yaml');
    const data = writeSentimentCsv(dir, 10, 'small.csv');
    writeFileSync(cfg, 'fp16: false\noptim: adamw_torch\ntorch_compile: true\n');
    const r = runCli(['train', '-c', cfg, '--train-file', data, '--output-dir', join(dir, 'x')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not supported: torch_compile \(in .*hf\.yaml\)/);
  });

  it('labels that differ only by case are named before training (a warning: finetune never rewrites labels); --class-weights auto is logged and saved', () => {
    const rows = ['text,label'];
    for (let i = 0; i < 12; i++) rows.push(`"message number ${i}",${['spam', 'Spam', 'ham'][i % 3]}`);
    const data = join(dir, 'cased.csv');
    writeFileSync(data, rows.join('\n') + '\n');
    const r = runCli(['--threads', '1', 'train', '--train-file', data, '--max-steps', '1', '--no-report', '--class-weights', 'auto', '--output-dir', join(dir, 'cased-model')], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const warning = r.stdout.indexOf('warning: ');
    assert.ok(warning >= 0 && warning < r.stdout.indexOf('optimizer:'), r.stdout);
    assert.match(r.stdout, /labels that differ only by case or surrounding space will be trained as separate classes: "Spam" \/ "spam"/);
    // --class-weights auto on the same run: logged, and saved per label in training_args.json
    assert.match(r.stdout, /class weights \(auto\): Spam \d\.\d{4}, ham \d\.\d{4}, spam \d\.\d{4}/);
    const saved = JSON.parse(readFileSync(join(dir, 'cased-model', 'training_args.json'), 'utf8')) as { class_weights: string; class_weights_by_label: Record<string, number> };
    assert.equal(saved.class_weights, 'auto');
    assert.deepEqual(Object.keys(saved.class_weights_by_label), ['Spam', 'ham', 'spam']);
  });

  it('flag errors speak in flags', () => {
    const r = runCli(['train', '--train-file', 'x.csv', '--lora-alpha', '16']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: --lora-alpha: only applies with LoRA: set --lora-r/m);
  });
});

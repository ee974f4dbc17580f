// `finetune train` writes predictions.jsonl for the test split of every task, not only text classification
// (the real bin on tiny scratch models): token classification (words, gold and predicted tags, as run_ner),
// question answering (id, question, predicted answer + score, gold answers), fill-mask (gold and predicted
// token at each masked position) and text generation (per-example loss and perplexity, the first three with
// a greedy continuation, when stories260K is present). Each file agrees with the test metrics in all_results.json, which carries Trainer's eval/test
// runtime, samples_per_second and steps_per_second.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sharedPath } from '../generate/helpers.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { nerRows, qaRows, textLines, writeJsonl } from '../tasks/tiny-data.ts';

const dir = tempDir('finetune-train-preds-');
after(() => rmSync(dir, { recursive: true, force: true }));
const tiny = join(dir, 'tiny.yaml');
writeFileSync(tiny, 'scratch_vocab_size: 100\nscratch_hidden_size: 32\nscratch_intermediate_size: 64\nscratch_num_heads: 2\nscratch_num_layers: 1\n');
const COMMON = ['--threads', '1', '-c', tiny, '--learning-rate', '3e-3', '--per-device-train-batch-size', '8', '--per-device-eval-batch-size', '4', '--save-strategy', 'no', '--no-report', '--test-split', '0.25'];

function train(args: string[], out: string): { rows: Record<string, unknown>[]; results: Record<string, number> } {
  const r = runCli(['train', ...args, '--output-dir', out, ...COMMON], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const rows = readFileSync(join(out, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const results = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
  return { rows, results };
}

/** Trainer's speed metrics: runtime > 0, samples/s = samples / runtime, steps/s = ceil(samples / batch) / runtime. */
function checkSpeed(results: Record<string, number>, prefix: 'eval' | 'test', samples: number, batch = 4): void {
  const rt = results[`${prefix}_runtime`] as number;
  assert.ok(rt > 0, `${prefix}_runtime ${rt}`);
  assert.ok(Math.abs((results[`${prefix}_samples_per_second`] as number) * rt - samples) < 1e-6, `${prefix}_samples_per_second x runtime = ${samples}`);
  assert.ok(Math.abs((results[`${prefix}_steps_per_second`] as number) * rt - Math.ceil(samples / batch)) < 1e-6, `${prefix}_steps_per_second x runtime = batches`);
}

describe('train writes predictions.jsonl for every task', () => {
  it('token-classification: words, gold tags and predicted tags; token accuracy = test_accuracy', () => {
    const { rows, results } = train(['--task', 'token-classification', '--train-file', writeJsonl(dir, 'ner.jsonl', nerRows(64)), '--max-steps', '6', '--max-length', '24'], join(dir, 'ner'));
    assert.equal(rows.length, results.test_samples);
    let right = 0;
    let total = 0;
    rows.forEach((r, i) => {
      assert.equal(r.index, i);
      const tokens = r.tokens as string[];
      const tags = r.tags as string[];
      const predicted = r.predicted as string[];
      assert.equal(tokens.length, tags.length);
      assert.equal(predicted.length, tags.length, 'no sentence is truncated at --max-length 24');
      for (const t of predicted) assert.ok(['B-LOC', 'B-PER', 'I-LOC', 'O'].includes(t), t);
      predicted.forEach((p, k) => (right += p === tags[k] ? 1 : 0));
      total += tags.length;
    });
    assert.ok(Math.abs(right / total - (results.test_accuracy as number)) < 1e-12, `${right}/${total} vs ${results.test_accuracy}`);
    checkSpeed(results, 'test', results.test_samples as number);
    checkSpeed(results, 'eval', results.eval_samples as number);
  });

  it('question-answering: id, question, predicted answer with score, gold answers; exact match = test_exact_match', () => {
    const data = qaRows(48);
    const { rows, results } = train(['--task', 'question-answering', '--train-file', writeJsonl(dir, 'qa.jsonl', data), '--max-steps', '4', '--max-length', '32', '--doc-stride', '8'], join(dir, 'qa'));
    assert.equal(rows.length, results.test_samples);
    const byId = new Map(data.map((d) => [d.id, d]));
    let exact = 0;
    for (const r of rows) {
      const src = byId.get(r.id as string);
      assert.ok(src, `id ${String(r.id)} is one of the data's`);
      assert.equal(r.question, src.question);
      assert.deepEqual(r.answers, src.answers.text);
      assert.equal(typeof r.prediction_text, 'string');
      assert.ok(src.context.includes(r.prediction_text as string), 'the answer is a span of the context');
      assert.equal(typeof r.score, 'number');
      exact += (r.answers as string[]).includes(r.prediction_text as string) ? 1 : 0;
    }
    assert.ok(Math.abs((100 * exact) / rows.length - (results.test_exact_match as number)) < 1e-9, `${exact}/${rows.length} vs ${results.test_exact_match}`);
    assert.equal(typeof results.test_runtime, 'number');
  });

  it('fill-mask: each masked position with the input, gold and predicted token', () => {
    const data = join(dir, 'domain.txt');
    writeFileSync(data, textLines(64).join('\n') + '\n');
    const { rows, results } = train(['--task', 'fill-mask', '--train-file', data, '--max-steps', '4', '--max-length', '32'], join(dir, 'mlm'));
    assert.equal(rows.length, results.test_samples, 'one window per short line');
    let masked = 0;
    for (const r of rows) {
      for (const m of r.masked as { position: number; input: string; label: string; predicted: string }[]) {
        assert.ok(m.position > 0, 'never [CLS]');
        assert.ok(typeof m.label === 'string' && typeof m.predicted === 'string' && typeof m.input === 'string');
        assert.notEqual(m.label, '[CLS]');
        masked++;
      }
    }
    assert.ok(masked >= rows.length, `at least one masked token per window (${masked})`);
    assert.ok(Number.isFinite(results.test_perplexity));
    checkSpeed(results, 'test', results.test_samples as number);
  });

  const stories = sharedPath('data/tinyllamas-stories260K');
  it('text-generation: per-example loss and perplexity, token-weighted mean = test_loss', { skip: stories === null ? 'needs ../shared/data/tinyllamas-stories260K; not found' : false }, () => {
    const lines = ['Once upon a time there was a little girl named Lily.', 'The sun was shining and the birds were singing.', 'Tom had a red ball and a big dog.'];
    const file = join(dir, 'stories.jsonl');
    writeFileSync(file, Array.from({ length: 16 }, (_, i) => JSON.stringify({ prompt: `Story ${i}:`, completion: ` ${lines[i % 3]}` })).join('\n') + '\n');
    const out = join(dir, 'lm');
    const r = runCli(['--threads', '1', 'train', '--task', 'text-generation', '--model', join(stories as string, 'hf'), '--train-file', file, '--max-steps', '1', '--max-length', '32', '--test-split', '0.25', '--per-device-eval-batch-size', '3', '--save-strategy', 'no', '--no-report', '--output-dir', out], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const rows = readFileSync(join(out, 'predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { index: number; tokens: number; loss: number; perplexity: number; prompt?: string; reference?: string; generated?: string });
    const results = JSON.parse(readFileSync(join(out, 'all_results.json'), 'utf8')) as Record<string, number>;
    assert.equal(rows.length, results.test_samples);
    let nll = 0;
    let n = 0;
    for (const row of rows) {
      assert.ok(row.tokens > 0);
      assert.ok(Math.abs(row.perplexity - Math.exp(row.loss)) < 1e-9 * row.perplexity);
      nll += row.loss * row.tokens;
      n += row.tokens;
    }
    assert.ok(Math.abs(nll / n - (results.test_loss as number)) < 1e-4, `${nll / n} vs ${results.test_loss}`);
    // The first three carry a greedy continuation of their prompt (the completion is the reference).
    rows.forEach((row, i) => {
      if (i >= 3) return assert.equal(row.generated, undefined);
      assert.match(row.prompt as string, /^Story \d+:$/);
      assert.ok(lines.some((l) => l === (row.reference as string).trim()), `reference "${row.reference}" is a completion`);
      assert.equal(typeof row.generated, 'string');
      assert.ok((row.generated as string).length > 0);
    });
  });
});

// `finetune predict` runs the task a folder was trained for through the inference pipelines serve uses:
// entities for a token classifier (it used to print a random sequence head's label), answers for QA from
// --question/--context or a file, fill-mask candidates, labels for a classifier read with the same file
// flags as train (--format tsv --no-header --column-names); a folder without a head, or a task that is
// not the folder's, is refused with a clear error.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/backend/index.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { createModel, loadPretrained, savePretrained } from '../../src/models/pretrained.ts';
import { predict } from '../../src/inference/predict.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { runCli, tempDir } from '../helpers/cli.ts';
import { fixturePath } from '../models/helpers.ts';

const SEQCLS = fixturePath('tiny-bert-seqcls');
const TOKCLS = fixturePath('tiny-bert-tokcls');
const dir = tempDir('finetune-predict-');
const quiet = { warn: () => {} };

/** The seqcls fixture's encoder under another head (fresh head weights, saved complete), as a folder. */
async function withHead(task: 'question-answering' | 'fill-mask' | 'feature-extraction', name: string): Promise<string> {
  const { model } = await loadPretrained(SEQCLS, { ...quiet, ...(task === 'question-answering' ? { numLabels: 2, ignoreMismatchedSizes: true } : {}) });
  const other = createModel(model.hfConfig, task, { seed: 1 });
  const src = new Map(model.namedParameters());
  for (const [n, p] of other.namedParameters()) {
    const from = src.get(n);
    if (from && from.size === p.size) (p.data as Float32Array).set(from.floatData);
  }
  const out = join(dir, name);
  await savePretrained(other, out, { tokenizer: await loadTokenizer(SEQCLS) });
  model.dispose();
  other.dispose();
  return out;
}

describe('finetune predict runs the folder\'s own task', () => {
  it('token classification (CLI): entities, not a label', () => {
    const r = runCli(['predict', '--model', TOKCLS, '--text', 'the movie was great', '--aggregation-strategy', 'none']);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    assert.equal(rec.text, 'the movie was great');
    assert.ok(Array.isArray(rec.entities) && !('label' in rec), r.stdout);
    for (const e of rec.entities as Record<string, unknown>[]) assert.deepEqual(Object.keys(e).sort(), ['end', 'entity', 'index', 'score', 'start', 'word']);
  });

  it('text classification (CLI) reads a header-less TSV with the same flags as train', () => {
    const file = join(dir, 'inbox.tsv');
    writeFileSync(file, 'spam\tfree money now\nham\tsee you at lunch\n');
    const r = runCli(['predict', '--model', SEQCLS, '--data', file, '--format', 'tsv', '--no-header', '--column-names', 'label,text', '--top-k', '2']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; label: string; scores: unknown[] });
    assert.deepEqual(lines.map((l) => l.text), ['free money now', 'see you at lunch']);
    assert.ok(lines.every((l) => /^LABEL_[012]$/.test(l.label) && l.scores.length === 2));
  });

  it('question answering: --question/--context or question/context columns of a file; --text is refused', async () => {
    const qa = await withHead('question-answering', 'qa');
    const context = 'the movie was great and the story was good';
    const one = await predict(qa, { question: 'what was great ?', context }, quiet);
    assert.equal(one.task, 'question-answering');
    const a = one.records[0]!;
    assert.equal(typeof a.answer, 'string');
    assert.equal(context.slice(a.start as number, a.end as number), a.answer);
    const file = join(dir, 'qa.jsonl');
    writeFileSync(file, `${JSON.stringify({ q: 'what was great ?', c: context })}\n${JSON.stringify({ q: 'what was good ?', c: context })}\n`);
    const many = await predict(qa, { file, questionColumn: 'q', contextColumn: 'c' }, quiet);
    assert.equal(many.records.length, 2);
    assert.deepEqual(many.records[0], a, 'same input, same answer from flags or a file');
    await assert.rejects(predict(qa, { texts: ['what ?'] }, quiet), (e: unknown) => e instanceof ConfigError && /--question and --context/.test(e.message));
  });

  it('fill-mask: top-k candidates for the mask', async () => {
    const mlm = await withHead('fill-mask', 'mlm');
    const { task, records } = await predict(mlm, { texts: ['the movie was [MASK] .'] }, { ...quiet, parameters: { top_k: 3 } });
    assert.equal(task, 'fill-mask');
    const preds = records[0]!.predictions as { token_str: string; score: number }[];
    assert.equal(preds.length, 3);
    assert.ok(preds[0]!.score >= preds[1]!.score);
  });

  it('refuses a folder with no task head, and a task that is not the folder\'s', async () => {
    const bare = await withHead('feature-extraction', 'bare');
    await assert.rejects(predict(bare, { texts: ['hello'] }, quiet), (e: unknown) => e instanceof ConfigError && /has no task head/.test(e.message));
    await assert.rejects(predict(TOKCLS, { texts: ['hello'] }, { ...quiet, task: 'text-classification' }), (e: unknown) => e instanceof ModelError && /token-classification/.test(e.message));
  });
});

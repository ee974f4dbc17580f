// Tests for splits, the batch sampler and collation: split sizes and stratification follow their
// definitions, length grouping follows transformers' get_length_grouped_indices step by step, a resumed
// sampler continues with the same batches, and padding/labels match transformers' collators.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignWordLabels, collate, IGNORE_INDEX } from '../../src/data/collate.ts';
import { Rng } from '../../src/rng.ts';
import { BatchSampler, lengthGroupedOrder } from '../../src/data/sampler.ts';
import { splitIndices } from '../../src/data/split.ts';

test('split sizes: held-out parts round up like scikit-learn, parts are disjoint and cover everything', () => {
  const s = splitIndices(1001, { validation: 0.1, test: 0.2, seed: 3 });
  assert.equal(s.test.length, 201); // ceil(200.2)
  assert.equal(s.validation.length, 101); // ceil(100.1)
  assert.equal(s.train.length, 1001 - 201 - 101);
  const all = [...s.train, ...s.validation, ...s.test].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: 1001 }, (_, i) => i));
  for (const part of [s.train, s.validation, s.test]) assert.deepEqual(part, [...part].sort((a, b) => a - b));
  assert.deepEqual(splitIndices(1001, { validation: 0.1, test: 0.2, seed: 3 }), s);
  assert.notDeepEqual(splitIndices(1001, { validation: 0.1, test: 0.2, seed: 4 }).test, s.test);
});

test('stratified split keeps each class within one example of its exact share', () => {
  // 5,574 rows with the SMS Spam Collection's class sizes (4,827 ham / 747 spam).
  const labels = Array.from({ length: 5574 }, (_, i) => (i % 7 === 0 && i / 7 < 747 ? 'spam' : 'ham'));
  assert.equal(labels.filter((l) => l === 'spam').length, 747);
  const s = splitIndices(labels.length, { validation: 0.1, test: 0.2, seed: 11, stratifyBy: (i) => labels[i] as string });
  const count = (ids: number[], l: string): number => ids.filter((i) => labels[i] === l).length;
  assert.equal(s.test.length, Math.ceil(5574 * 0.2));
  assert.equal(s.validation.length, Math.ceil(5574 * 0.1));
  for (const [part, n] of [[s.test, s.test.length], [s.validation, s.validation.length]] as const) {
    const exactSpam = (747 / 5574) * n;
    assert.ok(Math.abs(count(part, 'spam') - exactSpam) < 1, `spam ${count(part, 'spam')} vs ${exactSpam}`);
  }
  assert.throws(() => splitIndices(10, { validation: 0.6, test: 0.5, seed: 1 }), /must leave some training data/);
});

test('length grouping follows get_length_grouped_indices', () => {
  const lengths = [5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 10, 0];
  const batchSize = 2;
  // Replay the algorithm by hand with the same permutation: mega-batch mult = min(12 // 8, 50) = 1.
  const perm = Rng.fromSeed(1).permutation(lengths.length);
  const megas: number[][] = [];
  for (let i = 0; i < perm.length; i += 2) megas.push(perm.slice(i, i + 2).sort((a, b) => (lengths[b] as number) - (lengths[a] as number)));
  const maxMega = megas.findIndex((m) => lengths[m[0] as number] === 10);
  [(megas[0] as number[])[0], (megas[maxMega] as number[])[0]] = [(megas[maxMega] as number[])[0] as number, (megas[0] as number[])[0] as number];
  const expected = megas.flat();
  const got = lengthGroupedOrder(lengths, batchSize, Rng.fromSeed(1));
  assert.deepEqual(got, expected);
  assert.equal(lengths[got[0] as number], 10); // the longest example comes first
  // With bigger mega-batches, each mega-batch is sorted longest first.
  const big = Array.from({ length: 400 }, (_, i) => (i * 37) % 101);
  const order = lengthGroupedOrder(big, 4, Rng.fromSeed(2)); // mult = min(400 // 16, 50) = 25 → mega-batch of 100
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: 400 }, (_, i) => i));
  assert.equal(big[order[0] as number], 100);
  for (let m = 0; m < 4; m++) {
    // Position 0 of a mega-batch may hold the swapped longest element; the rest is sorted longest first.
    const seg = order.slice(m * 100 + 1, (m + 1) * 100).map((i) => big[i] as number);
    for (let k = 1; k < seg.length; k++) assert.ok((seg[k - 1] as number) >= (seg[k] as number), `mega-batch ${m} not sorted at ${k}`);
  }
});

test('sampler: every epoch a new permutation; state resumes mid-epoch exactly', () => {
  const opts = { size: 23, batchSize: 5, seed: 42 };
  const a = new BatchSampler(opts);
  assert.equal(a.batchesPerEpoch, 5);
  const seq: number[][] = [];
  for (let i = 0; i < 12; i++) seq.push(a.next().indices);
  const epoch0 = seq.slice(0, 5).flat();
  assert.deepEqual([...epoch0].sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
  assert.notDeepEqual(seq.slice(5, 10).flat(), epoch0);

  const b = new BatchSampler(opts);
  for (let i = 0; i < 7; i++) b.next();
  const saved = JSON.parse(JSON.stringify(b.getState())) as { epoch: number; batch: number };
  assert.deepEqual(saved, { epoch: 1, batch: 2 });
  const resumed = new BatchSampler(opts);
  resumed.setState(saved);
  for (let i = 7; i < 12; i++) assert.deepEqual(resumed.next().indices, seq[i]);

  const eval_ = new BatchSampler({ size: 7, batchSize: 3, seed: 0, shuffle: false, dropLast: true });
  assert.deepEqual([eval_.next().indices, eval_.next().indices, eval_.next().indices], [[0, 1, 2], [3, 4, 5], [0, 1, 2]]);
  assert.throws(() => resumed.setState({ epoch: 0, batch: 9 }), /not a position/);
});

test('collate pads right with the pad id, masks padding, and pads token labels with -100', () => {
  const batch = collate(
    [
      { inputIds: [101, 7, 8, 102], tokenTypeIds: [0, 0, 0, 0], tokenLabels: [-100, 3, 4, -100] },
      { inputIds: [101, 9, 102], tokenTypeIds: [0, 0, 0], tokenLabels: [-100, 1, -100] },
    ],
    { padTokenId: 0 },
  );
  assert.equal(batch.seqLen, 4);
  assert.deepEqual(Array.from(batch.inputIds), [101, 7, 8, 102, 101, 9, 102, 0]);
  assert.deepEqual(Array.from(batch.attentionMask), [1, 1, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(Array.from(batch.tokenTypeIds ?? []), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(batch.labels ?? []), [-100, 3, 4, -100, -100, 1, -100, IGNORE_INDEX]);
  assert.deepEqual(batch.labelShape, [2, 4]);
});

test('collate: pad_to_multiple_of, left padding, class/regression/multi-label/span labels', () => {
  const cls = collate([{ inputIds: [1, 2, 3], label: 1 }, { inputIds: [1], label: 0 }], { padTokenId: 9, padToMultipleOf: 8 });
  assert.equal(cls.seqLen, 8);
  assert.deepEqual(Array.from(cls.labels ?? []), [1, 0]);
  assert.equal(cls.tokenTypeIds, undefined);
  const left = collate([{ inputIds: [5, 6, 7] }, { inputIds: [8] }], { padTokenId: 0, paddingSide: 'left' });
  assert.deepEqual(Array.from(left.inputIds), [5, 6, 7, 0, 0, 8]);
  assert.deepEqual(Array.from(left.attentionMask), [1, 1, 1, 0, 0, 1]);
  const reg = collate([{ inputIds: [1], target: 0.5 }, { inputIds: [1], target: -2 }], { padTokenId: 0 });
  assert.deepEqual(Array.from(reg.floatLabels ?? []), [0.5, -2]);
  const multi = collate([{ inputIds: [1], labelVector: [1, 0, 1] }, { inputIds: [1], labelVector: [0, 0, 1] }], { padTokenId: 0 });
  assert.deepEqual(multi.floatLabelShape, [2, 3]);
  assert.deepEqual(Array.from(multi.floatLabels ?? []), [1, 0, 1, 0, 0, 1]);
  const qa = collate([{ inputIds: [1, 2], startPosition: 1, endPosition: 1 }], { padTokenId: 0 });
  assert.deepEqual([Array.from(qa.startPositions ?? []), Array.from(qa.endPositions ?? [])], [[1], [1]]);
  assert.throws(() => collate([{ inputIds: [1], label: 1 }, { inputIds: [1] }], { padTokenId: 0 }), /mixes label kinds/);
});

test('word labels align to the first sub-token, -100 elsewhere (transformers token-classification example)', () => {
  // "EU rejects German" → [CLS] EU re ##jects German [SEP]; word ids [null, 0, 1, 1, 2, null].
  const wordIds = [null, 0, 1, 1, 2, null];
  assert.deepEqual(Array.from(alignWordLabels(wordIds, [3, 0, 7])), [-100, 3, 0, -100, 7, -100]);
  assert.deepEqual(Array.from(alignWordLabels(wordIds, [3, 0, 7], { labelAllSubTokens: true })), [-100, 3, 0, 0, 7, -100]);
});

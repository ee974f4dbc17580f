// Tests for QA windowing and answer positions: windows follow the stride definition (consecutive
// windows share `stride` tokens, the last reaches the end) and answer positions follow transformers'
// run_qa prepare_train_features rules, worked by hand on a small tokenised example.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerTokenPositions, contextWindows } from '../../src/data/qa.ts';

test('context windows overlap by exactly `stride` tokens and cover the context', () => {
  assert.deepEqual(contextWindows(10, 4, 1), [[0, 4], [3, 7], [6, 10]]);
  assert.deepEqual(contextWindows(3, 4, 2), [[0, 3]]);
  assert.deepEqual(contextWindows(8, 4, 0), [[0, 4], [4, 8]]);
  for (const [len, max, stride] of [[100, 30, 10], [384, 128, 64], [129, 128, 127]] as const) {
    const w = contextWindows(len, max, stride);
    assert.equal(w[0]?.[0], 0);
    assert.equal(w[w.length - 1]?.[1], len);
    for (let i = 1; i < w.length; i++) assert.equal((w[i - 1] as [number, number])[1] - (w[i] as [number, number])[0], stride);
    for (const [a, b] of w) assert.ok(b - a <= max);
  }
  assert.throws(() => contextWindows(10, 4, 4), /doc_stride/);
});

// "[CLS] who won ? [SEP] The Denver Broncos won Super Bowl 50 . [SEP]"
const context = 'The Denver Broncos won Super Bowl 50.';
const offsets: ([number, number] | null)[] = [null, [0, 3], [4, 7], [8, 9], null, [0, 3], [4, 10], [11, 18], [19, 22], [23, 28], [29, 33], [34, 36], [36, 37], null];
const seqIds = [null, 0, 0, 0, null, 1, 1, 1, 1, 1, 1, 1, 1, null];

test('answer character span → token positions', () => {
  assert.equal(context.slice(4, 18), 'Denver Broncos');
  assert.deepEqual(answerTokenPositions(offsets, seqIds, 4, 'Denver Broncos'), { startPosition: 6, endPosition: 7 });
  assert.deepEqual(answerTokenPositions(offsets, seqIds, 34, '50'), { startPosition: 11, endPosition: 11 });
  // Answer starting mid-token ("enver") still maps to the token holding its first character.
  assert.deepEqual(answerTokenPositions(offsets, seqIds, 5, 'enver'), { startPosition: 6, endPosition: 6 });
  // Unanswerable, or the answer not fully inside this window: both positions point at [CLS].
  assert.deepEqual(answerTokenPositions(offsets, seqIds, 0, ''), { startPosition: 0, endPosition: 0 });
  const window = offsets.slice(0, 9).concat([null]); // context cut after "won"
  const windowIds = seqIds.slice(0, 9).concat([null]);
  assert.deepEqual(answerTokenPositions(window, windowIds, 23, 'Super Bowl'), { startPosition: 0, endPosition: 0 });
  assert.deepEqual(answerTokenPositions(window, windowIds, 19, 'won'), { startPosition: 8, endPosition: 8 });
});

// Tests for SQuAD EM/F1 (values produced by the official SQuAD v1.1 evaluation functions run in
// Python, and Hugging Face's documented `squad` example), QA span selection, and perplexity.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PerplexityMetric } from '../../src/eval/perplexity.ts';
import { bestAnswer } from '../../src/eval/qa.ts';
import { exactMatchScore, f1Score, normalizeAnswer, SquadMetrics } from '../../src/eval/squad.ts';

const close = (a: number | undefined, b: number, tol = 1e-12): void => assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} != ${b}`);

test('normalize_answer matches the official script', () => {
  // Python: evaluate-v1.1.py normalize_answer(s) for each input.
  const cases: [string, string][] = [
    ['The  Eiffel Tower!', 'eiffel tower'],
    ['Theatre of the Absurd', 'theatre of absurd'],
    ['an apple, a day', 'apple day'],
    ['U.S.A.', 'usa'],
    ['Denver Broncos\u2019', 'denver broncos\u2019'], // only ASCII punctuation is removed
    ['  the\tthe  cat ', 'cat'],
    ['résumé the café', 'résumé café'],
    ['anthem', 'anthem'],
  ];
  for (const [input, expected] of cases) assert.equal(normalizeAnswer(input), expected, input);
});

test('f1 and exact match per pair match the official script', () => {
  // Python: f1_score(prediction, ground_truth) and normalize equality from evaluate-v1.1.py.
  const cases: [string, string, number, number][] = [
    ['the cat sat on the mat', 'a cat on a mat', 0.8571428571428571, 0],
    ['Denver Broncos', 'The Denver Broncos', 1, 1],
    ['Broncos win', 'Denver Broncos', 0.5, 0],
    ['1976', 'in 1976', 0.6666666666666666, 0],
    ['a a a b', 'a b b', 0.6666666666666666, 0],
    ['x y y z', 'y y y', 0.5714285714285715, 0],
  ];
  for (const [p, g, f1, em] of cases) {
    close(f1Score(p, g), f1);
    assert.equal(exactMatchScore(p, g), em);
  }
});

test("Hugging Face squad metric example: {'exact_match': 100.0, 'f1': 100.0}", () => {
  const m = new SquadMetrics();
  m.update('1976', ['1976']);
  assert.deepEqual(m.compute(), { exact_match: 100, f1: 100, count: 1 });
});

test('best reference counts; results are percentages averaged over examples; v2 empty answers', () => {
  const m = new SquadMetrics();
  m.update('Denver Broncos', ['Carolina Panthers', 'the Denver Broncos']); // EM 1, F1 1
  m.update('Broncos win', ['Denver Broncos']); // EM 0, F1 0.5
  m.update('', []); // unanswerable, predicted empty: EM 1, F1 1 (SQuAD v2 script)
  m.update('something', []); // unanswerable, answered: 0, 0
  const r = m.compute();
  close(r['exact_match'], 50);
  close(r['f1'], 62.5);
});

test('QA span selection: best start+end inside the context, end ≥ start, length limit, v2 null answer', () => {
  const context = 'Denver Broncos won Super Bowl 50.';
  // Tokens: [CLS] q [SEP] Denver Broncos won Super Bowl 50 . [SEP]
  const offsets: ([number, number] | null)[] = [null, null, null, [0, 6], [7, 14], [15, 18], [19, 24], [25, 29], [30, 32], [32, 33], null];
  const start = [0, 9, 0, 5, 1, 0, 0, 0, 0, 0, 0]; // highest start logit on a question token (offset null) must be skipped
  const end = [0, 0, 0, 1, 4, 0, 0, 0, 0, 0, 9];
  const a = bestAnswer(context, [{ startLogits: start, endLogits: end, offsets }]);
  assert.equal(a.text, 'Denver Broncos');
  assert.equal(a.score, 9);
  assert.deepEqual([a.start, a.end], [0, 14]);
  // The answer may come from another window of the same example.
  const other = { startLogits: [0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0], endLogits: [0, 0, 0, 0, 0, 0, 0, 3, 6, 0, 0], offsets };
  assert.equal(bestAnswer(context, [{ startLogits: start, endLogits: end, offsets }, other]).text, 'Super Bowl 50');
  assert.equal(bestAnswer(context, [other], { maxAnswerLength: 2 }).text, 'Super Bowl');
  const nullWins = { startLogits: [20, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0], endLogits: [20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0], offsets };
  assert.equal(bestAnswer(context, [nullWins], { allowNoAnswer: true }).text, '');
  assert.equal(bestAnswer(context, [nullWins]).text, 'Denver Broncos');
});

test('perplexity: uniform logits give the vocabulary size; hand-computed NLL; -100 skipped', () => {
  const V = 50;
  const m = new PerplexityMetric();
  m.updateFromLogits(new Float32Array(3 * V), [1, 7, 49]);
  close(m.compute()['perplexity'], V, 1e-9);
  // logits [0, ln 3] with target 1: p = 3/4, NLL = ln(4/3); target -100 ignored.
  const h = new PerplexityMetric();
  h.updateFromLogits([0, Math.log(3), 5, 5], [1, -100]);
  close(h.compute()['loss'], Math.log(4 / 3));
  close(h.compute()['perplexity'], 4 / 3);
  assert.equal(h.compute()['tokens'], 1);
  // Token-weighted over batches, not a mean of batch perplexities: (2·ln 2 + 1·ln 8) / 3 tokens.
  const w = new PerplexityMetric();
  w.update(2 * Math.log(2), 2);
  w.update(Math.log(8), 1);
  close(w.compute()['perplexity'], Math.exp((2 * Math.log(2) + Math.log(8)) / 3));
});

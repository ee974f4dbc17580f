// Logits processors and token choice against hand-computed values of transformers' processors
// (RepetitionPenalty, TopK, TopP) and the sampling distribution against softmax probabilities.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { applyRepetitionPenalty, applyTopK, applyTopP, argmax, nextToken, Rng, validateSampling } from '../../src/generate/sampling.ts';

const row = (...v: number[]) => Float64Array.from(v);

describe('logits processors (transformers semantics)', () => {
  it('repetition penalty divides positive and multiplies negative scores of seen tokens once', () => {
    const s = row(2, -2, 1, 4);
    applyRepetitionPenalty(s, [0, 1, 1, 0], 2);
    assert.deepEqual([...s], [1, -4, 1, 4]);
  });

  it('top-k keeps the k highest scores and ties with the k-th', () => {
    const a = row(1, 3, 3, 2);
    applyTopK(a, 2);
    assert.deepEqual([...a], [-Infinity, 3, 3, -Infinity]);
    const b = row(1, 3, 3, 2);
    applyTopK(b, 3);
    assert.deepEqual([...b], [-Infinity, 3, 3, 2]);
  });

  it('top-p removes the tail whose cumulative probability is <= 1 - top_p', () => {
    // probabilities 0.5, 0.3, 0.15, 0.05: ascending cumulative 0.05, 0.2, 0.5, 1.0
    const p = [0.5, 0.3, 0.15, 0.05];
    const a = Float64Array.from(p, Math.log);
    applyTopP(a, 0.75); // removes cum <= 0.25: the 0.05 and 0.15 tokens
    assert.deepEqual([...a].map(Number.isFinite), [true, true, false, false]);
    const b = Float64Array.from(p, Math.log);
    applyTopP(b, 0.85); // removes cum <= 0.15: the 0.05 token
    assert.deepEqual([...b].map(Number.isFinite), [true, true, true, false]);
    const c = Float64Array.from([0.97, 0.01, 0.01, 0.01], Math.log);
    applyTopP(c, 0.01); // the most likely token always stays
    assert.deepEqual([...c].map(Number.isFinite), [true, false, false, false]);
  });

  it('greedy takes the first maximum', () => {
    assert.equal(argmax([0.1, 0.7, 0.7, 0.2]), 1);
    assert.equal(nextToken([0.1, 0.7, 0.7, 0.2], [], {}, Rng.fromSeed(0)), 1);
  });

  it('sampling follows softmax(logits / temperature)', () => {
    const logits = [Math.log(0.1), Math.log(0.2), Math.log(0.7)];
    const rng = Rng.fromSeed(123);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[nextToken(logits, [], { doSample: true, topK: 0 }, rng)]++;
    [0.1, 0.2, 0.7].forEach((p, i) => assert.ok(Math.abs(counts[i] / n - p) < 0.015, `token ${i}: ${counts[i] / n} vs ${p}`));
    // temperature 0.5 squares the odds: p ∝ 0.01, 0.04, 0.49
    const hot = [0, 0, 0];
    for (let i = 0; i < n; i++) hot[nextToken(logits, [], { doSample: true, temperature: 0.5, topK: 0 }, rng)]++;
    [0.01, 0.04, 0.49].map((q) => q / 0.54).forEach((p, i) => assert.ok(Math.abs(hot[i] / n - p) < 0.015, `T=0.5 token ${i}: ${hot[i] / n} vs ${p}`));
  });

  it('rejects out-of-range settings', () => {
    assert.throws(() => validateSampling({ temperature: 0 }), ConfigError);
    assert.throws(() => validateSampling({ topP: 1.5 }), ConfigError);
    assert.throws(() => validateSampling({ topK: -1 }), ConfigError);
  });
});

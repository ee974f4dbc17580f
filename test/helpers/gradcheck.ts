// Finite-difference gradient checking (central differences, float64, reference backend) and small
// tensor test helpers shared by the engine tests: `checkGrad(fn, inputs)` is the one-line op test.

import assert from 'node:assert/strict';
import { referenceBackend } from '../../src/backend/reference.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

/** A seeded uniform generator in [lo, hi) (mulberry32), so failures reproduce. */
export function rng(seed: number): (lo?: number, hi?: number) => number {
  let a = seed >>> 0;
  return (lo = -1, hi = 1) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return lo + (hi - lo) * u;
  };
}

/** A float64 leaf on the reference backend with random values. */
export function rand64(shape: number[], seed: number, lo = -1, hi = 1): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = r(lo, hi);
  return F.untracked(() => {
    const t = Tensor.from(v, shape, 'float64', referenceBackend);
    t.requiresGrad = true;
    return t;
  });
}

/**
 * Checks d(sum(fn(inputs) * W))/d(input) from backward() against central differences for every
 * element of every input (W is a fixed random weighting so every output element matters).
 */
export function checkGrad(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], opts: { eps?: number; tol?: number } = {}): void {
  const eps = opts.eps ?? 1e-6;
  const tol = opts.tol ?? 1e-6;
  const weights = F.noGrad(() => {
    const out = fn(...inputs);
    const w = rand64([...out.shape], 12345);
    w.requiresGrad = false;
    return w;
  });
  const objective = (): Tensor => F.sum(F.mul(fn(...inputs), weights));
  for (const x of inputs) x.grad = null;
  F.tidy(() => objective().backward());
  for (const [k, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    const data = x.buffer;
    assert.ok(x.grad, `input ${k} got no gradient`);
    const analytic = x.grad.toArray();
    for (let i = 0; i < data.length; i++) {
      const orig = data[i];
      data[i] = orig + eps;
      const plus = F.tidy(() => F.noGrad(() => objective().item()));
      data[i] = orig - eps;
      const minus = F.tidy(() => F.noGrad(() => objective().item()));
      data[i] = orig;
      const numeric = (plus - minus) / (2 * eps);
      const err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric));
      assert.ok(err < tol, `input ${k} element ${i}: analytic ${analytic[i]} vs numeric ${numeric} (err ${err})`);
    }
  }
}

/** Max |a - b| / max(1e-30, max |b|) over two arrays. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let maxDiff = 0;
  let maxRef = 1e-30;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  return maxDiff / maxRef;
}

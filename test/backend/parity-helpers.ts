// Shared helpers of the native-vs-reference parity tests: seeded random buffers, a tolerance check
// that names the worst element, and the skip message used when the addon is not built.
// Not a test file itself (no .test.ts suffix).

import assert from 'node:assert/strict';

import { nativeAvailable, nativeLoadError } from '../../src/backend/native.ts';

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

/** A Float32Array of n uniform values in [lo, hi). */
export function randF32(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r(lo, hi);
  return out;
}

/** An Int32Array of n uniform integers in [lo, hi). */
export function randI32(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r(lo, hi));
  return out;
}

/**
 * Asserts |actual - expected| <= atol + rtol * |expected| elementwise (NaN must match NaN, infinities
 * must match exactly) and reports the worst element.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rtol = 1e-5,
  atol = 1e-6,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!Object.is(a, e) && !(Number.isNaN(a) && Number.isNaN(e))) {
        assert.fail(`${what}: element ${i} is ${a}, expected ${e}`);
      }
      continue;
    }
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Asserts bitwise equality of two float32/int32 buffers. */
export function assertBitwise(actual: Float32Array | Int32Array, expected: Float32Array | Int32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) assert.fail(`${what}: element ${i} differs bitwise: ${actual[i]} vs ${expected[i]}`);
  }
}

/** node:test `skip` option: false when the addon loads, else the reason. */
export function skipWithoutNative(): string | false {
  return nativeAvailable() ? false : `native addon not built (${nativeLoadError() ?? 'unknown'}); run npm install`;
}

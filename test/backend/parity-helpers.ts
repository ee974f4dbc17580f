// Shared helpers of the parity tests: seeded random buffers, a tolerance check that names the worst
// element, skip messages, and the list of backends (native, webgpu) the table-driven harness runs.
// Not a test file itself (no .test.ts suffix).

import assert from 'node:assert/strict';

import type { Backend } from '../../src/backend/backend.ts';
import { nativeAvailable, nativeBackend, nativeLoadError } from '../../src/backend/native.ts';
import { webgpuAvailability } from '../../src/backend/webgpu/node.ts';

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

// ---- backend list for the table-driven harness (parity-backends.test.ts) --------------------------


/** A backend under test and how to move buffers to it and back (identity for host backends). */
export interface Target {
  name: string;
  be: Backend;
  skip: string | false;
  /** A buffer on this backend holding a copy of `host`. */
  put<T extends Float32Array | Int32Array>(host: T): T;
  /** The elements of a buffer of this backend, on the host. */
  get<T extends Float32Array | Int32Array>(arr: T): Promise<T>;
}

/**
 * Every backend the parity table runs against the reference: native (when the addon is built) and
 * webgpu (when an adapter is found; on Linux without a GPU set VK_ICD_FILENAMES to SwiftShader's ICD
 * from Debian's chromium package, which the webgpu loader does by itself when the file exists).
 */
export async function parityTargets(): Promise<Target[]> {
  const gpu = await webgpuAvailability();
  const host = {
    put: <T extends Float32Array | Int32Array>(h: T): T => h.slice() as T,
    get: <T extends Float32Array | Int32Array>(a: T): Promise<T> => Promise.resolve(a),
  };
  const targets: Target[] = [{ name: 'native', be: nativeBackend, skip: skipWithoutNative(), ...host }];
  if (gpu.ok) {
    const mem = gpu.backend.memory!;
    targets.push({
      name: 'webgpu',
      be: gpu.backend,
      skip: false,
      put: <T extends Float32Array | Int32Array>(h: T): T => mem.upload(h.slice()) as T,
      get: async <T extends Float32Array | Int32Array>(a: T): Promise<T> => {
        await mem.download(a);
        return (a instanceof Int32Array ? Int32Array.from(a) : Float32Array.from(a)) as T;
      },
    });
  } else {
    targets.push({
      name: 'webgpu',
      be: nativeBackend,
      skip: `no WebGPU adapter (${gpu.reason}); to run: apt-get install chromium libvulkan1 (SwiftShader), or set VK_ICD_FILENAMES to a Vulkan ICD`,
      ...host,
    });
  }
  return targets;
}

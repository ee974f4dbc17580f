// Counter-based random bits shared by every backend: dropout masks are a pure function of
// (seed, element index), so the reference and native kernels, any thread count, and the backward
// pass all see the same mask without storing it. Not a general-purpose RNG (see src/data/rng.ts).
// The C++ twin is native/src/rng.h; both must stay bit-identical (tested in test/backend/parity).

/** murmur3's 32-bit finaliser: a bijection on uint32 with good avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32 random bits for element `index` (0 <= index < 2^32) under `seed` (uint32). */
export function hash32(seed: number, index: number): number {
  return fmix32((Math.imul(index >>> 0, 0x9e3779b1) ^ fmix32(seed >>> 0)) >>> 0);
}

/** Threshold t such that an element is dropped when hash32 < t; p in [0, 1). */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout probability must be in [0, 1), got ${p}`);
  return Math.min(Math.floor(p * 4294967296), 4294967295);
}

/** Whether element `index` is kept by dropout with probability p under `seed`. */
export function dropoutKeep(seed: number, index: number, threshold: number): boolean {
  return hash32(seed, index) >= threshold;
}

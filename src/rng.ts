// Seeded random numbers for data order, splits and sampling: xoshiro128** (Blackman & Vigna) seeded
// through SplitMix64, with a state of four uint32 words that can be saved and restored exactly, so a
// resumed run draws the same numbers as an uninterrupted one.
// Not here: weight initialisation streams or anything cryptographic (this generator is not secure).

import { ConfigError } from './errors.ts';

/** The full generator state: four uint32 words. Plain numbers so it round-trips through JSON. */
export type RngState = [number, number, number, number];

const MASK64 = (1n << 64n) - 1n;

/** One SplitMix64 step: returns [nextState, output], both as unsigned 64-bit bigints. */
function splitMix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

function toSeedBigint(seed: number | bigint, what: string): bigint {
  if (typeof seed === 'bigint') return seed & MASK64;
  if (!Number.isSafeInteger(seed)) {
    throw new ConfigError(what, `must be an integer (got ${seed}); use a whole number such as 42`);
  }
  return BigInt.asUintN(64, BigInt(seed));
}

/**
 * Mix a seed with extra integer keys (epoch, trial, worker...) into a new 53-bit seed, so related
 * streams are independent yet reproducible.
 *
 * @example
 * const epochRng = Rng.fromSeed(deriveSeed(42, epoch));
 */
export function deriveSeed(seed: number | bigint, ...keys: number[]): number {
  let s = toSeedBigint(seed, 'seed');
  let out: bigint;
  [s, out] = splitMix64(s);
  for (const k of keys) {
    [s, out] = splitMix64(s ^ out ^ toSeedBigint(k, 'seed key'));
  }
  [, out] = splitMix64(s ^ out);
  return Number(out >> 11n); // 53 bits: a safe integer
}

/**
 * xoshiro128** generator.
 *
 * @example
 * const rng = Rng.fromSeed(42);
 * const i = rng.nextInt(10);          // 0..9
 * const saved = rng.getState();       // JSON-safe
 * const again = new Rng(saved);       // continues exactly where `rng` was
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  /** A second normal deviate left over from the last Box-Muller pair (part of the state). */
  private spareNormal: number | null = null;

  constructor(state: RngState, spareNormal: number | null = null) {
    if (state.length !== 4 || state.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new ConfigError('rng state', `must be four uint32 words, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) {
      throw new ConfigError('rng state', 'must not be all zeros (xoshiro would only ever return 0)');
    }
    [this.s0, this.s1, this.s2, this.s3] = state;
    this.spareNormal = spareNormal;
  }

  /** Seed the four state words from SplitMix64(seed), as the xoshiro authors recommend. */
  static fromSeed(seed: number | bigint): Rng {
    let s = toSeedBigint(seed, 'seed');
    let a: bigint;
    let b: bigint;
    [s, a] = splitMix64(s);
    [, b] = splitMix64(s);
    return new Rng([
      Number(a & 0xffffffffn),
      Number(a >> 32n),
      Number(b & 0xffffffffn),
      Number(b >> 32n),
    ]);
  }

  /** The next uint32 (0 .. 2^32-1). */
  nextU32(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ s1) >>> 0;
    this.s1 = (s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** A float in [0, 1) with 53 random bits (two draws). */
  nextFloat(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** An integer uniform in [0, n), without modulo bias (rejection sampling). n ≤ 2^32. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new ConfigError('nextInt bound', `must be an integer in 1..2^32, got ${n}`);
    }
    // Accept draws below the largest multiple of n that fits in 2^32.
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal deviate (Box-Muller; the spare value is kept in the state). */
  nextNormal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffle `items` in place (Fisher-Yates, from the end) and return it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    return this.shuffle(out);
  }

  /** The state words (copy). Save this together with {@link Rng.getSpareNormal} to resume exactly. */
  getState(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** The cached second Box-Muller deviate, or null. */
  getSpareNormal(): number | null {
    return this.spareNormal;
  }

  /** Overwrite the state (e.g. from a checkpoint). */
  setState(state: RngState, spareNormal: number | null = null): void {
    const fresh = new Rng(state, spareNormal);
    [this.s0, this.s1, this.s2, this.s3] = fresh.getState();
    this.spareNormal = spareNormal;
  }

  /** An independent copy with the same state. */
  clone(): Rng {
    return new Rng(this.getState(), this.spareNormal);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

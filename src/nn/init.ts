// The global seeded generator for parameter initialisation and dropout seeds (xoshiro128** from
// src/rng.ts: 32-bit integer arithmetic, fast enough to initialise a bert-base in seconds).
// Its state is part of a training checkpoint, so a resumed run draws the same dropout masks as an
// uninterrupted one. Not a tensor op: it only produces numbers.

import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { deriveSeed, Rng, type RngState } from '../rng.ts';

let generator = Rng.fromSeed(0);

/** Reseeds the global generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  generator = Rng.fromSeed(seed);
}

/** The generator's state as a string, for checkpoints. */
export function getGeneratorState(): string {
  return JSON.stringify({ state: generator.getState(), spare: generator.getSpareNormal() });
}

/** Restores a state written by getGeneratorState(). */
export function setGeneratorState(s: string): void {
  const parsed = JSON.parse(s) as { state: RngState; spare: number | null };
  generator.setState(parsed.state, parsed.spare);
}

let sampleKeys: readonly number[] | null = null;

/**
 * Per-sample dropout keys (the dataset indices of the batch rows), or null for one mask per call.
 * With keys, a Dropout whose input has one row per key draws each row's mask from (call seed, key), so a
 * sample gets the same mask whichever batch or rank it lands in (exact data-parallel training).
 */
export function setDropoutSampleKeys(keys: readonly number[] | null): void {
  sampleKeys = keys;
}

/** The keys set by setDropoutSampleKeys. */
export function dropoutSampleKeys(): readonly number[] | null {
  return sampleKeys;
}

/**
 * F.attention whose dropout masks follow the per-sample keys when they are set (one call per batch row,
 * row seed derived from the call seed and the row's key); plain F.attention otherwise.
 */
export function sampleKeyedAttention(q: Tensor, k: Tensor, v: Tensor, opts: Parameters<typeof F.attention>[3] = {}): Tensor {
  const keys = sampleKeys;
  if (keys === null || !opts.dropoutP || q.shape[0] !== keys.length) return F.attention(q, k, v, opts);
  const rows = keys.map((key, i) =>
    F.attention(F.narrow(q, 0, i, 1), F.narrow(k, 0, i, 1), F.narrow(v, 0, i, 1), {
      ...opts,
      keyMask: opts.keyMask ? F.narrow(opts.keyMask, 0, i, 1) : opts.keyMask,
      seed: deriveSeed(opts.seed ?? 0, key) >>> 0,
    }),
  );
  return rows.length === 1 ? (rows[0] as Tensor) : F.concat(rows, 0);
}

/** A fresh uint32 seed for a dropout mask. */
export function nextSeed(): number {
  return generator.nextU32();
}

let deferring = false;

/**
 * Runs build with deferred initialisation: every normalInit inside returns a tensor that takes no memory
 * until first read (then it draws from its own generator, seeded by one draw of the global one at
 * creation). A loader fills or quantises the weights without ever holding the random fp32 ones.
 * The random values differ from an eager build's; parameters the checkpoint fills are unaffected.
 */
export function deferredInit<T>(build: () => T): T {
  const prev = deferring;
  deferring = true;
  try {
    return build();
  } finally {
    deferring = prev;
  }
}

/**
 * A persistent float32 tensor with N(0, std^2) entries (Hugging Face's `initializer_range` init);
 * `zeroRow` (an embedding's padding index) is set to 0.
 */
export function normalInit(shape: number[], std: number, zeroRow: number | null = null): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const cols = shape.length > 1 ? n / shape[0] : 1;
  const fill = (v: Float32Array | Float64Array | Int32Array, rng: Rng): void => {
    for (let i = 0; i < n; i++) v[i] = rng.nextNormal() * std;
    if (zeroRow !== null && zeroRow >= 0 && zeroRow < shape[0]) v.fill(0, zeroRow * cols, (zeroRow + 1) * cols);
  };
  if (deferring) {
    const seed = generator.nextU32();
    return F.untracked(() => Tensor.deferred(shape, (out) => fill(out, Rng.fromSeed(seed))));
  }
  const v = new Float32Array(n);
  fill(v, generator);
  return F.untracked(() => Tensor.from(v, shape, 'float32'));
}

/** The global generator itself (LoRA initialisation draws from it). */
export function getGenerator(): Rng {
  return generator;
}

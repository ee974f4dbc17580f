// The global seeded generator for parameter initialisation and dropout seeds (xoshiro128** from
// src/util/rng.ts: 32-bit integer arithmetic, fast enough to initialise a bert-base in seconds).
// Its state is part of a training checkpoint, so a resumed run draws the same dropout masks as an
// uninterrupted one. Not a tensor op: it only produces numbers.

import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { Rng, type RngState } from '../util/rng.ts';

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

// The global seeded generator for parameter initialisation and dropout seeds. Its state is part of
// a training checkpoint, so a resumed run draws the same dropout masks as an uninterrupted one.
// Not a tensor op: it only produces numbers (PCG32 with Box-Muller normals).

import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';

/** PCG32 (O'Neill): 64-bit state as two uint32 halves kept in BigInt for clarity. */
export class Pcg32 {
  private state = 0n;
  private readonly inc: bigint;
  constructor(seed: number | bigint, stream = 54n) {
    this.inc = ((BigInt(stream) << 1n) | 1n) & 0xffffffffffffffffn;
    this.nextU32();
    this.state = (this.state + BigInt(seed)) & 0xffffffffffffffffn;
    this.nextU32();
  }

  nextU32(): number {
    const old = this.state;
    this.state = (old * 6364136223846793005n + this.inc) & 0xffffffffffffffffn;
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << (-rot & 31))) >>> 0;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller; one value per call, the pair's second half is discarded). */
  normal(): number {
    let u = this.uniform();
    while (u <= Number.EPSILON) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  getState(): string {
    return this.state.toString(16);
  }

  setState(s: string): void {
    this.state = BigInt(`0x${s}`);
  }
}

let generator = new Pcg32(0);

/** Reseeds the global generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  generator = new Pcg32(seed);
}

export function getGenerator(): Pcg32 {
  return generator;
}

/** A fresh uint32 seed for a dropout mask. */
export function nextSeed(): number {
  return generator.nextU32();
}

/** A persistent float32 tensor with N(0, std^2) entries (Hugging Face's `initializer_range` init). */
export function normalInit(shape: number[], std: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = generator.normal() * std;
  return F.untracked(() => Tensor.from(v, shape, 'float32'));
}

// Which examples go in which batch, epoch by epoch: a seeded shuffle (a pure function of seed and epoch),
// optionally grouped by length as transformers' `group_by_length` does (mega-batches of 50 batches, or
// fewer for small data, sorted longest first, the single longest example moved to the very first batch).
// Its position is two integers, so a checkpoint can store it and a resumed run continues mid-epoch
// with exactly the batches an uninterrupted run would have seen.
// Not here: padding or tensors (collate.ts).

import { ConfigError } from '../errors.ts';
import { deriveSeed, Rng } from '../rng.ts';

/** Options for {@link BatchSampler}. */
export interface SamplerOptions {
  /** Number of examples. */
  size: number;
  batchSize: number;
  seed: number;
  /** Shuffle each epoch (default true; false gives 0..size-1 in order, for evaluation). */
  shuffle?: boolean;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Per-example lengths (e.g. token counts): enables length-grouped sampling when shuffling. */
  lengths?: ArrayLike<number>;
  /** Mega-batch size in batches (default: min(size / (4·batchSize), 50), at least 1, as transformers). */
  megaBatchMult?: number;
  /**
   * Data-parallel sharding as torch's DistributedSampler: the epoch order is padded by wrap-around to a
   * multiple of worldSize and this rank takes positions rank, rank+worldSize, ... (default: 1 rank).
   */
  worldSize?: number;
  rank?: number;
}

/** The sampler's position: the next batch to hand out. JSON-safe; store it in checkpoints. */
export interface SamplerState {
  epoch: number;
  batch: number;
}

/** One batch of example indices and where it sits. */
export interface SampledBatch {
  epoch: number;
  /** Batch number within the epoch (0-based). */
  batch: number;
  indices: number[];
}

/**
 * transformers' `get_length_grouped_indices`: permute, cut into mega-batches, sort each by length
 * (longest first, stable), then swap the overall longest example to position 0.
 */
export function lengthGroupedOrder(lengths: ArrayLike<number>, batchSize: number, rng: Rng, megaBatchMult?: number): number[] {
  const n = lengths.length;
  let mult = megaBatchMult ?? Math.min(Math.floor(n / (batchSize * 4)), 50);
  if (mult === 0) mult = 1;
  const perm = rng.permutation(n);
  const megaSize = mult * batchSize;
  const megas: number[][] = [];
  for (let i = 0; i < n; i += megaSize) {
    megas.push(perm.slice(i, i + megaSize).sort((a, b) => (lengths[b] as number) - (lengths[a] as number)));
  }
  if (megas.length === 0) return [];
  let maxIdx = 0;
  for (let m = 1; m < megas.length; m++) {
    if ((lengths[(megas[m] as number[])[0] as number] as number) > (lengths[(megas[maxIdx] as number[])[0] as number] as number)) maxIdx = m;
  }
  const first = megas[0] as number[];
  const best = megas[maxIdx] as number[];
  [first[0], best[0]] = [best[0] as number, first[0] as number];
  return megas.flat();
}

/**
 * Seeded batch sampler with a resumable position.
 *
 * @example
 * const sampler = new BatchSampler({ size: train.length, batchSize: 16, seed: 42, lengths: tokenCounts });
 * const { indices } = sampler.next();          // first batch of epoch 0
 * checkpoint.sampler = sampler.getState();     // { epoch: 0, batch: 1 }
 * // ...after a restart:
 * sampler.setState(checkpoint.sampler);        // continues with batch 1 of epoch 0
 */
export class BatchSampler {
  private readonly opts: Required<Omit<SamplerOptions, 'lengths' | 'megaBatchMult'>> & Pick<SamplerOptions, 'lengths' | 'megaBatchMult'>;
  /** Examples this rank sees per epoch (ceil(size / worldSize); size with one rank). */
  private readonly shardSize: number;
  private state: SamplerState = { epoch: 0, batch: 0 };
  private cachedEpoch = -1;
  private cachedBatches: number[][] = [];

  constructor(opts: SamplerOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 0) throw new ConfigError('sampler size', `must be a non-negative integer, got ${opts.size}`);
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new ConfigError('batch_size', `must be a positive integer, got ${opts.batchSize}`);
    if (opts.lengths !== undefined && opts.lengths.length !== opts.size) {
      throw new ConfigError('sampler lengths', `has ${opts.lengths.length} entries for ${opts.size} examples`);
    }
    this.opts = { shuffle: true, dropLast: false, ...opts, worldSize: opts.worldSize ?? 1, rank: opts.rank ?? 0 };
    const { worldSize, rank } = this.opts;
    if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) {
      throw new ConfigError('RANK/WORLD_SIZE', `rank ${rank} of world size ${worldSize} is not a valid data-parallel position`);
    }
    this.shardSize = Math.ceil(opts.size / worldSize);
    if (this.batchesPerEpoch === 0) {
      throw new ConfigError('batch_size', `${opts.size} examples give no batch of ${opts.batchSize} with dropLast; lower the batch size`);
    }
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    const { batchSize, dropLast } = this.opts;
    const size = this.shardSize;
    return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
  }

  /** The example order of an epoch: a pure function of (seed, epoch). */
  epochOrder(epoch: number): number[] {
    const { size, shuffle, seed, lengths, batchSize, megaBatchMult } = this.opts;
    if (!shuffle) return Array.from({ length: size }, (_, i) => i);
    const rng = Rng.fromSeed(deriveSeed(seed, epoch));
    return lengths !== undefined ? lengthGroupedOrder(lengths, batchSize * this.opts.worldSize, rng, megaBatchMult) : rng.permutation(size);
  }

  /** This rank's share of an epoch's order (the whole order with one rank). */
  shardOrder(epoch: number): number[] {
    const order = this.epochOrder(epoch);
    const { worldSize, rank } = this.opts;
    if (worldSize === 1) return order;
    const out: number[] = [];
    for (let k = 0; k < this.shardSize; k++) out.push(order[(rank + k * worldSize) % order.length] as number);
    return out;
  }

  /** All batches of an epoch. */
  epochBatches(epoch: number): number[][] {
    if (epoch !== this.cachedEpoch) {
      const order = this.shardOrder(epoch);
      const out: number[][] = [];
      for (let b = 0; b < this.batchesPerEpoch; b++) out.push(order.slice(b * this.opts.batchSize, (b + 1) * this.opts.batchSize));
      this.cachedEpoch = epoch;
      this.cachedBatches = out;
    }
    return this.cachedBatches;
  }

  /** Hand out the next batch and advance (rolling into the next epoch at the end of one). */
  next(): SampledBatch {
    const { epoch, batch } = this.state;
    const indices = (this.epochBatches(epoch)[batch] as number[]).slice();
    this.state = batch + 1 >= this.batchesPerEpoch ? { epoch: epoch + 1, batch: 0 } : { epoch, batch: batch + 1 };
    return { epoch, batch, indices };
  }

  /** The position of the next batch (copy). */
  getState(): SamplerState {
    return { ...this.state };
  }

  /** Jump to a saved position. */
  setState(state: SamplerState): void {
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.batch) || state.batch < 0 || state.batch >= this.batchesPerEpoch) {
      throw new ConfigError('sampler state', `${JSON.stringify(state)} is not a position in an epoch of ${this.batchesPerEpoch} batches`);
    }
    this.state = { ...state };
  }
}

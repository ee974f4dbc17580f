// From tokenised examples to model batches: a seeded sampler (optionally length-grouped), dynamic
// padding (src/data/collate.ts) and the conversion of padded arrays into tensors (src/models/types.ts).
// The sampler's position is the resumable state of the data pipeline.

import { BatchSampler, collate, type Batch, type Features, type SamplerState } from '../data/index.ts';
import type { ModelBatch } from '../models/types.ts';
import { Tensor } from '../tensor/index.ts';

/** Tensors for one padded batch (int32 ids, masks and labels; float32 float labels). */
export function toModelBatch(b: Batch): ModelBatch {
  const B = b.batchSize;
  const T = b.seqLen;
  const out: ModelBatch = {
    inputIds: Tensor.wrap(b.inputIds, [B, T]),
    attentionMask: Tensor.wrap(b.attentionMask, [B, T]),
  };
  if (b.tokenTypeIds) out.tokenTypeIds = Tensor.wrap(b.tokenTypeIds, [B, T]);
  if (b.labels) out.labels = Tensor.wrap(b.labels, b.labelShape ?? [B]);
  if (b.floatLabels) out.labels = Tensor.wrap(b.floatLabels, b.floatLabelShape ?? [B]);
  if (b.startPositions) out.startPositions = Tensor.wrap(b.startPositions, [B]);
  if (b.endPositions) out.endPositions = Tensor.wrap(b.endPositions, [B]);
  return out;
}

export interface FeatureBatchesOptions {
  batchSize: number;
  seed: number;
  shuffle: boolean;
  groupByLength?: boolean;
  padTokenId: number;
  padToMultipleOf?: number;
  /** Data-parallel shard (DistributedSampler semantics; see src/data/sampler.ts). */
  worldSize?: number;
  rank?: number;
}

/** A dataset of tokenised examples served as padded batches in a seeded, resumable order. */
export class FeatureBatches {
  sampler: BatchSampler;
  constructor(
    readonly features: readonly Features[],
    private readonly opts: FeatureBatchesOptions,
  ) {
    this.sampler = new BatchSampler({
      size: features.length,
      batchSize: opts.batchSize,
      seed: opts.seed,
      shuffle: opts.shuffle,
      lengths: opts.groupByLength ? features.map((f) => f.inputIds.length) : undefined,
      worldSize: opts.worldSize,
      rank: opts.rank,
    });
  }

  /** Serve only this rank's share from now on (DistributedSampler semantics; position reset to the start). */
  shard(rank: number, worldSize: number): void {
    this.sampler = new BatchSampler({
      size: this.features.length,
      batchSize: this.opts.batchSize,
      seed: this.opts.seed,
      shuffle: this.opts.shuffle,
      lengths: this.opts.groupByLength ? this.features.map((f) => f.inputIds.length) : undefined,
      worldSize,
      rank,
    });
  }

  get batchesPerEpoch(): number {
    return this.sampler.batchesPerEpoch;
  }

  /** The next batch as tensors, and where it sat. */
  next(): { batch: ModelBatch; epoch: number; index: number; size: number; tokens: number; indices?: number[] } {
    const s = this.sampler.next();
    const padded = collate(s.indices.map((i) => this.features[i]), { padTokenId: this.opts.padTokenId, padToMultipleOf: this.opts.padToMultipleOf });
    let tokens = 0;
    for (const m of padded.attentionMask) tokens += m;
    return { batch: toModelBatch(padded), epoch: s.epoch, index: s.batch, size: s.indices.length, tokens, indices: s.indices };
  }

  /** Every batch of one pass in order, without touching the sampler state (evaluation). */
  *inOrder(): Generator<{ batch: ModelBatch; indices: number[] }> {
    const bs = this.opts.batchSize;
    for (let start = 0; start < this.features.length; start += bs) {
      const indices = Array.from({ length: Math.min(bs, this.features.length - start) }, (_, i) => start + i);
      const padded = collate(indices.map((i) => this.features[i]), { padTokenId: this.opts.padTokenId, padToMultipleOf: this.opts.padToMultipleOf });
      yield { batch: toModelBatch(padded), indices };
    }
  }

  getState(): SamplerState {
    return this.sampler.getState();
  }

  setState(s: SamplerState): void {
    this.sampler.setState(s);
  }
}

// BatchSampler's data-parallel sharding (torch DistributedSampler semantics): rank r takes positions
// r, r+N, ... of the epoch order, padded by wrap-around; the ranks' k-th batches together are the
// single-process k-th batch of N·b; positions resume per rank.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BatchSampler } from '../../src/data/sampler.ts';

describe('BatchSampler sharding', () => {
  it('N ranks × batch b cover the single-process batches of N·b in the same order', () => {
    const single = new BatchSampler({ size: 48, batchSize: 8, seed: 3 });
    const ranks = [0, 1, 2, 3].map((rank) => new BatchSampler({ size: 48, batchSize: 2, seed: 3, worldSize: 4, rank }));
    assert.equal(ranks[0]?.batchesPerEpoch, single.batchesPerEpoch);
    for (let step = 0; step < 15; step++) {
      const want = single.next().indices.slice().sort((a, b) => a - b);
      const got = ranks.flatMap((r) => r.next().indices).sort((a, b) => a - b);
      assert.deepEqual(got, want, `step ${step}`);
    }
  });

  it('pads by wrap-around as DistributedSampler (rank r takes order[r::N])', () => {
    const s = new BatchSampler({ size: 5, batchSize: 1, seed: 1, shuffle: false, worldSize: 2, rank: 1 });
    assert.deepEqual(s.shardOrder(0), [1, 3, 0]);
    const s0 = new BatchSampler({ size: 5, batchSize: 1, seed: 1, shuffle: false, worldSize: 2, rank: 0 });
    assert.deepEqual(s0.shardOrder(0), [0, 2, 4]);
  });

  it('refuses a rank outside the world', () => {
    assert.throws(() => new BatchSampler({ size: 5, batchSize: 1, seed: 1, worldSize: 2, rank: 2 }), /RANK\/WORLD_SIZE/);
  });
});

// The micro-batcher with an injected forward pass that records every batch: concurrent submissions
// share passes, batches never exceed maxBatchSize, outputs return to their submitters in order, the
// queue bound, deadlines and drain-on-shutdown behave as documented.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MicroBatcher, QueueFullError, ShuttingDownError, TimeoutError } from '../../src/serve/batcher.ts';

/** forward = x → x * 10, recording each batch. */
function recorder() {
  const batches: number[][] = [];
  const forward = (rows: number[]) => {
    batches.push(rows.slice());
    return rows.map((r) => r * 10);
  };
  return { batches, forward };
}

test('concurrent submissions within maxWaitMs share one forward pass; each gets its own outputs', async () => {
  const { batches, forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 64, maxWaitMs: 30 });
  const results = await Promise.all([b.submit([1]), b.submit([2, 3]), b.submit([4]), b.submit([5, 6, 7])]);
  assert.deepEqual(results, [[10], [20, 30], [40], [50, 60, 70]]);
  assert.deepEqual(batches, [[1, 2, 3, 4, 5, 6, 7]]);
});

test('batches hold at most maxBatchSize rows; a large job is split and reassembled in order', async () => {
  const { batches, forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 4, maxWaitMs: 1 });
  const big = Array.from({ length: 10 }, (_, i) => i);
  const [r1, r2] = await Promise.all([b.submit(big), b.submit([100])]);
  assert.deepEqual(r1, big.map((x) => x * 10));
  assert.deepEqual(r2, [1000]);
  assert.ok(batches.every((x) => x.length <= 4), JSON.stringify(batches));
  assert.deepEqual(batches.flat(), [...big, 100]);
});

test('a full batch runs at once instead of waiting maxWaitMs', async () => {
  const { forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 2, maxWaitMs: 10_000 });
  const t0 = Date.now();
  await b.submit([1, 2]);
  assert.ok(Date.now() - t0 < 2000, 'waited for the timer');
});

test('the queue is bounded: the submission past maxQueue is refused with QueueFullError', async () => {
  const { forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 100, maxWaitMs: 50, maxQueue: 2 });
  const a = b.submit([1]);
  const c = b.submit([2]);
  await assert.rejects(b.submit([3]), QueueFullError);
  assert.deepEqual(await Promise.all([a, c]), [[10], [20]]);
  assert.equal(b.depth, 0);
});

test('a job still waiting at its deadline fails with TimeoutError and leaves the queue', async () => {
  const { batches, forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 100, maxWaitMs: 200, timeoutMs: 20 });
  await assert.rejects(b.submit([1]), TimeoutError);
  assert.equal(b.depth, 0);
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(batches, [], 'the expired job still ran');
});

test('a forward error rejects the jobs of that batch only', async () => {
  let calls = 0;
  const b = new MicroBatcher(
    (rows: number[]) => {
      calls += 1;
      if (calls === 1) throw new Error('boom');
      return rows;
    },
    { maxBatchSize: 1, maxWaitMs: 0 },
  );
  const [first, second] = await Promise.allSettled([b.submit([1]), b.submit([2])]);
  assert.equal(first.status, 'rejected');
  assert.deepEqual(second.status === 'fulfilled' ? second.value : null, [2]);
});

test('drain finishes queued work without waiting out maxWaitMs, then refuses new jobs', async () => {
  const { batches, forward } = recorder();
  const b = new MicroBatcher(forward, { maxBatchSize: 100, maxWaitMs: 10_000 });
  const pending = b.submit([7, 8]);
  const t0 = Date.now();
  await b.drain();
  assert.ok(Date.now() - t0 < 2000, 'drain waited for the batching timer');
  assert.deepEqual(await pending, [70, 80]);
  assert.deepEqual(batches, [[7, 8]]);
  await assert.rejects(b.submit([9]), ShuttingDownError);
});

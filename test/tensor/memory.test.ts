// The tensor buffer pool: size classes (nearby lengths share buffers, at most 12.5% unused), the byte cap
// with oldest-first eviction, and trimming.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryStats, pool, setPoolLimit, sizeClass, trimPool, DEFAULT_POOL_LIMIT } from '../../src/tensor/memory.ts';

test('size classes: exact up to 1024, then 8 per power of two', () => {
  assert.equal(sizeClass(1), 1);
  assert.equal(sizeClass(1024), 1024);
  assert.equal(sizeClass(1025), 1152);
  for (let n = 1; n < 1 << 22; n = Math.ceil(n * 1.37) + 1) {
    const c = sizeClass(n);
    assert.ok(c >= n && c <= n * 1.125 + 1, `${n} -> ${c}`);
    assert.equal(sizeClass(c), c, 'a class is its own class');
  }
});

test('nearby lengths reuse one buffer; a released prefix returns its whole buffer; zeroing on reuse', () => {
  trimPool();
  const a = pool.acquire('float32', 5000, true);
  assert.equal(a.length, 5000);
  a.fill(7);
  pool.release('float32', a);
  const b = pool.acquire('float32', 4900, true); // same class as 5000 (5120)
  assert.equal(b.buffer, a.buffer, 'reused the pooled buffer');
  assert.equal(b.length, 4900);
  assert.ok(b.every((x) => x === 0), 'zeroed on reuse');
  pool.release('float32', b);
  assert.equal(memoryStats().pooledBytes, sizeClass(5000) * 4);
  trimPool();
  assert.equal(memoryStats().pooledBytes, 0);
});

test('the cap evicts the oldest free buffers; setPoolLimit trims at once', () => {
  trimPool();
  setPoolLimit(3 * 4096 * 4);
  try {
    const bufs = [1, 2, 3, 4].map(() => pool.acquire('float32', 4096, false));
    for (const b of bufs) pool.release('float32', b);
    assert.equal(memoryStats().pooledBytes, 3 * 4096 * 4, 'the fourth release evicted the oldest');
    const big = pool.acquire('float32', 1 << 16, false);
    pool.release('float32', big); // larger than the cap: not pooled
    assert.equal(memoryStats().pooledBytes, 3 * 4096 * 4);
    setPoolLimit(4096 * 4);
    assert.equal(memoryStats().pooledBytes, 4096 * 4);
  } finally {
    setPoolLimit(DEFAULT_POOL_LIMIT);
    trimPool();
  }
});

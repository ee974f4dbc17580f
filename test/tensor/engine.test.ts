// Engine behaviour beyond single-op gradients: gradient accumulation across backward calls, no-grad
// scopes, typed errors for bad input, use-after-dispose, and the tidy() memory scheme.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { AutogradError, DisposedError, DTypeError, ShapeError } from '../../src/errors.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { rand64 } from '../helpers/gradcheck.ts';

F.setDefaultBackend(referenceBackend);

describe('autograd', () => {
  it('accumulates gradients across backward calls until zeroed', () => {
    const x = rand64([3], 1);
    F.tidy(() => F.sum(F.square(x)).backward());
    const once = x.grad!.toArray();
    F.tidy(() => F.sum(F.square(x)).backward());
    const twice = x.grad!.toArray();
    const xs = x.toArray();
    once.forEach((g, i) => {
      assert.ok(Math.abs(g - 2 * xs[i]) < 1e-12);
      assert.ok(Math.abs(twice[i] - 4 * xs[i]) < 1e-12);
    });
  });

  it('a leaf adopts its first gradient without aliasing other tensors, and accumulates into it after', () => {
    const x = rand64([4], 11);
    const w = rand64([4], 12);
    // x's gradient is w (a saved input): the leaf must get its own buffer, not w's.
    F.tidy(() => F.sum(F.mul(x, w)).backward());
    const gx = x.grad!;
    assert.notEqual(gx.storage, w.storage);
    assert.notEqual(gx.storage, x.storage);
    assert.deepEqual(gx.toArray(), w.toArray());
    // Still alive after the tidy that produced it, and += on the next backward.
    F.tidy(() => F.sum(F.mul(x, w)).backward());
    x.grad!.toArray().forEach((g, i) => assert.ok(Math.abs(g - 2 * w.toArray()[i]) < 1e-12));
    assert.equal(w.grad!.isDisposed, false);
  });

  it('records nothing under noGrad and refuses backward through its results', () => {
    const x = rand64([3], 2);
    const y = F.noGrad(() => F.sum(F.mul(x, x)));
    assert.equal(y.requiresGrad, false);
    assert.throws(() => y.backward(), AutogradError);
  });

  it('refuses a second backward through a freed graph', () => {
    const x = rand64([2], 3);
    const y = F.sum(F.exp(x));
    y.backward();
    assert.throws(() => y.backward(), AutogradError);
  });

  it('keeps user handles valid after backward (saved tensors are aliases)', () => {
    const x = rand64([2, 3], 4);
    F.tidy(() => {
      const s = F.softmax(x);
      F.sum(F.mul(s, s)).backward();
      assert.equal(s.toArray().length, 6);
    });
  });
});

describe('typed errors for bad input', () => {
  it('names the op and shapes on a shape mismatch', () => {
    const a = Tensor.zeros([2, 3], 'float64');
    const b = Tensor.zeros([4], 'float64');
    assert.throws(() => F.add(a, b), (e: Error) => e instanceof ShapeError && /add: shapes \[2, 3\] and \[4\]/.test(e.message));
    assert.throws(() => F.matmul(a, a), (e: Error) => e instanceof ShapeError && /matmul: inner dims differ/.test(e.message));
    assert.throws(() => F.linear(a, Tensor.zeros([5, 4], 'float64'), null), /linear: input .* does not fit weight/);
  });
  it('rejects out-of-range ids in an embedding lookup', () => {
    const table = Tensor.zeros([4, 2], 'float64');
    const ids = Tensor.from(new Int32Array([0, 4]), [2]);
    assert.throws(() => F.embedding(table, ids), (e: Error) => e instanceof ShapeError && /id 4 at position 1 .*valid ids: 0\.\.3/.test(e.message));
  });
  it('rejects wrong dtypes', () => {
    const ids = Tensor.from(new Int32Array([1, 2]), [2]);
    assert.throws(() => F.exp(ids), DTypeError);
    assert.throws(() => F.crossEntropy(Tensor.zeros([2, 3], 'float64'), Tensor.zeros([2], 'float64')), DTypeError);
  });
  it('rejects a cross-entropy target outside the classes', () => {
    const t = Tensor.from(new Int32Array([1, 7]), [2]);
    assert.throws(() => F.crossEntropy(Tensor.zeros([2, 3], 'float64'), t), /target 7 at position 1 is outside \[0, 3\)/);
  });
  it('throws DisposedError on use after dispose and outside tidy', () => {
    const a = Tensor.zeros([2], 'float64');
    a.dispose();
    assert.throws(() => a.toArray(), DisposedError);
    const escaped = F.tidy(() => {
      F.exp(Tensor.zeros([2], 'float64'));
      return 1;
    });
    assert.equal(escaped, 1);
    let inner: Tensor | null = null;
    F.tidy(() => {
      inner = F.exp(Tensor.zeros([2], 'float64'));
    });
    assert.throws(() => inner!.toArray(), DisposedError);
  });
});

describe('memory scheme', () => {
  it('tidy returns tensors to the pool: 1,000 MLP+attention training steps keep allocations flat', () => {
    const w1 = F.untracked(() => rand64([16, 16], 5));
    const w2 = F.untracked(() => rand64([16, 16], 6));
    const x = F.untracked(() => rand64([2, 2, 8, 8], 7));
    const step = (): void =>
      F.tidy(() => {
        const h = F.gelu(F.linear(F.reshape(x, [2, 8, 16]), w1, null));
        const q = F.reshape(F.concat([F.narrow(F.linear(h, w2, null), 1, 0, 4), F.narrow(h, 1, 4, 4)], 1), [2, 2, 8, 8]);
        const y = F.attention(q, x, x, { causal: true });
        F.mean(F.square(y)).backward();
      });
    for (let i = 0; i < 10; i++) step();
    const before = F.memoryStats().allocatedBytes;
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) step();
    const after = F.memoryStats().allocatedBytes;
    const rssAfter = process.memoryUsage().rss;
    assert.equal(after, before, 'live tensor bytes must not grow across steps');
    assert.ok(rssAfter - rssBefore < 64 * 1024 * 1024, `RSS grew by ${((rssAfter - rssBefore) / 1e6).toFixed(1)} MB`);
  });
});

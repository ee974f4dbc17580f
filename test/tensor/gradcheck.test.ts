// Finite-difference gradient checks for every differentiable op (float64, reference backend),
// including broadcasting, a tensor used twice, views and non-contiguous inputs.

import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import type { UnaryOp } from '../../src/backend/backend.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { checkGrad, rand64 } from '../helpers/gradcheck.ts';

F.setDefaultBackend(referenceBackend);

const ints = (values: number[], shape: number[]): Tensor => Tensor.from(new Int32Array(values), shape, 'int32', referenceBackend);
const const64 = (values: number[], shape: number[]): Tensor => Tensor.from(new Float64Array(values), shape, 'float64', referenceBackend);

describe('gradcheck: unary ops', () => {
  const cases: [UnaryOp, number, number, number][] = [
    ['neg', -2, 2, 0], ['exp', -2, 2, 0], ['log', 0.2, 3, 0], ['sqrt', 0.2, 3, 0], ['rsqrt', 0.3, 3, 0],
    ['abs', 0.1, 2, 0], ['square', -2, 2, 0], ['tanh', -2, 2, 0], ['sigmoid', -4, 4, 0], ['relu', 0.1, 2, 0],
    ['gelu', -3, 3, 0], ['gelu_tanh', -3, 3, 0], ['silu', -4, 4, 0], ['scale', -2, 2, 1.7], ['add_scalar', -2, 2, 0.3],
    ['pow', 0.3, 2, 2.5], ['recip', 0.5, 2, 0],
  ];
  for (const [op, lo, hi, alpha] of cases) {
    it(op, () => checkGrad((x) => F.unary(op, x, alpha), [rand64([3, 5], 1, lo, hi)]));
  }
  it('abs and relu on negative side', () => {
    checkGrad((x) => F.add(F.abs(x), F.relu(x)), [rand64([7], 2, -2, -0.1)]);
  });
});

describe('gradcheck: binary ops with broadcasting', () => {
  it('add/sub/mul/div broadcast (2,3,4) with (3,1) and scalar-like (1,)', () => {
    const a = rand64([2, 3, 4], 3);
    const b = rand64([3, 1], 4, 0.5, 2);
    const c = rand64([1], 5, 0.5, 2);
    checkGrad((a, b, c) => F.div(F.mul(F.sub(F.add(a, b), c), b), F.add(b, c)), [a, b, c]);
  });
  it('maximum/minimum', () => {
    checkGrad((a, b) => F.add(F.maximum(a, b), F.minimum(a, b)), [rand64([4, 5], 6), rand64([5], 7)]);
  });
  it('a tensor used twice (x*x + x)', () => {
    checkGrad((x) => F.add(F.mul(x, x), x), [rand64([6], 8)]);
  });
  it('where and maskedFill', () => {
    const cond = const64([1, 0, 1, 0, 0, 1], [2, 3]);
    checkGrad((a, b) => F.add(F.where(cond, a, b), F.maskedFill(a, cond, 5)), [rand64([2, 3], 9), rand64([3], 10)]);
  });
  it('dropout (fixed seed)', () => {
    checkGrad((x) => F.dropout(x, 0.3, 77), [rand64([4, 9], 11)]);
  });
});

describe('gradcheck: views', () => {
  it('reshape, permute, transpose, narrow, expand, unsqueeze, squeeze', () => {
    checkGrad((x) => {
      const p = F.permute(F.reshape(x, [2, 3, 4]), [2, 0, 1]); // (4, 2, 3) non-contiguous
      const n = F.narrow(p, 0, 1, 2); // (2, 2, 3)
      const e = F.expand(F.unsqueeze(F.sum(n, 1), 1), [2, 5, 3]);
      return F.squeeze(F.unsqueeze(F.transpose(e, 0, 2), 0), 0);
    }, [rand64([6, 4], 12)]);
  });
  it('contiguous and concat of non-contiguous pieces', () => {
    checkGrad((a, b) => F.concat([F.transpose(a, 0, 1), F.contiguous(b), F.transpose(a, 0, 1)], 1), [rand64([3, 2], 13), rand64([2, 4], 14)]);
  });
});

describe('gradcheck: reductions', () => {
  it('sum/mean over axes, keepdim', () => {
    checkGrad((x) => F.add(F.sum(x, [0, 2], true), F.mean(x, 1, true)), [rand64([2, 3, 4], 15)]);
  });
  it('sum over all and mean over all', () => {
    checkGrad((x) => F.add(F.reshape(F.sum(x), [1]), F.reshape(F.mean(x), [1])), [rand64([3, 4], 16)]);
  });
  it('max over an axis', () => {
    checkGrad((x) => F.max(x, 1), [rand64([3, 5, 2], 17)]);
  });
});

describe('gradcheck: matrix products', () => {
  it('matmul 2D', () => checkGrad((a, b) => F.matmul(a, b), [rand64([3, 4], 18), rand64([4, 5], 19)]));
  it('batched matmul with broadcast batch and transposed operand', () => {
    checkGrad((a, b) => F.matmul(a, F.transpose(b, -1, -2)), [rand64([2, 3, 3, 4], 20), rand64([3, 5, 4], 21)]);
  });
  it('linear with and without bias on a 3D input', () => {
    checkGrad((x, w, b) => F.add(F.linear(x, w, b), F.linear(x, w, null)), [rand64([2, 3, 4], 22), rand64([5, 4], 23), rand64([5], 24)]);
  });
  it('linear on a non-contiguous input', () => {
    checkGrad((x, w) => F.linear(F.transpose(x, 0, 1), w, null), [rand64([4, 3], 25), rand64([2, 4], 26)]);
  });
});

describe('gradcheck: fused ops', () => {
  it('softmax and logSoftmax', () => {
    checkGrad((x) => F.add(F.softmax(x), F.logSoftmax(x)), [rand64([3, 6], 27, -3, 3)]);
  });
  it('layerNorm with and without affine', () => {
    checkGrad((x, g, b) => F.add(F.layerNorm(x, g, b, 1e-5), F.layerNorm(x, null, null, 1e-5)), [rand64([2, 3, 5], 28), rand64([5], 29), rand64([5], 30)]);
  });
  it('rmsNorm', () => {
    checkGrad((x, g) => F.rmsNorm(x, g, 1e-6), [rand64([4, 6], 31), rand64([6], 32)]);
  });
  it('attention: padding mask, no mask, causal, GQA, dropout', () => {
    const mask = const64([1, 1, 1, 0, 1, 1, 0, 0], [2, 4]);
    for (const opts of [{ keyMask: mask }, {}, { causal: true }, { keyMask: mask, causal: true, dropoutP: 0.25, seed: 9 }]) {
      checkGrad((q, k, v) => F.attention(q, k, v, opts), [rand64([2, 2, 4, 3], 33), rand64([2, 2, 4, 3], 34), rand64([2, 2, 4, 3], 35)]);
    }
    // Grouped-query: 4 query heads share 2 kv heads; cross-attention lengths (Tq=2, Tk=4) with causal offset.
    checkGrad((q, k, v) => F.attention(q, k, v, { causal: true }), [rand64([1, 4, 2, 3], 36), rand64([1, 2, 4, 3], 37), rand64([1, 2, 4, 3], 38)]);
  });
  it('embedding (ids repeated)', () => {
    const ids = ints([1, 3, 1, 0, 3, 3], [2, 3]);
    checkGrad((t) => F.embedding(t, ids), [rand64([4, 5], 39)]);
  });
});

describe('gradcheck: losses', () => {
  it('crossEntropy mean with ignore_index, sum and none', () => {
    const t = ints([2, -100, 0, 4, 1, -100], [2, 3]);
    checkGrad((x) => F.reshape(F.crossEntropy(x, t), [1]), [rand64([2, 3, 5], 40, -2, 2)]);
    checkGrad((x) => F.reshape(F.crossEntropy(x, t, { reduction: 'sum' }), [1]), [rand64([2, 3, 5], 41, -2, 2)]);
    checkGrad((x) => F.crossEntropy(x, t, { reduction: 'none' }), [rand64([2, 3, 5], 42, -2, 2)]);
  });
  it('bceWithLogits and mse', () => {
    const y = const64([0, 1, 0.3, 1, 0, 0.5], [2, 3]);
    checkGrad((x) => F.reshape(F.bceWithLogits(x, y), [1]), [rand64([2, 3], 43, -3, 3)]);
    checkGrad((x) => F.bceWithLogits(x, y, 'none'), [rand64([2, 3], 44, -3, 3)]);
    checkGrad((a, b) => F.reshape(F.mse(a, b), [1]), [rand64([2, 3], 45), rand64([2, 3], 46)]);
  });
});

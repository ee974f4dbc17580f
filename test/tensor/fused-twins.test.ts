// Every fused op against its composed twin built from primitives (forward and gradients), on the
// reference backend in float64: attention, layer norm, RMS norm, softmax, cross-entropy, BCE.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { rand64, relErr } from '../helpers/gradcheck.ts';

F.setDefaultBackend(referenceBackend);

/** Runs fn on fresh copies of the inputs; returns the output values and each input's gradient. */
function valueAndGrads(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): { out: number[]; grads: number[][] } {
  const copies = inputs.map((x) => {
    const c = F.untracked(() => Tensor.from(x.toArray(), x.shape, 'float64'));
    c.requiresGrad = true;
    return c;
  });
  const out = F.tidy(() => {
    const y = fn(...copies);
    F.sum(F.mul(y, F.untracked(() => rand64([...y.shape], 99)))).backward();
    return y.toArray();
  });
  return { out, grads: copies.map((c) => c.grad!.toArray()) };
}

function assertTwins(fused: (...xs: Tensor[]) => Tensor, composed: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  const a = valueAndGrads(fused, inputs);
  const b = valueAndGrads(composed, inputs);
  assert.ok(relErr(a.out, b.out) < 1e-12, `forward differs: ${relErr(a.out, b.out)}`);
  a.grads.forEach((g, i) => assert.ok(relErr(g, b.grads[i]) < 1e-10, `grad ${i} differs: ${relErr(g, b.grads[i])}`));
}

const NEG = -1e30;

describe('fused ops equal their composed twins', () => {
  it('attention = softmax(q k^T * scale + mask) v, with padding and causal masks and GQA', () => {
    const mask = Tensor.from(new Float64Array([1, 1, 0, 1, 1, 1]), [2, 3], 'float64');
    const composed = (causal: boolean) => (q: Tensor, k: Tensor, v: Tensor): Tensor => {
      const [B, H, T, D] = q.shape;
      const Hkv = k.shape[1];
      const rep = (t: Tensor): Tensor => F.reshape(F.expand(F.unsqueeze(t, 2), [B, Hkv, H / Hkv, T, D]), [B, H, T, D]);
      const scores = F.scale(F.matmul(q, F.transpose(rep(k), 2, 3)), 1 / Math.sqrt(D));
      let bias = F.reshape(F.scale(F.addScalar(mask, -1), -NEG), [B, 1, 1, T]);
      if (causal) {
        const c = new Float64Array(T * T);
        for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) c[i * T + j] = j > i ? NEG : 0;
        bias = F.add(bias, Tensor.from(c, [T, T], 'float64'));
      }
      return F.matmul(F.softmax(F.add(scores, bias)), rep(v));
    };
    for (const causal of [false, true]) {
      assertTwins((q, k, v) => F.attention(q, k, v, { keyMask: mask, causal }), composed(causal), [rand64([2, 4, 3, 5], 1), rand64([2, 2, 3, 5], 2), rand64([2, 2, 3, 5], 3)]);
    }
  });

  it('layerNorm = (x - mean) / sqrt(var + eps) * g + b', () => {
    const composed = (x: Tensor, g: Tensor, b: Tensor): Tensor => {
      const mu = F.mean(x, -1, true);
      const xc = F.sub(x, mu);
      const v = F.mean(F.square(xc), -1, true);
      return F.add(F.mul(F.mul(xc, F.rsqrt(F.addScalar(v, 1e-5))), g), b);
    };
    assertTwins((x, g, b) => F.layerNorm(x, g, b, 1e-5), composed, [rand64([3, 7], 4), rand64([7], 5), rand64([7], 6)]);
  });

  it('rmsNorm = x / sqrt(mean(x^2) + eps) * g', () => {
    const composed = (x: Tensor, g: Tensor): Tensor => F.mul(F.mul(x, F.rsqrt(F.addScalar(F.mean(F.square(x), -1, true), 1e-6))), g);
    assertTwins((x, g) => F.rmsNorm(x, g, 1e-6), composed, [rand64([3, 7], 7), rand64([7], 8)]);
  });

  it('softmax = exp(x - max) / sum', () => {
    const composed = (x: Tensor): Tensor => {
      const e = F.exp(F.sub(x, F.max(x, -1, true)));
      return F.div(e, F.sum(e, -1, true));
    };
    assertTwins((x) => F.softmax(x), composed, [rand64([4, 6], 9, -5, 5)]);
  });

  it('crossEntropy = mean over kept rows of -logSoftmax[target]', () => {
    const targets = Tensor.from(new Int32Array([2, -100, 0, 3]), [4]);
    const onehot = Tensor.from(new Float64Array([0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1]), [4, 4], 'float64');
    const composed = (x: Tensor): Tensor => F.reshape(F.scale(F.sum(F.mul(F.logSoftmax(x), onehot)), -1 / 3), [1]);
    assertTwins((x) => F.reshape(F.crossEntropy(x, targets), [1]), composed, [rand64([4, 4], 10, -3, 3)]);
  });

  it('bceWithLogits = -(y log sigmoid(x) + (1-y) log(1 - sigmoid(x)))', () => {
    const y = Tensor.from(new Float64Array([0, 1, 0.25, 1, 0, 0.5]), [6], 'float64');
    const composed = (x: Tensor): Tensor => {
      const s = F.sigmoid(x);
      const one = Tensor.full([6], 1, 'float64');
      return F.neg(F.add(F.mul(y, F.log(s)), F.mul(F.sub(one, y), F.log(F.sub(one, s)))));
    };
    assertTwins((x) => F.bceWithLogits(x, y, 'none'), composed, [rand64([6], 11, -3, 3)]);
  });
});

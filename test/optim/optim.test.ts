// AdamW against the algorithm written out by hand (PyTorch's formulas), parameter groups by HF's
// no-decay rule, clip_grad_norm_ semantics, and the schedules against transformers' formulas.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { AdamW, decayGroups } from '../../src/optim/adamw.ts';
import { clipScale, globalGradNorm } from '../../src/optim/clip.ts';
import { learningRate } from '../../src/optim/schedules.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

describe('AdamW', () => {
  it('matches the PyTorch update written out by hand over 3 steps', () => {
    const p = Tensor.parameter(new Float64Array([0.5, -1.5, 2]), [3]);
    const opt = new AdamW([{ params: [p], weightDecay: 0.1 }], { lr: 0.01, betas: [0.9, 0.99], eps: 1e-8 });
    const ref = [0.5, -1.5, 2];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const grads = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1], [-0.3, 0.2, 0.2]];
    for (let t = 1; t <= 3; t++) {
      p.grad = F.untracked(() => Tensor.from(new Float64Array(grads[t - 1]), [3]));
      opt.update(0.5);
      for (let i = 0; i < 3; i++) {
        const g = grads[t - 1][i] * 0.5;
        ref[i] *= 1 - 0.01 * 0.1;
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.99 * v[i] + 0.01 * g * g;
        ref[i] -= (0.01 * (m[i] / (1 - 0.9 ** t))) / (Math.sqrt(v[i] / (1 - 0.99 ** t)) + 1e-8);
      }
    }
    p.toArray().forEach((x, i) => assert.ok(Math.abs(x - ref[i]) < 1e-12, `${x} vs ${ref[i]}`));
  });

  it('zeroGrad drops gradients (set_to_none): the next backward starts from nothing, a parameter without a gradient is left alone', () => {
    const a = Tensor.parameter(new Float64Array([1, 2]), [2]);
    const b = Tensor.parameter(new Float64Array([3, 4]), [2]);
    const opt = new AdamW([{ params: [a, b], weightDecay: 0.1 }], { lr: 0.01 });
    F.tidy(() => F.sum(F.mul(a, b)).backward());
    opt.update(1);
    opt.zeroGrad();
    assert.equal(a.grad, null);
    assert.equal(b.grad, null);
    F.tidy(() => F.sum(F.square(a)).backward()); // b gets no gradient this time
    assert.deepEqual(a.grad!.toArray(), a.toArray().map((x) => 2 * x));
    const bBefore = b.toArray();
    opt.update(1);
    assert.deepEqual(b.toArray(), bBefore, 'no gradient: no decay and no moment update, as PyTorch');
  });

  it('groups: no decay for biases and norm weights', () => {
    const mk = (): Tensor => Tensor.parameter(new Float64Array(1), [1]);
    const names = ['encoder.layer.0.attention.self.query.weight', 'encoder.layer.0.attention.self.query.bias', 'embeddings.LayerNorm.weight', 'transformer.h.0.ln_1.weight', 'model.norm.weight', 'classifier.weight'];
    const [decay, noDecay] = decayGroups(names.map((n) => [n, mk()]), 0.01);
    assert.equal(decay.params.length, 2);
    assert.equal(noDecay.params.length, 4);
    assert.equal(noDecay.weightDecay, 0);
  });
});

describe('clipping', () => {
  it('global norm over all gradients and the clip_grad_norm_ coefficient', () => {
    const a = Tensor.parameter(new Float64Array([3, 0]), [2]);
    const b = Tensor.parameter(new Float64Array([0]), [1]);
    a.grad = F.untracked(() => Tensor.from(new Float64Array([3, 0]), [2]));
    b.grad = F.untracked(() => Tensor.from(new Float64Array([4]), [1]));
    assert.equal(globalGradNorm([a, b]), 5);
    assert.ok(Math.abs(clipScale(5, 1) - 1 / (5 + 1e-6)) < 1e-15);
    assert.equal(clipScale(0.5, 1), 1);
  });
});

describe('schedules', () => {
  it('linear warmup then linear decay (the goldens: warmup 2 of 5 steps)', () => {
    const lrs = [0, 1, 2, 3, 4].map((k) => learningRate(k, { name: 'linear', baseLr: 1e-3, warmupSteps: 2, totalSteps: 5 }));
    const expected = [0, 0.5e-3, 1e-3, (2 / 3) * 1e-3, (1 / 3) * 1e-3];
    lrs.forEach((lr, i) => assert.ok(Math.abs(lr - expected[i]) < 1e-15));
  });
  it('cosine: half-way through decay is half the base rate; constant stays', () => {
    assert.ok(Math.abs(learningRate(6, { name: 'cosine', baseLr: 1, warmupSteps: 2, totalSteps: 10 }) - 0.5) < 1e-12);
    assert.equal(learningRate(7, { name: 'constant', baseLr: 0.3, warmupSteps: 2, totalSteps: 10 }), 0.3);
    assert.equal(learningRate(1, { name: 'constant_with_warmup', baseLr: 0.3, warmupSteps: 2, totalSteps: 10 }), 0.15);
  });
});

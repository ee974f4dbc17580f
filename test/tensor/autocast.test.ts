// bf16 autocast in the tensor layer: linear/matmul forward and backward take bf16 operands inside
// F.autocast('bf16') (and their backward stays bf16 outside the scope), native equals reference, the
// default stays fp32, and one Linear forward/backward is cross-checked against PyTorch 1.13's
// torch.autocast('cpu', bfloat16) (skipped without python3 + torch).
// Not here: kernel parity on raw buffers (test/backend/mixed-precision.test.ts).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { roundBf16 } from '../../src/backend/quant.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import type { Backend } from '../../src/backend/backend.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertClose, randF32 } from '../backend/parity-helpers.ts';

const [R, IN, OUT] = [6, 37, 23];

function linearStep(be: Backend, precision: F.MatmulPrecision, x0: Float32Array, w0: Float32Array, b0: Float32Array, g0: Float32Array) {
  const x = Tensor.parameter(x0, [R, IN], 'x', be);
  const w = Tensor.parameter(w0, [OUT, IN], 'w', be);
  const b = Tensor.parameter(b0, [OUT], 'b', be);
  const y = F.autocast(precision, () => F.linear(x, w, b));
  const loss = F.sum(F.mul(y, Tensor.from(g0, [R, OUT], 'float32', be)));
  F.backward(loss); // outside the scope: the recorded precision decides
  return { y: Float32Array.from(y.floatData), gx: Float32Array.from(x.grad!.floatData), gw: Float32Array.from(w.grad!.floatData), gb: Float32Array.from(b.grad!.floatData) };
}

const x0 = randF32(R * IN, 1);
const w0 = randF32(OUT * IN, 2, -0.5, 0.5);
const b0 = randF32(OUT, 3);
const g0 = randF32(R * OUT, 4);

function manual(): { y: Float64Array; gx: Float64Array; gw: Float64Array } {
  const r = (a: Float32Array) => Float64Array.from(a, roundBf16);
  const [x, w, g] = [r(x0), r(w0), r(g0)];
  const y = new Float64Array(R * OUT);
  const gx = new Float64Array(R * IN);
  const gw = new Float64Array(OUT * IN);
  for (let i = 0; i < R; i++)
    for (let o = 0; o < OUT; o++) {
      let s = 0;
      for (let k = 0; k < IN; k++) s += x[i * IN + k] * w[o * IN + k];
      y[i * OUT + o] = s + b0[o];
      for (let k = 0; k < IN; k++) {
        gx[i * IN + k] += g[i * OUT + o] * w[o * IN + k];
        gw[o * IN + k] += g[i * OUT + o] * x[i * IN + k];
      }
    }
  return { y, gx, gw };
}

describe('F.autocast bf16', () => {
  it('default precision is fp32 and scopes nest and restore', () => {
    assert.equal(F.autocastPrecision(), 'fp32');
    F.autocast('bf16', () => {
      assert.equal(F.autocastPrecision(), 'bf16');
      F.autocast('fp32', () => assert.equal(F.autocastPrecision(), 'fp32'));
      assert.equal(F.autocastPrecision(), 'bf16');
    });
    assert.throws(() => F.autocast('bf16', () => { throw new Error('x'); }));
    assert.equal(F.autocastPrecision(), 'fp32');
  });

  it('linear forward and backward use bf16 operands (reference = hand-computed)', () => {
    const got = linearStep(referenceBackend, 'bf16', x0, w0, b0, g0);
    const want = manual();
    assertClose(got.y, want.y, 'y', 1e-6, 1e-6);
    assertClose(got.gx, want.gx, 'grad x', 1e-6, 1e-6);
    assertClose(got.gw, want.gw, 'grad W', 1e-6, 1e-6);
    const fp32 = linearStep(referenceBackend, 'fp32', x0, w0, b0, g0);
    let d = 0;
    for (let i = 0; i < fp32.y.length; i++) d = Math.max(d, Math.abs(fp32.y[i] - got.y[i]));
    assert.ok(d > 1e-4, 'the fp32 path must not round');
  });

  it('native equals reference', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
    const a = linearStep(nativeBackend, 'bf16', x0, w0, b0, g0);
    const b = linearStep(referenceBackend, 'bf16', x0, w0, b0, g0);
    for (const k of ['y', 'gx', 'gw', 'gb'] as const) assertClose(a[k], b[k], k, 1e-5, 1e-5);
  });

  it('matmul under autocast: batched forward and backward in bf16', () => {
    const be = referenceBackend;
    const a0 = randF32(2 * 3 * 5, 8);
    const c0 = randF32(5 * 4, 9);
    const a = Tensor.parameter(a0, [2, 3, 5], 'a', be);
    const c = Tensor.parameter(c0, [5, 4], 'c', be);
    const y = F.autocast('bf16', () => F.matmul(a, c));
    F.backward(F.sum(y));
    // d sum / d a[b,i,k] = sum_n bf16(c[k,n]) (the upstream ones are exact in bf16)
    for (let k = 0; k < 5; k++) {
      let s = 0;
      for (let n = 0; n < 4; n++) s += roundBf16(c0[k * 4 + n]);
      assert.ok(Math.abs(a.grad!.floatData[k] - s) < 1e-6);
    }
    let y00 = 0;
    for (let k = 0; k < 5; k++) y00 += roundBf16(a0[k]) * roundBf16(c0[k * 4]);
    assert.ok(Math.abs(y.floatData[0] - y00) < 1e-6);
  });
});

function torchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return py;
  }
  return null;
}

const TORCH_SCRIPT = `
import json, sys, torch
d = json.load(sys.stdin)
R, IN, OUT = d['R'], d['IN'], d['OUT']
x = torch.tensor(d['x'], dtype=torch.float32).reshape(R, IN).requires_grad_()
w = torch.tensor(d['w'], dtype=torch.float32).reshape(OUT, IN).requires_grad_()
b = torch.tensor(d['b'], dtype=torch.float32).requires_grad_()
g = torch.tensor(d['g'], dtype=torch.float32).reshape(R, OUT)
with torch.autocast('cpu', dtype=torch.bfloat16):
    y = torch.nn.functional.linear(x, w, b)
assert y.dtype == torch.bfloat16
(y.float() * g).sum().backward()
print(json.dumps({'y': y.float().flatten().tolist(), 'gx': x.grad.flatten().tolist(), 'gw': w.grad.flatten().tolist()}))
`;

describe('cross-check with PyTorch autocast', () => {
  const py = torchPython();
  it('one Linear forward/backward: ours rounded to bf16 equals torch bf16 outputs within one bf16 ulp (two for y)', { skip: py ? false : 'python3 with torch not found' }, () => {
    const r = spawnSync(py!, ['-c', TORCH_SCRIPT], {
      input: JSON.stringify({ R, IN, OUT, x: Array.from(x0), w: Array.from(w0), b: Array.from(b0), g: Array.from(g0) }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout) as { y: number[]; gx: number[]; gw: number[] };
    const ours = linearStep(nativeAvailable() ? nativeBackend : referenceBackend, 'bf16', x0, w0, b0, g0);
    const report: string[] = [];
    for (const k of ['y', 'gx', 'gw'] as const) {
      let equal = 0;
      let worst = 0;
      for (let i = 0; i < t[k].length; i++) {
        // torch's outputs are bf16 (rounded once; for y the bias is rounded to bf16 first): the error unit is
        // one bf16 ulp of the value, plus for y one of the bias (|b| <= 1).
        const mine = roundBf16(ours[k][i]);
        if (mine === t[k][i]) equal++;
        const unit = 2 ** -8 * (Math.abs(t[k][i]) + (k === 'y' ? Math.abs(b0[i % OUT]) : 0)) + 1e-30;
        worst = Math.max(worst, Math.abs(mine - t[k][i]) / unit);
      }
      report.push(`${k}: ${equal}/${t[k].length} bitwise equal in bf16, worst ${worst.toFixed(2)} ulp`);
      // y may be rounded twice in torch (product to bf16, then + bf16 bias): 2 units; the gradients once.
      assert.ok(worst <= (k === 'y' ? 2 : 1), `${k}: worst ${worst} bf16 ulps`);
      assert.ok(equal >= (k === 'y' ? 0.7 : 0.8) * t[k].length, `${k}: only ${equal}/${t[k].length} equal after rounding`);
    }
    console.log(`# torch autocast cross-check: ${report.join('; ')}`);
  });
});

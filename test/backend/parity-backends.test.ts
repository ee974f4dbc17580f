// One table of kernel cases run on every backend against the reference (ggml's one harness across
// backends): native and webgpu. Each case builds seeded inputs, runs a kernel through a backend-neutral
// `put`/`get` (device backends upload and download), and compares every output with the reference.
// Sizes are small and odd (SwiftShader is a CPU Vulkan); views use offsets, strides and broadcasts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { AttentionArgs, Backend, BinaryOp, UnaryOp } from '../../src/backend/backend.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import { assertClose, randF32, randI32 } from './parity-helpers.ts';
import { parityTargets, type Target } from './parity-targets.ts';

type Buf = Float32Array | Int32Array;
type Put = <T extends Buf>(h: T) => T;
type Outputs = Record<string, Buf | number>;
/** A case: runs kernels on `be` with buffers made by `put`; returns the buffers/values to compare. */
type Run = (be: Backend, put: Put) => Outputs;
interface Case {
  name: string;
  run: Run;
  rtol?: number;
  atol?: number;
}

const F = (n: number, seed: number, lo = -1, hi = 1): Float32Array => randF32(n, seed, lo, hi);
const Z = (n: number): Float32Array => new Float32Array(n);
const contiguous = (shape: number[]): number[] => {
  const s: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
};

const CASES: Case[] = [];

// ---- elementwise ----------------------------------------------------------------------------
const UNARY: Array<[UnaryOp, number, number, number]> = [
  ['neg', -3, 3, 0], ['exp', -20, 20, 0], ['log', 0.01, 50, 0], ['sqrt', 0, 50, 0], ['rsqrt', 0.01, 50, 0],
  ['abs', -3, 3, 0], ['square', -3, 3, 0], ['tanh', -6, 6, 0], ['sigmoid', -20, 20, 0], ['relu', -3, 3, 0],
  ['gelu', -8, 8, 0], ['gelu_tanh', -8, 8, 0], ['silu', -20, 20, 0], ['scale', -3, 3, 0.37],
  ['add_scalar', -3, 3, -1.25], ['pow', 0.1, 4, 1.7], ['recip', 0.1, 4, 0],
];
for (const [op, lo, hi, alpha] of UNARY) {
  for (const n of [1, 17, 1029]) {
    CASES.push({
      name: `unary ${op} n=${n} (+ backward, at offset 3)`,
      rtol: 2e-5,
      atol: 1e-6,
      run: (be, put) => {
        const x = put(F(n + 3, n + op.length, lo, hi));
        const y = put(Z(n + 3));
        be.unary(op, x.subarray(3), y.subarray(3), n, alpha);
        const yRef = new Float32Array(n + 3);
        referenceBackend.unary(op, F(n + 3, n + op.length, lo, hi).subarray(3), yRef.subarray(3), n, alpha);
        const gx = put(Z(n));
        be.unaryBackward(op, x.subarray(3), put(yRef).subarray(3), put(F(n, 99)), gx, n, alpha);
        return { y, gx };
      },
    });
  }
}
CASES.push({
  name: 'unary in place (out aliases x)',
  rtol: 2e-5,
  run: (be, put) => {
    const x = put(F(257, 5, -2, 2));
    be.unary('gelu', x, x, 257, 0);
    return { x };
  },
});

const BIN: Array<[string, number[], number, number[], number, number, number[], number]> = [
  ['same shape 17', [17], 17, [1], 0, 17, [1], 0],
  ['scalar b', [3, 5], 15, [5, 1], 0, 1, [0, 0], 0],
  ['row broadcast (3,1,5)x(1,4,5)', [3, 4, 5], 15, [5, 0, 1], 0, 20, [0, 5, 1], 0],
  ['column broadcast + offsets', [129, 3], 400, [3, 1], 7, 140, [1, 0], 11],
  ['transposed a', [17, 13], 221, [1, 17], 0, 221, [13, 1], 0],
  ['negative stride (flip)', [4, 9], 36, [9, -1], 8, 9, [0, 1], 0],
  ['size-1 dims', [1, 17, 1, 3], 51, [51, 3, 3, 1], 0, 3, [0, 0, 0, 1], 0],
];
const BIN_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'gt', 'lt'];
for (const [name, shape, aLen, aS, aO, bLen, bS, bO] of BIN) {
  CASES.push({
    name: `binary (every op) ${name}`,
    rtol: 1e-6,
    run: (be, put) => {
      const ah = F(aLen, aLen + 1, -2, 2);
      const bh = F(bLen, bLen + 2, -2, 2);
      for (let i = 0; i < Math.min(aLen, bLen); i += 5) bh[i] = ah[i];
      const a = put(ah);
      const b = put(bh);
      const n = shape.reduce((p, s) => p * s, 1);
      const out: Outputs = {};
      for (const op of BIN_OPS) {
        const o = put(Z(n));
        be.binary(op, shape, a, aS, aO, b, bS, bO, o);
        out[op] = o;
      }
      return out;
    },
  });
}
CASES.push({
  name: 'maximum / minimum propagate NaN like the reference',
  run: (be, put) => {
    const a = put(new Float32Array([NaN, 1, NaN, -0, 0]));
    const b = put(new Float32Array([1, NaN, NaN, 0, -0]));
    const mx = put(Z(5));
    const mn = put(Z(5));
    be.binary('maximum', [5], a, [1], 0, b, [1], 0, mx);
    be.binary('minimum', [5], a, [1], 0, b, [1], 0, mn);
    return { mx, mn };
  },
});
for (const n of [1, 17, 1029]) {
  CASES.push({
    name: `where / axpy / fill / dropout n=${n}`,
    rtol: 1e-6,
    atol: 1e-7,
    run: (be, put) => {
      const c = put(F(n, 1).map((v) => (v > 0 ? 1 : 0)));
      const a = put(F(n, 2));
      const b = put(F(n, 3));
      const w = put(Z(n));
      be.where(c, a, b, w, n);
      const y = put(F(n, 3));
      be.axpy(0.625, a, y, n);
      const fi = put(new Int32Array(n + 1));
      be.fill(fi, -7.9, n);
      const ff = put(Z(n));
      be.fill(ff.subarray(0), 0.1, n);
      const d1 = put(Z(n));
      be.dropout(a, d1, n, 0.5, 0xdeadbeef);
      const d2 = put(Z(n));
      be.dropout(a, d2, n, 0.1, 42);
      return { w, y, fi, ff, d1, d2 };
    },
  });
}
for (const [shape, srcStrides, srcOffset] of [
  [[3, 4, 5], [1, 3, 12], 0],
  [[17, 1, 3], [3, 3, 1], 2],
  [[129, 7], [0, 1], 4],
  [[30, 25], [1, 30], 0],
] as Array<[number[], number[], number]>) {
  CASES.push({
    name: `copyStrided [${shape}] strides [${srcStrides}] offset ${srcOffset}`,
    run: (be, put) => {
      const n = shape.reduce((p, s) => p * s, 1);
      const srcLen = srcOffset + shape.reduce((p, s, d) => p + (s - 1) * srcStrides[d], 0) + 1;
      const src = put(F(srcLen, n));
      const dst = put(Z(n + 3));
      be.copyStrided(shape, src, srcStrides, srcOffset, dst, contiguous(shape), 3);
      return { dst };
    },
  });
}
CASES.push({
  name: 'copyStrided float32 <-> int32 like typed-array stores (truncate, wrap, NaN -> 0)',
  run: (be, put) => {
    const f = put(new Float32Array([2.7, -2.7, 0.5, -0.5, 1e10, -3e9, NaN, Infinity, 2147483647, 123456789]));
    const i = put(new Int32Array(10));
    be.copyStrided([10], f, [1], 0, i, [1], 0);
    const back = put(randI32(37, 9, -1000000, 1000000));
    const fo = put(Z(37));
    be.copyStrided([37], back, [1], 0, fo, [1], 0);
    return { i, fo };
  },
});

// ---- reductions -----------------------------------------------------------------------------
for (const [outer, axis, inner] of [[1, 1, 1], [3, 17, 1], [1, 17, 3], [5, 3, 129], [2, 4099, 3], [4, 0, 3]] as const) {
  CASES.push({
    name: `reduce sum / max + argmax (outer ${outer}, axis ${axis}, inner ${inner})`,
    rtol: 1e-5,
    atol: 1e-5,
    run: (be, put) => {
      const x = put(F(outer * axis * inner, outer + axis + inner, -3, 3));
      const m = outer * inner;
      const s = put(Z(m));
      const mx = put(Z(m));
      const am = put(new Int32Array(m));
      be.reduce('sum', x, outer, axis, inner, s, null);
      be.reduce('max', x, outer, axis, inner, mx, am);
      return { s, mx, am };
    },
  });
}

// ---- GEMM -----------------------------------------------------------------------------------
const GEMMS: Array<[number, number, number, number, number | null, number | null]> = [
  [1, 1, 1, 1, null, null], [1, 3, 17, 5, null, null], [1, 129, 33, 65, null, null], [1, 7, 100, 19, null, null],
  [1, 64, 64, 64, null, null], [1, 68, 72, 36, null, null], [3, 17, 9, 13, null, null], [4, 33, 20, 7, 0, null],
  [2, 5, 129, 3, null, 0],
  [1, 33, 20, 1100, null, null], // webgpu: split-K (few output tiles, long K), ragged last chunk
  [1, 64, 8, 1024, null, null], // webgpu: split-K on the vec4 path
];
for (const [batch, M, N, K, aBS0, bBS0] of GEMMS) {
  for (const aligned of [false, true]) {
    CASES.push({
      name: `gemm batch ${batch} (${M}x${K}) @ (${K}x${N})${aBS0 === 0 ? ' A stride 0' : ''}${bBS0 === 0 ? ' B stride 0' : ''}${aligned ? ' aligned (vec4 path)' : ' odd offsets'}, all transposes, alpha/beta`,
      rtol: 1e-5,
      atol: 4e-6 * Math.sqrt(K),
      run: (be, put) => {
        const aBS = aBS0 ?? (aligned ? M * K : M * K + 2);
        const bBS = bBS0 ?? (aligned ? K * N : K * N + 1);
        const cBS = M * N + 3;
        const aOff = aligned ? 4 : 5;
        const bOff = aligned ? 8 : 2;
        const a = put(F(aOff + (batch - 1) * aBS + M * K, M + K));
        const b = put(F(bOff + (batch - 1) * bBS + K * N, K + N));
        const out: Outputs = {};
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [alpha, beta] of [[1, 0], [0.5, 2]] as const) {
              const c0 = F(4 + (batch - 1) * cBS + M * N, 9);
              if (beta === 0) c0.fill(NaN);
              const c = put(c0);
              be.gemm(batch, M, N, K, alpha, a, aOff, aBS, transA, b, bOff, bBS, transB, beta, c, 4, cBS);
              out[`tA=${transA} tB=${transB} a=${alpha} b=${beta}`] = c.subarray(4);
            }
          }
        }
        return out;
      },
    });
  }
}

// ---- row kernels ----------------------------------------------------------------------------
for (const [rows, cols] of [[1, 1], [3, 17], [17, 129], [2, 1000]] as const) {
  CASES.push({
    name: `softmax / log-softmax (${rows}, ${cols}) + backward`,
    rtol: 2e-5,
    atol: 1e-6,
    run: (be, put) => {
      const x = put(F(rows * cols, rows + cols, -8, 8));
      const gy = put(F(rows * cols, 5));
      const out: Outputs = {};
      for (const log of [false, true]) {
        const y = put(Z(rows * cols));
        be.softmax(x, rows, cols, y, log);
        const yr = Z(rows * cols);
        referenceBackend.softmax(F(rows * cols, rows + cols, -8, 8), rows, cols, yr, log);
        const gx = put(Z(rows * cols));
        be.softmaxBackward(put(yr), gy, rows, cols, gx, log);
        out[`y log=${log}`] = y;
        out[`gx log=${log}`] = gx;
      }
      return out;
    },
  });
  for (const affine of [true, false]) {
    CASES.push({
      name: `layerNorm / rmsNorm (${rows}, ${cols}) affine=${affine} + backward`,
      rtol: 1e-4,
      atol: 2e-5,
      run: (be, put) => {
        const xh = F(rows * cols, rows * cols + 1, -2, 3);
        const x = put(xh);
        const g = affine ? put(F(cols, 2, 0.5, 1.5)) : null;
        const bt = affine ? put(F(cols, 3)) : null;
        const y = put(Z(rows * cols));
        const mean = put(Z(rows));
        const rstd = put(Z(rows));
        be.layerNorm(x, g, bt, rows, cols, 1e-5, y, mean, rstd);
        const mr = Z(rows);
        const rr = Z(rows);
        referenceBackend.layerNorm(xh, affine ? F(cols, 2, 0.5, 1.5) : null, null, rows, cols, 1e-5, Z(rows * cols), mr, rr);
        const gy = put(F(rows * cols, 7));
        const gx = put(Z(rows * cols));
        const gg = affine ? put(F(cols, 8)) : null;
        const gb = affine ? put(F(cols, 9)) : null;
        be.layerNormBackward(x, g, put(mr), put(rr), gy, rows, cols, gx, gg, gb);
        const ry = put(Z(rows * cols));
        const rrs = put(Z(rows));
        be.rmsNorm(x, g, rows, cols, 1e-6, ry, rrs);
        const rrr = Z(rows);
        referenceBackend.rmsNorm(xh, affine ? F(cols, 2, 0.5, 1.5) : null, rows, cols, 1e-6, Z(rows * cols), rrr);
        const rgx = put(Z(rows * cols));
        const rgg = affine ? put(F(cols, 10)) : null;
        be.rmsNormBackward(x, g, put(rrr), gy, rows, cols, rgx, rgg);
        const o: Outputs = { y, mean, rstd, gx, ry, rrs, rgx };
        if (gg && gb && rgg) Object.assign(o, { gg, gb, rgg });
        return o;
      },
    });
  }
  CASES.push({
    name: `crossEntropy (${rows}, ${cols}) ignore_index -100 + backward; bce`,
    rtol: 2e-5,
    atol: 2e-6,
    run: (be, put) => {
      const lh = F(rows * cols, rows + cols, -10, 10);
      const logits = put(lh);
      const th = randI32(rows, cols, 0, cols);
      if (rows > 1) th[1] = -100;
      const t = put(th);
      const loss = put(Z(rows));
      const lse = put(Z(rows));
      const bad = be.crossEntropy(logits, t, rows, cols, -100, loss, lse);
      const lr = Z(rows);
      referenceBackend.crossEntropy(lh, th, rows, cols, -100, Z(rows), lr);
      const gx = put(Z(rows * cols));
      be.crossEntropyBackward(logits, put(lr), t, put(F(rows, 4)), rows, cols, -100, gx);
      const n = rows * cols;
      const y = put(F(n, 11, 0, 1));
      const bl = put(Z(n));
      be.bceWithLogits(logits, y, bl, n);
      const bg = put(Z(n));
      be.bceWithLogitsBackward(logits, y, put(F(n, 12)), bg, n);
      return { bad, loss, lse, gx, bl, bg };
    },
  });
}
CASES.push({
  name: 'crossEntropy reports the first out-of-range target',
  run: (be, put) => ({ bad: be.crossEntropy(put(F(20, 1)), put(new Int32Array([0, 5, -100, -1])), 4, 5, -100, put(Z(4)), put(Z(4))) }),
});

// ---- indexing -------------------------------------------------------------------------------
CASES.push({
  name: 'gather rows (and the first bad id), scatterAdd with repeated ids in order',
  run: (be, put) => {
    const V = 50;
    const C = 17;
    const table = put(F(V * C, 1));
    const idh = randI32(129, 2, 0, V);
    const o = put(Z(129 * C));
    const ok = be.gather(table, V, C, put(idh), 129, o);
    const badIds = idh.slice();
    badIds[40] = V;
    badIds[90] = -1;
    const bad = be.gather(table, V, C, put(badIds), 129, put(Z(129 * C)));
    const ids = put(randI32(129, 7, 0, 7));
    const gt = put(F(7 * 3, 3));
    be.scatterAdd(put(F(129 * 3, 129)), ids, 129, 3, gt);
    return { ok, o, bad, gt };
  },
  rtol: 1e-6,
  atol: 1e-6,
});

// ---- attention ------------------------------------------------------------------------------
function attn(B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number, o: Partial<AttentionArgs> = {}): AttentionArgs {
  return {
    B, H, Hkv, Tq, Tk, D,
    q: F(B * H * Tq * D, 1, -1.5, 1.5), k: F(B * Hkv * Tk * D, 2, -1.5, 1.5), v: F(B * Hkv * Tk * D, 3),
    keyMask: o.keyMask ?? null, causal: o.causal ?? false, scale: o.scale ?? 1 / Math.sqrt(D), dropoutP: o.dropoutP ?? 0, seed: o.seed ?? 1234,
  };
}
const mask = (B: number, Tk: number, seed: number): Float32Array => {
  const m = F(B * Tk, seed).map((v) => (v > -0.6 ? 1 : 0));
  for (let b = 0; b < B; b++) m[b * Tk] = 1;
  return m;
};
const ATTN: Array<[string, AttentionArgs]> = [
  ['tiny B1 H1 T1 D1', attn(1, 1, 1, 1, 1, 1)],
  ['B2 H4 Hkv2 Tq5 Tk7 D3, causal + mask + dropout', attn(2, 4, 2, 5, 7, 3, { causal: true, keyMask: mask(2, 7, 3), dropoutP: 0.2 })],
  ['B1 H3 T17 D8, no mask', attn(1, 3, 3, 17, 17, 8)],
  ['decode: Tq1 Tk33 causal, GQA H4 Hkv1', attn(1, 4, 1, 1, 33, 16, { causal: true })],
  ['B2 H2 T40 D16, mask + dropout', attn(2, 2, 2, 40, 40, 16, { keyMask: mask(2, 40, 4), dropoutP: 0.1, seed: 99 })],
  ['causal Tq > Tk: leading rows see no key', attn(1, 2, 2, 6, 3, 4, { causal: true })],
  ['fully masked batch', attn(2, 2, 2, 4, 5, 3, { keyMask: new Float32Array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0]) })],
];
for (const [name, a] of ATTN) {
  CASES.push({
    name: `attention ${name} + backward`,
    rtol: 1e-4,
    atol: 1e-5,
    run: (be, put) => {
      const nq = a.B * a.H * a.Tq * a.D;
      const nk = a.B * a.Hkv * a.Tk * a.D;
      const rows = a.B * a.H * a.Tq;
      const args: AttentionArgs = { ...a, q: put(a.q as Float32Array), k: put(a.k as Float32Array), v: put(a.v as Float32Array), keyMask: a.keyMask ? put(a.keyMask as Float32Array) : null };
      const out = put(Z(nq));
      const lse = put(Z(rows));
      be.attention(args, out, lse);
      const outR = Z(nq);
      const lseR = Z(rows);
      referenceBackend.attention(a, outR, lseR);
      const gq = put(Z(nq));
      const gk = put(Z(nk));
      const gv = put(Z(nk));
      be.attentionBackward(args, put(outR), put(lseR), put(F(nq, 77)), gq, gk, gv);
      return { out, lse, gq, gk, gv };
    },
  });
}

// ---- optimizer ------------------------------------------------------------------------------
CASES.push({
  name: 'adamw: five steps with decay, clipping scale and bias correction',
  rtol: 1e-5,
  atol: 1e-7,
  run: (be, put) => {
    const n = 4001;
    const p = put(F(n, 1));
    const m = put(Z(n));
    const v = put(Z(n));
    for (let step = 1; step <= 5; step++) be.adamw(p, put(F(n, 10 + step, -3, 3)), m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, 0.5);
    return { p, m, v };
  },
});

async function collect(out: Outputs, get: Target['get']): Promise<Record<string, ArrayLike<number> | number>> {
  const res: Record<string, ArrayLike<number> | number> = {};
  for (const [k, v] of Object.entries(out)) res[k] = typeof v === 'number' ? v : await get(v);
  return res;
}

const refPut: Put = (h) => h.slice() as typeof h;
const targets = await parityTargets();

for (const t of targets) {
  describe(`parity ${t.name} vs reference`, { skip: t.skip }, () => {
    for (const c of CASES) {
      it(c.name, async () => {
        const want = await collect(c.run(referenceBackend, refPut), (a) => Promise.resolve(a));
        const got = await collect(c.run(t.be, t.put), t.get);
        for (const [k, w] of Object.entries(want)) {
          const g = got[k];
          if (typeof w === 'number') assert.equal(g, w, `${k}`);
          else assertClose(g as ArrayLike<number>, w, `${c.name}: ${k}`, c.rtol ?? 0, c.atol ?? 0);
        }
      });
    }
  });
}

describe('webgpu sumSquaresAsync', { skip: targets[1].skip }, () => {
  it('sums squares over several buffers (one read)', async () => {
    const be = targets[1].be;
    const xs = [F(1, 1), F(17, 2), F(20003, 3, -2, 2), F(0, 4)];
    const want = xs.reduce((s, x) => s + referenceBackend.sumSquares(x, x.length), 0);
    const got = await be.sumSquaresAsync!(xs.map((x) => ({ x: targets[1].put(x), n: x.length })));
    assert.ok(Math.abs(got - want) <= 1e-5 * want, `${got} vs ${want}`);
  });
});

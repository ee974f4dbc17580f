// Native vs reference parity for GEMM (both the OpenBLAS and the built-in path), the fused row ops
// (softmax, layer norm, RMS norm), the losses, fused attention (masks, causal, GQA, dropout, fully
// masked rows) and AdamW, on random inputs with odd sizes, transposes, offsets and batch stride 0.

import assert from 'node:assert/strict';
import { after, it } from 'node:test';

import type { AttentionArgs } from '../../src/backend/backend.ts';
import { nativeBackend as nat, nativeAvailable, nativeBuildInfo, setGemmImplementation } from '../../src/backend/native.ts';
import { referenceBackend as ref } from '../../src/backend/reference.ts';
import { assertBitwise, assertClose, randF32, randI32, describeEachIsa, skipWithoutNative } from './parity-helpers.ts';

const skip = skipWithoutNative();
/** Every GEMM implementation this build has: the built-in one always, OpenBLAS when linked. */
const GEMMS: Array<'openblas' | 'builtin'> = nativeAvailable() && nativeBuildInfo().blas === 'openblas' ? ['openblas', 'builtin'] : ['builtin'];

after(() => {
  if (nativeAvailable()) setGemmImplementation(nativeBuildInfo().blas);
});

interface GemmCase {
  batch: number;
  M: number;
  N: number;
  K: number;
  aBS?: 0;
  bBS?: 0;
}
const GEMM_CASES: GemmCase[] = [
  { batch: 1, M: 1, N: 1, K: 1 },
  { batch: 1, M: 3, N: 17, K: 5 },
  { batch: 1, M: 129, N: 33, K: 65 },
  { batch: 1, M: 7, N: 300, K: 19 },
  { batch: 1, M: 97, N: 71, K: 300 }, // K > 256: several K blocks in the built-in kernel
  { batch: 1, M: 200, N: 260, K: 64 }, // large enough to split over threads
  { batch: 3, M: 17, N: 9, K: 13 },
  { batch: 4, M: 33, N: 20, K: 7, aBS: 0 }, // A broadcast over the batch
  { batch: 2, M: 5, N: 129, K: 3, bBS: 0 }, // B broadcast over the batch
  { batch: 3, M: 65, N: 64, K: 200, bBS: 0 }, // big enough to run the batch entries in parallel
];

describeEachIsa('native parity: gemm', { skip }, () => {
  for (const impl of GEMMS) {
    for (const c of GEMM_CASES) {
      it(`${impl}: batch ${c.batch} (${c.M}x${c.K}) @ (${c.K}x${c.N})${c.aBS === 0 ? ' A stride 0' : ''}${c.bBS === 0 ? ' B stride 0' : ''}`, () => {
        setGemmImplementation(impl);
        const { batch, M, N, K } = c;
        const aBS = c.aBS ?? M * K + 2;
        const bBS = c.bBS ?? K * N + 1;
        const cBS = M * N + 3;
        const a = randF32(5 + (batch - 1) * aBS + M * K, M + K);
        const b = randF32(2 + (batch - 1) * bBS + K * N, K + N);
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            for (const [alpha, beta] of [[1, 0], [0.5, 2]] as const) {
              const c0 = randF32(4 + (batch - 1) * cBS + M * N, 9);
              if (beta === 0) c0.fill(NaN); // beta = 0 must not read C
              const r = c0.slice();
              const o = c0.slice();
              ref.gemm(batch, M, N, K, alpha, a, 5, aBS, transA, b, 2, bBS, transB, beta, r, 4, cBS);
              nat.gemm(batch, M, N, K, alpha, a, 5, aBS, transA, b, 2, bBS, transB, beta, o, 4, cBS);
              const tag = `tA=${transA} tB=${transB} alpha=${alpha} beta=${beta}`;
              // float32 accumulation over K: absolute error grows like sqrt(K) eps |a||b|.
              assertClose(o.subarray(4), r.subarray(4), tag, 1e-5, 2e-6 * Math.sqrt(K));
              assert.ok(Number.isNaN(o[0]) === Number.isNaN(c0[0]), 'C before cOffset untouched');
            }
          }
        }
      });
    }
    it(`${impl}: K = 0 gives beta * C`, () => {
      setGemmImplementation(impl);
      const c0 = new Float32Array([1, 2, 3, 4]);
      const o = c0.slice();
      nat.gemm(1, 2, 2, 0, 1, new Float32Array(0), 0, 0, false, new Float32Array(0), 0, 0, false, 0.5, o, 0, 0);
      assert.deepEqual([...o], [0.5, 1, 1.5, 2]);
    });
  }
});

describeEachIsa('native parity: softmax and norms', { skip }, () => {
  const shapes: Array<[number, number]> = [[1, 1], [3, 17], [17, 3], [37, 129], [5, 1000], [130, 768]];
  for (const [rows, cols] of shapes) {
    it(`softmax / log-softmax (${rows}, ${cols}) forward and backward`, () => {
      const x = randF32(rows * cols, rows + cols, -8, 8);
      const gy = randF32(rows * cols, 3);
      for (const log of [false, true]) {
        const yr = new Float32Array(rows * cols);
        const yn = new Float32Array(rows * cols);
        ref.softmax(x, rows, cols, yr, log);
        nat.softmax(x, rows, cols, yn, log);
        assertClose(yn, yr, `softmax log=${log}`, 1e-5, 1e-7);
        const gr = new Float32Array(rows * cols);
        const gn = new Float32Array(rows * cols);
        ref.softmaxBackward(yr, gy, rows, cols, gr, log);
        nat.softmaxBackward(yr, gy, rows, cols, gn, log);
        assertClose(gn, gr, `softmax backward log=${log}`, 1e-5, 1e-6);
      }
    });

    it(`layerNorm and rmsNorm (${rows}, ${cols}) forward and backward, with and without affine`, () => {
      const x = randF32(rows * cols, rows * cols, -2, 3);
      const gy = randF32(rows * cols, 11);
      const gamma = randF32(cols, 12, 0.5, 1.5);
      const beta = randF32(cols, 13);
      for (const affine of [true, false]) {
        const g = affine ? gamma : null;
        const bt = affine ? beta : null;
        const out = () => ({ y: new Float32Array(rows * cols), mean: new Float32Array(rows), rstd: new Float32Array(rows) });
        const r = out();
        const n = out();
        ref.layerNorm(x, g, bt, rows, cols, 1e-5, r.y, r.mean, r.rstd);
        nat.layerNorm(x, g, bt, rows, cols, 1e-5, n.y, n.mean, n.rstd);
        assertClose(n.y, r.y, 'layerNorm y', 1e-5, 1e-5);
        assertClose(n.mean, r.mean, 'layerNorm mean', 1e-6, 1e-7);
        assertClose(n.rstd, r.rstd, 'layerNorm rstd', 1e-6, 1e-7);
        // ggamma / gbeta accumulate onto what is already there.
        const acc = () => ({ gx: new Float32Array(rows * cols), gg: randF32(cols, 21), gb: randF32(cols, 22) });
        const br = acc();
        const bn = acc();
        ref.layerNormBackward(x, g, r.mean, r.rstd, gy, rows, cols, br.gx, affine ? br.gg : null, affine ? br.gb : null);
        nat.layerNormBackward(x, g, r.mean, r.rstd, gy, rows, cols, bn.gx, affine ? bn.gg : null, affine ? bn.gb : null);
        assertClose(bn.gx, br.gx, 'layerNorm gx', 1e-4, 1e-5);
        assertClose(bn.gg, br.gg, 'layerNorm ggamma', 1e-5, 2e-5);
        assertClose(bn.gb, br.gb, 'layerNorm gbeta', 1e-5, 2e-5);

        const rr = { y: new Float32Array(rows * cols), rstd: new Float32Array(rows) };
        const rn = { y: new Float32Array(rows * cols), rstd: new Float32Array(rows) };
        ref.rmsNorm(x, g, rows, cols, 1e-6, rr.y, rr.rstd);
        nat.rmsNorm(x, g, rows, cols, 1e-6, rn.y, rn.rstd);
        assertClose(rn.y, rr.y, 'rmsNorm y', 1e-5, 1e-6);
        assertClose(rn.rstd, rr.rstd, 'rmsNorm rstd', 1e-6, 1e-7);
        const sr = acc();
        const sn = acc();
        ref.rmsNormBackward(x, g, rr.rstd, gy, rows, cols, sr.gx, affine ? sr.gg : null);
        nat.rmsNormBackward(x, g, rr.rstd, gy, rows, cols, sn.gx, affine ? sn.gg : null);
        assertClose(sn.gx, sr.gx, 'rmsNorm gx', 1e-4, 1e-5);
        assertClose(sn.gg, sr.gg, 'rmsNorm ggamma', 1e-5, 2e-5);
      }
    });
  }
});

describeEachIsa('native parity: losses', { skip }, () => {
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 129], [4, 30522]] as const) {
    it(`crossEntropy (${rows}, ${cols}) with ignore_index -100, forward and backward`, () => {
      const logits = randF32(rows * cols, rows + cols, -10, 10);
      const targets = randI32(rows, cols, 0, cols);
      if (rows > 1) targets[1] = -100;
      const lr = new Float32Array(rows);
      const ln = new Float32Array(rows);
      const er = new Float32Array(rows);
      const en = new Float32Array(rows);
      assert.equal(nat.crossEntropy(logits, targets, rows, cols, -100, ln, en), ref.crossEntropy(logits, targets, rows, cols, -100, lr, er));
      assertClose(ln, lr, 'loss', 1e-5, 1e-6);
      assertClose(en, er, 'lse', 1e-6, 1e-6);
      const gloss = randF32(rows, 4);
      const gr = new Float32Array(rows * cols);
      const gn = new Float32Array(rows * cols).fill(NaN);
      ref.crossEntropyBackward(logits, er, targets, gloss, rows, cols, -100, gr);
      nat.crossEntropyBackward(logits, er, targets, gloss, rows, cols, -100, gn);
      assertClose(gn, gr, 'gx', 1e-5, 1e-7);
    });
  }

  it('crossEntropy reports the first out-of-range target', () => {
    const logits = randF32(4 * 5, 1);
    const targets = new Int32Array([0, 5, -100, -1]);
    const l = new Float32Array(4);
    const e = new Float32Array(4);
    assert.equal(nat.crossEntropy(logits, targets, 4, 5, -100, l, e), 1);
    assert.equal(ref.crossEntropy(logits, targets, 4, 5, -100, new Float32Array(4), new Float32Array(4)), 1);
  });

  it('bceWithLogits forward and backward', () => {
    for (const n of [1, 3, 17, 20001]) {
      const x = randF32(n, n, -30, 30);
      const y = randF32(n, n + 1, 0, 1);
      const r = new Float32Array(n);
      const o = new Float32Array(n);
      ref.bceWithLogits(x, y, r, n);
      nat.bceWithLogits(x, y, o, n);
      assertClose(o, r, 'bce', 1e-5, 1e-6);
      const gl = randF32(n, 2);
      ref.bceWithLogitsBackward(x, y, gl, r, n);
      nat.bceWithLogitsBackward(x, y, gl, o, n);
      assertClose(o, r, 'bce backward', 1e-5, 1e-6);
    }
  });
});

function attnArgs(B: number, H: number, Hkv: number, Tq: number, Tk: number, D: number, o: Partial<AttentionArgs> & { seedData?: number } = {}): AttentionArgs {
  const s = o.seedData ?? 1;
  return {
    B, H, Hkv, Tq, Tk, D,
    q: randF32(B * H * Tq * D, s, -1.5, 1.5),
    k: randF32(B * Hkv * Tk * D, s + 1, -1.5, 1.5),
    v: randF32(B * Hkv * Tk * D, s + 2),
    keyMask: o.keyMask ?? null,
    causal: o.causal ?? false,
    scale: o.scale ?? 1 / Math.sqrt(D),
    dropoutP: o.dropoutP ?? 0,
    seed: o.seed ?? 1234,
  };
}

function keyMask(B: number, Tk: number, seed: number): Float32Array {
  const m = randF32(B * Tk, seed).map((v) => (v > -0.6 ? 1 : 0));
  for (let b = 0; b < B; b++) m[b * Tk] = 1; // keep one key so only chosen rows are fully masked
  return m;
}

const ATTN_CASES: Array<[string, AttentionArgs]> = [
  ['tiny B1 H1 T1 D1', attnArgs(1, 1, 1, 1, 1, 1)],
  ['B2 H4 Hkv2 Tq5 Tk7 D3, causal + mask + dropout', attnArgs(2, 4, 2, 5, 7, 3, { causal: true, keyMask: keyMask(2, 7, 3), dropoutP: 0.2 })],
  ['B1 H3 T17 D8, no mask', attnArgs(1, 3, 3, 17, 17, 8)],
  ['B2 H2 T17 D5, causal self-attention', attnArgs(2, 2, 2, 17, 17, 5, { causal: true })],
  ['decode: Tq1 Tk33 causal, GQA H4 Hkv1', attnArgs(1, 4, 1, 1, 33, 16, { causal: true })],
  ['B3 H2 T130 D16, mask + dropout (several query blocks)', attnArgs(3, 2, 2, 130, 130, 16, { keyMask: keyMask(3, 130, 4), dropoutP: 0.1, seed: 99 })],
  ['MQA B1 H6 Hkv1 T70 D12 causal + dropout (split backward)', attnArgs(1, 6, 1, 70, 70, 12, { causal: true, dropoutP: 0.3 })],
  ['causal Tq > Tk: leading rows see no key', attnArgs(1, 2, 2, 6, 3, 4, { causal: true })],
];
{
  // A batch whose every key is masked: its rows get out = 0, lse = -inf, zero gradients.
  const a = attnArgs(2, 2, 2, 4, 5, 3, { keyMask: new Float32Array([1, 0, 1, 1, 0, 0, 0, 0, 0, 0]) });
  ATTN_CASES.push(['fully masked batch', a]);
}

describeEachIsa('native parity: fused attention', { skip }, () => {
  for (const impl of GEMMS) {
    for (const [name, a] of ATTN_CASES) {
      it(`${impl}: ${name}`, () => {
        setGemmImplementation(impl);
        const nq = a.B * a.H * a.Tq * a.D;
        const nk = a.B * a.Hkv * a.Tk * a.D;
        const rows = a.B * a.H * a.Tq;
        const outR = new Float32Array(nq);
        const lseR = new Float32Array(rows);
        const outN = new Float32Array(nq).fill(NaN);
        const lseN = new Float32Array(rows).fill(NaN);
        ref.attention(a, outR, lseR);
        nat.attention(a, outN, lseN);
        assertClose(outN, outR, 'out', 1e-5, 1e-6);
        assertClose(lseN, lseR, 'lse', 1e-6, 1e-6);
        const gout = randF32(nq, 77);
        const g = () => ({ q: new Float32Array(nq).fill(NaN), k: new Float32Array(nk).fill(NaN), v: new Float32Array(nk).fill(NaN) });
        const gr = g();
        const gn = g();
        ref.attentionBackward(a, outR, lseR, gout, gr.q, gr.k, gr.v);
        nat.attentionBackward(a, outR, lseR, gout, gn.q, gn.k, gn.v);
        assertClose(gn.q, gr.q, 'gq', 1e-4, 1e-5);
        assertClose(gn.k, gr.k, 'gk', 1e-4, 1e-5);
        assertClose(gn.v, gr.v, 'gv', 1e-4, 1e-5);
      });
    }
  }
});

describeEachIsa('native parity: adamw', { skip }, () => {
  it('five steps with decay, clipping scale and bias correction', () => {
    const n = 40001;
    const p0 = randF32(n, 1);
    const pr = p0.slice();
    const pn = p0.slice();
    const mr = new Float32Array(n);
    const mn = new Float32Array(n);
    const vr = new Float32Array(n);
    const vn = new Float32Array(n);
    for (let step = 1; step <= 5; step++) {
      const g = randF32(n, 10 + step, -3, 3);
      ref.adamw(pr, g, mr, vr, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, 0.5);
      nat.adamw(pn, g, mn, vn, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, 0.5);
    }
    assertClose(pn, pr, 'p', 1e-6, 1e-7);
    assertClose(mn, mr, 'm', 1e-5, 1e-7);
    assertClose(vn, vr, 'v', 1e-5, 1e-8);
    assertBitwise(new Float32Array(0), new Float32Array(0), 'empty');
  });
});

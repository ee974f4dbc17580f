// The native backend beyond parity: bitwise determinism (same inputs and thread count -> same bits;
// the kernels that promise it, also across thread counts), typed errors instead of crashes for bad
// calls (short buffers, float64, out-of-range views and ids), thread and GEMM controls, build info,
// and the build-time BLAS switch.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import type { AttentionArgs } from '../../src/backend/backend.ts';
import {
  getNumThreads,
  measureFmaPeak,
  nativeAvailable,
  nativeBackend as nat,
  nativeBuildInfo,
  setGemmImplementation,
  setIsa,
  setNumThreads,
  supportedIsaLevels,
} from '../../src/backend/native.ts';
import { DTypeError, ShapeError } from '../../src/errors.ts';
import { assertBitwise, randF32, randI32, skipWithoutNative } from './parity-helpers.ts';

const skip = skipWithoutNative();
const initialThreads = nativeAvailable() ? getNumThreads() : 1;

after(() => {
  if (!nativeAvailable()) return;
  setNumThreads(initialThreads);
  setGemmImplementation(nativeBuildInfo().blas);
  setIsa(nativeBuildInfo().isaMax);
});

/** Runs a few training-shaped kernels and returns every output buffer. */
function workload(): Float32Array[] {
  const B = 2;
  const H = 4;
  const T = 70;
  const D = 16;
  const a: AttentionArgs = {
    B, H, Hkv: 2, Tq: T, Tk: T, D,
    q: randF32(B * H * T * D, 1), k: randF32(B * 2 * T * D, 2), v: randF32(B * 2 * T * D, 3),
    keyMask: randF32(B * T, 4).map((x) => (x > -0.5 ? 1 : 0)), causal: true, scale: 0.25, dropoutP: 0.1, seed: 5,
  };
  const out = new Float32Array(B * H * T * D);
  const lse = new Float32Array(B * H * T);
  nat.attention(a, out, lse);
  const gq = new Float32Array(out.length);
  const gk = new Float32Array(a.k.length);
  const gv = new Float32Array(a.v.length);
  nat.attentionBackward(a, out, lse, randF32(out.length, 6), gq, gk, gv);
  const M = 300;
  const K = 270;
  const N = 190;
  const c = new Float32Array(M * N);
  nat.gemm(1, M, N, K, 1, randF32(M * K, 7), 0, 0, false, randF32(N * K, 8), 0, 0, true, 0, c, 0, 0);
  const rows = 333;
  const cols = 257;
  const x = randF32(rows * cols, 9);
  const y = new Float32Array(rows * cols);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  nat.layerNorm(x, randF32(cols, 10), randF32(cols, 11), rows, cols, 1e-5, y, mean, rstd);
  return [out, lse, gq, gk, gv, c, y, ...reductionWorkload()];
}

/** Kernels documented to give the same bits on any thread count. */
function reductionWorkload(): Float32Array[] {
  const rows = 333;
  const cols = 257;
  const x = randF32(rows * cols, 12);
  const gy = randF32(rows * cols, 13);
  const mean = new Float32Array(rows);
  const rstd = new Float32Array(rows);
  nat.layerNorm(x, null, null, rows, cols, 1e-5, new Float32Array(rows * cols), mean, rstd);
  const gx = new Float32Array(rows * cols);
  const gg = new Float32Array(cols);
  const gb = new Float32Array(cols);
  nat.layerNormBackward(x, randF32(cols, 14), mean, rstd, gy, rows, cols, gx, gg, gb);
  const s1 = new Float32Array(cols);
  nat.reduce('sum', x, 1, rows, cols, s1, null);
  const s2 = new Float32Array(1);
  nat.reduce('sum', x, 1, rows * cols, 1, s2, null);
  const ss = new Float32Array([nat.sumSquares(x, rows * cols)]);
  const long = randF32(3 * 70001, 16);
  const s3 = new Float32Array(3);
  nat.reduce('sum', long, 3, 70001, 1, s3, null); // few rows: the axis is cut into fixed chunks
  const table = new Float32Array(50 * cols);
  nat.scatterAdd(gy, randI32(rows, 15, 0, 50), rows, cols, table);
  return [gx, gg, gb, s1, s2, s3, ss, table];
}

describe('native determinism', { skip }, () => {
  it('same inputs, same thread count: bitwise identical outputs', () => {
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      const first = workload();
      const second = workload();
      first.forEach((buf, i) => assertBitwise(second[i], buf, `threads=${threads} output ${i}`));
    }
  });

  it('reductions, norm backward and scatterAdd give the same bits on 1 and 2 threads', () => {
    setNumThreads(1);
    const one = reductionWorkload();
    setNumThreads(2);
    const two = reductionWorkload();
    one.forEach((buf, i) => assertBitwise(two[i], buf, `output ${i}`));
  });
});

describe('native controls and build info', { skip }, () => {
  it('setNumThreads / getNumThreads round-trip and reject bad values', () => {
    setNumThreads(1);
    assert.equal(getNumThreads(), 1);
    setNumThreads(2);
    assert.equal(getNumThreads(), 2);
    assert.throws(() => setNumThreads(0), ShapeError);
    assert.throws(() => setNumThreads(1.5), ShapeError);
  });

  it('reports what it was built with and switches GEMM implementations', () => {
    const info = nativeBuildInfo();
    assert.ok(info.blas === 'openblas' || info.blas === 'builtin');
    assert.equal(typeof info.avx2, 'boolean');
    setGemmImplementation('builtin');
    assert.equal(nativeBuildInfo().gemm, 'builtin');
    if (info.blas === 'openblas') {
      setGemmImplementation('openblas');
      assert.equal(nativeBuildInfo().gemm, 'openblas');
    } else {
      assert.throws(() => setGemmImplementation('openblas'), /no OpenBLAS/);
    }
  });

  it('setIsa forces each supported kernel variant and refuses the others', (t) => {
    const levels = supportedIsaLevels();
    const max = nativeBuildInfo().isaMax;
    assert.equal(levels[0], 'portable');
    assert.equal(levels[levels.length - 1], max);
    t.diagnostic(`supported: ${levels.join(', ')}`);
    for (const l of levels) {
      setIsa(l);
      assert.equal(nativeBuildInfo().isa, l);
      assert.equal(nativeBuildInfo().avx2, l !== 'portable');
    }
    for (const l of (['portable', 'avx2', 'avx512'] as const).filter((x) => !levels.includes(x))) {
      assert.throws(() => setIsa(l), /supports at most/);
      assert.equal(nativeBuildInfo().isa, levels[levels.length - 1]); // unchanged by the refused call
    }
    assert.throws(() => setIsa('sse' as never), /unknown level 'sse'/);
    setIsa(max);
  });

  it('measures an FMA peak per supported vector width (0 for the others)', (t) => {
    const levels = supportedIsaLevels();
    for (const l of ['avx2', 'avx512'] as const) {
      const p = measureFmaPeak(5, l);
      t.diagnostic(`${l}: ${p.toFixed(0)} GFLOP/s (5 ms probe)`);
      if (levels.includes(l)) assert.ok(p > 0, `${l} peak ${p}`);
      else assert.equal(p, 0);
    }
    assert.equal(measureFmaPeak(5, 'portable'), 0);
  });

  it('FINETUNE_NO_BLAS=1 makes the build probe choose the built-in GEMM', () => {
    const probe = fileURLToPath(new URL('../../native/detect-blas.cjs', import.meta.url));
    const out = execFileSync(process.execPath, [probe, 'mode'], {
      env: { ...process.env, FINETUNE_NO_BLAS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    assert.equal(out.toString(), 'builtin');
    const libs = execFileSync(process.execPath, [probe, 'libs'], { env: { ...process.env, FINETUNE_NO_BLAS: '1' } });
    assert.equal(libs.toString(), '');
  });
});

describe('native bad calls throw typed errors (never crash)', { skip }, () => {
  const f = (n: number) => new Float32Array(n);

  it('too-short buffers', () => {
    assert.throws(() => nat.unary('exp', f(3), f(2), 3, 0), (e: unknown) => e instanceof ShapeError && /out has 2 elements, needs at least 3/.test(e.message));
    assert.throws(() => nat.unaryBackward('tanh', f(3), f(3), f(2), f(3), 3, 0), ShapeError);
    assert.throws(() => nat.where(f(4), f(4), f(3), f(4), 4), ShapeError);
    assert.throws(() => nat.axpy(1, f(4), f(3), 4), ShapeError);
    assert.throws(() => nat.fill(new Int32Array(2), 1, 3), ShapeError);
    assert.throws(() => nat.reduce('sum', f(11), 3, 4, 1, f(3), null), ShapeError);
    assert.throws(() => nat.reduce('max', f(12), 3, 4, 1, f(3), new Int32Array(2)), ShapeError);
    assert.throws(() => nat.sumSquares(f(3), 4), ShapeError);
    assert.throws(() => nat.softmax(f(11), 3, 4, f(12), false), ShapeError);
    assert.throws(() => nat.layerNorm(f(12), f(3), null, 3, 4, 1e-5, f(12), f(3), f(3)), /gamma has 3/);
    assert.throws(() => nat.layerNormBackward(f(12), null, f(3), f(2), f(12), 3, 4, f(12), null, null), ShapeError);
    assert.throws(() => nat.rmsNorm(f(12), null, 3, 4, 1e-5, f(12), f(2)), ShapeError);
    assert.throws(() => nat.crossEntropy(f(12), new Int32Array(2), 3, 4, -100, f(3), f(3)), ShapeError);
    assert.throws(() => nat.bceWithLogits(f(3), f(3), f(2), 3), ShapeError);
    assert.throws(() => nat.gather(f(11), 3, 4, new Int32Array(1), 1, f(4)), ShapeError);
    assert.throws(() => nat.dropout(f(3), f(2), 3, 0.1, 1), ShapeError);
    assert.throws(() => nat.adamw(f(4), f(4), f(4), f(3), 4, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 1), ShapeError);
  });

  it('gemm operands, offsets and batch strides are checked against the buffers', () => {
    const a = f(6);
    const b = f(6);
    assert.throws(() => nat.gemm(1, 2, 2, 3, 1, a, 1, 0, false, b, 0, 0, false, 0, f(4), 0, 0), /a has 6 elements, needs at least 7/);
    assert.throws(() => nat.gemm(2, 2, 2, 3, 1, a, 0, 0, false, b, 0, 6, false, 0, f(8), 0, 4), /b has 6/);
    assert.throws(() => nat.gemm(2, 2, 2, 3, 1, a, 0, 0, false, b, 0, 0, false, 0, f(8), 0, 0), /overlap/);
    assert.throws(() => nat.gemm(1, 2, 2, 3, 1, a, 0, 0, false, b, 0, 0, false, 0, f(4), 1, 0), /c has 4/);
    assert.throws(() => nat.gemm(1, -2, 2, 3, 1, a, 0, 0, false, b, 0, 0, false, 0, f(4), 0, 0), ShapeError);
  });

  it('strided views that reach outside their buffers', () => {
    assert.throws(() => nat.binary('add', [3, 4], f(12), [4, 1], 1, f(12), [4, 1], 0, f(12)), /a view reaches/);
    assert.throws(() => nat.binary('add', [3, 4], f(12), [1, -1], 0, f(12), [4, 1], 0, f(12)), /reaches elements \[-3/);
    assert.throws(() => nat.copyStrided([3, 4], f(12), [4, 1], 0, f(12), [1, 3], 1), /dst view reaches/);
    assert.throws(() => nat.binary('add', [3, 4], f(12), [4], 0, f(12), [4, 1], 0, f(12)), ShapeError);
  });

  it('ids, targets and attention shapes', () => {
    assert.throws(() => nat.scatterAdd(f(8), new Int32Array([0, 2]), 2, 4, f(8)), /ids\[1\] = 2 is outside/);
    assert.throws(
      () => nat.crossEntropyBackward(f(8), f(2), new Int32Array([0, 9]), f(2), 2, 4, -100, f(8)),
      /targets\[1\] = 9/,
    );
    const a: AttentionArgs = {
      B: 1, H: 3, Hkv: 2, Tq: 2, Tk: 2, D: 2, q: f(12), k: f(8), v: f(8),
      keyMask: null, causal: false, scale: 1, dropoutP: 0, seed: 0,
    };
    assert.throws(() => nat.attention(a, f(12), f(6)), /not a multiple of Hkv/);
    assert.throws(() => nat.attention({ ...a, H: 2, q: f(7) }, f(8), f(4)), /q has 7/);
    assert.throws(() => nat.attention({ ...a, H: 2, q: f(8), keyMask: f(1) }, f(8), f(4)), /keyMask has 1/);
    assert.throws(() => nat.attention({ ...a, H: 2, q: f(8), dropoutP: 1 }, f(8), f(4)), /dropoutP/);
    assert.throws(() => nat.attentionBackward({ ...a, H: 2, q: f(8) }, f(8), f(4), f(8), f(8), f(8), f(7)), /gv has 7/);
  });

  it('float64 and wrong array types are refused with DTypeError / ShapeError', () => {
    assert.throws(() => nat.unary('exp', new Float64Array(3), f(3), 3, 0), DTypeError);
    assert.throws(() => nat.copyStrided([2], new Float64Array(2), [1], 0, f(2), [1], 0), DTypeError);
    assert.throws(() => nat.crossEntropy(f(4), new Float32Array(1) as unknown as Int32Array, 1, 4, -100, f(1), f(1)), /Int32Array/);
    assert.equal(nat.supportsFloat64, false);
  });

  it('a detached buffer is a zero-length buffer, not a crash', () => {
    const x = f(16);
    structuredClone(x.buffer, { transfer: [x.buffer] });
    assert.throws(() => nat.unary('exp', x, f(16), 16, 0), ShapeError);
  });
});

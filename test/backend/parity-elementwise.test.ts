// Native vs reference parity for the elementwise, strided, reduction, indexing and dropout kernels,
// on random inputs with odd sizes (1, 3, 17, 129 and sizes large enough to run multi-threaded),
// broadcast (stride 0), permuted and negative strides, offsets, and dtype conversions.
// Exact ops are compared bit for bit; transcendental ones within ~1e-5 relative.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import type { BinaryOp, UnaryOp } from '../../src/backend/backend.ts';
import { nativeBackend as nat } from '../../src/backend/native.ts';
import { referenceBackend as ref } from '../../src/backend/reference.ts';
import { dropoutKeep, dropoutThreshold } from '../../src/backend/rng.ts';
import { assertBitwise, assertClose, randF32, randI32, describeEachIsa, skipWithoutNative } from './parity-helpers.ts';

const skip = skipWithoutNative();
const SIZES = [1, 3, 17, 129, 70001];

/** Input domain per unary op (log/sqrt/pow need positives, recip stays away from 0). */
const UNARY: Array<[UnaryOp, number, number, number]> = [
  // op, lo, hi, alpha
  ['neg', -3, 3, 0],
  ['exp', -20, 20, 0],
  ['log', 0.01, 50, 0],
  ['sqrt', 0, 50, 0],
  ['rsqrt', 0.01, 50, 0],
  ['abs', -3, 3, 0],
  ['square', -3, 3, 0],
  ['tanh', -6, 6, 0],
  ['sigmoid', -20, 20, 0],
  ['relu', -3, 3, 0],
  ['gelu', -8, 8, 0],
  ['gelu_tanh', -8, 8, 0],
  ['silu', -20, 20, 0],
  ['scale', -3, 3, 0.37],
  ['add_scalar', -3, 3, -1.25],
  ['pow', 0.1, 4, 1.7],
  ['recip', 0.1, 4, 0],
];
const EXACT_UNARY = new Set<UnaryOp>(['neg', 'abs', 'square', 'relu', 'recip']);

describeEachIsa('native parity: unary', { skip }, () => {
  for (const [op, lo, hi, alpha] of UNARY) {
    it(`${op} forward and backward`, () => {
      for (const n of SIZES) {
        const x = randF32(n, n * 7 + op.length, lo, hi);
        if (op === 'relu' && n > 3) x[1] = 0;
        const gy = randF32(n, n + 99);
        const yr = new Float32Array(n);
        const yn = new Float32Array(n);
        ref.unary(op, x, yr, n, alpha);
        nat.unary(op, x, yn, n, alpha);
        if (EXACT_UNARY.has(op)) assertBitwise(yn, yr, `${op} n=${n}`);
        else assertClose(yn, yr, `${op} n=${n}`, 2e-6, 1e-7);
        // Backward from the same forward output, so only the derivative is compared.
        const gr = new Float32Array(n);
        const gn = new Float32Array(n);
        ref.unaryBackward(op, x, yr, gy, gr, n, alpha);
        nat.unaryBackward(op, x, yr, gy, gn, n, alpha);
        assertClose(gn, gr, `${op}' n=${n}`, 1e-5, 1e-6);
      }
    });
  }

  it('unary may run in place (out aliases x)', () => {
    const x = randF32(1000, 5, -2, 2);
    const expect = new Float32Array(1000);
    ref.unary('gelu', x, expect, 1000, 0);
    nat.unary('gelu', x, x, 1000, 0);
    assertClose(x, expect, 'in-place gelu', 2e-6, 1e-7);
  });
});

const BINARY_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'gt', 'lt'];

/** Contiguous row-major strides of a shape. */
function contiguous(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

interface BinCase {
  name: string;
  shape: number[];
  aLen: number;
  aStrides: number[];
  aOffset: number;
  bLen: number;
  bStrides: number[];
  bOffset: number;
}

const BIN_CASES: BinCase[] = [
  { name: 'same shape 17', shape: [17], aLen: 17, aStrides: [1], aOffset: 0, bLen: 17, bStrides: [1], bOffset: 0 },
  { name: 'scalar b', shape: [3, 5], aLen: 15, aStrides: [5, 1], aOffset: 0, bLen: 1, bStrides: [0, 0], bOffset: 0 },
  { name: 'row broadcast (3,1,5)x(1,4,5)', shape: [3, 4, 5], aLen: 15, aStrides: [5, 0, 1], aOffset: 0, bLen: 20, bStrides: [0, 5, 1], bOffset: 0 },
  { name: 'column broadcast + offset', shape: [129, 3], aLen: 400, aStrides: [3, 1], aOffset: 7, bLen: 140, bStrides: [1, 0], bOffset: 11 },
  { name: 'transposed a', shape: [17, 13], aLen: 221, aStrides: [1, 17], aOffset: 0, bLen: 221, bStrides: [13, 1], bOffset: 0 },
  { name: 'negative stride (flip)', shape: [4, 9], aLen: 36, aStrides: [9, -1], aOffset: 8, bLen: 9, bStrides: [0, 1], bOffset: 0 },
  { name: 'size-1 dims', shape: [1, 17, 1, 3], aLen: 51, aStrides: [51, 3, 3, 1], aOffset: 0, bLen: 3, bStrides: [0, 0, 0, 1], bOffset: 0 },
  { name: 'large bias add (multi-thread)', shape: [301, 257], aLen: 301 * 257, aStrides: contiguous([301, 257]), aOffset: 0, bLen: 257, bStrides: [0, 1], bOffset: 0 },
  { name: 'large permuted (multi-thread)', shape: [64, 33, 31], aLen: 64 * 33 * 31, aStrides: [1, 64 * 31, 64], aOffset: 0, bLen: 64 * 33 * 31, bStrides: contiguous([64, 33, 31]), bOffset: 0 },
];

describeEachIsa('native parity: binary with broadcasting and strides', { skip }, () => {
  for (const c of BIN_CASES) {
    it(c.name, () => {
      const a = randF32(c.aLen, c.aLen + 1, -2, 2);
      const b = randF32(c.bLen, c.bLen + 2, -2, 2);
      // Some exact ties so eq / maximum / minimum see equal values.
      for (let i = 0; i < Math.min(a.length, b.length); i += 5) b[i] = a[i];
      const n = c.shape.reduce((p, s) => p * s, 1);
      for (const op of BINARY_OPS) {
        const r = new Float32Array(n);
        const o = new Float32Array(n);
        ref.binary(op, c.shape, a, c.aStrides, c.aOffset, b, c.bStrides, c.bOffset, r);
        nat.binary(op, c.shape, a, c.aStrides, c.aOffset, b, c.bStrides, c.bOffset, o);
        assertBitwise(o, r, `${op} ${c.name}`);
      }
    });
  }

  it('maximum / minimum propagate NaN like the reference', () => {
    const a = new Float32Array([NaN, 1, NaN, -0, 0]);
    const b = new Float32Array([1, NaN, NaN, 0, -0]);
    for (const op of ['maximum', 'minimum'] as const) {
      const r = new Float32Array(5);
      const o = new Float32Array(5);
      ref.binary(op, [5], a, [1], 0, b, [1], 0, r);
      nat.binary(op, [5], a, [1], 0, b, [1], 0, o);
      assertBitwise(o, r, op);
    }
  });
});

describeEachIsa('native parity: where, fill, axpy, copyStrided', { skip }, () => {
  it('where / axpy / fill', () => {
    for (const n of SIZES) {
      const c = randF32(n, 1, -1, 1).map((v) => (v > 0 ? 1 : 0));
      const a = randF32(n, 2);
      const b = randF32(n, 3);
      const r = new Float32Array(n);
      const o = new Float32Array(n);
      ref.where(c, a, b, r, n);
      nat.where(c, a, b, o, n);
      assertBitwise(o, r, `where n=${n}`);
      const yr = b.slice();
      const yn = b.slice();
      ref.axpy(0.625, a, yr, n);
      nat.axpy(0.625, a, yn, n);
      assertBitwise(yn, yr, `axpy n=${n}`);
      const fr = new Int32Array(n + 1);
      const fn = new Int32Array(n + 1);
      ref.fill(fr, -7.9, n);
      nat.fill(fn, -7.9, n);
      assertBitwise(fn, fr, `fill int32 n=${n}`);
      const gr = new Float32Array(n);
      const gn = new Float32Array(n);
      ref.fill(gr, 0.1, n);
      nat.fill(gn, 0.1, n);
      assertBitwise(gn, gr, `fill float32 n=${n}`);
    }
  });

  it('copyStrided: permutations, offsets, broadcast source, transposes big enough to thread', () => {
    const cases: Array<[number[], number[], number]> = [
      [[3, 4, 5], [1, 3, 12], 0], // (5,4,3) buffer read as a (3,4,5) permutation
      [[17, 1, 3], [3, 3, 1], 2],
      [[129, 7], [0, 1], 4], // broadcast rows
      [[300, 257], [1, 300], 0], // transpose, multi-threaded
    ];
    for (const [shape, srcStrides, srcOffset] of cases) {
      const n = shape.reduce((p, s) => p * s, 1);
      const srcLen = srcOffset + shape.reduce((p, s, d) => p + (s - 1) * srcStrides[d], 0) + 1;
      const src = randF32(srcLen, n);
      const dstStrides = contiguous(shape);
      const r = new Float32Array(n + 3);
      const o = new Float32Array(n + 3);
      ref.copyStrided(shape, src, srcStrides, srcOffset, r, dstStrides, 3);
      nat.copyStrided(shape, src, srcStrides, srcOffset, o, dstStrides, 3);
      assertBitwise(o, r, `copyStrided [${shape}]`);
    }
  });

  it('copyStrided converts float32 <-> int32 like typed-array stores (truncate, wrap, NaN -> 0)', () => {
    const f = new Float32Array([2.7, -2.7, 0.5, -0.5, 1e10, -3e9, NaN, Infinity, 2147483647, 123456789]);
    const ir = new Int32Array(f.length);
    const io = new Int32Array(f.length);
    ref.copyStrided([f.length], f, [1], 0, ir, [1], 0);
    nat.copyStrided([f.length], f, [1], 0, io, [1], 0);
    assertBitwise(io, ir, 'float32 -> int32');
    const back = randI32(37, 9, -(2 ** 31), 2 ** 31);
    const fr = new Float32Array(37);
    const fo = new Float32Array(37);
    ref.copyStrided([37], back, [1], 0, fr, [1], 0);
    nat.copyStrided([37], back, [1], 0, fo, [1], 0);
    assertBitwise(fo, fr, 'int32 -> float32');
  });
});

describeEachIsa('native parity: reductions', { skip }, () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1], [3, 17, 1], [1, 17, 3], [5, 3, 129], [1, 70001, 1], [2, 4099, 3], [1, 1024, 300], [4, 0, 3],
  ];
  for (const [outer, axis, inner] of shapes) {
    it(`sum and max over (outer ${outer}, axis ${axis}, inner ${inner})`, () => {
      const x = randF32(outer * axis * inner, outer + axis + inner, -3, 3);
      const m = outer * inner;
      const sr = new Float32Array(m);
      const sn = new Float32Array(m);
      ref.reduce('sum', x, outer, axis, inner, sr, null);
      nat.reduce('sum', x, outer, axis, inner, sn, null);
      assertClose(sn, sr, 'sum', 1e-6, 1e-6);
      const mr = new Float32Array(m);
      const mn = new Float32Array(m);
      const ar = new Int32Array(m);
      const an = new Int32Array(m);
      ref.reduce('max', x, outer, axis, inner, mr, ar);
      nat.reduce('max', x, outer, axis, inner, mn, an);
      assertBitwise(mn, mr, 'max');
      assertBitwise(an, ar, 'argmax');
    });
  }

  it('max: ties give the first index, NaN wins like the reference', () => {
    const x = new Float32Array([1, 5, 5, 2, /* row 2 */ 1, NaN, 7, NaN]);
    const mr = new Float32Array(2);
    const mn = new Float32Array(2);
    const ar = new Int32Array(2);
    const an = new Int32Array(2);
    ref.reduce('max', x, 2, 4, 1, mr, ar);
    nat.reduce('max', x, 2, 4, 1, mn, an);
    assertBitwise(mn, mr, 'max');
    assertBitwise(an, ar, 'argmax');
    assert.deepEqual([...an], [1, 1]);
  });

  it('sumSquares accumulates in float64', () => {
    for (const n of [0, 1, 17, 200003]) {
      const x = randF32(n, n + 3, -2, 2);
      const r = ref.sumSquares(x, n);
      const o = nat.sumSquares(x, n);
      assert.ok(Math.abs(o - r) <= 1e-12 * Math.max(1, r), `sumSquares n=${n}: ${o} vs ${r}`);
    }
  });
});

describeEachIsa('native parity: gather, scatterAdd, dropout', { skip }, () => {
  it('gather rows and report the first bad id', () => {
    const V = 50;
    const C = 17;
    const table = randF32(V * C, 1);
    const ids = randI32(129, 2, 0, V);
    const r = new Float32Array(129 * C);
    const o = new Float32Array(129 * C);
    assert.equal(nat.gather(table, V, C, ids, 129, o), ref.gather(table, V, C, ids, 129, r));
    assertBitwise(o, r, 'gather');
    const bad = ids.slice();
    bad[40] = V;
    bad[90] = -1;
    assert.equal(nat.gather(table, V, C, bad, 129, o), 40);
    assert.equal(ref.gather(table, V, C, bad, 129, r), 40);
  });

  it('scatterAdd accumulates repeated ids in id order (bitwise equal)', () => {
    for (const [V, C, n] of [[5, 1, 17], [7, 3, 129], [30, 768, 257]] as const) {
      const ids = randI32(n, V + C, 0, V);
      const g = randF32(n * C, n);
      const start = randF32(V * C, 3);
      const r = start.slice();
      const o = start.slice();
      ref.scatterAdd(g, ids, n, C, r);
      nat.scatterAdd(g, ids, n, C, o);
      assertBitwise(o, r, `scatterAdd V=${V} C=${C}`);
    }
  });

  it('dropout masks are bit-identical to rng.ts (C++ twin of the hash)', () => {
    for (const [p, seed] of [[0, 1], [0.1, 42], [0.5, 0xdeadbeef], [0.9, 7]] as const) {
      const n = 100003;
      const x = randF32(n, 5);
      const r = new Float32Array(n);
      const o = new Float32Array(n);
      ref.dropout(x, r, n, p, seed);
      nat.dropout(x, o, n, p, seed);
      assertBitwise(o, r, `dropout p=${p}`);
      const t = dropoutThreshold(p);
      for (let i = 0; i < n; i += 997) assert.equal(o[i] !== 0, dropoutKeep(seed, i, t), `keep(${i})`);
    }
  });
});

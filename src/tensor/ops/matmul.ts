// Matrix products: batched matmul with broadcasting batch dims (transposed views are passed to GEMM
// as transpose flags, not copied), and linear (x W^T + b, the Hugging Face / PyTorch Linear layout).

import type { FloatArray } from '../../backend/backend.ts';
import { ShapeError } from '../../errors.ts';
import { needsGrad, record, save } from '../autograd.ts';
import { autocastPrecision, type MatmulPrecision } from '../autocast.ts';
import type { QuantizedWeight } from '../../backend/quant.ts';
import { gemmIn, gemmQuantIn } from './lowp.ts';
import { Tensor, shapeStr, type Shape } from '../tensor.ts';
import { assertFloat, broadcastShapes, contiguousRaw, floatBuffer } from './util.ts';
import { expand } from './views.ts';

interface MatrixOperand {
  buf: FloatArray;
  offset: number;
  batchStride: number;
  trans: boolean;
  /** A temporary copy to dispose after the GEMM, if one was made. */
  temp: Tensor | null;
}

/**
 * Describes t (already shaped (...batch, R, C)) as GEMM input: row-major or transposed last two dims,
 * and batch dims that collapse to one uniform stride. Anything else is copied to contiguous first.
 */
function matrixOperand(t: Tensor, batchShape: Shape): MatrixOperand {
  const e = expand(t, [...batchShape, t.shape[t.ndim - 2], t.shape[t.ndim - 1]]);
  const nd = e.ndim;
  const [R, C] = [e.shape[nd - 2], e.shape[nd - 1]];
  const [sr, sc] = [e.strides[nd - 2], e.strides[nd - 1]];
  let trans: boolean | null = null;
  if ((sc === 1 || C === 1) && (sr === C || R === 1)) trans = false;
  else if ((sr === 1 || R === 1) && (sc === R || C === 1)) trans = true;
  // Batch dims must collapse to one stride: b-th matrix at offset + b * batchStride.
  let batchStride: number | null = 0;
  const nb = nd - 2;
  if (nb > 0) {
    batchStride = e.strides[nb - 1];
    for (let d = nb - 2; d >= 0; d--) {
      if (e.shape[d + 1] === 1) continue;
      if (e.strides[d] !== e.strides[d + 1] * e.shape[d + 1] && e.shape[d] !== 1) batchStride = null;
    }
    // A size-1 innermost batch dim says nothing about the stride; find the real one.
    if (batchStride !== null && e.shape[nb - 1] === 1) {
      let d = nb - 1;
      while (d >= 0 && e.shape[d] === 1) d--;
      batchStride = d >= 0 ? e.strides[d] / e.shape.slice(d + 1, nb).reduce((p, s) => p * s, 1) : 0;
    }
  }
  if (trans === null || batchStride === null || !Number.isInteger(batchStride)) {
    const c = contiguousRaw(e);
    return { buf: c.floatData, offset: 0, batchStride: R * C, trans: false, temp: c };
  }
  return { buf: floatBuffer(e), offset: e.offset, batchStride, trans, temp: null };
}

/** Raw batched matmul a @ b with broadcast batch dims; no autograd. Precision: the autocast scope's unless given. */
export function matmulRaw(a: Tensor, b: Tensor, precision: MatmulPrecision = autocastPrecision()): Tensor {
  assertFloat('matmul', a, b);
  if (a.ndim < 2 || b.ndim < 2) throw new ShapeError(`matmul: needs at least 2 dims, got ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  const [M, K] = [a.shape[a.ndim - 2], a.shape[a.ndim - 1]];
  const [K2, N] = [b.shape[b.ndim - 2], b.shape[b.ndim - 1]];
  if (K !== K2) throw new ShapeError(`matmul: inner dims differ: ${shapeStr(a.shape)} @ ${shapeStr(b.shape)}`);
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = batchShape.reduce((p, s) => p * s, 1);
  const out = Tensor.empty([...batchShape, M, N], a.dtype, a.backend);
  if (out.size === 0) return out;
  if (K === 0) {
    out.floatData.fill(0);
    return out;
  }
  const A = matrixOperand(a, batchShape);
  const B = matrixOperand(b, batchShape);
  gemmIn(precision, a.backend, batch, M, N, K, 1, A.buf, A.offset, A.batchStride, A.trans, B.buf, B.offset, B.batchStride, B.trans, 0, out.floatData, 0, M * N);
  A.temp?.dispose();
  B.temp?.dispose();
  return out;
}

/** Batched matrix product (..., M, K) @ (..., K, N) → (..., M, N); batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const precision = autocastPrecision();
  const out = matmulRaw(a, b, precision);
  if (needsGrad(a, b)) {
    const sa = save(a);
    const sb = save(b);
    record(out, { op: 'matmul', a: sa, b: sb, precision }, [a, b], [sa, sb]);
  }
  return out;
}

/**
 * y = x W^T + b, with W stored (out, in) as in PyTorch/Hugging Face checkpoints.
 * x: (..., in) → y: (..., out).
 * @example const h = linear(x, dense.weight, dense.bias);
 */
export function linear(x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  assertFloat('linear', x, w, ...(bias ? [bias] : []));
  const inF = x.shape[x.ndim - 1];
  if (w.ndim !== 2 || w.shape[1] !== inF) {
    throw new ShapeError(`linear: input ${x.describe()} does not fit weight ${w.describe()} (expected [out, ${inF}])`);
  }
  const outF = w.shape[0];
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new ShapeError(`linear: bias ${bias.describe()} does not fit weight ${w.describe()}`);
  const rows = x.size / inF;
  const xc = contiguousRaw(x);
  const wc = contiguousRaw(w);
  const y = Tensor.empty([...x.shape.slice(0, -1), outF], x.dtype, x.backend);
  const yd = y.floatData;
  let beta = 0;
  if (bias) {
    x.backend.copyStrided([rows, outF], bias.buffer, [0, bias.strides[0]], bias.offset, yd, [outF, 1], 0);
    beta = 1;
  }
  const precision = autocastPrecision();
  if (rows > 0) gemmIn(precision, x.backend, 1, rows, outF, inF, 1, xc.floatData, 0, 0, false, wc.floatData, 0, 0, true, beta, yd, 0, 0);
  if (needsGrad(x, w, bias)) {
    const sx = save(xc);
    const sw = save(wc);
    record(y, { op: 'linear', x: sx, w: sw, hasBias: bias !== null, precision }, [x, w, bias], [sx, sw]);
  }
  return y;
}

/**
 * y = x W^T + b with a frozen quantised W (out, in) (src/backend/quant.ts): the weight is dequantised
 * inside the GEMM, panel by panel. Gradients flow to x and the bias only (W is frozen).
 * @example const h = linearQuantized(x, nf4Weight, null);
 */
export function linearQuantized(x: Tensor, w: QuantizedWeight, bias: Tensor | null): Tensor {
  assertFloat('linearQuantized', x, ...(bias ? [bias] : []));
  const inF = x.shape[x.ndim - 1];
  if (w.cols !== inF) throw new ShapeError(`linearQuantized: input ${x.describe()} does not fit the ${w.format} weight [${w.rows}, ${w.cols}]`);
  const outF = w.rows;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new ShapeError(`linearQuantized: bias ${bias.describe()} does not fit weight [${w.rows}, ${w.cols}]`);
  const rows = x.size / inF;
  const xc = contiguousRaw(x);
  const y = Tensor.empty([...x.shape.slice(0, -1), outF], x.dtype, x.backend);
  const yd = y.floatData;
  let beta = 0;
  if (bias) {
    x.backend.copyStrided([rows, outF], bias.buffer, [0, bias.strides[0]], bias.offset, yd, [outF, 1], 0);
    beta = 1;
  }
  const precision = autocastPrecision();
  if (rows > 0) gemmQuantIn(precision, x.backend, rows, outF, inF, 1, xc.floatData, false, w, true, beta, yd);
  if (xc !== x) xc.dispose();
  if (needsGrad(x, bias)) record(y, { op: 'linearQuantized', w, inShape: x.shape, hasBias: bias !== null, precision }, [x, bias], []);
  return y;
}

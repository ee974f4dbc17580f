// GEMM dispatch by precision: fp32 (Backend.gemm), bf16 (Backend.gemmBf16, or rounded operand copies +
// Backend.gemm for a backend without it), and products with a quantised frozen weight (Backend.gemmQuant,
// or a dequantised copy for a backend without it). Raw buffers only; no autograd.
// Not here: the autocast scope (../autocast.ts), the ops that call this (matmul.ts).

import type { Backend, FloatArray } from '../../backend/backend.ts';
import { dequantize, roundBf16Array, type QuantizedWeight } from '../../backend/quant.ts';
import type { MatmulPrecision } from '../autocast.ts';

function roundedCopy(x: FloatArray): FloatArray {
  const out = x instanceof Float64Array ? new Float64Array(x.length) : new Float32Array(x.length);
  roundBf16Array(x, out, x.length);
  return out;
}

/** Backend.gemm in the given precision (same arguments). */
export function gemmIn(
  precision: MatmulPrecision,
  be: Backend,
  batch: number, M: number, N: number, K: number, alpha: number,
  a: FloatArray, aOffset: number, aBatchStride: number, transA: boolean,
  b: FloatArray, bOffset: number, bBatchStride: number, transB: boolean,
  beta: number, c: FloatArray, cOffset: number, cBatchStride: number,
): void {
  if (precision === 'fp32') {
    be.gemm(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride);
  } else if (be.gemmBf16) {
    be.gemmBf16(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride);
  } else {
    be.gemm(batch, M, N, K, alpha, roundedCopy(a), aOffset, aBatchStride, transA, roundedCopy(b), bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride);
  }
}

/** C = alpha op(A) op(W) + beta C with a quantised weight (see Backend.gemmQuant). */
export function gemmQuantIn(
  precision: MatmulPrecision,
  be: Backend,
  M: number, N: number, K: number, alpha: number,
  a: FloatArray, transA: boolean, w: QuantizedWeight, transW: boolean, beta: number, c: FloatArray,
): void {
  if (be.gemmQuant) {
    be.gemmQuant(M, N, K, alpha, a, transA, w, transW, beta, c, precision === 'bf16');
    return;
  }
  gemmIn(precision, be, 1, M, N, K, alpha, a, 0, 0, transA, dequantize(w), 0, 0, transW, beta, c, 0, 0);
}

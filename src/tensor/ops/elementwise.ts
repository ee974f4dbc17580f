// Elementwise ops: unary math and activations, broadcasting binary arithmetic, comparisons, where,
// dropout and dtype casts. Each differentiable op records an OpRecord (rules in gradients.ts).

import type { BinaryOp, UnaryOp } from '../../backend/backend.ts';
import { DTypeError, ShapeError } from '../../errors.ts';
import { needsGrad, record, save } from '../autograd.ts';
import type { DType } from '../memory.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { assertFloat, broadcastShapes, broadcastStrides, contiguousRaw, emptyLike, floatBuffer } from './util.ts';
import { expand } from './views.ts';

/** y = f(x) elementwise for any UnaryOp (alpha: the op's scalar parameter). */
export function unary(kind: UnaryOp, x: Tensor, alpha = 0): Tensor {
  assertFloat(kind, x);
  const xc = contiguousRaw(x);
  const y = emptyLike(x);
  x.backend.unary(kind, xc.floatData, y.floatData, x.size, alpha);
  if (needsGrad(x)) {
    const sx = save(xc);
    const sy = save(y);
    record(y, { op: 'unary', kind, alpha, x: sx, y: sy }, [x], [sx, sy]);
  }
  return y;
}

export const neg = (x: Tensor): Tensor => unary('neg', x);
export const exp = (x: Tensor): Tensor => unary('exp', x);
export const log = (x: Tensor): Tensor => unary('log', x);
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x);
export const abs = (x: Tensor): Tensor => unary('abs', x);
export const square = (x: Tensor): Tensor => unary('square', x);
export const tanh = (x: Tensor): Tensor => unary('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x);
export const relu = (x: Tensor): Tensor => unary('relu', x);
/** Exact GELU (erf form), as BERT's "gelu". */
export const gelu = (x: Tensor): Tensor => unary('gelu', x);
/** Tanh-approximated GELU, as GPT-2's "gelu_new". */
export const geluTanh = (x: Tensor): Tensor => unary('gelu_tanh', x);
export const silu = (x: Tensor): Tensor => unary('silu', x);
export const scale = (x: Tensor, alpha: number): Tensor => unary('scale', x, alpha);
export const addScalar = (x: Tensor, alpha: number): Tensor => unary('add_scalar', x, alpha);
export const pow = (x: Tensor, alpha: number): Tensor => unary('pow', x, alpha);
export const recip = (x: Tensor): Tensor => unary('recip', x);

function binaryRaw(kind: BinaryOp, a: Tensor, b: Tensor): Tensor {
  assertFloat(kind, a, b);
  const shape = broadcastShapes(kind, a.shape, b.shape);
  const out = emptyLike(a, shape);
  a.backend.binary(kind, shape, floatBuffer(a), broadcastStrides(a, shape), a.offset, floatBuffer(b), broadcastStrides(b, shape), b.offset, out.floatData);
  return out;
}

/** a + b with broadcasting. */
export function add(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('add', a, b);
  if (needsGrad(a, b)) record(out, { op: 'add', aShape: a.shape, bShape: b.shape }, [a, b], []);
  return out;
}

/** a - b with broadcasting. */
export function sub(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('sub', a, b);
  if (needsGrad(a, b)) record(out, { op: 'sub', aShape: a.shape, bShape: b.shape }, [a, b], []);
  return out;
}

/** a * b with broadcasting. */
export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('mul', a, b);
  if (needsGrad(a, b)) {
    const sa = save(a);
    const sb = save(b);
    record(out, { op: 'mul', a: sa, b: sb }, [a, b], [sa, sb]);
  }
  return out;
}

/** a / b with broadcasting. */
export function div(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('div', a, b);
  if (needsGrad(a, b)) {
    const sa = save(a);
    const sb = save(b);
    record(out, { op: 'div', a: sa, b: sb }, [a, b], [sa, sb]);
  }
  return out;
}

/** Elementwise maximum (gradient to a where a >= b, else to b). */
export function maximum(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('maximum', a, b);
  if (needsGrad(a, b)) {
    const sa = save(a);
    const sb = save(b);
    record(out, { op: 'maximum', a: sa, b: sb }, [a, b], [sa, sb]);
  }
  return out;
}

/** Elementwise minimum (gradient to a where a <= b, else to b). */
export function minimum(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('minimum', a, b);
  if (needsGrad(a, b)) {
    const sa = save(a);
    const sb = save(b);
    record(out, { op: 'minimum', a: sa, b: sb }, [a, b], [sa, sb]);
  }
  return out;
}

/** 1 where a == b else 0 (no gradient). */
export const eq = (a: Tensor, b: Tensor): Tensor => binaryRaw('eq', a, b);
/** 1 where a > b else 0 (no gradient). */
export const gt = (a: Tensor, b: Tensor): Tensor => binaryRaw('gt', a, b);
/** 1 where a < b else 0 (no gradient). */
export const lt = (a: Tensor, b: Tensor): Tensor => binaryRaw('lt', a, b);

/** A scalar tensor with x's dtype and backend. */
export function scalarLike(x: Tensor, value: number): Tensor {
  return Tensor.full([], value, x.dtype, x.backend);
}

/** cond != 0 ? a : b, all three broadcast together. cond is a float 0/1 mask (no gradient). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  assertFloat('where', cond, a, b);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const c = contiguousRaw(expand(cond, shape));
  const ac = contiguousRaw(expand(a, shape));
  const bc = contiguousRaw(expand(b, shape));
  const out = emptyLike(a, shape);
  a.backend.where(c.floatData, ac.floatData, bc.floatData, out.floatData, out.size);
  if (needsGrad(a, b)) {
    const sc = save(c);
    record(out, { op: 'where', cond: sc, aShape: a.shape, bShape: b.shape }, [a, b], [sc]);
  }
  return out;
}

/** x with elements where mask != 0 replaced by value (mask broadcasts to x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  return where(mask, scalarLike(x, value), x);
}

/**
 * Inverted dropout with a counter-based mask from `seed` (identity when p == 0).
 * The same seed gives the same mask on every backend and thread count.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  assertFloat('dropout', x);
  if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  const xc = contiguousRaw(x);
  const out = emptyLike(x);
  x.backend.dropout(xc.floatData, out.floatData, x.size, p, seed >>> 0);
  if (needsGrad(x)) record(out, { op: 'dropout', p, seed: seed >>> 0 }, [x], []);
  return out;
}

/** Converts between float32, float64 and int32 (float→int truncates toward zero). No gradient. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  if (dtype === 'float64' && !x.backend.supportsFloat64) throw new DTypeError(`cast: backend ${x.backend.name} has no float64`);
  const out = Tensor.empty(x.shape, dtype, x.backend);
  const src = x.buffer;
  const dst = out.data;
  if (x.dtype !== 'int32' && dtype === 'int32') {
    const xc = contiguousRaw(x).data;
    for (let i = 0; i < dst.length; i++) dst[i] = Math.trunc(xc[i]);
    return out;
  }
  out.backend.copyStrided(x.shape, src, x.strides, x.offset, dst, out.strides, 0);
  return out;
}

/** Throws a ShapeError unless a and b have the same shape. */
export function assertSameShape(op: string, a: Tensor, b: Tensor): void {
  if (shapeStr(a.shape) !== shapeStr(b.shape)) throw new ShapeError(`${op}: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
}

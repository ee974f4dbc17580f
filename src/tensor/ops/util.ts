// Shared helpers for the op files: broadcasting, contiguity, dtype checks, output allocation.
// Not an op file itself: nothing here records for autograd.

import type { FloatArray } from '../../backend/backend.ts';
import { DTypeError, ShapeError } from '../../errors.ts';
import { Tensor, contiguousStrides, shapeStr, type Shape } from '../tensor.ts';

/** The broadcast shape of a and b (NumPy rules), or a ShapeError naming the op. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const da = a[a.length - nd + i] ?? 1;
    const db = b[b.length - nd + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides to read t as if it had shape `target` (broadcast dims get stride 0). */
export function broadcastStrides(t: Tensor, target: Shape): number[] {
  const nd = target.length;
  const strides = new Array<number>(nd).fill(0);
  const off = nd - t.ndim;
  for (let d = 0; d < t.ndim; d++) strides[off + d] = t.shape[d] === 1 && target[off + d] !== 1 ? 0 : t.strides[d];
  return strides;
}

export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype === 'int32') throw new DTypeError(`${op}: expected a float tensor, got ${t.describe()}`);
  }
  const first = ts[0];
  for (const t of ts) {
    if (t.dtype !== first.dtype) throw new DTypeError(`${op}: mixed dtypes ${first.dtype} and ${t.dtype}`);
    if (t.backend !== first.backend) throw new DTypeError(`${op}: tensors on different backends (${first.backend.name}, ${t.backend.name})`);
  }
}

export function assertInt(op: string, t: Tensor): void {
  if (t.dtype !== 'int32') throw new DTypeError(`${op}: expected an int32 tensor of ids/labels, got ${t.describe()}`);
}

/** A contiguous copy of t, or t itself when already contiguous (no autograd: see views.contiguous). */
export function contiguousRaw(t: Tensor): Tensor {
  if (t.isContiguous()) return t;
  const out = Tensor.empty(t.shape, t.dtype, t.backend);
  t.backend.copyStrided(t.shape, t.buffer, t.strides, t.offset, out.buffer, contiguousStrides(t.shape), 0);
  return out;
}

/** The whole float buffer of t (index with t.offset and t.strides). */
export function floatBuffer(t: Tensor): FloatArray {
  const b = t.buffer;
  if (b instanceof Int32Array) throw new DTypeError(`expected a float tensor, got ${t.describe()}`);
  return b;
}

/** Contiguous float data of t: t's own buffer view when contiguous, else a fresh copy (disposed by scope). */
export function floatData(t: Tensor): FloatArray {
  return contiguousRaw(t).floatData;
}

/** A new float tensor of `shape` with t's dtype and backend (contents to be overwritten). */
export function emptyLike(t: Tensor, shape: Shape = t.shape): Tensor {
  return Tensor.empty(shape, t.dtype, t.backend);
}

/** Normalises a possibly negative axis. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim) throw new ShapeError(`${op}: axis ${axis} out of range for ${ndim} dims`);
  return a;
}

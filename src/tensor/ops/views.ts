// View ops: reshape, permute/transpose, narrow (slice), expand (broadcast), squeeze/unsqueeze, and
// the copies that views sometimes need (contiguous, concat). A view shares its input's storage;
// reshape of a non-contiguous tensor copies first.
// Contiguity story: kernels read contiguous buffers; ops call contiguousRaw() on inputs that are
// views, so any view works everywhere, and only views that are already contiguous are free.

import { ShapeError } from '../../errors.ts';
import { needsGrad, record } from '../autograd.ts';
import { Tensor, contiguousStrides, numel, shapeStr, type Shape } from '../tensor.ts';
import { contiguousRaw, normAxis } from './util.ts';

/** Same elements, new shape (one dim may be -1). A view when x is contiguous, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((s) => s !== -1);
  const inferred = shape.length - known.length;
  if (inferred > 1) throw new ShapeError(`reshape: at most one -1 in ${shapeStr(shape)}`);
  const knownSize = numel(known);
  const target = shape.map((s) => (s === -1 ? (knownSize === 0 ? 0 : x.size / knownSize) : s));
  if (numel(target) !== x.size || target.some((s) => !Number.isInteger(s))) {
    throw new ShapeError(`reshape: cannot view ${x.describe()} (${x.size} elements) as ${shapeStr(shape)}`);
  }
  const src = contiguousRaw(x);
  const out = src.viewOf(target, contiguousStrides(target), src.offset);
  if (needsGrad(x)) record(out, { op: 'reshape', inShape: x.shape }, [x], []);
  return out;
}

/** Reorders dims: out.shape[i] = x.shape[perm[i]]. Always a view. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError(`permute: ${shapeStr(perm)} is not a permutation of ${x.ndim} dims (${x.describe()})`);
  }
  const out = x.viewOf(
    perm.map((p) => x.shape[p]),
    perm.map((p) => x.strides[p]),
    x.offset,
  );
  if (needsGrad(x)) record(out, { op: 'permute', perm: [...perm] }, [x], []);
  return out;
}

/** Swaps two dims (a view). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normAxis('transpose', dim0, x.ndim);
  const b = normAxis('transpose', dim1, x.ndim);
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** The slice [start, start + length) of dim (a view). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normAxis('narrow', dim, x.ndim);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new ShapeError(`narrow: [${start}, ${start + length}) is outside dim ${d} of ${x.describe()}`);
  }
  const shape = [...x.shape];
  shape[d] = length;
  const out = x.viewOf(shape, x.strides, x.offset + start * x.strides[d]);
  if (needsGrad(x)) record(out, { op: 'narrow', inShape: x.shape, dim: d, start }, [x], []);
  return out;
}

/** Broadcasts x to `shape` (NumPy rules) as a stride-0 view. */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (shapeStr(x.shape) === shapeStr(shape)) return x;
  const nd = shape.length;
  if (x.ndim > nd) throw new ShapeError(`expand: cannot expand ${x.describe()} to ${shapeStr(shape)}`);
  const strides = new Array<number>(nd).fill(0);
  const off = nd - x.ndim;
  for (let d = 0; d < x.ndim; d++) {
    if (x.shape[d] === shape[off + d]) strides[off + d] = x.strides[d];
    else if (x.shape[d] !== 1) throw new ShapeError(`expand: cannot expand ${x.describe()} to ${shapeStr(shape)} (dim ${d})`);
  }
  const out = x.viewOf(shape, strides, x.offset);
  if (needsGrad(x)) record(out, { op: 'expand', inShape: x.shape }, [x], []);
  return out;
}

/** Inserts a size-1 dim at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = dim < 0 ? dim + x.ndim + 1 : dim;
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Removes size-1 dim `dim`. */
export function squeeze(x: Tensor, dim: number): Tensor {
  const d = normAxis('squeeze', dim, x.ndim);
  if (x.shape[d] !== 1) throw new ShapeError(`squeeze: dim ${d} of ${x.describe()} is not 1`);
  const shape = [...x.shape];
  shape.splice(d, 1);
  return reshape(x, shape);
}

/** A contiguous copy when x is a non-contiguous view; x itself otherwise. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = contiguousRaw(x);
  if (needsGrad(x)) record(out, { op: 'identity' }, [x], []);
  return out;
}

/** Joins tensors along `dim` (all other dims equal). */
export function concat(tensors: readonly Tensor[], dim: number): Tensor {
  if (tensors.length === 0) throw new ShapeError('concat: no tensors');
  const first = tensors[0];
  const d = normAxis('concat', dim, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]) || t.dtype !== first.dtype) {
      throw new ShapeError(`concat: ${t.describe()} does not fit ${first.describe()} along dim ${d}`);
    }
  }
  const sizes = tensors.map((t) => t.shape[d]);
  const shape = [...first.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const out = Tensor.empty(shape, first.dtype, first.backend);
  const outStrides = contiguousStrides(shape);
  let start = 0;
  for (const t of tensors) {
    first.backend.copyStrided(t.shape, t.buffer, t.strides, t.offset, out.buffer, outStrides, start * outStrides[d]);
    start += t.shape[d];
  }
  if (needsGrad(...tensors)) record(out, { op: 'concat', dim: d, sizes }, tensors, []);
  return out;
}

/** The gradient of narrow: zeros of `shape` with g written into [start, start + g.shape[dim]) of dim. */
export function padInto(g: Tensor, shape: Shape, dim: number, start: number): Tensor {
  const out = Tensor.zeros(shape, g.dtype, g.backend);
  const strides = contiguousStrides(shape);
  g.backend.copyStrided(g.shape, g.buffer, g.strides, g.offset, out.buffer, strides, start * strides[dim]);
  return out;
}

// Reductions: sum and mean over axes (keepdim optional), max over one axis, and sumToShape, the
// broadcast-undoing reduction every broadcasting op's backward needs.

import { ShapeError } from '../../errors.ts';
import { needsGrad, record } from '../autograd.ts';
import { Tensor, shapeStr, type Shape } from '../tensor.ts';
import { assertFloat, contiguousRaw, normAxis } from './util.ts';
import { reshape } from './views.ts';

/** Sums over one axis of a contiguous tensor, without autograd. keepdim keeps a size-1 axis. */
function sumAxisRaw(x: Tensor, axis: number, keepdim: boolean): Tensor {
  const xc = contiguousRaw(x);
  const outer = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const shape = [...x.shape];
  if (keepdim) shape[axis] = 1;
  else shape.splice(axis, 1);
  const out = Tensor.empty(shape, x.dtype, x.backend);
  x.backend.reduce('sum', xc.floatData, outer, x.shape[axis], inner, out.floatData, null);
  return out;
}

/** Sum over `axes` (all axes when omitted), scaled by `scale` (mean passes 1/count). */
function sumScaled(x: Tensor, axes: readonly number[] | undefined, keepdim: boolean, scale: number): Tensor {
  assertFloat('sum', x);
  const list = [...new Set((axes ?? x.shape.map((_, i) => i)).map((a) => normAxis('sum', a, x.ndim)))].sort((a, b) => b - a);
  // Copy first so the in-place scale below never touches x's buffer.
  let cur = list.length === 0 ? copyRaw(x) : x;
  for (const a of list) {
    const next = sumAxisRaw(cur, a, true);
    if (cur !== x) cur.dispose();
    cur = next;
  }
  const outShape = keepdim ? cur.shape : x.shape.filter((_, i) => !list.includes(i));
  const out = reshapeRaw(cur, outShape);
  cur.dispose();
  if (scale !== 1) out.backend.unary('scale', out.floatData, out.floatData, out.size, scale);
  if (needsGrad(x)) record(out, { op: 'sum', inShape: x.shape, axes: list, scale }, [x], []);
  return out;
}

function copyRaw(x: Tensor): Tensor {
  const out = Tensor.empty(x.shape, x.dtype, x.backend);
  x.backend.copyStrided(x.shape, x.buffer, x.strides, x.offset, out.buffer, out.strides, 0);
  return out;
}

/** Sum over axes (all when omitted). */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return sumScaled(x, typeof axes === 'number' ? [axes] : axes, keepdim, 1);
}

/** Mean over axes (all when omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const list = typeof axes === 'number' ? [axes] : axes;
  const count = (list ?? x.shape.map((_, i) => i)).reduce((p, a) => p * x.shape[normAxis('mean', a, x.ndim)], 1);
  return sumScaled(x, list, keepdim, count === 0 ? NaN : 1 / count);
}

/** Max over one axis; the gradient goes to the first maximal element. */
export function max(x: Tensor, axis: number, keepdim = false): Tensor {
  assertFloat('max', x);
  const a = normAxis('max', axis, x.ndim);
  if (x.shape[a] === 0) throw new ShapeError(`max: empty axis ${a} of ${x.describe()}`);
  const xc = contiguousRaw(x);
  const outer = x.shape.slice(0, a).reduce((p, s) => p * s, 1);
  const inner = x.shape.slice(a + 1).reduce((p, s) => p * s, 1);
  const shape = [...x.shape];
  if (keepdim) shape[a] = 1;
  else shape.splice(a, 1);
  const out = Tensor.empty(shape, x.dtype, x.backend);
  const argmax = new Int32Array(outer * inner);
  x.backend.reduce('max', xc.floatData, outer, x.shape[a], inner, out.floatData, argmax);
  if (needsGrad(x)) record(out, { op: 'max', inShape: x.shape, axis: a, argmax }, [x], []);
  return out;
}

/**
 * Sums g down to `shape` (undoing NumPy broadcasting): leading extra dims and dims that are 1 in
 * `shape` are summed. Always returns a new tensor handle (never g itself), so gradient rules can
 * hand the result to several inputs. No autograd.
 */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapeStr(g.shape) === shapeStr(shape)) return g.viewOf(g.shape, g.strides, g.offset);
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ShapeError(`sumToShape: ${shapeStr(g.shape)} has fewer dims than ${shapeStr(shape)}`);
  let cur = g;
  // Sum dims that are 1 in the target (keepdim), from the last so indices stay valid.
  for (let d = g.ndim - 1; d >= 0; d--) {
    const target = d < lead ? 1 : shape[d - lead];
    if (cur.shape[d] !== target) {
      if (target !== 1) throw new ShapeError(`sumToShape: cannot reduce ${shapeStr(g.shape)} to ${shapeStr(shape)}`);
      const next = sumAxisRaw(cur, d, true);
      if (cur !== g) cur.dispose();
      cur = next;
    }
  }
  const out = reshapeRaw(cur, shape);
  if (cur !== g) cur.dispose();
  return out;
}

function reshapeRaw(x: Tensor, shape: Shape): Tensor {
  const c = contiguousRaw(x);
  const strides: number[] = [];
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return c.viewOf(shape, strides, c.offset);
}

export { reshape };

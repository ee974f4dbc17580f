// Losses with PyTorch semantics: cross-entropy (fused log-softmax + NLL, ignore_index), binary
// cross-entropy with logits, and mean squared error (composed from primitives).

import { ShapeError } from '../../errors.ts';
import { needsGrad, record, save } from '../autograd.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { assertFloat, assertInt, contiguousRaw } from './util.ts';
import { square, sub } from './elementwise.ts';
import { mean } from './reduce.ts';

export type Reduction = 'mean' | 'sum' | 'none';

/**
 * Cross-entropy of logits (..., C) against int32 targets (...). Targets equal to ignoreIndex
 * (default -100) contribute nothing; 'mean' divides by the number of non-ignored targets
 * (NaN when there are none, as PyTorch). 'none' returns per-target losses (0 where ignored).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, opts: { ignoreIndex?: number; reduction?: Reduction } = {}): Tensor {
  assertFloat('crossEntropy', logits);
  assertInt('crossEntropy', targets);
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const reduction = opts.reduction ?? 'mean';
  const C = logits.shape[logits.ndim - 1];
  const rows = targets.size;
  if (shapeStr(logits.shape.slice(0, -1)) !== shapeStr(targets.shape)) {
    throw new ShapeError(`crossEntropy: logits ${logits.describe()} do not fit targets ${targets.describe()} (expected logits [...targets, C])`);
  }
  const lc = contiguousRaw(logits);
  const tc = contiguousRaw(targets);
  const perRow = Tensor.empty(targets.shape, logits.dtype, logits.backend);
  const lse = Tensor.empty([rows], logits.dtype, logits.backend);
  const bad = logits.backend.crossEntropy(lc.floatData, tc.intData, rows, C, ignoreIndex, perRow.floatData, lse.floatData);
  if (bad >= 0) {
    throw new ShapeError(`crossEntropy: target ${tc.intData[bad]} at position ${bad} is outside [0, ${C}) and is not ignore_index ${ignoreIndex}`);
  }
  let out: Tensor;
  let rowScale = 1;
  if (reduction === 'none') {
    out = perRow;
  } else if (logits.backend.memory) {
    // Device backends: count on the host from the targets (uploaded from it), sum on the device.
    let count = 0;
    const t = tc.intData;
    for (let i = 0; i < rows; i++) if (t[i] !== ignoreIndex) count++;
    rowScale = reduction === 'mean' ? 1 / count : 1;
    out = deviceSum(perRow, rowScale);
  } else {
    let count = 0;
    let total = 0;
    const t = tc.intData;
    const l = perRow.floatData;
    for (let i = 0; i < rows; i++) {
      if (t[i] !== ignoreIndex) {
        count++;
        total += l[i];
      }
    }
    rowScale = reduction === 'mean' ? 1 / count : 1;
    out = Tensor.full([], reduction === 'mean' ? total / count : total, logits.dtype, logits.backend);
    perRow.dispose();
  }
  if (needsGrad(logits)) {
    const s = { logits: save(lc), lse: save(lse), targets: save(tc) };
    record(out, { op: 'crossEntropy', ...s, ignoreIndex, rowScale, perRow: reduction === 'none' }, [logits], [s.logits, s.lse, s.targets]);
  }
  return out;
}

/** Binary cross-entropy with logits (PyTorch's BCEWithLogitsLoss), targets as floats in [0, 1]. */
export function bceWithLogits(x: Tensor, y: Tensor, reduction: Reduction = 'mean'): Tensor {
  assertFloat('bceWithLogits', x, y);
  if (shapeStr(x.shape) !== shapeStr(y.shape)) throw new ShapeError(`bceWithLogits: logits ${x.describe()} and targets ${y.describe()} differ in shape`);
  const xc = contiguousRaw(x);
  const yc = contiguousRaw(y);
  const per = Tensor.empty(x.shape, x.dtype, x.backend);
  x.backend.bceWithLogits(xc.floatData, yc.floatData, per.floatData, x.size);
  let out = per;
  let scale = 1;
  if (reduction !== 'none' && x.backend.memory) {
    scale = reduction === 'mean' ? 1 / x.size : 1;
    out = deviceSum(per, scale);
  } else if (reduction !== 'none') {
    let total = 0;
    for (const v of per.floatData) total += v;
    scale = reduction === 'mean' ? 1 / x.size : 1;
    out = Tensor.full([], total * scale, x.dtype, x.backend);
    per.dispose();
  }
  if (needsGrad(x)) {
    const s = { x: save(xc), y: save(yc) };
    record(out, { op: 'bceWithLogits', ...s, scale, perElement: reduction === 'none' }, [x], [s.x, s.y]);
  }
  return out;
}

/** scale * sum(t) as a scalar computed on t's (device) backend; disposes t. */
function deviceSum(t: Tensor, scale: number): Tensor {
  const out = Tensor.empty([], t.dtype, t.backend);
  t.backend.reduce('sum', t.floatData, 1, t.size, 1, out.floatData, null);
  if (scale !== 1) t.backend.unary('scale', out.floatData, out.floatData, 1, scale);
  t.dispose();
  return out;
}

/** Mean squared error (PyTorch's MSELoss, reduction mean), composed from primitives. */
export function mse(pred: Tensor, target: Tensor): Tensor {
  if (shapeStr(pred.shape) !== shapeStr(target.shape)) throw new ShapeError(`mse: prediction ${pred.describe()} and target ${target.describe()} differ in shape`);
  return mean(square(sub(pred, target)));
}

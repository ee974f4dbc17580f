// Fused neural-network ops, each with its backward in gradients.ts: softmax / log-softmax over the
// last axis, layer norm, RMS norm, scaled-dot-product attention and embedding lookup.
// Their composed twins (built from primitives) live in test/tensor/fused-twins.test.ts.

import { ShapeError } from '../../errors.ts';
import { needsGrad, record, save } from '../autograd.ts';
import { Tensor, shapeStr } from '../tensor.ts';
import { assertFloat, assertInt, contiguousRaw, emptyLike } from './util.ts';

function lastDim(x: Tensor): { rows: number; cols: number } {
  const cols = x.shape[x.ndim - 1] ?? 1;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

function softmaxImpl(x: Tensor, log: boolean): Tensor {
  assertFloat(log ? 'logSoftmax' : 'softmax', x);
  const { rows, cols } = lastDim(x);
  const xc = contiguousRaw(x);
  const y = emptyLike(x);
  x.backend.softmax(xc.floatData, rows, cols, y.floatData, log);
  if (needsGrad(x)) {
    const sy = save(y);
    record(y, { op: 'softmax', y: sy, log }, [x], [sy]);
  }
  return y;
}

/** Softmax over the last axis. */
export const softmax = (x: Tensor): Tensor => softmaxImpl(x, false);
/** Log-softmax over the last axis. */
export const logSoftmax = (x: Tensor): Tensor => softmaxImpl(x, true);

function checkNormParam(op: string, p: Tensor | null, cols: number): void {
  if (p && (p.ndim !== 1 || p.shape[0] !== cols)) throw new ShapeError(`${op}: parameter ${p.describe()} does not fit last dim ${cols}`);
}

/** Layer norm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta (biased variance). */
export function layerNorm(x: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): Tensor {
  assertFloat('layerNorm', x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : []));
  const { rows, cols } = lastDim(x);
  checkNormParam('layerNorm', gamma, cols);
  checkNormParam('layerNorm', beta, cols);
  const xc = contiguousRaw(x);
  const gc = gamma ? contiguousRaw(gamma) : null;
  const y = emptyLike(x);
  const mean = Tensor.empty([rows], x.dtype, x.backend);
  const rstd = Tensor.empty([rows], x.dtype, x.backend);
  x.backend.layerNorm(xc.floatData, gc?.floatData ?? null, beta ? contiguousRaw(beta).floatData : null, rows, cols, eps, y.floatData, mean.floatData, rstd.floatData);
  if (needsGrad(x, gamma, beta)) {
    const saved = { x: save(xc), gamma: gc ? save(gc) : null, mean: save(mean), rstd: save(rstd) };
    record(y, { op: 'layerNorm', ...saved, hasBeta: beta !== null }, [x, gamma, beta], [saved.x, saved.mean, saved.rstd, ...(saved.gamma ? [saved.gamma] : [])]);
  }
  return y;
}

/** RMS norm over the last axis: x / sqrt(mean(x^2) + eps) * gamma (Llama's LlamaRMSNorm). */
export function rmsNorm(x: Tensor, gamma: Tensor | null, eps: number): Tensor {
  assertFloat('rmsNorm', x, ...(gamma ? [gamma] : []));
  const { rows, cols } = lastDim(x);
  checkNormParam('rmsNorm', gamma, cols);
  const xc = contiguousRaw(x);
  const gc = gamma ? contiguousRaw(gamma) : null;
  const y = emptyLike(x);
  const rstd = Tensor.empty([rows], x.dtype, x.backend);
  x.backend.rmsNorm(xc.floatData, gc?.floatData ?? null, rows, cols, eps, y.floatData, rstd.floatData);
  if (needsGrad(x, gamma)) {
    const saved = { x: save(xc), gamma: gc ? save(gc) : null, rstd: save(rstd) };
    record(y, { op: 'rmsNorm', ...saved }, [x, gamma], [saved.x, saved.rstd, ...(saved.gamma ? [saved.gamma] : [])]);
  }
  return y;
}

export interface AttentionOptions {
  /** Key padding mask (B, Tk) as float 1 = attend / 0 = padding, or null. */
  keyMask?: Tensor | null;
  causal?: boolean;
  /** Defaults to 1/sqrt(D). */
  scale?: number;
  /** Dropout on attention probabilities (training); needs `seed`. */
  dropoutP?: number;
  seed?: number;
}

/**
 * Fused scaled-dot-product attention. q: (B, H, Tq, D); k, v: (B, Hkv, Tk, D) with H % Hkv == 0
 * (grouped-query attention). Returns (B, H, Tq, D).
 * @example const ctx = attention(q, k, v, { keyMask: mask, causal: false });
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  assertFloat('attention', q, k, v);
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4) {
    throw new ShapeError(`attention: q, k, v must be (B, H, T, D); got ${shapeStr(q.shape)}, ${shapeStr(k.shape)}, ${shapeStr(v.shape)}`);
  }
  const [B, H, Tq, D] = q.shape;
  const [Bk, Hkv, Tk, Dk] = k.shape;
  if (Bk !== B || Dk !== D || shapeStr(k.shape) !== shapeStr(v.shape) || H % Hkv !== 0) {
    throw new ShapeError(`attention: q ${shapeStr(q.shape)} does not fit k ${shapeStr(k.shape)} / v ${shapeStr(v.shape)}`);
  }
  const keyMask = opts.keyMask ?? null;
  if (keyMask && shapeStr(keyMask.shape) !== shapeStr([B, Tk])) {
    throw new ShapeError(`attention: keyMask ${keyMask.describe()} must be [${B}, ${Tk}]`);
  }
  const dropoutP = opts.dropoutP ?? 0;
  const seed = (opts.seed ?? 0) >>> 0;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const causal = opts.causal ?? false;
  const [qc, kc, vc] = [contiguousRaw(q), contiguousRaw(k), contiguousRaw(v)];
  const mc = keyMask ? contiguousRaw(keyMask) : null;
  const out = emptyLike(q);
  const lse = Tensor.empty([B, H, Tq], q.dtype, q.backend);
  const args = { B, H, Hkv, Tq, Tk, D, q: qc.floatData, k: kc.floatData, v: vc.floatData, keyMask: mc?.floatData ?? null, causal, scale, dropoutP, seed };
  q.backend.attention(args, out.floatData, lse.floatData);
  if (needsGrad(q, k, v)) {
    const s = { q: save(qc), k: save(kc), v: save(vc), keyMask: mc ? save(mc) : null, out: save(out), lse: save(lse) };
    record(out, { op: 'attention', ...s, causal, scale, dropoutP, seed }, [q, k, v], [s.q, s.k, s.v, s.out, s.lse, ...(s.keyMask ? [s.keyMask] : [])]);
  }
  return out;
}

/** Rows of `table` (V, C) picked by int32 `ids` of any shape → (...ids.shape, C). */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  assertFloat('embedding', table);
  assertInt('embedding', ids);
  if (table.ndim !== 2) throw new ShapeError(`embedding: table must be (V, C), got ${table.describe()}`);
  const [V, C] = table.shape;
  const idc = contiguousRaw(ids);
  const tc = contiguousRaw(table);
  const out = Tensor.empty([...ids.shape, C], table.dtype, table.backend);
  const bad = table.backend.gather(tc.floatData, V, C, idc.intData, ids.size, out.floatData);
  if (bad >= 0) {
    throw new ShapeError(`embedding: id ${idc.intData[bad]} at position ${bad} is outside the table ${table.describe()} (valid ids: 0..${V - 1})`);
  }
  if (needsGrad(table)) {
    const sid = save(idc);
    record(out, { op: 'embedding', ids: sid, vocab: V }, [table], [sid]);
  }
  return out;
}

// Every gradient rule, in one table: for each OpRecord variant, the gradients of its inputs given the
// gradient g of its output, in the order the op listed its inputs (null = no gradient).
// Rules run under noGrad (backward() turns recording off) and must return a distinct Tensor object
// per input (sumToShape and aliasing views guarantee that); they never modify g or saved tensors.
// Accumulation into leaves (+=) and zeroing are autograd.ts's business, not this file's.

import { Tensor, contiguousStrides } from './tensor.ts';
import type { OpRecord } from './op-records.ts';
import { installGradientRules } from './autograd.ts';
import { add, div, dropout, gt, lt, mul, neg, scalarLike, where } from './ops/elementwise.ts';
import { matmulRaw } from './ops/matmul.ts';
import { gemmIn, gemmQuantIn } from './ops/lowp.ts';
import { contiguousRaw, floatData } from './ops/util.ts';
import { padInto, permute, reshape, expand, narrow } from './ops/views.ts';
import { sumToShape } from './ops/reduce.ts';

type Grads = (Tensor | null)[];
type Rules = { [K in OpRecord['op']]: (r: Extract<OpRecord, { op: K }>, g: Tensor) => Grads };

function alias(t: Tensor): Tensor {
  return t.viewOf(t.shape, t.strides, t.offset);
}

function transposeLast(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[t.ndim - 2], perm[t.ndim - 1]] = [perm[t.ndim - 1], perm[t.ndim - 2]];
  return permute(t, perm);
}

const rules: Rules = {
  unary(r, g) {
    const gc = contiguousRaw(g);
    const gx = Tensor.empty(r.x.shape, g.dtype, g.backend);
    g.backend.unaryBackward(r.kind, r.x.floatData, r.y.floatData, gc.floatData, gx.floatData, gx.size, r.alpha);
    return [gx];
  },
  add: (r, g) => [sumToShape(g, r.aShape), sumToShape(g, r.bShape)],
  sub: (r, g) => [sumToShape(g, r.aShape), sumToShape(neg(g), r.bShape)],
  mul: (r, g) => [sumToShape(mul(g, r.b), r.a.shape), sumToShape(mul(g, r.a), r.b.shape)],
  div(r, g) {
    const ga = div(g, r.b);
    // d(a/b)/db = -a / b^2 = -(g/b) * (a/b)
    const gb = neg(mul(ga, div(r.a, r.b)));
    return [sumToShape(ga, r.a.shape), sumToShape(gb, r.b.shape)];
  },
  maximum(r, g) {
    // Ties go to a (a >= b), matching the forward's choice.
    const takeB = lt(r.a, r.b);
    const zero = scalarLike(g, 0);
    return [sumToShape(where(takeB, zero, g), r.a.shape), sumToShape(where(takeB, g, zero), r.b.shape)];
  },
  minimum(r, g) {
    const takeB = gt(r.a, r.b);
    const zero = scalarLike(g, 0);
    return [sumToShape(where(takeB, zero, g), r.a.shape), sumToShape(where(takeB, g, zero), r.b.shape)];
  },
  where(r, g) {
    const zero = scalarLike(g, 0);
    return [sumToShape(where(r.cond, g, zero), r.aShape), sumToShape(where(r.cond, zero, g), r.bShape)];
  },
  dropout: (r, g) => [dropout(g, r.p, r.seed)],
  reshape: (r, g) => [reshape(g, r.inShape)],
  permute(r, g) {
    const inverse = new Array<number>(r.perm.length);
    r.perm.forEach((p, i) => (inverse[p] = i));
    return [permute(g, inverse)];
  },
  narrow: (r, g) => [padInto(g, r.inShape, r.dim, r.start)],
  expand: (r, g) => [sumToShape(g, r.inShape)],
  identity: (_r, g) => [alias(g)],
  concat(r, g) {
    let start = 0;
    return r.sizes.map((size) => {
      const piece = contiguousRaw(narrow(g, r.dim, start, size));
      start += size;
      return piece;
    });
  },
  sum(r, g) {
    // Re-insert the reduced axes as size 1, scale, and broadcast back.
    const kept = r.inShape.map((s, i) => (r.axes.includes(i) ? 1 : s));
    const gs = r.scale === 1 ? g : mul(g, scalarLike(g, r.scale));
    return [contiguousRaw(expand(reshape(gs, kept), r.inShape))];
  },
  max(r, g) {
    const gx = Tensor.zeros(r.inShape, g.dtype, g.backend);
    const gd = floatData(g);
    const out = gx.floatData;
    const outer = r.inShape.slice(0, r.axis).reduce((p, s) => p * s, 1);
    const axisLen = r.inShape[r.axis];
    const inner = r.inShape.slice(r.axis + 1).reduce((p, s) => p * s, 1);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) out[(o * axisLen + r.argmax[o * inner + i]) * inner + i] = gd[o * inner + i];
    }
    return [gx];
  },
  matmul(r, g) {
    const ga = matmulRaw(g, transposeLast(r.b), r.precision);
    const gb = matmulRaw(transposeLast(r.a), g, r.precision);
    return [sumToShape(ga, r.a.shape), sumToShape(gb, r.b.shape)];
  },
  linear(r, g) {
    const inF = r.w.shape[1];
    const outF = r.w.shape[0];
    const rows = r.x.size / inF;
    const gc = contiguousRaw(g);
    const gx = Tensor.empty(r.x.shape, g.dtype, g.backend);
    const gw = Tensor.empty(r.w.shape, g.dtype, g.backend);
    const be = g.backend;
    // Under bf16 autocast both products take bf16 operands (g, W and x rounded), as autocast's backward does.
    gemmIn(r.precision, be, 1, rows, inF, outF, 1, gc.floatData, 0, 0, false, r.w.floatData, 0, 0, false, 0, gx.floatData, 0, 0);
    gemmIn(r.precision, be, 1, outF, inF, rows, 1, gc.floatData, 0, 0, true, r.x.floatData, 0, 0, false, 0, gw.floatData, 0, 0);
    let gb: Tensor | null = null;
    if (r.hasBias) {
      gb = Tensor.empty([outF], g.dtype, g.backend);
      be.reduce('sum', gc.floatData, 1, rows, outF, gb.floatData, null);
    }
    return [gx, gw, gb];
  },
  linearQuantized(r, g) {
    const inF = r.w.cols;
    const outF = r.w.rows;
    const gc = contiguousRaw(g);
    const rows = gc.size / outF;
    const gx = Tensor.empty(r.inShape, g.dtype, g.backend);
    if (rows > 0) gemmQuantIn(r.precision, g.backend, rows, inF, outF, 1, gc.floatData, false, r.w, false, 0, gx.floatData);
    let gb: Tensor | null = null;
    if (r.hasBias) {
      gb = Tensor.empty([outF], g.dtype, g.backend);
      g.backend.reduce('sum', gc.floatData, 1, rows, outF, gb.floatData, null);
    }
    return [gx, gb];
  },
  checkpoint: (r, g) => r.backward(g),
  softmax(r, g) {
    const gc = contiguousRaw(g);
    const gx = Tensor.empty(r.y.shape, g.dtype, g.backend);
    const cols = r.y.shape[r.y.ndim - 1];
    g.backend.softmaxBackward(r.y.floatData, gc.floatData, cols === 0 ? 0 : r.y.size / cols, cols, gx.floatData, r.log);
    return [gx];
  },
  layerNorm(r, g) {
    const cols = r.x.shape[r.x.ndim - 1];
    const rows = r.x.size / cols;
    const gc = contiguousRaw(g);
    const gx = Tensor.empty(r.x.shape, g.dtype, g.backend);
    const ggamma = r.gamma ? Tensor.zeros([cols], g.dtype, g.backend) : null;
    const gbeta = r.hasBeta ? Tensor.zeros([cols], g.dtype, g.backend) : null;
    g.backend.layerNormBackward(r.x.floatData, r.gamma?.floatData ?? null, r.mean.floatData, r.rstd.floatData, gc.floatData, rows, cols, gx.floatData, ggamma?.floatData ?? null, gbeta?.floatData ?? null);
    return [gx, ggamma, gbeta];
  },
  rmsNorm(r, g) {
    const cols = r.x.shape[r.x.ndim - 1];
    const rows = r.x.size / cols;
    const gc = contiguousRaw(g);
    const gx = Tensor.empty(r.x.shape, g.dtype, g.backend);
    const ggamma = r.gamma ? Tensor.zeros([cols], g.dtype, g.backend) : null;
    g.backend.rmsNormBackward(r.x.floatData, r.gamma?.floatData ?? null, r.rstd.floatData, gc.floatData, rows, cols, gx.floatData, ggamma?.floatData ?? null);
    return [gx, ggamma];
  },
  attention(r, g) {
    const [B, H, Tq, D] = r.q.shape;
    const [, Hkv, Tk] = r.k.shape;
    const gc = contiguousRaw(g);
    const gq = Tensor.empty(r.q.shape, g.dtype, g.backend);
    const gk = Tensor.empty(r.k.shape, g.dtype, g.backend);
    const gv = Tensor.empty(r.v.shape, g.dtype, g.backend);
    const args = {
      B, H, Hkv, Tq, Tk, D,
      q: r.q.floatData, k: r.k.floatData, v: r.v.floatData,
      keyMask: r.keyMask?.floatData ?? null,
      causal: r.causal, scale: r.scale, dropoutP: r.dropoutP, seed: r.seed,
    };
    g.backend.attentionBackward(args, r.out.floatData, r.lse.floatData, gc.floatData, gq.floatData, gk.floatData, gv.floatData);
    return [gq, gk, gv];
  },
  embedding(r, g) {
    const C = g.shape[g.ndim - 1];
    const gc = contiguousRaw(g);
    const gt = Tensor.zeros([r.vocab, C], g.dtype, g.backend);
    g.backend.scatterAdd(gc.floatData, r.ids.intData, r.ids.size, C, gt.floatData);
    return [gt];
  },
  crossEntropy(r, g) {
    const rows = r.targets.size;
    const C = r.logits.shape[r.logits.ndim - 1];
    // Per-row upstream gradient: the scalar g times rowScale, or g itself for reduction 'none'.
    const gloss = r.perRow ? contiguousRaw(g) : scalarTimes(g, [rows], r.rowScale);
    const gx = Tensor.empty(r.logits.shape, g.dtype, g.backend);
    g.backend.crossEntropyBackward(r.logits.floatData, r.lse.floatData, r.targets.intData, gloss.floatData, rows, C, r.ignoreIndex, gx.floatData);
    return [gx];
  },
  bceWithLogits(r, g) {
    const n = r.x.size;
    const gloss = r.perElement ? contiguousRaw(g) : scalarTimes(g, r.x.shape, r.scale);
    const gx = Tensor.empty(r.x.shape, g.dtype, g.backend);
    g.backend.bceWithLogitsBackward(r.x.floatData, r.y.floatData, gloss.floatData, gx.floatData, n);
    return [gx];
  },
};

/**
 * A tensor of `shape` filled with the one-element g times `scale`. Host backends read g (bit-identical
 * to before); device backends broadcast it on the device (a host read would wait for the device).
 */
function scalarTimes(g: Tensor, shape: readonly number[], scale: number): Tensor {
  if (!g.backend.memory) return Tensor.full(shape, g.item() * scale, g.dtype, g.backend);
  const out = Tensor.empty(shape, g.dtype, g.backend);
  g.backend.copyStrided(shape, g.buffer, shape.map(() => 0), g.offset, out.buffer, contiguousStrides(shape), 0);
  g.backend.unary('scale', out.floatData, out.floatData, out.size, scale);
  return out;
}

function applyRule(rec: OpRecord, g: Tensor): Grads {
  const rule = rules[rec.op] as (r: OpRecord, g: Tensor) => Grads;
  return rule(rec, g);
}

function accumulateLeaf(into: Tensor | null, g: Tensor): Tensor {
  if (into === null) {
    const out = Tensor.empty(g.shape, g.dtype, g.backend);
    g.backend.copyStrided(g.shape, g.buffer, g.strides, g.offset, out.buffer, contiguousStrides(g.shape), 0);
    return out;
  }
  const gc = contiguousRaw(g);
  g.backend.axpy(1, gc.floatData, into.floatData, into.size);
  if (gc !== g) gc.dispose();
  return into;
}

installGradientRules({ rule: applyRule, accumulateLeaf, add });

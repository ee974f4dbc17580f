// Profiling for `npm run bench -- --profile`: a Backend that forwards every kernel call to the native
// backend and adds its wall time, call count, FLOPs (GEMM, attention) and compulsory bytes (each
// buffer read or written once) to a per-kernel tally. Tensors made while it is the default backend
// carry it, so a whole training step is profiled without touching the engine.
// Not here: the benchmark loop (train-finetune.ts) or printing across processes (train.ts).

import type { Backend, FloatArray } from '../src/backend/backend.ts';

/** What one kernel name accumulated. */
export interface OpTally {
  calls: number;
  ms: number;
  flops: number;
  bytes: number;
}

type Key = string;

function bytesOf(...arrays: (FloatArray | Int32Array | null | undefined)[]): number {
  let b = 0;
  for (const a of arrays) if (a) b += a.byteLength;
  return b;
}

/**
 * Wraps `base` so every call is timed under a descriptive key. GEMMs are named by their role in a
 * Linear layer: NT = forward (x W^T), NN = input gradient (g W), TN = weight gradient (g^T x).
 *
 * @example
 * const prof = new Profiler(nativeBackend); setDefaultBackend(prof.backend); ... prof.tallies();
 */
export class Profiler {
  readonly backend: Backend;
  private readonly t = new Map<Key, OpTally>();
  enabled = true;

  constructor(base: Backend) {
    const add = (key: Key, ms: number, flops: number, bytes: number): void => {
      if (!this.enabled) return;
      let e = this.t.get(key);
      if (!e) this.t.set(key, (e = { calls: 0, ms: 0, flops: 0, bytes: 0 }));
      e.calls++;
      e.ms += ms;
      e.flops += flops;
      e.bytes += bytes;
    };
    const timed = <T>(key: Key, flops: number, bytes: number, f: () => T): T => {
      const t0 = performance.now();
      const r = f();
      add(key, performance.now() - t0, flops, bytes);
      return r;
    };
    const F4 = 4;
    this.backend = {
      name: `${base.name}+profile`,
      supportsFloat64: base.supportsFloat64,
      unary: (op, x, out, n, alpha) => timed(`unary ${op}`, 0, 2 * F4 * n, () => base.unary(op, x, out, n, alpha)),
      unaryBackward: (op, x, y, gy, gx, n, alpha) =>
        timed(`unaryBackward ${op}`, 0, 3 * F4 * n, () => base.unaryBackward(op, x, y, gy, gx, n, alpha)),
      binary: (op, shape, a, as, ao, b, bs, bo, out) => {
        const n = shape.reduce((p, s) => p * s, 1);
        const bcast = as.some((s, i) => s === 0 && shape[i] > 1) || bs.some((s, i) => s === 0 && shape[i] > 1);
        return timed(`binary ${op}${bcast ? ' (broadcast)' : ''}`, 0, 3 * F4 * n, () => base.binary(op, shape, a, as, ao, b, bs, bo, out));
      },
      where: (c, a, b, out, n) => timed('where', 0, 4 * F4 * n, () => base.where(c, a, b, out, n)),
      copyStrided: (shape, src, ss, so, dst, ds, dso) => {
        const n = shape.reduce((p, s) => p * s, 1);
        const bcast = ss.some((s, i) => s === 0 && shape[i] > 1);
        const contiguousDst = ds.every((s, i) => s === ds.slice(i + 1).reduce((p, _, j) => p * shape[i + 1 + j], 1) || shape[i] === 1);
        const kind = bcast ? 'broadcast fill' : contiguousDst ? 'gather (to contiguous)' : 'scatter';
        return timed(`copyStrided ${kind}`, 0, 2 * F4 * n, () => base.copyStrided(shape, src, ss, so, dst, ds, dso));
      },
      fill: (x, v, n) => timed('fill', 0, F4 * n, () => base.fill(x, v, n)),
      axpy: (alpha, x, y, n) => timed('axpy (grad accumulate)', 0, 3 * F4 * n, () => base.axpy(alpha, x, y, n)),
      reduce: (op, x, outer, axis, inner, out, am) =>
        timed(`reduce ${op}`, 0, bytesOf(x, out), () => base.reduce(op, x, outer, axis, inner, out, am)),
      sumSquares: (x, n) => timed('sumSquares (grad norm)', 0, F4 * n, () => base.sumSquares(x, n)),
      gemm: (batch, M, N, K, alpha, a, ao, abs, ta, b, bo, bbs, tb, beta, c, co, cbs) => {
        const role = `${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;
        const flops = 2 * batch * M * N * K;
        const bytes = F4 * ((abs === 0 ? 1 : batch) * M * K + (bbs === 0 ? 1 : batch) * K * N + batch * M * N * (beta === 0 ? 1 : 2));
        return timed(`gemm ${role} ${batch > 1 ? `${batch}x` : ''}${M}x${N}x${K}`, flops, bytes, () =>
          base.gemm(batch, M, N, K, alpha, a, ao, abs, ta, b, bo, bbs, tb, beta, c, co, cbs),
        );
      },
      softmax: (x, r, c, y, log) => timed(`softmax${log ? ' (log)' : ''}`, 0, bytesOf(x, y), () => base.softmax(x, r, c, y, log)),
      softmaxBackward: (y, gy, r, c, gx, log) => timed('softmaxBackward', 0, bytesOf(y, gy, gx), () => base.softmaxBackward(y, gy, r, c, gx, log)),
      layerNorm: (x, g, b, r, c, eps, y, m, rs) => timed('layerNorm', 0, bytesOf(x, y), () => base.layerNorm(x, g, b, r, c, eps, y, m, rs)),
      layerNormBackward: (x, g, m, rs, gy, r, c, gx, gg, gb) =>
        timed('layerNormBackward', 0, bytesOf(x, gy, gx), () => base.layerNormBackward(x, g, m, rs, gy, r, c, gx, gg, gb)),
      rmsNorm: (x, g, r, c, eps, y, rs) => timed('rmsNorm', 0, bytesOf(x, y), () => base.rmsNorm(x, g, r, c, eps, y, rs)),
      rmsNormBackward: (x, g, rs, gy, r, c, gx, gg) => timed('rmsNormBackward', 0, bytesOf(x, gy, gx), () => base.rmsNormBackward(x, g, rs, gy, r, c, gx, gg)),
      crossEntropy: (l, t, r, c, ig, loss, lse) => timed('crossEntropy', 0, bytesOf(l), () => base.crossEntropy(l, t, r, c, ig, loss, lse)),
      crossEntropyBackward: (l, lse, t, gl, r, c, ig, gx) =>
        timed('crossEntropyBackward', 0, bytesOf(l, gx), () => base.crossEntropyBackward(l, lse, t, gl, r, c, ig, gx)),
      bceWithLogits: (x, y, loss, n) => timed('bceWithLogits', 0, bytesOf(x, y, loss), () => base.bceWithLogits(x, y, loss, n)),
      bceWithLogitsBackward: (x, y, gl, gx, n) => timed('bceWithLogitsBackward', 0, bytesOf(x, y, gl, gx), () => base.bceWithLogitsBackward(x, y, gl, gx, n)),
      gather: (table, V, C, ids, n, out) => timed('gather (embedding)', 0, 2 * F4 * n * C, () => base.gather(table, V, C, ids, n, out)),
      scatterAdd: (g, ids, n, C, gt) => timed('scatterAdd (embedding grad)', 0, 2 * F4 * n * C, () => base.scatterAdd(g, ids, n, C, gt)),
      dropout: (x, out, n, p, seed) => timed('dropout', 0, 2 * F4 * n, () => base.dropout(x, out, n, p, seed)),
      attention: (args, out, lse) => {
        const flops = 4 * args.B * args.H * args.Tq * args.Tk * args.D;
        return timed('attention', flops, bytesOf(args.q, args.k, args.v, out), () => base.attention(args, out, lse));
      },
      attentionBackward: (args, out, lse, gout, gq, gk, gv) => {
        const flops = 8 * args.B * args.H * args.Tq * args.Tk * args.D; // dV, dP, dQ, dK (recompute not counted)
        return timed('attentionBackward', flops, bytesOf(args.q, args.k, args.v, out, gout, gq, gk, gv), () =>
          base.attentionBackward(args, out, lse, gout, gq, gk, gv),
        );
      },
      adamw: (p, g, m, v, n, lr, b1, b2, eps, wd, step, gs) =>
        timed('adamw', 0, 7 * F4 * n, () => base.adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step, gs)),
    };
  }

  /** Drops everything tallied so far. */
  reset(): void {
    this.t.clear();
  }

  /** The tallies, biggest time first. */
  tallies(): [Key, OpTally][] {
    return [...this.t.entries()].sort((a, b) => b[1].ms - a[1].ms);
  }
}

/** Groups detailed kernel keys into families for the summary (GEMM roles by transpose flags). */
export function family(key: string): string {
  if (key.startsWith('gemm NT')) return 'GEMM forward (x W^T)';
  if (key.startsWith('gemm NN')) return 'GEMM input grad (g W)';
  if (key.startsWith('gemm TN')) return 'GEMM weight grad (g^T x)';
  if (key.startsWith('gemm')) return 'GEMM other';
  return key;
}

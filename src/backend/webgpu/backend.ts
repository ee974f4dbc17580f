/// <reference types="@webgpu/types" />
// The webgpu backend: every kernel of src/backend/backend.ts as WGSL dispatches on device arrays
// (memory.ts). Inputs that are plain host arrays are uploaded for the call; outputs must be device
// arrays. Kernels that must return a host value synchronously (sumSquares) refuse and name the async
// twin; id validation (gather, crossEntropy) reads the ids' host mirror. Not here: device setup (device.ts).

import { FinetuneError, ShapeError } from '../../errors.ts';
import type { AttentionArgs, Backend, BinaryOp, FloatArray, ReduceOp, UnaryOp } from '../backend.ts';
import { dropoutThreshold } from '../rng.ts';
import { DeviceMemory, viewOf, type DeviceView } from './memory.ts';
import { GpuRuntime, Params, type BindingRef, groupsFor } from './runtime.ts';
import { ATT_DS, ATT_GKV, ATT_GQ, ATT_LSE, ATT_OUT, ATT_PROBS } from './wgsl-attention.ts';
import * as EW from './wgsl-elementwise.ts';
import { GEMM, SPLITK_SUM, TILE } from './wgsl-gemm.ts';
import * as RW from './wgsl-rows.ts';

const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, square: 6, tanh: 7, sigmoid: 8, relu: 9,
  gelu: 10, gelu_tanh: 11, silu: 12, scale: 13, add_scalar: 14, pow: 15, recip: 16,
};
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, gt: 7, lt: 8 };

type AnyArr = FloatArray | Int32Array;

/** Split K when a product has fewer output tiles than this (too few workgroups to fill a GPU)... */
const SPLIT_K_BELOW_TILES = 32;
/** ...into chunks of about this many K (a multiple of 16, the kernel's K slice). */
const SPLIT_K_CHUNK = 256;

/** A resolved kernel argument: the binding and the element offset of the view. */
interface Arg extends BindingRef {
  offset: number;
  view: DeviceView | null;
}

/** The webgpu Backend, plus the async reads the tensor layer uses. */
export interface WebGpuBackend extends Backend {
  readonly runtime: GpuRuntime;
  readonly deviceMemory: DeviceMemory;
}

export function createWebGpuBackend(rt: GpuRuntime): WebGpuBackend {
  const mem = new DeviceMemory(rt);
  let temps: object[] = [];

  function arg(arr: AnyArr | null, write: boolean, what: string): Arg {
    let src: AnyArr;
    if (arr === null) {
      // An absent optional buffer: a distinct placeholder per binding (never aliases another binding).
      src = mem.allocate(what.startsWith('i:') ? 'int32' : 'float32', 4, false);
      temps.push(src);
    } else {
      src = arr;
    }
    let v = viewOf(src);
    if (!v) {
      if (write) throw new FinetuneError(`webgpu kernel output ${what} is a host array: allocate it as a webgpu tensor (Tensor.empty on the webgpu backend)`);
      if (src instanceof Float64Array) throw new FinetuneError(`webgpu kernel input ${what} is float64: the webgpu backend holds float32 and int32 only`);
      const up = mem.upload(src.slice());
      temps.push(up);
      v = viewOf(up)!;
    }
    if (v.buf.released) throw new FinetuneError(`webgpu kernel ${write ? 'output' : 'input'} ${what}: its device buffer was released`);
    return { buffer: v.buf.gpu, write, offset: v.offset, view: v };
  }

  function run(key: string, wgsl: () => string, args: Arg[], p: Params, groups: number): void {
    rt.dispatch(key, wgsl, args, p, groups);
    for (const a of args) if (a.write && a.view) mem.written(a.view.buf);
    for (const t of temps) mem.release(t);
    temps = [];
  }

  function packStrided(p: Params, shape: readonly number[], s1: readonly number[], s2: readonly number[], what: string): void {
    if (shape.length > EW.MAX_DIMS) throw new ShapeError(`${what}: at most ${EW.MAX_DIMS} dims on webgpu, got [${shape.join(', ')}]`);
    while (p.length < 8) p.u(0);
    for (let d = 0; d < EW.MAX_DIMS; d++) p.u(shape[d] ?? 1);
    for (let d = 0; d < EW.MAX_DIMS; d++) p.s(s1[d] ?? 0);
    for (let d = 0; d < EW.MAX_DIMS; d++) p.s(s2[d] ?? 0);
  }

  function rowGroups(rows: number): number {
    return rows;
  }

  /** Requires the host mirror of int ids (uploaded from the host) to validate them; returns it. */
  function hostIds(ids: Int32Array, n: number, what: string): Int32Array {
    const v = viewOf(ids);
    if (!v) return ids;
    const m = mem.hostMirror(v.buf);
    if (m === null) {
      throw new FinetuneError(`${what}: ids computed on the device cannot be validated synchronously; create them on the host (Tensor.from) or await tensor.read() first`);
    }
    return (m as Int32Array).subarray(v.offset, v.offset + n);
  }

  const backend: WebGpuBackend = {
    name: 'webgpu',
    supportsFloat64: false,
    runtime: rt,
    deviceMemory: mem,
    memory: {
      allocate: (dtype, n, zero) => mem.allocate(dtype, n, zero),
      upload: (host) => mem.upload(host),
      release: (arr) => mem.release(arr),
      download: (arr) => mem.download(arr),
      owns: (arr) => viewOf(arr) !== null,
    },

    unary(op, x, out, n, alpha) {
      const p = new Params().u(n).u(UNARY_CODES[op]);
      const a = [arg(x, false, 'x'), arg(out, true, 'out')];
      p.u(a[0].offset).u(a[1].offset).f32(alpha);
      run('unary', EW.UNARY, a, p, groupsFor(n, EW.WG));
    },

    unaryBackward(op, x, y, gy, gx, n, alpha) {
      const a = [arg(x, false, 'x'), arg(y, false, 'y'), arg(gy, false, 'gy'), arg(gx, true, 'gx')];
      const p = new Params().u(n).u(UNARY_CODES[op]).u(a[0].offset).u(a[1].offset).u(a[2].offset).u(a[3].offset).f32(alpha);
      run('unary_bwd', EW.UNARY_BWD, a, p, groupsFor(n, EW.WG));
    },

    binary(op, shape, a, aStrides, aOffset, b, bStrides, bOffset, out) {
      const n = shape.reduce((s, d) => s * d, 1);
      const args = [arg(a, false, 'a'), arg(b, false, 'b'), arg(out, true, 'out')];
      const p = new Params().u(n).u(BINARY_CODES[op]).u(shape.length).s(args[0].offset + aOffset).s(args[1].offset + bOffset).u(args[2].offset);
      packStrided(p, shape, aStrides, bStrides, 'binary');
      run('binary', EW.BINARY, args, p, groupsFor(n, EW.WG));
    },

    where(cond, a, b, out, n) {
      const args = [arg(cond, false, 'cond'), arg(a, false, 'a'), arg(b, false, 'b'), arg(out, true, 'out')];
      const p = new Params().u(n).u(args[0].offset).u(args[1].offset).u(args[2].offset).u(args[3].offset);
      run('where', EW.WHERE, args, p, groupsFor(n, EW.WG));
    },

    copyStrided(shape, src, srcStrides, srcOffset, dst, dstStrides, dstOffset) {
      const n = shape.reduce((s, d) => s * d, 1);
      const st = src instanceof Int32Array ? 'i32' : 'f32';
      const dt = dst instanceof Int32Array ? 'i32' : 'f32';
      const args = [arg(src, false, st === 'i32' ? 'i:src' : 'src'), arg(dst, true, 'dst')];
      const p = new Params().u(n).u(0).u(shape.length).s(args[0].offset + srcOffset).s(args[1].offset + dstOffset);
      packStrided(p, shape, srcStrides, dstStrides, 'copyStrided');
      run(`copy_${st}_${dt}`, EW.COPY(st, dt), args, p, groupsFor(n, EW.WG));
    },

    fill(x, value, n) {
      const t = x instanceof Int32Array ? 'i32' : 'f32';
      const bits = new Uint32Array(1);
      if (t === 'i32') new Int32Array(bits.buffer)[0] = value;
      else new Float32Array(bits.buffer)[0] = value;
      const args = [arg(x, true, 'x')];
      const p = new Params().u(n).u(args[0].offset).u(bits[0]);
      run(`fill_${t}`, EW.FILL(t), args, p, groupsFor(n, EW.WG));
    },

    axpy(alpha, x, y, n) {
      const args = [arg(x, false, 'x'), arg(y, true, 'y')];
      const p = new Params().u(n).u(args[0].offset).u(args[1].offset).f32(alpha);
      run('axpy', EW.AXPY, args, p, groupsFor(n, EW.WG));
    },

    reduce(op: ReduceOp, x, outer, axis, inner, out, argmax) {
      const args = [arg(x, false, 'x'), arg(out, true, 'out'), arg(argmax, argmax !== null, 'i:argmax')];
      const p = new Params().u(outer * inner).u(axis).u(inner).u(op === 'sum' ? 0 : 1).u(args[0].offset).u(args[1].offset).u(args[2].offset).u(argmax ? 1 : 0);
      run('reduce', EW.REDUCE, args, p, groupsFor(outer * inner, EW.WG));
    },

    sumSquares() {
      throw new FinetuneError('sumSquares on webgpu returns asynchronously: call globalGradNormAsync (src/optim/clip.ts) / backend.sumSquaresAsync');
    },

    async sumSquaresAsync(xs) {
      const GROUPS = 64;
      const part = mem.allocate('float32', Math.max(1, xs.length * GROUPS), true);
      xs.forEach(({ x, n }, i) => {
        if (n === 0) return;
        const args = [arg(x, false, 'x'), arg(part, true, 'partials')];
        const p = new Params().u(n).u(args[0].offset).u(args[1].offset + i * GROUPS);
        run('sumsq', EW.SUMSQ, args, p, Math.min(GROUPS, groupsFor(n, EW.WG)));
      });
      await mem.download(part);
      const host = viewOf(part)!.buf.mirror!;
      let s = 0;
      for (let i = 0; i < host.length; i++) s += host[i];
      mem.release(part);
      return s;
    },

    gemm(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride) {
      const args = [arg(a, false, 'a'), arg(b, false, 'b'), arg(c, true, 'c')];
      const ao = args[0].offset + aOffset;
      const bo = args[1].offset + bOffset;
      // vec4 loads need the contiguous axis, the offset and the batch stride to be multiples of 4.
      const vecA = (transA ? M : K) % 4 === 0 && ao % 4 === 0 && aBatchStride % 4 === 0;
      const vecB = (transB ? K : N) % 4 === 0 && bo % 4 === 0 && bBatchStride % 4 === 0;
      const tilesM = Math.ceil(M / TILE);
      const tilesN = Math.ceil(N / TILE);
      const lda = transA ? M : K;
      const ldb = transB ? K : N;
      const key = `gemm_${vecA ? 1 : 0}${vecB ? 1 : 0}`;
      // Split-K for products with few output tiles and a long K (weight gradients: K = batch x tokens):
      // S chunks of K run as S "batches" into partials, then one pass sums them into C.
      const S = batch === 1 && tilesM * tilesN < SPLIT_K_BELOW_TILES && K >= 4 * SPLIT_K_CHUNK ? Math.min(16, Math.ceil(K / SPLIT_K_CHUNK)) : 1;
      if (S > 1) {
        const Kc = Math.ceil(K / S / 16) * 16;
        const splits = Math.ceil(K / Kc);
        const part = mem.allocate('float32', splits * M * N, false) as Float32Array;
        const pa = arg(part, true, 'partials');
        const p = new Params().u(splits).u(M).u(N).u(Kc).f32(alpha).f32(0).u(ao).u(transA ? Kc * M : Kc).u(transA ? 1 : 0);
        p.u(bo).u(transB ? Kc : Kc * N).u(transB ? 1 : 0).u(0).u(M * N).u(tilesM).u(tilesN).u(lda).u(ldb).u(1).u(K);
        run(key, GEMM(vecA, vecB), [args[0], args[1], pa], p, splits * tilesM * tilesN);
        const c2 = arg(c, true, 'c');
        run('splitk_sum', SPLITK_SUM, [{ ...pa, write: false }, c2], new Params().u(M * N).u(splits).u(0).u(c2.offset + cOffset).f32(beta), groupsFor(M * N, 256));
        mem.release(part);
        return;
      }
      const p = new Params().u(batch).u(M).u(N).u(K).f32(alpha).f32(beta).u(ao).u(aBatchStride).u(transA ? 1 : 0);
      p.u(bo).u(bBatchStride).u(transB ? 1 : 0).u(args[2].offset + cOffset).u(cBatchStride).u(tilesM).u(tilesN).u(lda).u(ldb).u(0).u(K);
      run(key, GEMM(vecA, vecB), args, p, batch * tilesM * tilesN);
    },

    softmax(x, rows, cols, y, log) {
      const args = [arg(x, false, 'x'), arg(y, true, 'y')];
      const p = new Params().u(rows).u(cols).u(args[0].offset).u(args[1].offset).u(log ? 1 : 0);
      run('softmax', RW.SOFTMAX, args, p, rowGroups(rows));
    },

    softmaxBackward(y, gy, rows, cols, gx, log) {
      const args = [arg(y, false, 'y'), arg(gy, false, 'gy'), arg(gx, true, 'gx')];
      const p = new Params().u(rows).u(cols).u(args[0].offset).u(args[1].offset).u(args[2].offset).u(log ? 1 : 0);
      run('softmax_bwd', RW.SOFTMAX_BWD, args, p, rowGroups(rows));
    },

    layerNorm(x, gamma, beta, rows, cols, eps, y, mean, rstd) {
      const args = [arg(x, false, 'x'), arg(gamma, false, 'gamma'), arg(beta, false, 'beta'), arg(y, true, 'y'), arg(mean, true, 'mean'), arg(rstd, true, 'rstd')];
      const p = new Params().u(rows).u(cols);
      for (const a of args) p.u(a.offset);
      p.f32(eps).u(gamma ? 1 : 0).u(beta ? 1 : 0).u(0);
      run('norm', RW.NORM, args, p, rowGroups(rows));
    },

    layerNormBackward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta) {
      normBackward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta, false);
    },

    rmsNorm(x, gamma, rows, cols, eps, y, rstd) {
      const args = [arg(x, false, 'x'), arg(gamma, false, 'gamma'), arg(null, false, 'beta'), arg(y, true, 'y'), arg(null, false, 'mean'), arg(rstd, true, 'rstd')];
      const p = new Params().u(rows).u(cols);
      for (const a of args) p.u(a.offset);
      p.f32(eps).u(gamma ? 1 : 0).u(0).u(1);
      run('norm', RW.NORM, args, p, rowGroups(rows));
    },

    rmsNormBackward(x, gamma, rstd, gy, rows, cols, gx, ggamma) {
      normBackward(x, gamma, null, rstd, gy, rows, cols, gx, ggamma, null, true);
    },

    crossEntropy(logits, targets, rows, cols, ignoreIndex, loss, lse) {
      const t = hostIds(targets, rows, 'crossEntropy targets');
      for (let r = 0; r < rows; r++) if (t[r] !== ignoreIndex && (t[r] < 0 || t[r] >= cols)) return r;
      const args = [arg(logits, false, 'logits'), arg(targets, false, 'i:targets'), arg(loss, true, 'loss'), arg(lse, true, 'lse')];
      const p = new Params().u(rows).u(cols);
      for (const a of args) p.u(a.offset);
      p.s(ignoreIndex);
      run('ce', RW.CROSS_ENTROPY, args, p, rowGroups(rows));
      return -1;
    },

    crossEntropyBackward(logits, lse, targets, gloss, rows, cols, ignoreIndex, gx) {
      const args = [arg(logits, false, 'logits'), arg(lse, false, 'lse'), arg(targets, false, 'i:targets'), arg(gloss, false, 'gloss'), arg(gx, true, 'gx')];
      const p = new Params().u(rows).u(cols);
      for (const a of args) p.u(a.offset);
      p.s(ignoreIndex);
      run('ce_bwd', RW.CROSS_ENTROPY_BWD, args, p, groupsFor(rows * cols, 256));
    },

    bceWithLogits(x, y, loss, n) {
      const args = [arg(x, false, 'x'), arg(y, false, 'y'), arg(null, false, 'gloss'), arg(loss, true, 'loss')];
      const p = new Params().u(n).u(args[0].offset).u(args[1].offset).u(args[3].offset).u(0).u(0);
      run('bce', EW.BCE, args, p, groupsFor(n, EW.WG));
    },

    bceWithLogitsBackward(x, y, gloss, gx, n) {
      const args = [arg(x, false, 'x'), arg(y, false, 'y'), arg(gloss, false, 'gloss'), arg(gx, true, 'gx')];
      const p = new Params().u(n).u(args[0].offset).u(args[1].offset).u(args[3].offset).u(args[2].offset).u(1);
      run('bce', EW.BCE, args, p, groupsFor(n, EW.WG));
    },

    gather(table, V, C, ids, n, out) {
      const h = hostIds(ids, n, 'gather ids');
      for (let i = 0; i < n; i++) if (h[i] < 0 || h[i] >= V) return i;
      const args = [arg(table, false, 'table'), arg(ids, false, 'i:ids'), arg(out, true, 'out')];
      const p = new Params().u(n * C).u(C).u(args[0].offset).u(args[1].offset).u(args[2].offset);
      run('gather', EW.GATHER, args, p, groupsFor(n * C, EW.WG));
      return -1;
    },

    scatterAdd(g, ids, n, C, gtable) {
      const args = [arg(g, false, 'g'), arg(ids, false, 'i:ids'), arg(gtable, true, 'gtable')];
      const p = new Params().u(C).u(n).u(args[0].offset).u(args[1].offset).u(args[2].offset);
      run('scatter_add', EW.SCATTER_ADD, args, p, groupsFor(C, EW.WG));
    },

    dropout(x, out, n, p, seed) {
      const threshold = dropoutThreshold(p);
      const args = [arg(x, false, 'x'), arg(out, true, 'out')];
      const pp = new Params().u(n).u(args[0].offset).u(args[1].offset).u(threshold).u(seed >>> 0).f32(1 / (1 - p));
      run('dropout', EW.DROPOUT, args, pp, groupsFor(n, EW.WG));
    },

    attention(a, out, lse) {
      const rows = a.B * a.H * a.Tq;
      const P = mem.allocate('float32', Math.max(1, rows * a.Tk), false);
      const q = arg(a.q, false, 'q');
      const k = arg(a.k, false, 'k');
      const m = arg(a.keyMask, false, 'keyMask');
      const l = arg(lse, true, 'lse');
      run('att_lse', ATT_LSE, [q, k, m, l], attParams(a, rows).u(q.offset).u(k.offset).u(m.offset).u(l.offset), groupsFor(rows, 64));
      const lr = { ...l, write: false };
      const pw = arg(P, true, 'P');
      const q2 = arg(a.q, false, 'q');
      const k2 = arg(a.k, false, 'k');
      const m2 = arg(a.keyMask, false, 'keyMask');
      run('att_probs', ATT_PROBS, [q2, k2, m2, lr, pw], attParams(a, rows * a.Tk).u(q2.offset).u(k2.offset).u(m2.offset).u(lr.offset).u(0), groupsFor(rows * a.Tk, 256));
      const v = arg(a.v, false, 'v');
      const o = arg(out, true, 'out');
      run('att_out', ATT_OUT, [{ ...pw, write: false }, v, o], attParams(a, rows * a.D).u(0).u(v.offset).u(o.offset), groupsFor(rows * a.D, 256));
      mem.release(P);
    },

    attentionBackward(a, out, lse, gout, gq, gk, gv) {
      const rows = a.B * a.H * a.Tq;
      const P = mem.allocate('float32', Math.max(1, rows * a.Tk), false);
      const DS = mem.allocate('float32', Math.max(1, rows * a.Tk), false);
      const q = arg(a.q, false, 'q');
      const k = arg(a.k, false, 'k');
      const m = arg(a.keyMask, false, 'keyMask');
      const l = arg(lse, false, 'lse');
      const pw = arg(P, true, 'P');
      run('att_probs', ATT_PROBS, [q, k, m, l, pw], attParams(a, rows * a.Tk).u(q.offset).u(k.offset).u(m.offset).u(l.offset).u(0), groupsFor(rows * a.Tk, 256));
      const pr = { ...pw, write: false };
      const v = arg(a.v, false, 'v');
      const go = arg(gout, false, 'gout');
      const o = arg(out, false, 'out');
      const ds = arg(DS, true, 'dS');
      run('att_ds', ATT_DS, [pr, v, go, o, ds], attParams(a, rows * a.Tk).u(0).u(v.offset).u(go.offset).u(o.offset).u(0), groupsFor(rows * a.Tk, 256));
      const dsr = { ...ds, write: false };
      const gqa = arg(gq, true, 'gq');
      run('att_gq', ATT_GQ, [dsr, arg(a.k, false, 'k'), gqa], attParams(a, rows * a.D).u(0).u(k.offset).u(gqa.offset), groupsFor(rows * a.D, 256));
      const kvN = a.B * a.Hkv * a.Tk * a.D;
      const gka = arg(gk, true, 'gk');
      run('att_gkv', ATT_GKV, [dsr, arg(a.q, false, 'q'), gka], attParams(a, kvN).u(0).u(q.offset).u(gka.offset).u(0), groupsFor(kvN, 256));
      const gva = arg(gv, true, 'gv');
      run('att_gkv', ATT_GKV, [pr, arg(gout, false, 'gout'), gva], attParams(a, kvN).u(0).u(go.offset).u(gva.offset).u(1), groupsFor(kvN, 256));
      mem.release(P);
      mem.release(DS);
    },

    adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale) {
      const args = [arg(p, true, 'p'), arg(g, false, 'g'), arg(m, true, 'm'), arg(v, true, 'v')];
      const pp = new Params().u(n);
      for (const a of args) pp.u(a.offset);
      pp.f32(lr).f32(beta1).f32(beta2).f32(eps).f32(weightDecay).f32(1 - Math.pow(beta1, step)).f32(1 - Math.pow(beta2, step)).f32(gradScale);
      run('adamw', EW.ADAMW, args, pp, groupsFor(n, EW.WG));
    },
  };

  function attParams(a: AttentionArgs, count: number): Params {
    const p = new Params().u(count).u(a.B).u(a.H).u(a.Hkv).u(a.Tq).u(a.Tk).u(a.D).f32(a.scale).u(a.keyMask ? 1 : 0).u(a.causal ? 1 : 0);
    const drop = a.dropoutP > 0;
    p.u(drop ? dropoutThreshold(a.dropoutP) : 0).u(a.seed >>> 0).f32(drop ? 1 / (1 - a.dropoutP) : 1).u(drop ? 1 : 0);
    while (p.length < 16) p.u(0);
    return p;
  }

  function normBackward(
    x: FloatArray, gamma: FloatArray | null, mean: FloatArray | null, rstd: FloatArray, gy: FloatArray,
    rows: number, cols: number, gx: FloatArray, ggamma: FloatArray | null, gbeta: FloatArray | null, rms: boolean,
  ): void {
    const args = [arg(x, false, 'x'), arg(gamma, false, 'gamma'), arg(mean, false, 'mean'), arg(rstd, false, 'rstd'), arg(gy, false, 'gy'), arg(gx, true, 'gx')];
    const p = new Params().u(rows).u(cols);
    for (const a of args) p.u(a.offset);
    p.u(gamma ? 1 : 0).u(rms ? 1 : 0);
    run('norm_bwd', RW.NORM_BWD, args, p, rowGroups(rows));
    if (ggamma || gbeta) {
      const pa = [arg(x, false, 'x'), arg(mean, false, 'mean'), arg(rstd, false, 'rstd'), arg(gy, false, 'gy'), arg(ggamma, ggamma !== null, 'ggamma'), arg(gbeta, gbeta !== null, 'gbeta')];
      const pp = new Params().u(cols).u(rows);
      for (const a of pa) pp.u(a.offset);
      pp.u(ggamma ? 1 : 0).u(gbeta ? 1 : 0).u(rms ? 1 : 0);
      run('norm_param_bwd', RW.NORM_PARAM_BWD, pa, pp, groupsFor(cols, 64));
    }
  }

  return backend;
}

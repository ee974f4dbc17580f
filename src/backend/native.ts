// The native backend: the Backend interface over the C++ addon built by node-gyp (native/, binding.gyp).
// float32 only. Every argument is validated inside the addon's N-API glue before a kernel runs (so no
// call can read or write out of range); its FT_* error codes become ShapeError / DTypeError here.
// Not here: kernels (native/src/*.cc), choosing the default backend (src/backend/default.ts).

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { DTypeError, FinetuneError, ShapeError } from '../errors.ts';
import type { AttentionArgs, Backend, BinaryOp, FloatArray, ReduceOp, UnaryOp } from './backend.ts';
import { DYNAMIC_CODE, QUANT_CODES, type QuantizedWeight } from './quant.ts';

/** What the addon was built with and how it runs now. */
export interface NativeBuildInfo {
  /** The BLAS linked at build time ('builtin' = no BLAS found or FINETUNE_NO_BLAS=1). */
  blas: 'openblas' | 'builtin';
  /** The GEMM in use now (see setGemmImplementation). */
  gemm: 'openblas' | 'builtin';
  /** OpenBLAS's kernel set for this CPU (e.g. 'Haswell', 'SkylakeX'); '' without OpenBLAS. */
  blasCore: string;
  /** Whether AVX2+FMA (or wider) kernels are in use now. */
  avx2: boolean;
  /** The instruction-set variant of the kernels in use now (see setIsa). */
  isa: IsaLevel;
  /** The widest variant this CPU and OS support (the default). */
  isaMax: IsaLevel;
  /** Threads used by every parallel kernel. */
  threads: number;
  openmp: boolean;
}

/** Kernel instruction-set variants, narrowest first: baseline x86-64-v2 / C, AVX2+FMA, AVX-512 (F/BW/DQ/VL/CD). */
export type IsaLevel = 'portable' | 'avx2' | 'avx512';
const ISA_LEVELS: readonly IsaLevel[] = ['portable', 'avx2', 'avx512'];

type F = FloatArray;
type I = Int32Array;
type Maybe<T> = T | null;

/** The raw addon surface (argument order as in native/src/binding.cc). */
interface Addon {
  info(): { blas: string; useBlas: boolean; blasCore: string; avx2: boolean; isa: string; isaMax: string; threads: number; openmp: boolean };
  setNumThreads(n: number): void;
  setUseBlas(on: boolean): boolean;
  fmaPeak(ms: number, isa: number): number;
  setIsa(level: number): boolean;
  unary(op: number, x: F, out: F, n: number, alpha: number): void;
  unaryBackward(op: number, x: F, y: F, gy: F, gx: F, n: number, alpha: number): void;
  binary(op: number, ndim: number, dims: Float64Array, a: F, aOff: number, b: F, bOff: number, out: F): void;
  where(cond: F, a: F, b: F, out: F, n: number): void;
  copyStrided(ndim: number, dims: Float64Array, src: F | I, srcOff: number, dst: F | I, dstOff: number): void;
  fill(x: F | I, value: number, n: number): void;
  axpy(alpha: number, x: F, y: F, n: number): void;
  dropout(x: F, out: F, n: number, p: number, seed: number): void;
  reduce(op: number, x: F, outer: number, axis: number, inner: number, out: F, argmax: Maybe<I>): void;
  sumSquares(x: F, n: number): number;
  gemm(
    batch: number, M: number, N: number, K: number, alpha: number,
    a: F, aOff: number, aBS: number, transA: boolean,
    b: F, bOff: number, bBS: number, transB: boolean,
    beta: number, c: F, cOff: number, cBS: number,
  ): void;
  softmax(x: F, rows: number, cols: number, y: F, log: boolean): void;
  softmaxBackward(y: F, gy: F, rows: number, cols: number, gx: F, log: boolean): void;
  layerNorm(x: F, gamma: Maybe<F>, beta: Maybe<F>, rows: number, cols: number, eps: number, y: F, mean: F, rstd: F): void;
  layerNormBackward(x: F, gamma: Maybe<F>, mean: F, rstd: F, gy: F, rows: number, cols: number, gx: F, gg: Maybe<F>, gb: Maybe<F>): void;
  rmsNorm(x: F, gamma: Maybe<F>, rows: number, cols: number, eps: number, y: F, rstd: F): void;
  rmsNormBackward(x: F, gamma: Maybe<F>, rstd: F, gy: F, rows: number, cols: number, gx: F, gg: Maybe<F>): void;
  crossEntropy(logits: F, targets: I, rows: number, cols: number, ignore: number, loss: F, lse: F): number;
  crossEntropyBackward(logits: F, lse: F, targets: I, gloss: F, rows: number, cols: number, ignore: number, gx: F): void;
  bceWithLogits(x: F, y: F, loss: F, n: number): void;
  bceWithLogitsBackward(x: F, y: F, gloss: F, gx: F, n: number): void;
  gather(table: F, V: number, C: number, ids: I, n: number, out: F): number;
  scatterAdd(g: F, ids: I, n: number, C: number, gtable: F): void;
  attention(...args: AttentionTuple): void;
  attentionBackward(...args: [...AttentionTuple, F, F, F, F]): void;
  adamw(p: F, g: F, m: F, v: F, n: number, lr: number, b1: number, b2: number, eps: number, wd: number, step: number, gs: number): void;
  // binding_mixed.cc
  bf16Info(): { supported: boolean; kernel: boolean };
  setBf16Kernel(on: boolean): boolean;
  gemmBf16(...args: Parameters<Backend['gemm']>): void;
  roundBf16(x: F, out: F, n: number): void;
  dequant(...args: [...QuantTuple, F]): void;
  gemmQuant(M: number, N: number, K: number, alpha: number, a: F, transA: boolean, ...rest: [...QuantTuple, boolean, number, F, boolean]): void;
}

// format, rows, cols, data, absmax, block, qabsmax, code2, absmax2, offset (native/src/binding_mixed.cc quant_weight)
type QuantTuple = [number, number, number, Uint16Array | Int8Array | Uint8Array, Maybe<F>, number, Maybe<Uint8Array>, Maybe<F>, Maybe<F>, number];

function quantTuple(w: QuantizedWeight): QuantTuple {
  const d = w.double;
  return [QUANT_CODES[w.format], w.rows, w.cols, w.data, w.absmax, Math.max(1, w.block), d?.qabsmax ?? null, d ? DYNAMIC_CODE : null, d?.absmax2 ?? null, d?.offset ?? 0];
}

// B, H, Hkv, Tq, Tk, D, q, k, v, keyMask, causal, scale, dropoutP, seed, out, lse
type AttentionTuple = [number, number, number, number, number, number, F, F, F, Maybe<F>, boolean, number, number, number, F, F];

// Op codes: must match the enums in native/src/kernels.h.
const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, abs: 5, square: 6, tanh: 7, sigmoid: 8, relu: 9,
  gelu: 10, gelu_tanh: 11, silu: 12, scale: 13, add_scalar: 14, pow: 15, recip: 16,
};
const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, gt: 7, lt: 8 };
const REDUCE_CODES: Record<ReduceOp, number> = { sum: 0, max: 1 };
const MAX_DIMS = 16;

const ADDON_PATHS = ['../../build/Release/finetune_native.node', '../../build/Debug/finetune_native.node'];

let addon: Addon | null = null;
let loadError: string | null = null;
let tried = false;

function load(): Addon | null {
  if (tried) return addon;
  tried = true;
  const require = createRequire(import.meta.url);
  for (const rel of ADDON_PATHS) {
    const file = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(file)) continue;
    try {
      addon = require(file) as Addon;
      return addon;
    } catch (e) {
      loadError = `${file}: ${e instanceof Error ? e.message : String(e)}`;
      return null;
    }
  }
  loadError = 'build/Release/finetune_native.node is missing: run `npm install` (or `npm run install`) to build the native addon';
  return null;
}

function lib(): Addon {
  const a = load();
  if (a === null) throw new FinetuneError(`native backend unavailable: ${loadError ?? 'unknown reason'}`);
  return a;
}

/** Maps the addon's coded errors to finetune's typed errors; anything else passes through. */
function translate(e: unknown): unknown {
  if (e instanceof Error && 'code' in e) {
    const code = (e as Error & { code: unknown }).code;
    if (code === 'FT_DTYPE') return new DTypeError(e.message, { cause: e });
    if (code === 'FT_SHAPE' || code === 'FT_ARG') return new ShapeError(e.message, { cause: e });
  }
  return e;
}

function guard<T>(f: (a: Addon) => T): T {
  const a = lib();
  try {
    return f(a);
  } catch (e) {
    throw translate(e);
  }
}

// Shape and strides travel in one reused Float64Array (one N-API read instead of one per number).
const dimsScratch = new Float64Array(3 * MAX_DIMS);

function packDims(op: string, shape: readonly number[], s1: readonly number[], s2: readonly number[]): number {
  const nd = shape.length;
  if (nd > MAX_DIMS) throw new ShapeError(`${op}: at most ${MAX_DIMS} dims are supported, got shape [${shape.join(', ')}]`);
  if (s1.length !== nd || s2.length !== nd) {
    throw new ShapeError(`${op}: shape [${shape.join(', ')}] has ${nd} dims but strides have ${s1.length} and ${s2.length}`);
  }
  for (let d = 0; d < nd; d++) {
    dimsScratch[d] = shape[d];
    dimsScratch[nd + d] = s1[d];
    dimsScratch[2 * nd + d] = s2[d];
  }
  return nd;
}

function attentionTuple(a: AttentionArgs, out: F, lse: F): AttentionTuple {
  return [a.B, a.H, a.Hkv, a.Tq, a.Tk, a.D, a.q, a.k, a.v, a.keyMask, a.causal, a.scale, a.dropoutP, a.seed, out, lse];
}

/**
 * The native backend. Methods throw FinetuneError when the addon is not built (see nativeAvailable()).
 *
 * @example
 * import { nativeAvailable, nativeBackend } from './native.ts';
 * if (nativeAvailable()) nativeBackend.unary('gelu', x, y, x.length, 0);
 */
export const nativeBackend: Backend = {
  name: 'native',
  supportsFloat64: false,

  unary(op, x, out, n, alpha) {
    guard((a) => a.unary(UNARY_CODES[op], x, out, n, alpha));
  },
  unaryBackward(op, x, y, gy, gx, n, alpha) {
    guard((a) => a.unaryBackward(UNARY_CODES[op], x, y, gy, gx, n, alpha));
  },
  binary(op, shape, a, aStrides, aOffset, b, bStrides, bOffset, out) {
    const nd = packDims('binary', shape, aStrides, bStrides);
    guard((m) => m.binary(BINARY_CODES[op], nd, dimsScratch, a, aOffset, b, bOffset, out));
  },
  where(cond, a, b, out, n) {
    guard((m) => m.where(cond, a, b, out, n));
  },
  copyStrided(shape, src, srcStrides, srcOffset, dst, dstStrides, dstOffset) {
    const nd = packDims('copyStrided', shape, srcStrides, dstStrides);
    guard((m) => m.copyStrided(nd, dimsScratch, src, srcOffset, dst, dstOffset));
  },
  fill(x, value, n) {
    guard((a) => a.fill(x, value, n));
  },
  axpy(alpha, x, y, n) {
    guard((a) => a.axpy(alpha, x, y, n));
  },
  reduce(op, x, outer, axis, inner, out, argmax) {
    guard((a) => a.reduce(REDUCE_CODES[op], x, outer, axis, inner, out, argmax));
  },
  sumSquares(x, n) {
    return guard((a) => a.sumSquares(x, n));
  },
  gemm(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride) {
    guard((m) =>
      m.gemm(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride),
    );
  },
  gemmBf16(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride) {
    guard((m) =>
      m.gemmBf16(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride),
    );
  },
  gemmQuant(M, N, K, alpha, a, transA, w, transW, beta, c, bf16) {
    guard((m) => m.gemmQuant(M, N, K, alpha, a, transA, ...quantTuple(w), transW, beta, c, bf16));
  },
  softmax(x, rows, cols, y, log) {
    guard((a) => a.softmax(x, rows, cols, y, log));
  },
  softmaxBackward(y, gy, rows, cols, gx, log) {
    guard((a) => a.softmaxBackward(y, gy, rows, cols, gx, log));
  },
  layerNorm(x, gamma, beta, rows, cols, eps, y, mean, rstd) {
    guard((a) => a.layerNorm(x, gamma, beta, rows, cols, eps, y, mean, rstd));
  },
  layerNormBackward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta) {
    guard((a) => a.layerNormBackward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta));
  },
  rmsNorm(x, gamma, rows, cols, eps, y, rstd) {
    guard((a) => a.rmsNorm(x, gamma, rows, cols, eps, y, rstd));
  },
  rmsNormBackward(x, gamma, rstd, gy, rows, cols, gx, ggamma) {
    guard((a) => a.rmsNormBackward(x, gamma, rstd, gy, rows, cols, gx, ggamma));
  },
  crossEntropy(logits, targets, rows, cols, ignoreIndex, loss, lse) {
    return guard((a) => a.crossEntropy(logits, targets, rows, cols, ignoreIndex, loss, lse));
  },
  crossEntropyBackward(logits, lse, targets, gloss, rows, cols, ignoreIndex, gx) {
    guard((a) => a.crossEntropyBackward(logits, lse, targets, gloss, rows, cols, ignoreIndex, gx));
  },
  bceWithLogits(x, y, loss, n) {
    guard((a) => a.bceWithLogits(x, y, loss, n));
  },
  bceWithLogitsBackward(x, y, gloss, gx, n) {
    guard((a) => a.bceWithLogitsBackward(x, y, gloss, gx, n));
  },
  gather(table, V, C, ids, n, out) {
    return guard((a) => a.gather(table, V, C, ids, n, out));
  },
  scatterAdd(g, ids, n, C, gtable) {
    guard((a) => a.scatterAdd(g, ids, n, C, gtable));
  },
  dropout(x, out, n, p, seed) {
    guard((a) => a.dropout(x, out, n, p, seed));
  },
  attention(args, out, lse) {
    guard((a) => a.attention(...attentionTuple(args, out, lse)));
  },
  attentionBackward(args, out, lse, gout, gq, gk, gv) {
    guard((a) => a.attentionBackward(...attentionTuple(args, out, lse), gout, gq, gk, gv));
  },
  adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale) {
    guard((a) => a.adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale));
  },
};

/**
 * Whether the addon is built and loads on this machine.
 *
 * @example
 * const backend = nativeAvailable() ? nativeBackend : referenceBackend;
 */
export function nativeAvailable(): boolean {
  return load() !== null;
}

/** Why the addon did not load (null when it did or was not tried yet). */
export function nativeLoadError(): string | null {
  load();
  return addon === null ? loadError : null;
}

/** The native backend when its addon loads, else null (for src/backend/default.ts registerNativeLoader). */
export function loadNativeBackend(): Backend | null {
  return load() === null ? null : nativeBackend;
}

/**
 * Build and run-time facts: BLAS linked, GEMM in use, AVX2, threads.
 *
 * @example
 * console.log(nativeBuildInfo()); // { blas: 'openblas', gemm: 'openblas', avx2: true, threads: 2, openmp: true }
 */
export function nativeBuildInfo(): NativeBuildInfo {
  const i = lib().info();
  const blas = i.blas === 'openblas' ? 'openblas' : 'builtin';
  return { blas, gemm: i.useBlas ? blas : 'builtin', blasCore: i.blasCore, avx2: i.avx2, isa: toIsa(i.isa), isaMax: toIsa(i.isaMax), threads: i.threads, openmp: i.openmp };
}

function toIsa(s: string): IsaLevel {
  return (ISA_LEVELS as readonly string[]).includes(s) ? (s as IsaLevel) : 'portable';
}

/** The kernel variants this CPU and OS can run, narrowest first (e.g. ['portable', 'avx2', 'avx512']). */
export function supportedIsaLevels(): IsaLevel[] {
  return ISA_LEVELS.slice(0, ISA_LEVELS.indexOf(nativeBuildInfo().isaMax) + 1);
}

/**
 * Forces the kernels' instruction-set variant (every kernel family and the built-in GEMM) for tests and
 * benchmarks; the default is the widest supported. Throws when this CPU (or its OS) cannot run `level`.
 *
 * @example
 * for (const l of supportedIsaLevels()) { setIsa(l); ... }
 */
export function setIsa(level: IsaLevel): void {
  const code = ISA_LEVELS.indexOf(level);
  if (code < 0) throw new FinetuneError(`setIsa: unknown level '${String(level)}'; use one of ${ISA_LEVELS.join(', ')}`);
  if (!lib().setIsa(code)) {
    throw new FinetuneError(`setIsa: this CPU/OS supports at most '${nativeBuildInfo().isaMax}', not '${level}'; use one of ${supportedIsaLevels().join(', ')}`);
  }
}

/**
 * Sets the threads used by every native kernel (default: OMP_NUM_THREADS, else the CPUs this process may use).
 * Results are bitwise reproducible for a fixed thread count.
 *
 * @example
 * setNumThreads(1);
 */
export function setNumThreads(n: number): void {
  guard((a) => a.setNumThreads(n));
}

/** Threads used by the native kernels. */
export function getNumThreads(): number {
  return lib().info().threads;
}

/**
 * Chooses the GEMM: 'openblas' (when linked) or the built-in blocked kernel. Both are kept so tests
 * can cover both paths in one build.
 *
 * @example
 * setGemmImplementation('builtin');
 */
export function setGemmImplementation(impl: 'openblas' | 'builtin'): void {
  const ok = lib().setUseBlas(impl === 'openblas');
  if (!ok) throw new FinetuneError('setGemmImplementation: this build has no OpenBLAS (install libopenblas-dev and rebuild with `npm run install`)');
}

/**
 * Measured fp32 FMA throughput on every kernel thread over about `ms` milliseconds, in GFLOP/s, with the
 * vectors of `isa` (default: the widest this CPU supports); 0 for 'portable' or a level the CPU lacks.
 * For benchmarks.
 */
export function measureFmaPeak(ms = 300, isa?: IsaLevel): number {
  const level = ISA_LEVELS.indexOf(isa ?? nativeBuildInfo().isaMax);
  return guard((a) => a.fmaPeak(ms, level));
}

/**
 * Measured bf16 dot-product throughput (AVX512_BF16 VDPBF16PS, fp32 accumulation; a multiply-add counts
 * as 2 flops) on every kernel thread, in GFLOP/s; 0 when the CPU has no bf16 dot products. For benchmarks.
 */
export function measureBf16Peak(ms = 300): number {
  return guard((a) => a.fmaPeak(ms, 3));
}

/** Whether this CPU has AVX512_BF16 dot products, and whether the bf16 GEMM uses them now. */
export function bf16Support(): { supported: boolean; kernel: boolean } {
  return guard((a) => a.bf16Info());
}

/** Selects the AVX512_BF16 kernel (true; ignored without CPU support) or the portable converted path (tests). */
export function setBf16Kernel(on: boolean): boolean {
  return guard((a) => a.setBf16Kernel(on));
}

/** The native dequantisation of a whole weight into out (tests; the GEMM never materialises it). */
export function nativeDequantize(w: QuantizedWeight, out: Float32Array): void {
  guard((a) => a.dequant(...quantTuple(w), out));
}

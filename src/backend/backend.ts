// The backend interface: the closed set of compute kernels every backend implements.
// Kernels work on flat typed arrays with explicit sizes; they never allocate, never see Tensors,
// never do autograd. The reference backend (reference.ts, simple loops, float32 or float64) is the
// oracle; the native backend (native.ts over the C++ addon) must match it (tests/backend/parity).
// Convention: every kernel OVERWRITES its output buffers unless its doc says "accumulates".
// Layout words: a "(R, C) row-major" buffer holds R rows of C contiguous values starting at index 0.

import type { QuantizedWeight } from './quant.ts';

/** A floating-point buffer. float64 is supported by the reference backend only (for gradient checks). */
export type FloatArray = Float32Array | Float64Array;

/** Elementwise single-input ops. `alpha` is the op's scalar parameter where it has one. */
export type UnaryOp =
  | 'neg' // -x
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt' // 1/sqrt(x)
  | 'abs'
  | 'square' // x*x
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'gelu' // exact: 0.5 x (1 + erf(x/sqrt 2))
  | 'gelu_tanh' // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  | 'silu' // x * sigmoid(x)
  | 'scale' // alpha * x
  | 'add_scalar' // x + alpha
  | 'pow' // x ** alpha
  | 'recip'; // 1/x

/** Elementwise two-input ops, with broadcasting by strides (stride 0 on broadcast dims). */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'eq' | 'gt' | 'lt';

/** Reductions over one axis of a contiguous (outer, axis, inner) view. */
export type ReduceOp = 'sum' | 'max';

/** Arguments of the fused scaled-dot-product attention kernel. All buffers row-major, contiguous. */
export interface AttentionArgs {
  B: number; // batch
  H: number; // query heads
  Hkv: number; // key/value heads (H % Hkv == 0; query head h uses kv head floor(h / (H / Hkv)))
  Tq: number; // query length
  Tk: number; // key length
  D: number; // head dim
  q: FloatArray; // (B, H, Tq, D)
  k: FloatArray; // (B, Hkv, Tk, D)
  v: FloatArray; // (B, Hkv, Tk, D)
  /** Key padding mask (B, Tk): 1 = attend, 0 = masked (weight exactly 0). null = no padding. */
  keyMask: FloatArray | null;
  /** Causal: query i attends keys j <= i + (Tk - Tq) (queries are the last Tq positions). */
  causal: boolean;
  scale: number; // usually 1/sqrt(D)
  /** Dropout on the attention probabilities (training only); 0 disables. Element (b,h,i,j) uses index ((b*H+h)*Tq+i)*Tk+j. */
  dropoutP: number;
  seed: number; // uint32
}

/**
 * Memory of a backend whose buffers live off the host (webgpu). Its arrays are handles that kernels
 * accept like host arrays; their elements are readable on the host only after an awaited download()
 * (until the device writes them again). Host backends leave `Backend.memory` undefined.
 */
export interface DeviceMemoryApi {
  /** A new device array of n elements (zeroed when asked). */
  allocate(dtype: 'float32' | 'float64' | 'int32', n: number, zero: boolean): FloatArray | Int32Array;
  /** A new device array holding a copy of `host` (do not modify `host` afterwards). */
  upload(host: FloatArray | Int32Array): FloatArray | Int32Array;
  /** Returns a device array's buffer to the device pool. */
  release(arr: FloatArray | Int32Array): void;
  /** Makes the elements behind `arr` readable on the host (resolves when they are). */
  download(arr: FloatArray | Int32Array): Promise<void>;
  /** Whether `arr` is one of this memory's device arrays. */
  owns(arr: FloatArray | Int32Array): boolean;
}

/**
 * The kernel set. Sizes are element counts. Int32Array carries ids, labels and indices.
 * Kernels must not read outside the stated ranges and must write every element of their outputs.
 */
export interface Backend {
  readonly name: string;
  /** Whether Float64Array buffers are accepted. */
  readonly supportsFloat64: boolean;

  // ---- elementwise -------------------------------------------------------------------------
  /** out[i] = f(x[i]) for i < n. out may alias x. */
  unary(op: UnaryOp, x: FloatArray, out: FloatArray, n: number, alpha: number): void;
  /**
   * gx[i] = gy[i] * f'(x[i]) for i < n (the derivative of `unary(op)` at x). `y` is the forward output
   * (some ops use it instead of x: exp, sqrt, rsqrt, tanh, sigmoid, recip).
   */
  unaryBackward(op: UnaryOp, x: FloatArray, y: FloatArray, gy: FloatArray, gx: FloatArray, n: number, alpha: number): void;
  /**
   * out (contiguous, shape `shape`) = a op b, where a and b are read at
   * aOffset + sum_d idx[d]*aStrides[d] (likewise b). Broadcast dims have stride 0.
   * Comparison ops (eq, gt, lt) write 1 or 0.
   */
  binary(
    op: BinaryOp,
    shape: readonly number[],
    a: FloatArray,
    aStrides: readonly number[],
    aOffset: number,
    b: FloatArray,
    bStrides: readonly number[],
    bOffset: number,
    out: FloatArray,
  ): void;
  /** out[i] = cond[i] != 0 ? a[i] : b[i], all contiguous of length n. */
  where(cond: FloatArray, a: FloatArray, b: FloatArray, out: FloatArray, n: number): void;
  /**
   * Strided copy: for every index tuple idx of `shape`,
   * dst[dstOffset + sum idx[d]*dstStrides[d]] = src[srcOffset + sum idx[d]*srcStrides[d]].
   * src and dst may have different element types (float32/float64/int32) when converting.
   */
  copyStrided(
    shape: readonly number[],
    src: FloatArray | Int32Array,
    srcStrides: readonly number[],
    srcOffset: number,
    dst: FloatArray | Int32Array,
    dstStrides: readonly number[],
    dstOffset: number,
  ): void;
  /** x[i] = value for i < n. */
  fill(x: FloatArray | Int32Array, value: number, n: number): void;
  /** y[i] += alpha * x[i] for i < n (accumulates). */
  axpy(alpha: number, x: FloatArray, y: FloatArray, n: number): void;

  // ---- reductions --------------------------------------------------------------------------
  /**
   * x is (outer, axis, inner) contiguous; out is (outer, inner): out[o, i] = reduce_a x[o, a, i].
   * For 'max', argmax (if given) receives the first index a of the maximum.
   */
  reduce(op: ReduceOp, x: FloatArray, outer: number, axis: number, inner: number, out: FloatArray, argmax: Int32Array | null): void;
  /** Sum of squares of x[0..n) accumulated in float64 and returned. */
  sumSquares(x: FloatArray, n: number): number;
  /** Device backends: the sum of squares over several buffers, read back once. */
  sumSquaresAsync?(xs: ReadonlyArray<{ x: FloatArray; n: number }>): Promise<number>;
  /** Device backends only: where tensor buffers live (see DeviceMemoryApi). */
  readonly memory?: DeviceMemoryApi;

  // ---- matrix products ---------------------------------------------------------------------
  /**
   * Batched GEMM: for b < batch, C_b = alpha * op(A_b) @ op(B_b) + beta * C_b, where
   * op(A_b) is (M, K) and op(B_b) is (K, N). A_b starts at aOffset + b*aBatchStride and is stored
   * row-major as (M, K), or as (K, M) when transA (likewise B: (K, N) or (N, K) when transB).
   * C_b starts at cOffset + b*cBatchStride, row-major (M, N). Batch strides may be 0 for A or B
   * (broadcast), never for C. beta = 0 means C is not read (NaNs in C do not propagate).
   */
  gemm(
    batch: number,
    M: number,
    N: number,
    K: number,
    alpha: number,
    a: FloatArray,
    aOffset: number,
    aBatchStride: number,
    transA: boolean,
    b: FloatArray,
    bOffset: number,
    bBatchStride: number,
    transB: boolean,
    beta: number,
    c: FloatArray,
    cOffset: number,
    cBatchStride: number,
  ): void;

  /**
   * bf16 mixed precision (torch.autocast semantics): `gemm` with every element of op(A) and op(B) first
   * rounded to bf16 (round to nearest even), products exact, accumulation in fp32 (or wider). Optional:
   * when absent, callers round copies of the operands and call `gemm` (src/tensor/ops/lowp.ts).
   */
  gemmBf16?(
    batch: number,
    M: number,
    N: number,
    K: number,
    alpha: number,
    a: FloatArray,
    aOffset: number,
    aBatchStride: number,
    transA: boolean,
    b: FloatArray,
    bOffset: number,
    bBatchStride: number,
    transB: boolean,
    beta: number,
    c: FloatArray,
    cOffset: number,
    cBatchStride: number,
  ): void;
  /**
   * C (M, N) = alpha * op(A) op(W) + beta * C with a quantised frozen weight W (src/backend/quant.ts):
   * op(W) = W^T when transW (W is (N, K), the Linear forward), else W (K, N) (the input gradient).
   * A contiguous from index 0; bf16 = round op(A) and the dequantised W to bf16 first. The weight is
   * dequantised panel by panel, never whole. Optional: when absent, callers dequantise and call `gemm`.
   */
  gemmQuant?(M: number, N: number, K: number, alpha: number, a: FloatArray, transA: boolean, w: QuantizedWeight, transW: boolean, beta: number, c: FloatArray, bf16: boolean): void;

  // ---- fused row ops (rows x cols, row-major, contiguous) ------------------------------------
  /** y = softmax over each row (log-softmax when `log`). Stable (subtracts the row max). */
  softmax(x: FloatArray, rows: number, cols: number, y: FloatArray, log: boolean): void;
  /**
   * softmax: gx = y * (gy - sum_j gy*y); log-softmax: gx = gy - exp(y) * sum_j gy.
   * y is the forward output.
   */
  softmaxBackward(y: FloatArray, gy: FloatArray, rows: number, cols: number, gx: FloatArray, log: boolean): void;
  /**
   * Layer norm over each row: y = (x - mean) * rstd * gamma + beta, rstd = 1/sqrt(var + eps), biased var.
   * gamma/beta null = 1/0. Writes mean and rstd (length rows) for the backward.
   */
  layerNorm(
    x: FloatArray,
    gamma: FloatArray | null,
    beta: FloatArray | null,
    rows: number,
    cols: number,
    eps: number,
    y: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
  ): void;
  /** Writes gx; ACCUMULATES into ggamma and gbeta (when non-null). */
  layerNormBackward(
    x: FloatArray,
    gamma: FloatArray | null,
    mean: FloatArray,
    rstd: FloatArray,
    gy: FloatArray,
    rows: number,
    cols: number,
    gx: FloatArray,
    ggamma: FloatArray | null,
    gbeta: FloatArray | null,
  ): void;
  /** RMS norm: y = x * rstd * gamma, rstd = 1/sqrt(mean(x^2) + eps). Writes rstd (rows). */
  rmsNorm(x: FloatArray, gamma: FloatArray | null, rows: number, cols: number, eps: number, y: FloatArray, rstd: FloatArray): void;
  /** Writes gx; ACCUMULATES into ggamma (when non-null). */
  rmsNormBackward(
    x: FloatArray,
    gamma: FloatArray | null,
    rstd: FloatArray,
    gy: FloatArray,
    rows: number,
    cols: number,
    gx: FloatArray,
    ggamma: FloatArray | null,
  ): void;

  // ---- losses ------------------------------------------------------------------------------
  /**
   * Cross-entropy per row of logits (rows, cols) against integer targets. Rows whose target equals
   * ignoreIndex get loss 0. Writes loss (rows) and lse (rows, the log-sum-exp of each row).
   * Returns the first row index whose target is out of [0, cols) and not ignoreIndex, or -1.
   */
  crossEntropy(logits: FloatArray, targets: Int32Array, rows: number, cols: number, ignoreIndex: number, loss: FloatArray, lse: FloatArray): number;
  /** gx[r, c] = gloss[r] * (softmax(logits)[r, c] - [c == target[r]]); ignored rows get 0. */
  crossEntropyBackward(
    logits: FloatArray,
    lse: FloatArray,
    targets: Int32Array,
    gloss: FloatArray,
    rows: number,
    cols: number,
    ignoreIndex: number,
    gx: FloatArray,
  ): void;
  /** loss[i] = max(x,0) - x*y + log(1 + exp(-|x|)) (BCE with logits), i < n. */
  bceWithLogits(x: FloatArray, y: FloatArray, loss: FloatArray, n: number): void;
  /** gx[i] = gloss[i] * (sigmoid(x[i]) - y[i]). */
  bceWithLogitsBackward(x: FloatArray, y: FloatArray, gloss: FloatArray, gx: FloatArray, n: number): void;

  // ---- indexing ----------------------------------------------------------------------------
  /**
   * out[i, :] = table[ids[i], :] for i < n; table is (V, C). Returns the first i with ids[i] outside
   * [0, V), or -1 (then out is fully written). On a bad id nothing needs to be written.
   */
  gather(table: FloatArray, V: number, C: number, ids: Int32Array, n: number, out: FloatArray): number;
  /** gtable[ids[i], :] += g[i, :] (ACCUMULATES; ids already validated). Deterministic order. */
  scatterAdd(g: FloatArray, ids: Int32Array, n: number, C: number, gtable: FloatArray): void;

  // ---- randomness --------------------------------------------------------------------------
  /**
   * Inverted dropout: out[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) = hash32(seed, i) >= dropoutThreshold(p)
   * (see dropoutKeep in rng.ts: a counter-based hash, so both backends and the backward agree bit for bit).
   * Used for backward too: pass the upstream gradient as x.
   */
  dropout(x: FloatArray, out: FloatArray, n: number, p: number, seed: number): void;

  // ---- attention ---------------------------------------------------------------------------
  /**
   * Fused scaled-dot-product attention: out = softmax(scale * q k^T + masks) v, with dropout on the
   * probabilities. out is (B, H, Tq, D); lse (B, H, Tq) receives each row's log-sum-exp of the
   * masked scaled scores (before dropout) for the backward. A row with every key masked gets out = 0.
   */
  attention(args: AttentionArgs, out: FloatArray, lse: FloatArray): void;
  /**
   * Backward of `attention` given the forward's out and lse and the upstream gradient gout.
   * Writes gq (B,H,Tq,D), gk and gv (B,Hkv,Tk,D) (overwrites; grouped heads are summed).
   */
  attentionBackward(args: AttentionArgs, out: FloatArray, lse: FloatArray, gout: FloatArray, gq: FloatArray, gk: FloatArray, gv: FloatArray): void;

  // ---- optimizer ---------------------------------------------------------------------------
  /**
   * One AdamW step in place over n elements, PyTorch semantics:
   *   p -= lr * weightDecay * p                        (decoupled decay, applied first)
   *   m = beta1*m + (1-beta1)*g;  v = beta2*v + (1-beta2)*g*g
   *   p -= lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
   * `gradScale` multiplies g first (gradient clipping folded in; 1 = none). step counts from 1.
   */
  adamw(
    p: FloatArray,
    g: FloatArray,
    m: FloatArray,
    v: FloatArray,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
    gradScale: number,
  ): void;
}

// The reference backend: every kernel of backend.ts as plain loops in TypeScript, float32 or float64.
// It is the oracle the native kernels are tested against and the backend of the finite-difference
// gradient checks, so it favours obviousness over speed: no blocking, no fusion tricks, no caching.
// Accumulations run in a JS number (float64) and are rounded once when stored.

import type { AttentionArgs, Backend, BinaryOp, FloatArray, ReduceOp, UnaryOp } from './backend.ts';
import { dropoutThreshold, hash32 } from './rng.ts';
import { dequantize, roundBf16Array } from './quant.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2 = 1 / Math.SQRT2;

/** erf to ~1e-16 (W. J. Cody's rational approximations are overkill here; this series/continued fraction is exact enough for float64 checks). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // Continued fraction for erfc (Lentz), accurate for |x| >= 2.5.
  const erfc = erfcContinuedFraction(ax);
  return x < 0 ? erfc - 1 : 1 - erfc;
}

function erfcContinuedFraction(x: number): number {
  // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + 2/(x + ...)))))
  let f = x;
  const tiny = 1e-300;
  let c = x;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = x + an * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + an / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

function unaryValue(op: UnaryOp, x: number, alpha: number): number {
  switch (op) {
    case 'neg': return -x;
    case 'exp': return Math.exp(x);
    case 'log': return Math.log(x);
    case 'sqrt': return Math.sqrt(x);
    case 'rsqrt': return 1 / Math.sqrt(x);
    case 'abs': return Math.abs(x);
    case 'square': return x * x;
    case 'tanh': return Math.tanh(x);
    case 'sigmoid': return sigmoid(x);
    case 'relu': return x > 0 ? x : 0;
    case 'gelu': return 0.5 * x * (1 + erf(x * INV_SQRT_2));
    case 'gelu_tanh': return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
    case 'silu': return x * sigmoid(x);
    case 'scale': return alpha * x;
    case 'add_scalar': return x + alpha;
    case 'pow': return Math.pow(x, alpha);
    case 'recip': return 1 / x;
  }
}

function unaryDerivative(op: UnaryOp, x: number, y: number, alpha: number): number {
  switch (op) {
    case 'neg': return -1;
    case 'exp': return y;
    case 'log': return 1 / x;
    case 'sqrt': return 0.5 / y;
    case 'rsqrt': return -0.5 * y * y * y;
    case 'abs': return x > 0 ? 1 : x < 0 ? -1 : 0;
    case 'square': return 2 * x;
    case 'tanh': return 1 - y * y;
    case 'sigmoid': return y * (1 - y);
    case 'relu': return x > 0 ? 1 : 0;
    case 'gelu': {
      const cdf = 0.5 * (1 + erf(x * INV_SQRT_2));
      const pdf = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
      return cdf + x * pdf;
    }
    case 'gelu_tanh': {
      const inner = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
      const t = Math.tanh(inner);
      const dInner = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner;
    }
    case 'silu': {
      const s = sigmoid(x);
      return s * (1 + x * (1 - s));
    }
    case 'scale': return alpha;
    case 'add_scalar': return 1;
    case 'pow': return alpha * Math.pow(x, alpha - 1);
    case 'recip': return -y * y;
  }
}

function binaryValue(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add': return a + b;
    case 'sub': return a - b;
    case 'mul': return a * b;
    case 'div': return a / b;
    case 'maximum': return a >= b || Number.isNaN(a) ? a : b;
    case 'minimum': return a <= b || Number.isNaN(a) ? a : b;
    case 'eq': return a === b ? 1 : 0;
    case 'gt': return a > b ? 1 : 0;
    case 'lt': return a < b ? 1 : 0;
  }
}

/** Calls visit(flatIndexInShape, offsetA, offsetB) over every index tuple of `shape`, last dim fastest. */
function forEachIndex2(
  shape: readonly number[],
  aStrides: readonly number[],
  aOffset: number,
  bStrides: readonly number[],
  bOffset: number,
  visit: (i: number, ia: number, ib: number) => void,
): void {
  const nd = shape.length;
  const n = shape.reduce((p, s) => p * s, 1);
  if (n === 0) return;
  const idx = new Array<number>(nd).fill(0);
  let ia = aOffset;
  let ib = bOffset;
  for (let i = 0; i < n; i++) {
    visit(i, ia, ib);
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      ia += aStrides[d];
      ib += bStrides[d];
      if (idx[d] < shape[d]) break;
      ia -= aStrides[d] * shape[d];
      ib -= bStrides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function softmaxRow(x: FloatArray, base: number, cols: number, y: FloatArray, log: boolean): void {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, x[base + j]);
  let sum = 0;
  for (let j = 0; j < cols; j++) sum += Math.exp(x[base + j] - max);
  const logSum = Math.log(sum);
  for (let j = 0; j < cols; j++) {
    y[base + j] = log ? x[base + j] - max - logSum : Math.exp(x[base + j] - max) / sum;
  }
}

function logSumExp(x: FloatArray, base: number, cols: number): number {
  let max = -Infinity;
  for (let j = 0; j < cols; j++) max = Math.max(max, x[base + j]);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let j = 0; j < cols; j++) sum += Math.exp(x[base + j] - max);
  return max + Math.log(sum);
}

/** Masked, scaled scores of one attention row (query i of head (b,h)); -Infinity where masked. */
function attentionScores(a: AttentionArgs, b: number, h: number, i: number, scores: Float64Array): void {
  const { H, Hkv, Tq, Tk, D, q, k, keyMask, causal, scale } = a;
  const kvh = Math.floor(h / (H / Hkv));
  const qBase = ((b * H + h) * Tq + i) * D;
  for (let j = 0; j < Tk; j++) {
    const masked = (keyMask !== null && keyMask[b * Tk + j] === 0) || (causal && j > i + (Tk - Tq));
    if (masked) {
      scores[j] = -Infinity;
      continue;
    }
    const kBase = ((b * Hkv + kvh) * Tk + j) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qBase + d] * k[kBase + d];
    scores[j] = dot * scale;
  }
}

export const referenceBackend: Backend = {
  name: 'reference',
  supportsFloat64: true,

  unary(op, x, out, n, alpha) {
    for (let i = 0; i < n; i++) out[i] = unaryValue(op, x[i], alpha);
  },

  unaryBackward(op, x, y, gy, gx, n, alpha) {
    for (let i = 0; i < n; i++) gx[i] = gy[i] * unaryDerivative(op, x[i], y[i], alpha);
  },

  binary(op, shape, a, aStrides, aOffset, b, bStrides, bOffset, out) {
    forEachIndex2(shape, aStrides, aOffset, bStrides, bOffset, (i, ia, ib) => {
      out[i] = binaryValue(op, a[ia], b[ib]);
    });
  },

  where(cond, a, b, out, n) {
    for (let i = 0; i < n; i++) out[i] = cond[i] !== 0 ? a[i] : b[i];
  },

  copyStrided(shape, src, srcStrides, srcOffset, dst, dstStrides, dstOffset) {
    forEachIndex2(shape, srcStrides, srcOffset, dstStrides, dstOffset, (_i, is, id) => {
      dst[id] = src[is];
    });
  },

  fill(x, value, n) {
    for (let i = 0; i < n; i++) x[i] = value;
  },

  axpy(alpha, x, y, n) {
    for (let i = 0; i < n; i++) y[i] += alpha * x[i];
  },

  reduce(op: ReduceOp, x, outer, axis, inner, out, argmax) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = op === 'sum' ? 0 : -Infinity;
        let best = 0;
        for (let a = 0; a < axis; a++) {
          const v = x[(o * axis + a) * inner + i];
          if (op === 'sum') acc += v;
          else if (a === 0 || v > acc || (Number.isNaN(v) && !Number.isNaN(acc))) {
            acc = v;
            best = a;
          }
        }
        out[o * inner + i] = acc;
        if (argmax) argmax[o * inner + i] = best;
      }
    }
  },

  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  },

  gemm(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride) {
    for (let bi = 0; bi < batch; bi++) {
      const ao = aOffset + bi * aBatchStride;
      const bo = bOffset + bi * bBatchStride;
      const co = cOffset + bi * cBatchStride;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let kk = 0; kk < K; kk++) {
            const av = transA ? a[ao + kk * M + m] : a[ao + m * K + kk];
            const bv = transB ? b[bo + n * K + kk] : b[bo + kk * N + n];
            acc += av * bv;
          }
          const prev = beta === 0 ? 0 : beta * c[co + m * N + n];
          c[co + m * N + n] = alpha * acc + prev;
        }
      }
    }
  },

  gemmBf16(batch, M, N, K, alpha, a, aOffset, aBatchStride, transA, b, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride) {
    // Round every operand element once (the same values a bf16 tensor would hold), then the plain GEMM.
    const ar = a instanceof Float64Array ? new Float64Array(a.length) : new Float32Array(a.length);
    const br = b instanceof Float64Array ? new Float64Array(b.length) : new Float32Array(b.length);
    roundBf16Array(a, ar, a.length);
    roundBf16Array(b, br, b.length);
    referenceBackend.gemm(batch, M, N, K, alpha, ar, aOffset, aBatchStride, transA, br, bOffset, bBatchStride, transB, beta, c, cOffset, cBatchStride);
  },

  gemmQuant(M, N, K, alpha, a, transA, w, transW, beta, c, bf16) {
    const wd = dequantize(w);
    const gemm = bf16 ? referenceBackend.gemmBf16! : referenceBackend.gemm;
    gemm(1, M, N, K, alpha, a, 0, 0, transA, wd, 0, 0, transW, beta, c, 0, 0);
  },

  softmax(x, rows, cols, y, log) {
    for (let r = 0; r < rows; r++) softmaxRow(x, r * cols, cols, y, log);
  },

  softmaxBackward(y, gy, rows, cols, gx, log) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += log ? gy[base + j] : gy[base + j] * y[base + j];
      for (let j = 0; j < cols; j++) {
        gx[base + j] = log ? gy[base + j] - Math.exp(y[base + j]) * dot : y[base + j] * (gy[base + j] - dot);
      }
    }
  },

  layerNorm(x, gamma, beta, rows, cols, eps, y, mean, rstd) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let mu = 0;
      for (let j = 0; j < cols; j++) mu += x[base + j];
      mu /= cols;
      let variance = 0;
      for (let j = 0; j < cols; j++) variance += (x[base + j] - mu) ** 2;
      variance /= cols;
      const rs = 1 / Math.sqrt(variance + eps);
      mean[r] = mu;
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[base + j] - mu) * rs;
        y[base + j] = xhat * (gamma ? gamma[j] : 1) + (beta ? beta[j] : 0);
      }
    }
  },

  layerNormBackward(x, gamma, mean, rstd, gy, rows, cols, gx, ggamma, gbeta) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      const mu = mean[r];
      const rs = rstd[r];
      // dxhat = gy * gamma; gx = rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
      let sumD = 0;
      let sumDX = 0;
      for (let j = 0; j < cols; j++) {
        const xhat = (x[base + j] - mu) * rs;
        const d = gy[base + j] * (gamma ? gamma[j] : 1);
        sumD += d;
        sumDX += d * xhat;
        if (ggamma) ggamma[j] += gy[base + j] * xhat;
        if (gbeta) gbeta[j] += gy[base + j];
      }
      for (let j = 0; j < cols; j++) {
        const xhat = (x[base + j] - mu) * rs;
        const d = gy[base + j] * (gamma ? gamma[j] : 1);
        gx[base + j] = rs * (d - sumD / cols - (xhat * sumDX) / cols);
      }
    }
  },

  rmsNorm(x, gamma, rows, cols, eps, y, rstd) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let ms = 0;
      for (let j = 0; j < cols; j++) ms += x[base + j] * x[base + j];
      const rs = 1 / Math.sqrt(ms / cols + eps);
      rstd[r] = rs;
      for (let j = 0; j < cols; j++) y[base + j] = x[base + j] * rs * (gamma ? gamma[j] : 1);
    }
  },

  rmsNormBackward(x, gamma, rstd, gy, rows, cols, gx, ggamma) {
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      const rs = rstd[r];
      // y_j = x_j * rs * g_j; dx_j = rs * (d_j - x_j * rs^2 * mean(d * x)), d = gy * g
      let sumDX = 0;
      for (let j = 0; j < cols; j++) {
        const d = gy[base + j] * (gamma ? gamma[j] : 1);
        sumDX += d * x[base + j];
        if (ggamma) ggamma[j] += gy[base + j] * x[base + j] * rs;
      }
      for (let j = 0; j < cols; j++) {
        const d = gy[base + j] * (gamma ? gamma[j] : 1);
        gx[base + j] = rs * (d - (x[base + j] * rs * rs * sumDX) / cols);
      }
    }
  },

  crossEntropy(logits, targets, rows, cols, ignoreIndex, loss, lse) {
    let bad = -1;
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      const l = logSumExp(logits, r * cols, cols);
      lse[r] = l;
      if (t === ignoreIndex) {
        loss[r] = 0;
      } else if (t < 0 || t >= cols) {
        loss[r] = 0;
        if (bad < 0) bad = r;
      } else {
        loss[r] = l - logits[r * cols + t];
      }
    }
    return bad;
  },

  crossEntropyBackward(logits, lse, targets, gloss, rows, cols, ignoreIndex, gx) {
    for (let r = 0; r < rows; r++) {
      const t = targets[r];
      const base = r * cols;
      if (t === ignoreIndex) {
        for (let j = 0; j < cols; j++) gx[base + j] = 0;
        continue;
      }
      for (let j = 0; j < cols; j++) {
        const p = Math.exp(logits[base + j] - lse[r]);
        gx[base + j] = gloss[r] * (p - (j === t ? 1 : 0));
      }
    }
  },

  bceWithLogits(x, y, loss, n) {
    for (let i = 0; i < n; i++) {
      const v = x[i];
      loss[i] = Math.max(v, 0) - v * y[i] + Math.log1p(Math.exp(-Math.abs(v)));
    }
  },

  bceWithLogitsBackward(x, y, gloss, gx, n) {
    for (let i = 0; i < n; i++) gx[i] = gloss[i] * (sigmoid(x[i]) - y[i]);
  },

  gather(table, V, C, ids, n, out) {
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (id < 0 || id >= V) return i;
      for (let c = 0; c < C; c++) out[i * C + c] = table[id * C + c];
    }
    return -1;
  },

  scatterAdd(g, ids, n, C, gtable) {
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      for (let c = 0; c < C; c++) gtable[id * C + c] += g[i * C + c];
    }
  },

  dropout(x, out, n, p, seed) {
    const threshold = dropoutThreshold(p);
    const scale = 1 / (1 - p);
    for (let i = 0; i < n; i++) out[i] = hash32(seed, i) >= threshold ? x[i] * scale : 0;
  },

  attention(a, out, lse) {
    const { B, H, Hkv, Tq, Tk, D, v, dropoutP, seed } = a;
    const scores = new Float64Array(Tk);
    const threshold = dropoutP > 0 ? dropoutThreshold(dropoutP) : 0;
    const keepScale = 1 / (1 - dropoutP);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv));
        for (let i = 0; i < Tq; i++) {
          attentionScores(a, b, h, i, scores);
          const rowLse = logSumExp(scores, 0, Tk);
          const row = (b * H + h) * Tq + i;
          lse[row] = rowLse;
          for (let d = 0; d < D; d++) {
            let acc = 0;
            if (rowLse !== -Infinity) {
              for (let j = 0; j < Tk; j++) {
                let p = Math.exp(scores[j] - rowLse);
                if (dropoutP > 0) p = hash32(seed, row * Tk + j) >= threshold ? p * keepScale : 0;
                acc += p * v[((b * Hkv + kvh) * Tk + j) * D + d];
              }
            }
            out[row * D + d] = acc;
          }
        }
      }
    }
  },

  attentionBackward(a, out, lse, gout, gq, gk, gv) {
    const { B, H, Hkv, Tq, Tk, D, q, k, v, scale, dropoutP, seed } = a;
    gq.fill(0);
    gk.fill(0);
    gv.fill(0);
    const scores = new Float64Array(Tk);
    const probs = new Float64Array(Tk);
    const dprobs = new Float64Array(Tk);
    const threshold = dropoutP > 0 ? dropoutThreshold(dropoutP) : 0;
    const keepScale = 1 / (1 - dropoutP);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv));
        for (let i = 0; i < Tq; i++) {
          const row = (b * H + h) * Tq + i;
          if (lse[row] === -Infinity) continue;
          attentionScores(a, b, h, i, scores);
          // P = softmax(scores); P' = dropout(P); out = P' V.
          // dP' = gout V^T; dP = dropout-backward(dP'); dS = P * (dP - sum_j dP_j P_j)... with the
          // identity sum_j dP_j P_j = sum_j dP'_j P'_j = gout . out.
          let rowDot = 0;
          for (let d = 0; d < D; d++) rowDot += gout[row * D + d] * out[row * D + d];
          for (let j = 0; j < Tk; j++) {
            const p = Math.exp(scores[j] - lse[row]);
            const kept = dropoutP > 0 ? (hash32(seed, row * Tk + j) >= threshold ? keepScale : 0) : 1;
            probs[j] = p * kept; // P'
            let dpPrime = 0;
            const vBase = ((b * Hkv + kvh) * Tk + j) * D;
            for (let d = 0; d < D; d++) dpPrime += gout[row * D + d] * v[vBase + d];
            dprobs[j] = p * (dpPrime * kept - rowDot); // dS_j
          }
          for (let j = 0; j < Tk; j++) {
            const kvBase = ((b * Hkv + kvh) * Tk + j) * D;
            for (let d = 0; d < D; d++) {
              gv[kvBase + d] += probs[j] * gout[row * D + d];
              gq[row * D + d] += dprobs[j] * k[kvBase + d] * scale;
              gk[kvBase + d] += dprobs[j] * q[row * D + d] * scale;
            }
          }
        }
      }
    }
  },

  adamw(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, step, gradScale) {
    const bc1 = 1 - Math.pow(beta1, step);
    const bc2 = 1 - Math.pow(beta2, step);
    for (let i = 0; i < n; i++) {
      const gi = g[i] * gradScale;
      p[i] -= lr * weightDecay * p[i];
      m[i] = beta1 * m[i] + (1 - beta1) * gi;
      v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
      p[i] -= (lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
    }
  },
};

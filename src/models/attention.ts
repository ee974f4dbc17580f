// Attention variants the fused kernel (F.attention: key padding mask + causal) does not cover, composed
// from primitives so autograd handles them: causal sliding windows (Mistral, Qwen2/3, Gemma 2/3, Phi-3:
// transformers' `kv_idx > q_idx - sliding_window`), ModernBERT's bidirectional |i - j| <= window/2, tanh soft-capping of the scores (Gemma 2), and an
// additive per-pair score bias (DeBERTa's relative positions). The fused kernel runs whenever none of
// them applies. Grouped-query attention is handled by viewing query heads per key/value head.
// Not here: projections, RoPE (the model files), the fused kernel itself (src/tensor/ops/nn.ts).

import { ShapeError } from '../errors.ts';
import { nextSeed } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';

/** float32's lowest value, the additive mask transformers uses (torch.finfo(float32).min). */
export const MASK_MIN = -3.4028234663852886e38;

export interface AttentionSpec {
  /** Key padding mask (B, Tk), float 1 = attend / 0 = padding, or null. */
  keyMask: Tensor | null;
  /** Query t (absolute index Tk - Tq + t) sees only keys j <= its index. */
  causal: boolean;
  /** Multiplier of q·k. */
  scale: number;
  /** Causal sliding window: key j is visible from query i only when i - j < window; null = no window. */
  window?: number | null;
  /** Bidirectional window: key j is visible from query i only when |i - j| <= halfWindow (ModernBERT's local layers). */
  halfWindow?: number | null;
  /** scores = softcap * tanh(scores / softcap) before masking; null = none. */
  softcap?: number | null;
  /** Added to the scaled scores before masking, broadcastable to (B, H, Tq, Tk). */
  bias?: Tensor | null;
  /**
   * (B or 1, 1, Tq, Tk) float, nonzero = masked: those scores are replaced by MASK_MIN (torch's masked_fill,
   * no gradient through them, so a fully masked row is uniform and passes no gradient back; DeBERTa).
   */
  fillMask?: Tensor | null;
  /** Dropout on the attention probabilities (training). */
  dropoutP?: number;
}

/** True when a causal window of `window` keys changes nothing for Tk keys (every key is within reach). */
function windowBinds(window: number | null | undefined, Tk: number): boolean {
  return window !== null && window !== undefined && Tk > window;
}

/**
 * The additive mask (B or 1, 1, 1, Tq, Tk): 0 where a query may attend, MASK_MIN elsewhere (padding,
 * future keys, keys beyond the sliding window).
 */
export function additiveMask(keyMask: Tensor | null, Tq: number, Tk: number, causal: boolean, window: number | null, like: Tensor, halfWindow: number | null = null): Tensor {
  const Bm = keyMask ? keyMask.shape[0] : 1;
  const km = keyMask ? F.contiguous(F.cast(keyMask, 'float32')).floatData : null;
  const out = new Float32Array(Bm * Tq * Tk);
  const past = Tk - Tq;
  for (let b = 0; b < Bm; b++) {
    for (let t = 0; t < Tq; t++) {
      const i = past + t;
      for (let j = 0; j < Tk; j++) {
        let ok = km === null || km[b * Tk + j] !== 0;
        if (causal && j > i) ok = false;
        if (window !== null && causal && i - j >= window) ok = false;
        if (halfWindow !== null && Math.abs(i - j) > halfWindow) ok = false;
        out[(b * Tq + t) * Tk + j] = ok ? 0 : MASK_MIN;
      }
    }
  }
  return F.cast(Tensor.from(out, [Bm, 1, 1, Tq, Tk], 'float32', like.backend), like.dtype);
}

/**
 * softmax(q kᵀ · scale [softcapped] + bias + mask) v for q (B, H, Tq, D), k and v (B, Hkv, Tk, D),
 * H a multiple of Hkv. Uses the fused kernel when no window binds, no soft-cap and no bias apply.
 * @example const y = maskedAttention(q, k, v, { keyMask, causal: true, scale: D ** -0.5, window: 4096 });
 */
export function maskedAttention(q: Tensor, k: Tensor, v: Tensor, spec: AttentionSpec): Tensor {
  const [B, H, Tq, D] = q.shape;
  const [, Hkv, Tk] = k.shape;
  if (H % Hkv !== 0) throw new ShapeError(`attention: ${H} query heads are not a multiple of ${Hkv} key/value heads`);
  const dropoutP = spec.dropoutP ?? 0;
  const softcap = spec.softcap ?? null;
  const bias = spec.bias ?? null;
  const fillMask = spec.fillMask ?? null;
  const binds = windowBinds(spec.window, Tk);
  const half = spec.halfWindow ?? null;
  const halfBinds = half !== null && Math.max(Tq, Tk) - 1 > half;
  if (!binds && !halfBinds && softcap === null && bias === null && fillMask === null) {
    return F.attention(q, k, v, { keyMask: spec.keyMask, causal: spec.causal, scale: spec.scale, dropoutP, seed: dropoutP > 0 ? nextSeed() : 0 });
  }
  const G = H / Hkv;
  // Query heads h = kv * G + g share key/value head kv (transformers' repeat_kv), so view q per kv head.
  const q5 = F.reshape(q, [B, Hkv, G * Tq, D]);
  let s = F.scale(F.matmul(q5, F.transpose(k, 2, 3)), spec.scale); // (B, Hkv, G*Tq, Tk)
  if (softcap !== null) s = F.scale(F.tanh(F.scale(s, 1 / softcap)), softcap);
  s = F.reshape(s, [B, Hkv, G, Tq, Tk]);
  if (bias !== null) {
    // bias broadcasts to (B, H, Tq, Tk); split its head axis the same way as the scores.
    const full = F.expand(bias, [B, H, Tq, Tk]);
    s = F.add(s, F.reshape(F.contiguous(full), [B, Hkv, G, Tq, Tk]));
  }
  if (fillMask !== null) s = F.maskedFill(s, F.reshape(fillMask, [fillMask.shape[0], 1, 1, Tq, Tk]), MASK_MIN);
  const needMask = spec.keyMask !== null || spec.causal || binds || halfBinds;
  if (needMask) s = F.add(s, additiveMask(spec.keyMask, Tq, Tk, spec.causal, binds ? (spec.window as number) : null, s, halfBinds ? half : null));
  let p = F.softmax(s);
  if (dropoutP > 0) p = F.dropout(p, dropoutP, nextSeed());
  const out = F.matmul(F.reshape(p, [B, Hkv, G * Tq, Tk]), v); // (B, Hkv, G*Tq, D)
  return F.reshape(out, [B, H, Tq, D]);
}

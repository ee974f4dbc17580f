// Next-token selection with transformers' logits processors, on one row of scores at a time:
// repetition penalty, then (when sampling) temperature, top-k and top-p, then argmax or a seeded draw.
// Pure functions over plain arrays; they mirror RepetitionPenaltyLogitsProcessor, TemperatureLogitsWarper,
// TopKLogitsWarper and TopPLogitsWarper. Not here: the decoding loop and KV cache (generate.ts).

import { ConfigError } from '../errors.ts';
import { Rng } from '../rng.ts';

/** How the next token is chosen. Defaults are transformers' GenerationConfig defaults. */
export interface SamplingOptions {
  /** Sample from the distribution instead of taking the argmax (default false: greedy). */
  doSample?: boolean;
  /** Divides the scores before sampling (default 1). */
  temperature?: number;
  /** Keep only the k highest scores before sampling (default 50, as transformers; 0 disables). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches top_p (default 1: disabled). */
  topP?: number;
  /** > 1 discourages tokens already in the sequence, prompt included (default 1: disabled). */
  repetitionPenalty?: number;
}

/** Checks option ranges the way transformers' GenerationConfig.validate does. */
export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature > 0)) {
    throw new ConfigError('temperature', `must be > 0, got ${o.temperature}; for deterministic output use greedy decoding (do_sample false)`);
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new ConfigError('top_k', `must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new ConfigError('top_p', `must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) {
    throw new ConfigError('repetition_penalty', `must be > 0, got ${o.repetitionPenalty}`);
  }
}

/** In place: scores of tokens in `seen` become score / penalty if positive, score * penalty if negative. */
export function applyRepetitionPenalty(scores: Float64Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) {
    if (id < 0 || id >= scores.length) continue;
    const s = scores[id];
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** In place: every score below the k-th highest becomes -Infinity (ties with the k-th are kept). */
export function applyTopK(scores: Float64Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const sorted = Float64Array.from(scores).sort();
  const kth = sorted[sorted.length - k];
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/**
 * In place: nucleus filtering. Sorting ascending, tokens whose cumulative probability is <= 1 - topP
 * are removed; the most likely token always stays.
 */
export function applyTopP(scores: Float64Array, topP: number): void {
  if (topP >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b] || a - b);
  const probs = softmax(scores);
  let cum = 0;
  for (let r = 0; r < order.length - 1; r++) {
    cum += probs[order[r]];
    if (cum <= 1 - topP) scores[order[r]] = -Infinity;
  }
}

/** Softmax of a row (float64). */
export function softmax(scores: Float64Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const out = new Float64Array(scores.length);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    out[i] = max === -Infinity ? 0 : Math.exp(scores[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** Index of the first maximum (torch.argmax). */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/**
 * Chooses the next token from one row of logits. `seen` is the sequence so far (for the repetition
 * penalty); `rng` draws when sampling.
 * @example const id = nextToken(row, ids, { doSample: true, temperature: 0.8, topP: 0.9 }, Rng.fromSeed(42));
 */
export function nextToken(logits: ArrayLike<number>, seen: Iterable<number>, o: SamplingOptions, rng: Rng): number {
  const scores = Float64Array.from(logits as ArrayLike<number>);
  applyRepetitionPenalty(scores, seen, o.repetitionPenalty ?? 1);
  if (!(o.doSample ?? false)) return argmax(scores);
  const t = o.temperature ?? 1;
  if (t !== 1) for (let i = 0; i < scores.length; i++) scores[i] /= t;
  applyTopK(scores, o.topK ?? 50);
  applyTopP(scores, o.topP ?? 1);
  const probs = softmax(scores);
  const u = rng.nextFloat();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    cum += probs[i];
    last = i;
    if (u < cum) return i;
  }
  return last; // rounding left u above the final cumulative sum
}

export { Rng };

// What decoder-only models (gpt2.ts, llama.ts) share and what generation needs from them: the
// CausalLM interface, the KV cache, replaceable projections (so LoRA's replaceChild takes effect),
// attention-mask and position helpers, the shifted causal-LM loss and last-non-padding-token pooling
// as transformers computes them. Not here: a model family (its own file), sampling (src/generate/sampling.ts),
// encoder-shared pieces (src/models/common.ts, heads.ts).

import { ModelError, ShapeError } from '../errors.ts';
import type { Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';

/** A module with `forward(x)`, e.g. Linear or a LoRA-wrapped Linear. */
export type Projection = Module & { forward(x: Tensor): Tensor };

/**
 * The child `name` of `parent`, looked up at call time, so a child swapped by replaceChild (LoRA)
 * is the one that runs.
 */
export function projection(parent: Module, name: string): Projection {
  for (const [n, m] of parent.namedChildren()) {
    if (n === name) {
      if (!('forward' in m) || typeof m.forward !== 'function') throw new ModelError(`child "${name}" has no forward(x)`);
      return m as Projection;
    }
  }
  throw new ModelError(`no child module "${name}"`);
}

/** Per-layer cached keys and values, (B, Hkv, Tpast, D) each. */
export interface LayerKV {
  k: Tensor;
  v: Tensor;
}

/**
 * Keys and values of the tokens seen so far, one entry per layer. Its tensors live outside tidy()
 * scopes; call dispose() when generation ends.
 * @example const cache = model.newCache(); model.logits({ inputIds, cache }); cache.dispose();
 */
export class KVCache {
  private readonly layers: (LayerKV | null)[];
  constructor(numLayers: number) {
    this.layers = new Array<LayerKV | null>(numLayers).fill(null);
  }

  /** Number of cached positions. */
  get length(): number {
    return this.layers[0]?.k.shape[2] ?? 0;
  }

  /** Appends this step's k, v (B, Hkv, T, D) to layer `i` and returns the full keys and values. */
  append(i: number, k: Tensor, v: Tensor): LayerKV {
    const past = this.layers[i];
    const full = past
      ? { k: F.concat([past.k, k], 2), v: F.concat([past.v, v], 2) }
      : { k: F.contiguous(k), v: F.contiguous(v) };
    // The cache keeps its own handles so the step's tidy() may dispose the ones it returns to attention.
    const kept = F.untracked(() => ({ k: full.k.viewOf(full.k.shape, full.k.strides, full.k.offset), v: full.v.viewOf(full.v.shape, full.v.strides, full.v.offset) }));
    if (past) {
      past.k.dispose();
      past.v.dispose();
    }
    this.layers[i] = kept;
    return full;
  }

  /** Frees every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers.fill(null);
  }
}

/** Inputs of one decoder forward pass. */
export interface DecoderInputs {
  /** int32 (B, T). */
  inputIds: Tensor;
  /** int32 (B, Tpast + T), 1 = token, 0 = padding; null = all tokens. */
  attentionMask?: Tensor | null;
  /** int32 (B, T) or (1, T); null = Tpast, Tpast+1, ... */
  positionIds?: Tensor | null;
  /** Appended to and read from when given (generation). */
  cache?: KVCache | null;
  /** Compute logits for the last position only, (B, 1, V) (generation). */
  lastOnly?: boolean;
}

/** A decoder-only language model that generation can drive. */
export interface CausalLM extends Module {
  readonly numLayers: number;
  readonly vocabSize: number;
  /** Token ids that end generation by default (config eos_token_id). */
  readonly eosTokenIds: number[];
  readonly padTokenId: number | null;
  /** Next-token logits (B, T, V) for every input position. */
  logits(inputs: DecoderInputs): Tensor;
  newCache(): KVCache;
  /**
   * True when cached keys/values of `past` positions must be recomputed before extending the sequence to
   * `total` positions (Phi-3's longrope switches RoPE factors past original_max_position_embeddings, and
   * transformers' prepare_inputs_for_generation drops the cache then). Absent = never.
   */
  cacheInvalidAt?(past: number, total: number): boolean;
}

/** An int32 tensor from plain numbers. */
export function intTensor(values: ArrayLike<number>, shape: readonly number[]): Tensor {
  return Tensor.from(Int32Array.from(values as ArrayLike<number>), shape, 'int32');
}

/** The attention kernel's key mask (B, Tk), in the hidden states' dtype, from a 0/1 attention mask, or null. */
export function decoderKeyMask(attentionMask: Tensor | null | undefined, B: number, Tk: number, like: Tensor): Tensor | null {
  if (!attentionMask) return null;
  if (attentionMask.ndim !== 2 || attentionMask.shape[0] !== B || attentionMask.shape[1] !== Tk) {
    throw new ShapeError(`attention_mask ${attentionMask.describe()} must be [${B}, ${Tk}] (batch, past + new tokens)`);
  }
  return attentionMask.dtype === like.dtype ? attentionMask : F.cast(attentionMask, like.dtype);
}

/** Positions Tpast .. Tpast+T-1 as int32 (1, T), transformers' default `position_ids`. */
export function defaultPositions(past: number, T: number): Tensor {
  const p = new Int32Array(T);
  for (let t = 0; t < T; t++) p[t] = past + t;
  return Tensor.from(p, [1, T], 'int32');
}

/** Contiguous int32 values of a tensor. */
export function intValues(t: Tensor): Int32Array {
  if (t.dtype !== 'int32') throw new ShapeError(`expected int32 ids, got ${t.describe()}`);
  return F.contiguous(t).intData;
}

/**
 * transformers' causal-LM loss: the logits at position t predict labels[t+1]; labels -100 are
 * ignored; mean over the rest. logits (B, T, V), labels int32 (B, T) (unshifted).
 */
export function causalLmLoss(logits: Tensor, labels: Tensor): Tensor {
  const [B, T] = logits.shape;
  if (labels.ndim !== 2 || labels.shape[0] !== B || labels.shape[1] !== T) {
    throw new ShapeError(`causal LM labels ${labels.describe()} must be [${B}, ${T}] like input_ids`);
  }
  const l = intValues(labels);
  const shifted = new Int32Array(B * T).fill(-100);
  for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) shifted[b * T + t] = l[b * T + t + 1];
  return F.crossEntropy(logits, Tensor.from(shifted, [B, T], 'int32'), { ignoreIndex: -100 });
}

/**
 * Index of the last token of each row that is not `padTokenId` (transformers' sequence-classification
 * pooling: the rightmost non-pad position, 0 for an all-pad row). Without a pad id, the last position,
 * and only for batch size 1, as transformers insists.
 */
export function lastNonPadIndex(inputIds: Tensor, padTokenId: number | null): number[] {
  const [B, T] = inputIds.shape;
  if (padTokenId === null) {
    if (B !== 1) throw new ModelError('cannot pick each row\'s last token in a batch without a padding token: set pad_token_id in config.json (e.g. to eos_token_id)');
    return [T - 1];
  }
  const ids = intValues(inputIds);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    let last = 0;
    for (let t = 0; t < T; t++) if (ids[b * T + t] !== padTokenId) last = t;
    out.push(last);
  }
  return out;
}

/** Rows hidden[b, index[b]] of (B, T, C) → (B, C), differentiable (a gather through embedding). */
export function gatherPositions(hidden: Tensor, index: readonly number[]): Tensor {
  const [B, T, C] = hidden.shape;
  const flat = F.reshape(hidden, [B * T, C]);
  return F.embedding(flat, intTensor(index.map((t, b) => b * T + t), [B]));
}

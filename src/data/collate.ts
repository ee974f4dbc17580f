// Dynamic padding: a list of tokenised examples → one batch of row-major typed arrays (B × T), padded
// to the longest example in the batch (optionally rounded up to a multiple), with the attention mask,
// token type ids and labels laid out the way transformers' collators do (-100 where the loss ignores).
// Also the word → sub-token label alignment used for token classification.
// Not here: tokenisation, truncation, or building tensors from these arrays.

import { DataError } from '../errors.ts';

/** The label index the losses ignore (transformers' convention). */
export const IGNORE_INDEX = -100;

/** One tokenised example. Give at most one kind of label. */
export interface Features {
  inputIds: ArrayLike<number>;
  tokenTypeIds?: ArrayLike<number>;
  /** Defaults to 1 for every real token. */
  attentionMask?: ArrayLike<number>;
  /** Sequence classification: the class id. */
  label?: number;
  /** Per-token labels (token classification, language modelling), same length as inputIds; -100 = ignore. */
  tokenLabels?: ArrayLike<number>;
  /** Multi-label: one 0/1 value per class. */
  labelVector?: ArrayLike<number>;
  /** Regression target. */
  target?: number;
  /** Extractive QA: token positions of the answer span (0 = the CLS token when there is none). */
  startPosition?: number;
  endPosition?: number;
}

/** A padded batch. All 2-D arrays are row-major (B × T). */
export interface Batch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  attentionMask: Int32Array;
  tokenTypeIds?: Int32Array;
  /** (B) class ids, or (B × T) per-token labels with -100 on padding. See `labelShape`. */
  labels?: Int32Array;
  labelShape?: [number] | [number, number];
  /** (B) regression targets or (B × K) multi-hot labels. See `floatLabelShape`. */
  floatLabels?: Float32Array;
  floatLabelShape?: [number] | [number, number];
  startPositions?: Int32Array;
  endPositions?: Int32Array;
}

/** Padding options. */
export interface CollateOptions {
  /** The tokenizer's pad token id. */
  padTokenId: number;
  /** Round the padded length up to a multiple of this (e.g. 8). */
  padToMultipleOf?: number;
  /** Pad on the 'right' (default) or the 'left' (for batched generation with decoder models). */
  paddingSide?: 'right' | 'left';
}

type LabelKind = 'label' | 'tokenLabels' | 'labelVector' | 'target' | 'span' | 'none';

function labelKind(f: Features): LabelKind {
  const kinds: LabelKind[] = [];
  if (f.label !== undefined) kinds.push('label');
  if (f.tokenLabels !== undefined) kinds.push('tokenLabels');
  if (f.labelVector !== undefined) kinds.push('labelVector');
  if (f.target !== undefined) kinds.push('target');
  if (f.startPosition !== undefined || f.endPosition !== undefined) kinds.push('span');
  if (kinds.length > 1) throw new DataError(`an example has several kinds of labels (${kinds.join(', ')}); give one`);
  return kinds[0] ?? 'none';
}

/**
 * Pad a list of examples into a batch.
 *
 * @example
 * const batch = collate([{ inputIds: [101, 7, 102], label: 1 }, { inputIds: [101, 102], label: 0 }], { padTokenId: 0 });
 * // batch.inputIds = [101,7,102, 101,102,0], batch.attentionMask = [1,1,1, 1,1,0], batch.labels = [1, 0]
 */
export function collate(features: readonly Features[], opts: CollateOptions): Batch {
  const B = features.length;
  if (B === 0) throw new DataError('cannot collate an empty batch');
  const kind = labelKind(features[0] as Features);
  let T = 0;
  features.forEach((f, b) => {
    if (labelKind(f) !== kind) throw new DataError(`batch mixes label kinds: example 0 has ${kind}, example ${b} has ${labelKind(f)}`);
    const n = f.inputIds.length;
    if (f.tokenTypeIds !== undefined && f.tokenTypeIds.length !== n) throw new DataError(`example ${b}: ${n} input ids but ${f.tokenTypeIds.length} token type ids`);
    if (f.attentionMask !== undefined && f.attentionMask.length !== n) throw new DataError(`example ${b}: ${n} input ids but ${f.attentionMask.length} attention mask values`);
    if (f.tokenLabels !== undefined && f.tokenLabels.length !== n) throw new DataError(`example ${b}: ${n} input ids but ${f.tokenLabels.length} token labels`);
    if (n > T) T = n;
  });
  const mult = opts.padToMultipleOf;
  if (mult !== undefined && mult > 1) T = Math.ceil(T / mult) * mult;
  const left = opts.paddingSide === 'left';
  const withTypes = features.some((f) => f.tokenTypeIds !== undefined);

  const inputIds = new Int32Array(B * T).fill(opts.padTokenId);
  const attentionMask = new Int32Array(B * T);
  const tokenTypeIds = withTypes ? new Int32Array(B * T) : undefined;
  const tokenLabels = kind === 'tokenLabels' ? new Int32Array(B * T).fill(IGNORE_INDEX) : undefined;

  features.forEach((f, b) => {
    const n = f.inputIds.length;
    const off = b * T + (left ? T - n : 0);
    for (let t = 0; t < n; t++) {
      inputIds[off + t] = f.inputIds[t] as number;
      attentionMask[off + t] = f.attentionMask !== undefined ? (f.attentionMask[t] as number) : 1;
      if (tokenTypeIds !== undefined && f.tokenTypeIds !== undefined) tokenTypeIds[off + t] = f.tokenTypeIds[t] as number;
      if (tokenLabels !== undefined && f.tokenLabels !== undefined) tokenLabels[off + t] = f.tokenLabels[t] as number;
    }
  });

  const batch: Batch = { batchSize: B, seqLen: T, inputIds, attentionMask };
  if (tokenTypeIds !== undefined) batch.tokenTypeIds = tokenTypeIds;
  switch (kind) {
    case 'label':
      batch.labels = Int32Array.from(features, (f) => f.label as number);
      batch.labelShape = [B];
      break;
    case 'tokenLabels':
      batch.labels = tokenLabels as Int32Array;
      batch.labelShape = [B, T];
      break;
    case 'target':
      batch.floatLabels = Float32Array.from(features, (f) => f.target as number);
      batch.floatLabelShape = [B];
      break;
    case 'labelVector': {
      const K = (features[0] as Features).labelVector?.length ?? 0;
      const out = new Float32Array(B * K);
      features.forEach((f, b) => {
        const v = f.labelVector as ArrayLike<number>;
        if (v.length !== K) throw new DataError(`example ${b} has ${v.length} label values, example 0 has ${K}`);
        for (let k = 0; k < K; k++) out[b * K + k] = v[k] as number;
      });
      batch.floatLabels = out;
      batch.floatLabelShape = [B, K];
      break;
    }
    case 'span':
      batch.startPositions = Int32Array.from(features, (f) => f.startPosition ?? 0);
      batch.endPositions = Int32Array.from(features, (f) => f.endPosition ?? 0);
      break;
    case 'none':
      break;
  }
  return batch;
}

/**
 * Word tags → sub-token labels, as transformers' token-classification examples align them: the first
 * sub-token of each word gets the word's label, other sub-tokens and special tokens (word id null)
 * get -100 — or, with `labelAllSubTokens`, every sub-token gets its word's label.
 *
 * @example
 * alignWordLabels([null, 0, 0, 1, null], [3, 5]) // Int32Array [-100, 3, -100, 5, -100]
 */
export function alignWordLabels(
  wordIds: readonly (number | null)[],
  wordLabels: ArrayLike<number>,
  opts: { labelAllSubTokens?: boolean } = {},
): Int32Array {
  const out = new Int32Array(wordIds.length);
  let prev: number | null = null;
  wordIds.forEach((w, t) => {
    if (w === null) out[t] = IGNORE_INDEX;
    else {
      if (w < 0 || w >= wordLabels.length) throw new DataError(`word id ${w} at token ${t} is outside the ${wordLabels.length} word labels`);
      out[t] = w !== prev || opts.labelAllSubTokens ? (wordLabels[w] as number) : IGNORE_INDEX;
    }
    prev = w;
  });
  return out;
}

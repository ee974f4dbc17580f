// Extractive-QA preparation that needs no tokenizer internals: cutting a long context's tokens into
// overlapping windows (a `stride` of shared tokens, as transformers' `return_overflowing_tokens` does),
// and turning an answer's character span into start/end token positions within one window, with the
// CLS position when the answer is not wholly inside it (transformers' run_qa `prepare_train_features`).
// Not here: tokenisation or adding special tokens (the tokenizer's job); choosing answers (src/eval/qa.ts).

import { ConfigError } from '../errors.ts';

/**
 * Token ranges [start, end) of the windows over `length` context tokens: each at most `maxTokens`
 * long, consecutive windows sharing `stride` tokens, the last one reaching the end.
 *
 * @example
 * contextWindows(10, 4, 1) // [[0, 4], [3, 7], [6, 10]]
 */
export function contextWindows(length: number, maxTokens: number, stride: number): [number, number][] {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError('max_length', `leaves no room for the context (${maxTokens} tokens)`);
  if (!Number.isInteger(stride) || stride < 0 || stride >= maxTokens) {
    throw new ConfigError('doc_stride', `must be an integer in 0..${maxTokens - 1} (the context tokens per window), got ${stride}`);
  }
  const out: [number, number][] = [];
  for (let start = 0; ; start += maxTokens - stride) {
    const end = Math.min(start + maxTokens, length);
    out.push([start, end]);
    if (end >= length) break;
  }
  return out;
}

/**
 * Start/end token positions of an answer inside one window. `offsets[t]` is token t's [start, end)
 * character span in the context and `sequenceIds[t]` says which sequence it belongs to (null for
 * special tokens). When the answer is not entirely inside the window's context tokens, both positions
 * are `clsIndex` (the model learns "no answer here"). An empty answer text (unanswerable) does the same.
 *
 * @example
 * // [CLS] who ? [SEP] Denver Broncos won [SEP]; answer "Broncos" at character 7
 * answerTokenPositions([null, [0,3], [4,5], null, [0,6], [7,14], [15,18], null],
 *                      [null, 0, 0, null, 1, 1, 1, null], 7, 'Broncos') // { startPosition: 5, endPosition: 5 }
 */
export function answerTokenPositions(
  offsets: readonly (readonly [number, number] | null)[],
  sequenceIds: readonly (number | null)[],
  answerStart: number,
  answerText: string,
  opts: { contextSequenceId?: number; clsIndex?: number } = {},
): { startPosition: number; endPosition: number } {
  const ctx = opts.contextSequenceId ?? 1;
  const cls = opts.clsIndex ?? 0;
  const none = { startPosition: cls, endPosition: cls };
  if (answerText.length === 0) return none;
  const answerEnd = answerStart + answerText.length;
  let first = 0;
  while (first < sequenceIds.length && sequenceIds[first] !== ctx) first++;
  let last = sequenceIds.length - 1;
  while (last >= 0 && sequenceIds[last] !== ctx) last--;
  if (first > last) return none;
  const firstSpan = offsets[first];
  const lastSpan = offsets[last];
  if (!firstSpan || !lastSpan || firstSpan[0] > answerStart || lastSpan[1] < answerEnd) return none;
  // Move in from both ends of the context to the tokens that hold the answer's first and last character.
  let s = first;
  while (s < last && (offsets[s + 1] as readonly [number, number])[0] <= answerStart) s++;
  let e = last;
  while (e > first && (offsets[e - 1] as readonly [number, number])[1] >= answerEnd) e--;
  return { startPosition: s, endPosition: e };
}

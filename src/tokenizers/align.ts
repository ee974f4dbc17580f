// Label alignment for token classification: word-level labels → one label per token (label on the
// first sub-token of each word, -100 elsewhere and on special/padding tokens), as the HF recipe does.
// Not here: the dataset or collator that call it.

import { DataError } from '../errors.ts';

/**
 * Aligns word labels to tokens using an encoding's `wordIds`.
 * @example
 * const enc = tok.encode(['New', 'York', 'rocks'], null);
 * alignWordLabels(enc.wordIds, [1, 2, 0]); // e.g. [-100, 1, 2, 0, -100] for [CLS] new york rocks [SEP]
 */
export function alignWordLabels(wordIds: ReadonlyArray<number | null>, wordLabels: readonly number[], opts: { labelAllTokens?: boolean; ignoreIndex?: number } = {}): number[] {
  const ignore = opts.ignoreIndex ?? -100;
  let prev: number | null = null;
  return wordIds.map((w) => {
    if (w === null) {
      prev = null;
      return ignore;
    }
    const label = wordLabels[w];
    if (label === undefined) throw new DataError(`alignWordLabels: token belongs to word ${w} but only ${wordLabels.length} word labels were given`);
    const first = w !== prev;
    prev = w;
    return first || opts.labelAllTokens ? label : ignore;
  });
}

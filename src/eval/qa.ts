// Extractive QA post-processing: from the start/end logits of an example's windows (features) to the
// answer text, as transformers' `postprocess_qa_predictions` does — the n best starts × n best ends
// inside the context, end ≥ start, at most `maxAnswerLength` tokens, score = start + end logit; with
// SQuAD v2, the empty answer wins when the CLS score beats the best span by more than a threshold.
// Not here: tokenisation/windowing, or scoring (squad.ts).

import { DataError } from '../errors.ts';

/** One window of an example: logits per token and each token's character span in the context. */
export interface QaFeatureOutput {
  startLogits: ArrayLike<number>;
  endLogits: ArrayLike<number>;
  /** [start, end) character offsets into the context, or null for tokens outside the context. */
  offsets: readonly ([number, number] | null)[];
}

/** The chosen answer. An empty text means "no answer" (v2). */
export interface QaAnswer {
  text: string;
  score: number;
  /** Character span in the context ([-1, -1] for no answer). */
  start: number;
  end: number;
}

/** Options, with transformers' defaults. */
export interface QaPostprocessOptions {
  nBest?: number;
  maxAnswerLength?: number;
  /** SQuAD v2: allow the empty answer. */
  allowNoAnswer?: boolean;
  /** Empty answer when nullScore − bestSpanScore > this. */
  nullScoreDiffThreshold?: number;
}

function topIndices(values: ArrayLike<number>, n: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => (values[b] as number) - (values[a] as number) || a - b)
    .slice(0, n);
}

/**
 * Choose the best answer span for one example from all of its features.
 *
 * @example
 * const ans = bestAnswer(context, [{ startLogits, endLogits, offsets }]);
 * squad.update(ans.text, example.answers.text);
 */
export function bestAnswer(context: string, features: readonly QaFeatureOutput[], opts: QaPostprocessOptions = {}): QaAnswer {
  const nBest = opts.nBest ?? 20;
  const maxLen = opts.maxAnswerLength ?? 30;
  let best: QaAnswer | null = null;
  let minNull = Infinity;
  for (const f of features) {
    const T = f.offsets.length;
    if (f.startLogits.length !== T || f.endLogits.length !== T) {
      throw new DataError(`QA feature has ${f.startLogits.length} start logits, ${f.endLogits.length} end logits and ${T} offsets`);
    }
    const nullScore = (f.startLogits[0] as number) + (f.endLogits[0] as number);
    if (nullScore < minNull) minNull = nullScore;
    for (const s of topIndices(f.startLogits, nBest)) {
      const so = f.offsets[s];
      if (so === null || so === undefined) continue;
      for (const e of topIndices(f.endLogits, nBest)) {
        const eo = f.offsets[e];
        if (eo === null || eo === undefined || e < s || e - s + 1 > maxLen) continue;
        const score = (f.startLogits[s] as number) + (f.endLogits[e] as number);
        if (best === null || score > best.score) best = { text: context.slice(so[0], eo[1]), score, start: so[0], end: eo[1] };
      }
    }
  }
  if (opts.allowNoAnswer && (best === null || minNull - best.score > (opts.nullScoreDiffThreshold ?? 0))) {
    return { text: '', score: minNull, start: -1, end: -1 };
  }
  return best ?? { text: '', score: -Infinity, start: -1, end: -1 };
}

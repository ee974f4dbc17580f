// Post-processing of model outputs into Hugging Face pipeline results, as pure functions over plain
// arrays: softmax / sigmoid scores for text classification, entity gathering and aggregation for token
// classification (none / simple / first / average / max), answer-span decoding for question answering
// and top-k for fill-mask, each following transformers' pipelines step by step. Not here: tokenizing or
// running a model (pipeline.ts, tasks/*.ts).

import type { ProblemType } from '../models/types.ts';

/** Numerically stable softmax of one row (max subtracted first, as transformers does). */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]!);
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += out[i] = Math.exp(row[i]! - max);
  for (let i = 0; i < row.length; i++) out[i]! /= sum;
  return out;
}

/** Elementwise logistic sigmoid. */
export function sigmoid(row: ArrayLike<number>): Float64Array {
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = 1 / (1 + Math.exp(-row[i]!));
  return out;
}

/** Index of the largest value (first on ties, as numpy's argmax). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Label name of class `i`, or transformers' default `LABEL_i`. */
export function labelOf(id2label: Readonly<Record<number, string>>, i: number): string {
  return id2label[i] ?? `LABEL_${i}`;
}

// ---- text classification -------------------------------------------------------------------------

/** transformers' ClassificationFunction. */
export type ClassificationFunction = 'softmax' | 'sigmoid' | 'none';

/** One `{label, score}` pair, as transformers' text-classification pipeline returns. */
export interface LabelScore {
  label: string;
  score: number;
}

/** A text-classification result: the best `{label, score}` plus every label's score, best first. */
export interface ClassificationResult extends LabelScore {
  scores: LabelScore[];
}

/**
 * The function transformers applies by default: none for regression, sigmoid for multi-label or a
 * single output, softmax otherwise.
 */
export function defaultClassificationFunction(problemType: ProblemType | null, numLabels: number): ClassificationFunction {
  if (problemType === 'regression') return 'none';
  if (problemType === 'multi_label_classification' || numLabels === 1) return 'sigmoid';
  return 'softmax';
}

/**
 * Turns one row of logits into a classification result (scores sorted descending, as top_k=None).
 *
 * @example classify([2, 0], { 0: 'NEG', 1: 'POS' }, 'softmax') // { label: 'NEG', score: 0.8808, scores: [...] }
 */
export function classify(logits: ArrayLike<number>, id2label: Readonly<Record<number, string>>, fn: ClassificationFunction): ClassificationResult {
  const values = fn === 'softmax' ? softmax(logits) : fn === 'sigmoid' ? sigmoid(logits) : Float64Array.from(logits);
  const scores = Array.from(values, (score, i) => ({ label: labelOf(id2label, i), score }));
  // Stable sort: equal scores keep label order, as numpy's argsort(kind='stable') on -scores.
  scores.sort((a, b) => b.score - a.score);
  return { label: scores[0]!.label, score: scores[0]!.score, scores };
}

// ---- token classification ------------------------------------------------------------------------

/** transformers' AggregationStrategy. */
export type AggregationStrategy = 'none' | 'simple' | 'first' | 'average' | 'max';
export const AGGREGATION_STRATEGIES: readonly AggregationStrategy[] = ['none', 'simple', 'first', 'average', 'max'];

/** One token before aggregation (transformers' pre_entity). */
export interface PreEntity {
  word: string;
  scores: ArrayLike<number>;
  start: number | null;
  end: number | null;
  index: number;
  isSubword: boolean;
}

/** A token-level entity (aggregation "none"). */
export interface TokenEntity {
  entity: string;
  score: number;
  index: number;
  word: string;
  start: number | null;
  end: number | null;
}

/** A grouped entity (aggregation "simple", "first", "average", "max"). */
export interface GroupedEntity {
  entity_group: string;
  score: number;
  word: string;
  start: number | null;
  end: number | null;
}

/** What gatherPreEntities needs from the encoding of one sentence. */
export interface TokenRow {
  ids: readonly number[];
  tokens: readonly string[];
  /** [start, end) code-point offsets into the sentence. */
  offsets: ReadonlyArray<readonly [number, number]>;
  specialTokensMask: readonly number[];
}

/**
 * transformers' gather_pre_entities: drops special tokens and marks sub-words. With a tokenizer that
 * has a continuing-subword prefix (WordPiece "##") a token is a sub-word when its text is longer than
 * the span it covers; otherwise the heuristic is "no space just before or at its start".
 * `chars` is the sentence as code points (offsets index it).
 */
export function gatherPreEntities(
  chars: readonly string[],
  row: TokenRow,
  scores: ReadonlyArray<ArrayLike<number>>,
  opts: { hasSubwordPrefix: boolean; unkTokenId: number | null },
): PreEntity[] {
  const out: PreEntity[] = [];
  for (let idx = 0; idx < scores.length; idx++) {
    if (row.specialTokensMask[idx]) continue;
    let word = row.tokens[idx]!;
    const [start, end] = row.offsets[idx]!;
    const wordRef = chars.slice(start, end).join('');
    // Heuristic without a prefix: neither the character before the token nor its first one is a space.
    let isSubword = opts.hasSubwordPrefix ? [...word].length !== end - start : start > 0 && chars[start - 1] !== ' ' && chars[start] !== ' ';
    if (row.ids[idx] === opts.unkTokenId) {
      word = wordRef;
      isSubword = false;
    }
    out.push({ word, scores: scores[idx]!, start, end, index: idx, isSubword });
  }
  return out;
}

/** B-/I- prefix and tag of a label (no prefix counts as I-, as transformers' get_tag). */
function getTag(name: string): [string, string] {
  if (name.startsWith('B-')) return ['B', name.slice(2)];
  if (name.startsWith('I-')) return ['I', name.slice(2)];
  return ['I', name];
}

function mean(xs: readonly number[]): number {
  const ok = xs.filter((x) => !Number.isNaN(x));
  return ok.reduce((a, b) => a + b, 0) / ok.length;
}

/**
 * transformers' aggregate (+ aggregate_words + group_entities): token entities for "none", grouped
 * entities otherwise. `tokensToString` is the tokenizer's convert_tokens_to_string.
 */
export function aggregateEntities(
  pre: readonly PreEntity[],
  strategy: AggregationStrategy,
  id2label: Readonly<Record<number, string>>,
  tokensToString: (tokens: string[]) => string,
): TokenEntity[] | GroupedEntity[] {
  let entities: Array<TokenEntity | Omit<TokenEntity, 'index'>>;
  if (strategy === 'none' || strategy === 'simple') {
    entities = pre.map((p) => {
      const i = argmax(p.scores);
      return { entity: labelOf(id2label, i), score: p.scores[i]!, index: p.index, word: p.word, start: p.start, end: p.end };
    });
    if (strategy === 'none') return entities as TokenEntity[];
  } else {
    entities = [];
    let group: PreEntity[] = [];
    for (const p of pre) {
      if (group.length > 0 && !p.isSubword) {
        entities.push(aggregateWord(group, strategy, id2label, tokensToString));
        group = [];
      }
      group.push(p);
    }
    if (group.length > 0) entities.push(aggregateWord(group, strategy, id2label, tokensToString));
  }
  return groupEntities(entities, tokensToString);
}

function aggregateWord(
  group: readonly PreEntity[],
  strategy: 'first' | 'average' | 'max',
  id2label: Readonly<Record<number, string>>,
  tokensToString: (tokens: string[]) => string,
): Omit<TokenEntity, 'index'> {
  let scores: ArrayLike<number>;
  if (strategy === 'first') scores = group[0]!.scores;
  else if (strategy === 'max') {
    let best = group[0]!;
    for (const g of group) if (Math.max(...Array.from(g.scores)) > Math.max(...Array.from(best.scores))) best = g;
    scores = best.scores;
  } else {
    const n = group[0]!.scores.length;
    const avg = new Float64Array(n);
    for (let j = 0; j < n; j++) avg[j] = mean(group.map((g) => g.scores[j]!));
    scores = avg;
  }
  const i = argmax(scores);
  return {
    entity: labelOf(id2label, i),
    score: scores[i]!,
    word: tokensToString(group.map((g) => g.word)),
    start: group[0]!.start,
    end: group[group.length - 1]!.end,
  };
}

function groupEntities(entities: ReadonlyArray<Omit<TokenEntity, 'index'>>, tokensToString: (tokens: string[]) => string): GroupedEntity[] {
  const groups: GroupedEntity[] = [];
  let current: Array<Omit<TokenEntity, 'index'>> = [];
  const flush = () => {
    if (current.length === 0) return;
    groups.push({
      entity_group: current[0]!.entity.split('-').pop()!,
      score: mean(current.map((e) => e.score)),
      word: tokensToString(current.map((e) => e.word)),
      start: current[0]!.start,
      end: current[current.length - 1]!.end,
    });
    current = [];
  };
  for (const e of entities) {
    if (current.length > 0) {
      const [bi, tag] = getTag(e.entity);
      const [, lastTag] = getTag(current[current.length - 1]!.entity);
      if (!(tag === lastTag && bi !== 'B')) flush();
    }
    current.push(e);
  }
  flush();
  return groups;
}

// ---- question answering --------------------------------------------------------------------------

/** One candidate span in token indices with its score (start prob × end prob). */
export interface SpanCandidate {
  start: number;
  end: number;
  score: number;
}

/**
 * transformers' select_starts_ends + decode_spans for one feature: masks tokens outside the context
 * (`contextMask[i]` false) with -10000, softmaxes start and end logits, zeroes position 0 (the CLS
 * token), and returns the `topK` best spans with start ≤ end < start + maxAnswerLen inside the
 * context, plus the null score (start[0] × end[0] before zeroing) for impossible answers.
 */
export function selectSpans(
  startLogits: ArrayLike<number>,
  endLogits: ArrayLike<number>,
  contextMask: readonly boolean[],
  opts: { topK: number; maxAnswerLen: number; unmaskIndex?: number | null },
): { spans: SpanCandidate[]; nullScore: number } {
  const T = contextMask.length;
  // p_mask is 0 for context tokens and for the CLS token (unmaskIndex); undesired = not those.
  const desired = contextMask.map((c, i) => c || i === opts.unmaskIndex);
  const masked = (l: ArrayLike<number>) => Float64Array.from({ length: T }, (_, i) => (desired[i] ? l[i]! : -10000));
  const start = softmax(masked(startLogits));
  const end = softmax(masked(endLogits));
  const nullScore = start[0]! * end[0]!;
  start[0] = 0;
  end[0] = 0;
  // The top-k of the outer product restricted to the band 0 ≤ e − s < maxAnswerLen (np.tril(np.triu(...))).
  const cands: SpanCandidate[] = [];
  for (let s = 0; s < T; s++) {
    for (let e = s; e < Math.min(T, s + opts.maxAnswerLen); e++) cands.push({ start: s, end: e, score: start[s]! * end[e]! });
  }
  // numpy's argmax / argsort pick the first index on ties (row-major order); a stable sort does the same.
  cands.sort((a, b) => b.score - a.score);
  const spans = cands.slice(0, opts.topK).filter((c) => desired[c.start] && desired[c.end]);
  return { spans, nullScore };
}

// ---- fill-mask -----------------------------------------------------------------------------------

/** The `topK` (index, probability) pairs of a softmaxed row, best first. */
export function topK(row: ArrayLike<number>, k: number): Array<{ index: number; score: number }> {
  const probs = softmax(row);
  const idx = Array.from(probs.keys());
  idx.sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx.slice(0, k).map((index) => ({ index, score: probs[index]! }));
}

// SQuAD exact match and F1 with the official evaluation script's normalisation (lowercase, drop ASCII
// punctuation, drop the articles a/an/the, collapse whitespace) and bag-of-tokens F1, each example
// scored against its best-matching reference answer and reported in percent. An example with no
// reference answers (SQuAD v2 unanswerable) is scored against the empty answer, as the v2 script does.
// Not here: choosing the answer span from start/end logits (qa.ts).

import type { MetricValues, StreamingMetric } from './types.ts';

// Python's string.punctuation.
const PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
// Python's \b(a|an|the)\b on str patterns is Unicode-aware: word characters are letters, digits, underscore.
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * The official normalize_answer: lower → remove punctuation → remove articles → fix whitespace.
 *
 * @example
 * normalizeAnswer('The  Eiffel Tower!') // 'eiffel tower'
 */
export function normalizeAnswer(s: string): string {
  let out = '';
  for (const ch of s.toLowerCase()) if (!PUNCTUATION.has(ch)) out += ch;
  return out.replace(ARTICLES, ' ').split(/[\s\x1c-\x1f]+/u).filter((t) => t !== '').join(' ');
}

function tokens(s: string): string[] {
  const n = normalizeAnswer(s);
  return n === '' ? [] : n.split(' ');
}

/** Exact match (0 or 1) of one prediction against one reference, after normalisation. */
export function exactMatchScore(prediction: string, reference: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(reference) ? 1 : 0;
}

/** Token-overlap F1 of one prediction against one reference (0..1). Two empty answers score 1. */
export function f1Score(prediction: string, reference: string): number {
  const p = tokens(prediction);
  const r = tokens(reference);
  if (p.length === 0 || r.length === 0) return p.length === r.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const t of r) counts.set(t, (counts.get(t) ?? 0) + 1);
  let same = 0;
  for (const t of p) {
    const c = counts.get(t) ?? 0;
    if (c > 0) {
      same++;
      counts.set(t, c - 1);
    }
  }
  if (same === 0) return 0;
  const precision = same / p.length;
  const recall = same / r.length;
  return (2 * precision * recall) / (precision + recall);
}

/**
 * Streaming SQuAD metric: exact_match and f1 in percent (0..100), like the official script and
 * Hugging Face's `squad` metric.
 *
 * @example
 * const m = new SquadMetrics();
 * m.update('1976', ['1976']);
 * m.compute(); // { exact_match: 100, f1: 100, count: 1 }
 */
export class SquadMetrics implements StreamingMetric {
  private em = 0;
  private f1 = 0;
  private n = 0;

  /** Score one prediction against its reference answers (the best one counts). */
  update(prediction: string, references: readonly string[]): void {
    const refs = references.length === 0 ? [''] : references;
    let bestEm = 0;
    let bestF1 = 0;
    for (const r of refs) {
      bestEm = Math.max(bestEm, exactMatchScore(prediction, r));
      bestF1 = Math.max(bestF1, f1Score(prediction, r));
    }
    this.em += bestEm;
    this.f1 += bestF1;
    this.n++;
  }

  compute(): MetricValues {
    if (this.n === 0) return { exact_match: 0, f1: 0, count: 0 };
    return { exact_match: (100 * this.em) / this.n, f1: (100 * this.f1) / this.n, count: this.n };
  }

  reset(): void {
    this.em = this.f1 = this.n = 0;
  }
}

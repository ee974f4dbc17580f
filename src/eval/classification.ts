// Single-label classification metrics accumulated batch by batch in a K×K confusion matrix (the only
// state, so memory does not grow with the data): accuracy, precision/recall/F1 per class and averaged
// macro / micro / weighted with scikit-learn's definitions (zero_division = 0; averages over the labels
// that occur in references or predictions, as sklearn does when `labels` is not given).
// Not here: multi-label (multilabel.ts), entity-level NER scores (seqeval.ts).

import { DataError } from '../errors.ts';
import { IGNORE_INDEX, type MetricValues, type StreamingMetric } from './types.ts';

/** Scores of one class. `support` = number of references with this label. */
export interface ClassScores {
  label: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

/** Index of the largest value in row `b` of a row-major (B × K) array; the first one on ties (like numpy). */
export function argmaxRow(values: ArrayLike<number>, b: number, k: number): number {
  let best = 0;
  let bestV = values[b * k] as number;
  for (let j = 1; j < k; j++) {
    const v = values[b * k + j] as number;
    if (v > bestV || (Number.isNaN(bestV) && !Number.isNaN(v))) {
      bestV = v;
      best = j;
    }
  }
  return best;
}

/** p/r/f with zero_division = 0. */
export function prf(tp: number, predicted: number, actual: number): { precision: number; recall: number; f1: number } {
  const precision = predicted === 0 ? 0 : tp / predicted;
  const recall = actual === 0 ? 0 : tp / actual;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/**
 * Streaming single-label classification metrics.
 *
 * @example
 * const m = new ClassificationMetrics(['ham', 'spam']);
 * for (const batch of batches) m.updateFromLogits(batch.logits, batch.labels);  // logits (B × 2)
 * m.compute();          // { accuracy, f1_macro, precision_micro, ... }
 * m.confusionMatrix();  // rows = true label, columns = predicted label
 */
export class ClassificationMetrics implements StreamingMetric {
  readonly numLabels: number;
  /** Class names in id order. */
  readonly labelNames: readonly string[];
  private readonly counts: Float64Array; // (K × K): counts[true * K + pred]

  /** `labels` are the class names in id order, or a class count (names "0".."K-1"). */
  constructor(labels: readonly string[] | number) {
    this.labelNames = typeof labels === 'number' ? Array.from({ length: labels }, (_, i) => String(i)) : [...labels];
    this.numLabels = this.labelNames.length;
    if (this.numLabels < 1) throw new DataError('classification metrics need at least one label');
    this.counts = new Float64Array(this.numLabels * this.numLabels);
  }

  /** Add predicted and reference class ids; references equal to -100 are skipped. */
  update(predictions: ArrayLike<number>, references: ArrayLike<number>): void {
    if (predictions.length !== references.length) {
      throw new DataError(`${predictions.length} predictions but ${references.length} references`);
    }
    const K = this.numLabels;
    for (let i = 0; i < references.length; i++) {
      const r = references[i] as number;
      if (r === IGNORE_INDEX) continue;
      const p = predictions[i] as number;
      if (!Number.isInteger(r) || r < 0 || r >= K) throw new DataError(`reference label id ${r} at position ${i} is outside 0..${K - 1}`);
      if (!Number.isInteger(p) || p < 0 || p >= K) throw new DataError(`predicted label id ${p} at position ${i} is outside 0..${K - 1}`);
      this.counts[r * K + p] = (this.counts[r * K + p] as number) + 1;
    }
  }

  /** Add a batch of logits (B × K, row-major); the prediction is the argmax of each row. */
  updateFromLogits(logits: ArrayLike<number>, references: ArrayLike<number>): void {
    const K = this.numLabels;
    if (logits.length !== references.length * K) {
      throw new DataError(`logits have ${logits.length} values; expected ${references.length} × ${K}`);
    }
    const preds = new Int32Array(references.length);
    for (let b = 0; b < references.length; b++) preds[b] = argmaxRow(logits, b, K);
    this.update(preds, references);
  }

  /** Number of references counted. */
  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }

  /** The confusion matrix as sklearn lays it out: row i = true label i, column j = predicted label j. */
  confusionMatrix(): number[][] {
    const K = this.numLabels;
    return Array.from({ length: K }, (_, i) => Array.from(this.counts.subarray(i * K, (i + 1) * K)));
  }

  /** Per-class totals: true positives, predicted count, reference count. */
  private totals(): { tp: number[]; predicted: number[]; actual: number[] } {
    const K = this.numLabels;
    const tp = new Array<number>(K).fill(0);
    const predicted = new Array<number>(K).fill(0);
    const actual = new Array<number>(K).fill(0);
    for (let i = 0; i < K; i++) {
      for (let j = 0; j < K; j++) {
        const c = this.counts[i * K + j] as number;
        actual[i] = (actual[i] as number) + c;
        predicted[j] = (predicted[j] as number) + c;
        if (i === j) tp[i] = c;
      }
    }
    return { tp, predicted, actual };
  }

  /** Precision, recall, F1 and support of every class, in id order. */
  perClass(): ClassScores[] {
    const { tp, predicted, actual } = this.totals();
    return this.labelNames.map((label, k) => ({ label, ...prf(tp[k] as number, predicted[k] as number, actual[k] as number), support: actual[k] as number }));
  }

  /**
   * accuracy; precision/recall/f1 with _macro, _micro and _weighted averages; count.
   * Macro and weighted average over classes present in references or predictions (sklearn's default).
   */
  compute(): MetricValues {
    const { tp, predicted, actual } = this.totals();
    const per = this.perClass();
    const n = this.count;
    const present = per.filter((_, k) => (actual[k] as number) > 0 || (predicted[k] as number) > 0);
    const tpSum = tp.reduce((a, b) => a + b, 0);
    const micro = prf(tpSum, n, n);
    const mean = (key: 'precision' | 'recall' | 'f1'): number => (present.length === 0 ? 0 : present.reduce((s, c) => s + c[key], 0) / present.length);
    const weighted = (key: 'precision' | 'recall' | 'f1'): number => (n === 0 ? 0 : per.reduce((s, c) => s + c[key] * c.support, 0) / n);
    return {
      accuracy: n === 0 ? 0 : tpSum / n,
      precision_macro: mean('precision'),
      recall_macro: mean('recall'),
      f1_macro: mean('f1'),
      precision_micro: micro.precision,
      recall_micro: micro.recall,
      f1_micro: micro.f1,
      precision_weighted: weighted('precision'),
      recall_weighted: weighted('recall'),
      f1_weighted: weighted('f1'),
      count: n,
    };
  }

  reset(): void {
    this.counts.fill(0);
  }
}

// Multi-label classification metrics, streaming: per-label true/false positive and false negative
// counts, a label predicted when sigmoid(logit) > 0.5 (i.e. logit > 0). Micro and macro precision,
// recall and F1 as scikit-learn computes them for label-indicator arrays (macro over all K labels,
// zero_division = 0), plus subset accuracy (every label of a row right).
// Not here: single-label metrics (classification.ts).

import { DataError } from '../errors.ts';
import { prf, type ClassScores } from './classification.ts';
import type { MetricValues, StreamingMetric } from './types.ts';

/**
 * Streaming multi-label metrics.
 *
 * @example
 * const m = new MultiLabelMetrics(['toxic', 'obscene', 'insult']);
 * m.updateFromLogits(logits, labels);   // both (B × 3), labels are 0/1
 * m.compute();                          // { f1_micro, f1_macro, ..., subset_accuracy }
 */
export class MultiLabelMetrics implements StreamingMetric {
  readonly numLabels: number;
  /** Label names in id order. */
  readonly labelNames: readonly string[];
  private readonly tp: Float64Array;
  private readonly fp: Float64Array;
  private readonly fn: Float64Array;
  private rows = 0;
  private exactRows = 0;

  constructor(labels: readonly string[] | number, readonly threshold = 0.5) {
    this.labelNames = typeof labels === 'number' ? Array.from({ length: labels }, (_, i) => String(i)) : [...labels];
    this.numLabels = this.labelNames.length;
    this.tp = new Float64Array(this.numLabels);
    this.fp = new Float64Array(this.numLabels);
    this.fn = new Float64Array(this.numLabels);
  }

  /** Add 0/1 predictions and 0/1 references, both (B × K) row-major. */
  update(predictions: ArrayLike<number>, references: ArrayLike<number>): void {
    const K = this.numLabels;
    if (predictions.length !== references.length || references.length % K !== 0) {
      throw new DataError(`multi-label update: ${predictions.length} predictions and ${references.length} references for ${K} labels`);
    }
    for (let b = 0; b < references.length / K; b++) {
      let exact = true;
      for (let k = 0; k < K; k++) {
        const p = (predictions[b * K + k] as number) > 0.5;
        const r = (references[b * K + k] as number) > 0.5;
        if (p && r) this.tp[k] = (this.tp[k] as number) + 1;
        else if (p) this.fp[k] = (this.fp[k] as number) + 1;
        else if (r) this.fn[k] = (this.fn[k] as number) + 1;
        if (p !== r) exact = false;
      }
      this.rows++;
      if (exact) this.exactRows++;
    }
  }

  /** Add logits (B × K); a label is predicted when sigmoid(logit) > threshold. */
  updateFromLogits(logits: ArrayLike<number>, references: ArrayLike<number>): void {
    const cut = Math.log(this.threshold / (1 - this.threshold)); // sigmoid(x) > t  ⇔  x > logit(t)
    const preds = new Uint8Array(logits.length);
    for (let i = 0; i < logits.length; i++) preds[i] = (logits[i] as number) > cut ? 1 : 0;
    this.update(preds, references);
  }

  /** Scores per label, in id order (support = rows where the label is set). */
  perClass(): ClassScores[] {
    return this.labelNames.map((label, k) => {
      const tp = this.tp[k] as number;
      const support = tp + (this.fn[k] as number);
      return { label, ...prf(tp, tp + (this.fp[k] as number), support), support };
    });
  }

  compute(): MetricValues {
    const sum = (a: Float64Array): number => a.reduce((s, v) => s + v, 0);
    const tp = sum(this.tp);
    const micro = prf(tp, tp + sum(this.fp), tp + sum(this.fn));
    const per = this.perClass();
    const mean = (key: 'precision' | 'recall' | 'f1'): number => (per.length === 0 ? 0 : per.reduce((s, c) => s + c[key], 0) / per.length);
    return {
      precision_micro: micro.precision,
      recall_micro: micro.recall,
      f1_micro: micro.f1,
      precision_macro: mean('precision'),
      recall_macro: mean('recall'),
      f1_macro: mean('f1'),
      subset_accuracy: this.rows === 0 ? 0 : this.exactRows / this.rows,
      count: this.rows,
    };
  }

  reset(): void {
    this.tp.fill(0);
    this.fp.fill(0);
    this.fn.fill(0);
    this.rows = 0;
    this.exactRows = 0;
  }
}

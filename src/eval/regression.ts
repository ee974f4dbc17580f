// Regression metrics, streaming: MSE, RMSE, MAE, R², Pearson r (running co-moments, Welford style, in
// float64) and Spearman ρ (Pearson r of average ranks, as scipy.stats.spearmanr; it needs every
// prediction, so one float64 per example is kept — never logits).
// Not here: classification metrics.

import { DataError } from '../errors.ts';
import type { MetricValues, StreamingMetric } from './types.ts';

/** Ranks 1..n with ties given their average rank (scipy.stats.rankdata method='average'). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && values[order[j + 1] as number] === values[order[i] as number]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k] as number] = avg;
    i = j + 1;
  }
  return ranks;
}

/** Pearson correlation of two equal-length arrays (two-pass, float64). NaN when either is constant. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/**
 * Streaming regression metrics.
 *
 * @example
 * const m = new RegressionMetrics();
 * m.update(batchPredictions, batchTargets);
 * m.compute(); // { mse, rmse, mae, r2, pearson, spearman, count }
 */
export class RegressionMetrics implements StreamingMetric {
  private n = 0;
  private sumSq = 0;
  private sumAbs = 0;
  private meanP = 0;
  private meanT = 0;
  private cPP = 0; // Σ (p - meanP)²
  private cTT = 0; // Σ (t - meanT)²
  private cPT = 0; // Σ (p - meanP)(t - meanT)
  private preds = new Float64Array(1024);
  private targets = new Float64Array(1024);

  /** Add predictions and targets (same length). */
  update(predictions: ArrayLike<number>, targets: ArrayLike<number>): void {
    if (predictions.length !== targets.length) throw new DataError(`${predictions.length} predictions but ${targets.length} targets`);
    for (let i = 0; i < targets.length; i++) {
      const p = predictions[i] as number;
      const t = targets[i] as number;
      if (!Number.isFinite(p) || !Number.isFinite(t)) throw new DataError(`non-finite value at position ${i}: prediction ${p}, target ${t}`);
      const e = p - t;
      this.sumSq += e * e;
      this.sumAbs += Math.abs(e);
      // Welford / co-moment update.
      this.n++;
      const dp = p - this.meanP;
      const dt = t - this.meanT;
      this.meanP += dp / this.n;
      this.meanT += dt / this.n;
      this.cPP += dp * (p - this.meanP);
      this.cTT += dt * (t - this.meanT);
      this.cPT += dp * (t - this.meanT);
      if (this.n > this.preds.length) this.grow();
      this.preds[this.n - 1] = p;
      this.targets[this.n - 1] = t;
    }
  }

  private grow(): void {
    const p = new Float64Array(this.preds.length * 2);
    const t = new Float64Array(this.targets.length * 2);
    p.set(this.preds);
    t.set(this.targets);
    this.preds = p;
    this.targets = t;
  }

  compute(): MetricValues {
    const n = this.n;
    if (n === 0) return { mse: NaN, rmse: NaN, mae: NaN, r2: NaN, pearson: NaN, spearman: NaN, count: 0 };
    const mse = this.sumSq / n;
    const denom = Math.sqrt(this.cPP * this.cTT);
    const p = this.preds.subarray(0, n);
    const t = this.targets.subarray(0, n);
    return {
      mse,
      rmse: Math.sqrt(mse),
      mae: this.sumAbs / n,
      r2: this.cTT === 0 ? NaN : 1 - this.sumSq / this.cTT,
      pearson: denom === 0 ? NaN : this.cPT / denom,
      spearman: pearson(averageRanks(p), averageRanks(t)),
      count: n,
    };
  }

  reset(): void {
    this.n = 0;
    this.sumSq = this.sumAbs = this.meanP = this.meanT = this.cPP = this.cTT = this.cPT = 0;
  }
}

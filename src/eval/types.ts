// The shared shape of evaluation metrics: streaming accumulators that take one batch at a time and
// report a flat record of named numbers (what the trainer logs and the report plots).
// Not here: any particular metric.

/** Named metric values, e.g. { accuracy: 0.97, f1_macro: 0.95 }. Keys are snake_case. */
export type MetricValues = Record<string, number>;

/** A metric that accumulates batch by batch; `compute` may be called at any time. */
export interface StreamingMetric {
  compute(): MetricValues;
  reset(): void;
}

/** Label id ignored by losses and metrics (transformers' convention). */
export { IGNORE_INDEX } from '../data/collate.ts';

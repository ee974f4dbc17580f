// Public surface of the evaluation metrics. Every metric streams: update() per batch, compute() at the end.
// Not here: running a model over a dataset (the trainer/evaluator does that and feeds these).

export type { MetricValues, StreamingMetric } from './types.ts';
export { IGNORE_INDEX } from './types.ts';
export { ClassificationMetrics, argmaxRow, prf } from './classification.ts';
export type { ClassScores } from './classification.ts';
export { MultiLabelMetrics } from './multilabel.ts';
export { RegressionMetrics, averageRanks, pearson } from './regression.ts';
export { EntityMetrics, getEntities } from './seqeval.ts';
export type { Chunk, EntityTypeScores } from './seqeval.ts';
export { SquadMetrics, normalizeAnswer, exactMatchScore, f1Score } from './squad.ts';
export { PerplexityMetric } from './perplexity.ts';
export { bestAnswer } from './qa.ts';
export type { QaFeatureOutput, QaAnswer, QaPostprocessOptions } from './qa.ts';

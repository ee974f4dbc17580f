// Batch-by-batch evaluation of a sequence-classification model: mean loss plus streaming metrics
// (accuracy/P/R/F1 and the confusion matrix, multi-label F1, or regression errors), never holding
// all logits in memory. Used by the trainer's evaluation hook, `finetune evaluate` and the search.

import { ClassificationMetrics } from '../eval/classification.ts';
import { MultiLabelMetrics } from '../eval/multilabel.ts';
import { RegressionMetrics } from '../eval/regression.ts';
import type { StreamingMetric } from '../eval/types.ts';
import type { ProblemType, TaskModel } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import type { FeatureBatches } from '../train/batches.ts';

export interface EvalResult {
  metrics: Record<string, number>;
  /** Rows = true label, columns = predicted (single-label only). */
  confusionMatrix?: number[][];
  labels?: string[];
  /** Precision, recall, F1 and support of every class (single-label only). */
  perClass?: { label: string; precision: number; recall: number; f1: number; support: number }[];
  /** One prediction per example, in data order (when asked for with `collectPredictions`). */
  predictions?: ExamplePrediction[];
  /**
   * The test split's per-example rows for predictions.jsonl in the other tasks (when asked for): words with
   * gold and predicted tags, QA answers, masked tokens, language-model loss. Written as they are.
   */
  records?: Record<string, unknown>[];
  /** Examples (features: windows, blocks) and batches evaluated: all_results.json's *_samples_per_second, *_steps_per_second. */
  samples?: number;
  steps?: number;
  /** Wall-clock seconds the evaluation took (set by the run that timed it). */
  runtime?: number;
}

/** A single-label example's prediction: the true and predicted label, the predicted probability and the example's loss. */
export interface ExamplePrediction {
  /** The example's text (filled in by the caller, which has the dataset). */
  text?: string;
  label: string | null;
  predicted: string;
  score: number;
  /** Cross-entropy of the true label, -log p(label) (null without a label). */
  loss: number | null;
}

/** Softmax of one row of logits: the argmax, its probability, and -log p(ref). */
function rowPrediction(logits: ArrayLike<number>, offset: number, K: number, ref: number | null): { k: number; p: number; nll: number | null } {
  let max = -Infinity;
  let k = 0;
  for (let j = 0; j < K; j++) {
    const v = logits[offset + j] as number;
    if (v > max) [max, k] = [v, j];
  }
  let z = 0;
  for (let j = 0; j < K; j++) z += Math.exp((logits[offset + j] as number) - max);
  const logZ = Math.log(z) + max;
  return { k, p: 1 / z, nll: ref === null ? null : logZ - (logits[offset + ref] as number) };
}

function metricFor(problem: ProblemType, labels: string[]): StreamingMetric & { updateFromLogits?: (l: ArrayLike<number>, r: ArrayLike<number>) => void } {
  if (problem === 'regression') return new RegressionMetrics();
  if (problem === 'multi_label_classification') return new MultiLabelMetrics(labels);
  return new ClassificationMetrics(labels);
}

/** Evaluates `model` on every batch of `data` in order. */
export async function evaluateClassifier(
  model: TaskModel,
  data: FeatureBatches,
  problem: ProblemType,
  labels: string[],
  onBatch?: (done: number, total: number) => void,
  collectPredictions = false,
): Promise<EvalResult> {
  const metric = metricFor(problem, labels);
  const predictions: ExamplePrediction[] = [];
  const K = labels.length;
  let lossSum = 0;
  let lossCount = 0;
  const total = Math.ceil(data.features.length / Math.max(1, data.batchesPerEpoch > 0 ? data.features.length / data.batchesPerEpoch : 1));
  let done = 0;
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  for (const { batch } of data.inOrder()) {
    const out = F.tidy(() =>
      F.noGrad(() => {
        const o = model.forward(batch);
        return { logits: F.contiguous(o.logits), loss: o.loss ?? null };
      }),
    );
    await F.syncHost([out.logits, out.loss]); // the one host read per batch (asynchronous on device backends)
    const logits = out.logits.floatData;
    const refs = batch.labels ? batch.labels.data : null;
    if (out.loss && refs) {
      lossSum += out.loss.item() * batch.inputIds.shape[0];
      lossCount += batch.inputIds.shape[0];
    }
    if (refs) {
      if (metric instanceof RegressionMetrics) metric.update(logits, refs);
      else metric.updateFromLogits?.(logits, refs);
    }
    if (collectPredictions && problem === 'single_label_classification') {
      for (let b = 0; b < batch.inputIds.shape[0]; b++) {
        const ref = refs ? Number(refs[b]) : null;
        const r = rowPrediction(logits, b * K, K, ref);
        predictions.push({ label: ref === null ? null : (labels[ref] as string), predicted: labels[r.k] as string, score: r.p, loss: r.nll });
      }
    }
    out.logits.dispose();
    out.loss?.dispose();
    done++;
    onBatch?.(done, total);
    await new Promise((r) => setImmediate(r));
  }
  if (wasTraining) model.train();
  const metrics = { ...metric.compute() };
  if (lossCount > 0) metrics.loss = lossSum / lossCount;
  const result: EvalResult = { metrics, labels, samples: data.features.length, steps: done, runtime: (performance.now() - started) / 1000 };
  if (metric instanceof ClassificationMetrics) {
    result.confusionMatrix = metric.confusionMatrix();
    result.perClass = metric.perClass();
  }
  if (collectPredictions && problem === 'single_label_classification') result.predictions = predictions;
  return result;
}

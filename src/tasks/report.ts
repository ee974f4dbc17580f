// Turns a finished classification run into the self-contained HTML training report (src/report):
// loss and learning-rate curves, eval metric curves, the confusion matrix and a run summary.

import { learningRate, warmupStepsFor } from '../optim/schedules.ts';
import type { TrainingArguments } from '../train/args.ts';
import type { LogRecord, TrainResult } from '../train/trainer.ts';
import type { EvalResult } from './evaluate.ts';
import { writeHtmlReport, type RunLog } from '../report/index.ts';

export interface RunReportInput {
  title: string;
  task: string;
  model: string;
  data: string;
  args: TrainingArguments;
  history: LogRecord[];
  result: TrainResult;
  validation: EvalResult | null;
  test: EvalResult | null;
  dataCounts?: { trainExamples?: number; validationExamples?: number; testExamples?: number; preparation?: string[] };
  /** Every setting by name for the report's Settings table (the CLI adds the pipeline's and the versions). */
  settings?: Record<string, string>;
  /** Sample generations of a causal LM. */
  generations?: { prompt: string; text: string }[];
}

/** The metric a reader looks for first: metric_for_best_model unless it is a loss, else the task's usual one. */
function primaryMetric(metrics: Record<string, number>, preferred: string): string | null {
  const order = [preferred, 'f1', 'exact_match', 'f1_macro', 'accuracy', 'perplexity', 'mse', 'loss'];
  return order.find((k) => !/(^|_)loss$/.test(k) && metrics[k] !== undefined && Number.isFinite(metrics[k])) ?? (metrics.loss !== undefined ? 'loss' : null);
}

/** The learning rate the trainer used at each step 1..N (step N uses the schedule at N - 1, as the trainer does). */
export function lrScheduleOf(args: TrainingArguments, result: TrainResult): [number, number][] {
  const steps = result.globalStep;
  if (steps <= 0) return [];
  const total = args.max_steps > 0 ? args.max_steps : result.stoppedEarly && result.epochs > 0 ? Math.ceil((steps / result.epochs) * args.num_train_epochs) : steps;
  const warmupSteps = warmupStepsFor(total, args.warmup_steps, args.warmup_ratio);
  const out: [number, number][] = [];
  for (let step = 1; step <= steps; step++) out.push([step, learningRate(step - 1, { name: args.lr_scheduler_type, baseLr: args.learning_rate, warmupSteps, totalSteps: total })]);
  return out;
}

export async function writeRunReport(path: string, r: RunReportInput): Promise<void> {
  const final = r.test ?? r.validation;
  const best = r.result.bestCheckpoint;
  const bestStep = best ? Number(/checkpoint-(\d+)$/.exec(best)?.[1] ?? NaN) : NaN;
  const log: RunLog = {
    summary: {
      title: r.result.interrupted ? `${r.title} (interrupted at step ${r.result.interrupted.step})` : r.title,
      task: r.task,
      model: r.model,
      outputDir: r.args.output_dir,
      status: r.result.interrupted ? 'interrupted' : r.result.stoppedEarly ? 'stopped early' : 'completed',
      data: { train: r.data, ...r.dataCounts },
      hyperparameters: Object.fromEntries(Object.entries(r.args).filter(([, v]) => v === null || ['number', 'string', 'boolean'].includes(typeof v))) as Record<string, string | number | boolean | null>,
      durations: { training: r.result.seconds },
      ...(best && r.result.bestMetric !== null ? { bestCheckpoint: { path: best, step: bestStep, metric: r.args.metric_for_best_model, value: r.result.bestMetric } } : {}),
      ...(final ? { finalMetrics: { ...final.metrics }, finalSplit: r.test ? 'test' : 'validation' } : {}),
      ...(final?.labels ? { labels: final.labels } : {}),
      ...(final?.confusionMatrix ? { confusionMatrix: final.confusionMatrix } : {}),
    },
    records: r.history
      .filter((h) => !Object.keys(h).some((k) => k.startsWith('test_')))
      .map((h) => {
        const evalMetrics: Record<string, number> = {};
        for (const [k, v] of Object.entries(h)) if (k.startsWith('eval_') && typeof v === 'number') evalMetrics[k.slice(5)] = v;
        return {
          step: h.step,
          epoch: h.epoch,
          ...(typeof h.loss === 'number' ? { loss: h.loss } : {}),
          ...(typeof h.learning_rate === 'number' ? { lr: h.learning_rate } : {}),
          ...(typeof h.grad_norm === 'number' ? { gradNorm: h.grad_norm } : {}),
          ...(Object.keys(evalMetrics).length ? { eval: evalMetrics } : {}),
        };
      }),
  };
  const metricName = final ? primaryMetric(final.metrics, r.args.metric_for_best_model) : null;
  if (final && metricName && r.test) log.summary.headline = { metric: metricName, value: final.metrics[metricName] as number, split: 'test' };
  else if (best && r.result.bestMetric !== null) log.summary.headline = { metric: r.args.metric_for_best_model, value: r.result.bestMetric, split: 'validation' };
  else if (final && metricName) log.summary.headline = { metric: metricName, value: final.metrics[metricName] as number, split: 'validation' };
  log.summary.lrSchedule = lrScheduleOf(r.args, r.result);
  if (r.result.seconds > 0) {
    const samples = r.args.max_steps > 0 ? r.result.globalStep * r.args.per_device_train_batch_size * r.args.gradient_accumulation_steps : (r.dataCounts?.trainExamples ?? 0) * r.result.epochs;
    log.summary.throughput = { ...(samples > 0 ? { 'train samples/s': samples / r.result.seconds } : {}), 'train steps/s': r.result.globalStep / r.result.seconds };
  }
  if (final?.perClass) log.summary.perClass = final.perClass;
  const perType = (final as { perType?: { type: string; precision: number; recall: number; f1: number; number: number }[] } | null)?.perType;
  if (perType) log.summary.perEntity = perType.map((t) => ({ type: t.type, precision: t.precision, recall: t.recall, f1: t.f1, support: t.number }));
  const wrong = (final?.predictions ?? []).filter((p) => p.label !== null && p.label !== p.predicted && p.loss !== null);
  if (wrong.length) {
    log.summary.misclassified = wrong
      .sort((a, b) => (b.loss as number) - (a.loss as number))
      .slice(0, 10)
      .map((p) => ({ text: p.text ?? '', label: p.label as string, predicted: p.predicted, score: p.score, loss: p.loss as number }));
  }
  if (r.settings) log.summary.settings = r.settings;
  if (r.generations?.length) log.summary.generations = r.generations;
  await writeHtmlReport(path, log);
}

// Turns a finished classification run into the self-contained HTML training report (src/report):
// loss and learning-rate curves, eval metric curves, the confusion matrix and a run summary.

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
  await writeHtmlReport(path, log);
}

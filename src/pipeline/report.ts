// Turns a finished classification run into the self-contained HTML training report (src/report):
// loss and learning-rate curves, eval metric curves, the confusion matrix and a run summary.

import type { TrainingArguments } from '../train/args.ts';
import type { LogRecord, TrainResult } from '../train/trainer.ts';
import type { EvalResult } from './evaluate.ts';
import { writeHtmlReport, type RunLog } from '../report/index.ts';

export interface RunReportInput {
  title: string;
  model: string;
  data: string;
  args: TrainingArguments;
  history: LogRecord[];
  result: TrainResult;
  validation: EvalResult | null;
  test: EvalResult | null;
}

export async function writeRunReport(path: string, r: RunReportInput): Promise<void> {
  const final = r.test ?? r.validation;
  const log: RunLog = {
    summary: {
      title: r.title,
      model: r.model,
      data: r.data,
      hyperparameters: Object.fromEntries(Object.entries(r.args).filter(([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean')) as Record<string, string | number | boolean>,
      durationSeconds: r.result.seconds,
      bestCheckpoint: r.result.bestCheckpoint ?? undefined,
      finalMetrics: final ? { ...final.metrics } : undefined,
    },
    records: r.history.map((h) => {
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
    confusionMatrix: final?.confusionMatrix && final.labels ? { labels: final.labels, matrix: final.confusionMatrix } : undefined,
  };
  await writeHtmlReport(path, log);
}

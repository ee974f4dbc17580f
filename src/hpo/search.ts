// Hyperparameter search ("evaluate and adjust"): grid or seeded random search over learning rate,
// batch size, epochs, warmup and weight decay. Each trial trains on the training split and is scored
// on the validation split; the results table is returned and saved, the best trial's model is kept
// in <output_dir>/best and the other trials' folders are removed.

import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { Rng } from '../data/index.ts';
import { greaterIsBetter, type TrainingArguments } from '../train/args.ts';

/** The searchable settings and their candidate values. */
export interface SearchSpace {
  learning_rate?: number[];
  per_device_train_batch_size?: number[];
  num_train_epochs?: number[];
  warmup_ratio?: number[];
  weight_decay?: number[];
}

export const SEARCHABLE = ['learning_rate', 'per_device_train_batch_size', 'num_train_epochs', 'warmup_ratio', 'weight_decay'] as const;

export type Trial = Partial<Pick<TrainingArguments, (typeof SEARCHABLE)[number]>>;

export interface TrialResult {
  trial: number;
  params: Trial;
  metric: number;
  metrics: Record<string, number>;
  seconds: number;
}

/** Every combination of the space (grid search), in a stable order. */
export function gridTrials(space: SearchSpace): Trial[] {
  let trials: Trial[] = [{}];
  for (const key of SEARCHABLE) {
    const values = space[key];
    if (!values || values.length === 0) continue;
    trials = trials.flatMap((t) => values.map((v) => ({ ...t, [key]: v })));
  }
  return trials;
}

/** n distinct random combinations (seeded); all of them when the grid is smaller than n. */
export function randomTrials(space: SearchSpace, n: number, seed: number): Trial[] {
  const all = gridTrials(space);
  if (all.length <= n) return all;
  const rng = Rng.fromSeed(seed);
  return rng.permutation(all.length).slice(0, n).map((i) => all[i]);
}

/** Parses "1e-4,3e-4,1e-3" style lists from flags. */
export function parseValues(key: string, text: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) throw new ConfigError(key, `expected comma-separated numbers, got "${text}"`);
  return values;
}

/** The arguments of trial `index`: the base settings, the trial's values, output in <output_dir>/trial-<index>. */
export function trialArguments(base: TrainingArguments, params: Trial, index: number): TrainingArguments {
  return { ...base, ...params, output_dir: join(base.output_dir, `trial-${index}`), report: false, save_total_limit: 1 };
}

/** The metric the trials are ranked by (metric_for_best_model without its eval_ prefix). */
export function searchMetric(base: TrainingArguments): string {
  return base.metric_for_best_model.replace(/^eval_/, '');
}

/** A finished trial's result; throws when the ranking metric is missing from its metrics. */
export function trialResult(base: TrainingArguments, index: number, params: Trial, metrics: Record<string, number>, seconds: number): TrialResult {
  const key = searchMetric(base);
  const metric = metrics[key];
  if (metric === undefined) throw new ConfigError('metric_for_best_model', `"${key}" is not among the trial's metrics (${Object.keys(metrics).join(', ')})`);
  return { trial: index, params, metric, metrics, seconds };
}

/**
 * Records a finished search: ranks the results best first, moves the best trial's folder to
 * <output_dir>/best, removes the other trial folders and writes search_results.json atomically.
 * Call it once per search (one process): it moves and deletes folders.
 */
export async function recordSearch(base: TrainingArguments, finished: TrialResult[]): Promise<{ results: TrialResult[]; bestDir: string }> {
  if (finished.length === 0) throw new ConfigError('search', 'no trial finished, so there is no best model to keep');
  const gib = greaterIsBetter(base);
  const results = [...finished].sort((a, b) => (gib ? b.metric - a.metric : a.metric - b.metric));
  const best = results[0];
  const bestDir = join(base.output_dir, 'best');
  await rm(bestDir, { recursive: true, force: true });
  await rename(join(base.output_dir, `trial-${best.trial}`), bestDir);
  for (const r of results.slice(1)) await rm(join(base.output_dir, `trial-${r.trial}`), { recursive: true, force: true });
  await writeFileAtomic(join(base.output_dir, 'search_results.json'), JSON.stringify({ metric: searchMetric(base), greater_is_better: gib, results }, null, 2));
  return { results, bestDir };
}

/**
 * Runs the trials one after another in this process. `runTrial` trains with the given arguments
 * (output in args.output_dir) and returns validation metrics. Returns the results sorted best first.
 */
export async function runSearch(
  base: TrainingArguments,
  trials: Trial[],
  runTrial: (args: TrainingArguments, index: number) => Promise<Record<string, number>>,
  onResult?: (r: TrialResult, total: number) => void,
): Promise<{ results: TrialResult[]; bestDir: string }> {
  if (trials.length === 0) throw new ConfigError('search', 'no trials: give at least one value list (e.g. --learning-rate 1e-4,3e-4)');
  const results: TrialResult[] = [];
  for (const [i, params] of trials.entries()) {
    const t0 = performance.now();
    const metrics = await runTrial(trialArguments(base, params, i), i);
    const r = trialResult(base, i, params, metrics, (performance.now() - t0) / 1000);
    results.push(r);
    onResult?.(r, trials.length);
  }
  return recordSearch(base, results);
}

/** A plain-text results table, best first. */
export function formatResults(results: TrialResult[], metric: string): string {
  const keys = SEARCHABLE.filter((k) => results.some((r) => r.params[k] !== undefined));
  const header = ['rank', 'trial', ...keys, metric, 'seconds'];
  const rows = results.map((r, i) => [String(i + 1), String(r.trial), ...keys.map((k) => String(r.params[k] ?? '')), r.metric.toFixed(4), r.seconds.toFixed(1)]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]): string => cells.map((s, c) => s.padEnd(widths[c])).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

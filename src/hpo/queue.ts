// The parts of the distributed search (`finetune search --queue`, `finetune worker --queue`) that do not
// talk to Redis: the `--queue` URL, the search id and per-trial job ids (so re-enqueueing a search is
// idempotent), the job data a worker trains from and its validation, and the follower's tally of results.
// It does not talk to Redis: enqueueing, following and the record-once lock are in queue-redis.ts, the
// worker in src/cli/worker.ts (see docs/distributed.md, "Distributed hyperparameter search").

import { createHash } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { ConfigError } from '../errors.ts';
import { greaterIsBetter, type TrainingArguments } from '../train/args.ts';
import { SEARCHABLE, searchMetric, type Trial, type TrialResult } from './search.ts';

/** A Redis server given by `--queue redis://[user:password@]host[:port][/db]`. */
export interface QueueServer {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
}

/** Parses `--queue`; errors say what the flag should look like. */
export function parseQueueUrl(text: string): QueueServer {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError('--queue', `"${text}" is not a URL; give the Redis server as redis://host:6379`);
  }
  if (url.protocol !== 'redis:') throw new ConfigError('--queue', `"${text}" must start with redis:// (got ${url.protocol}//); e.g. redis://host:6379`);
  if (url.hostname === '') throw new ConfigError('--queue', `"${text}" has no host; e.g. redis://host:6379`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new ConfigError('--queue', `"${text}": the database after the / must be a whole number >= 0, got "${dbText}"`);
  const server: QueueServer = { host: url.hostname.replace(/^\[|\]$/g, ''), port, db };
  if (url.username !== '') server.username = decodeURIComponent(url.username);
  if (url.password !== '') server.password = decodeURIComponent(url.password);
  return server;
}

/** JSON with object keys sorted, so equal settings hash equally whatever order they were built in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The id of a search: a hash of its settings (pipeline and training arguments, output folder included)
 * and its trial list. The same command gives the same id, so enqueueing it again adds no job twice.
 */
export function searchId(pipeline: object, base: TrainingArguments, trials: Trial[]): string {
  return createHash('sha256').update(canonicalJson({ pipeline, base, trials })).digest('hex').slice(0, 16);
}

/** The BullMQ job id of trial `index` of search `id` (no ':' — BullMQ refuses custom ids containing one). */
export function trialJobId(id: string, index: number): string {
  return `${id}-trial-${index}`;
}

/** What a worker needs to run one trial: the search's settings and the trial's values. */
export interface TrialJobData {
  search: string;
  trial: number;
  total: number;
  params: Trial;
  /** The search's pipeline settings (model, data files: paths every worker can read). */
  pipeline: Record<string, unknown>;
  /** The search's base training arguments; output_dir is the shared search folder. */
  args: TrainingArguments;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks a job's data (it crossed the network; another version of finetune may have written it). */
export function parseTrialJobData(data: unknown, jobId: string): TrialJobData {
  const bad = (field: string, want: string): ConfigError =>
    new ConfigError(`job ${jobId}: ${field}`, `expected ${want}; was the trial enqueued by another version of finetune? Re-run \`finetune search --queue\` with this version`);
  if (!isRecord(data)) throw bad('data', 'an object');
  const { search, trial, total, params, pipeline, args } = data;
  if (typeof search !== 'string' || search === '') throw bad('search', 'a search id');
  if (typeof trial !== 'number' || !Number.isInteger(trial) || trial < 0) throw bad('trial', 'a trial index >= 0');
  if (typeof total !== 'number' || !Number.isInteger(total) || total <= trial) throw bad('total', `a trial count > ${trial}`);
  if (!isRecord(params)) throw bad('params', 'an object of trial settings');
  const known: readonly string[] = SEARCHABLE;
  for (const [k, v] of Object.entries(params)) {
    if (!known.includes(k)) throw bad(`params.${k}`, `one of ${SEARCHABLE.join(', ')}`);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`params.${k}`, 'a finite number');
  }
  if (!isRecord(pipeline)) throw bad('pipeline', 'an object of pipeline settings');
  if (!isRecord(args) || typeof args.output_dir !== 'string' || typeof args.metric_for_best_model !== 'string') {
    throw bad('args', 'training arguments with output_dir and metric_for_best_model');
  }
  return { search, trial, total, params: params as Trial, pipeline, args: args as unknown as TrainingArguments };
}

/**
 * The job data of trial `index`. The settings must mean the same on every machine: pass data and
 * model paths already made absolute (on a path every worker sees) and an absolute output_dir.
 */
export function trialJobData(search: string, trials: Trial[], index: number, pipeline: Record<string, unknown>, args: TrainingArguments): TrialJobData {
  if (!isAbsolute(args.output_dir)) throw new ConfigError('--output-dir', `"${args.output_dir}" must be absolute for a distributed search (workers write their trials under it)`);
  return { search, trial: index, total: trials.length, params: trials[index], pipeline, args };
}

/**
 * The follower's tally of a search: trial results and failures as they arrive (in any order, possibly
 * twice when a restarted follower sees a completed job again), the progress line for each, the best so far.
 */
export class SearchTally {
  private readonly finished = new Map<number, TrialResult>();
  private readonly failures = new Map<number, string>();

  constructor(
    private readonly base: TrainingArguments,
    readonly total: number,
  ) {}

  /** Counts a finished trial once; returns the progress line to print. */
  finish(r: TrialResult): string {
    this.finished.set(r.trial, r);
    this.failures.delete(r.trial);
    const best = this.best();
    const key = searchMetric(this.base);
    const bestNote = best ? `; best so far: trial ${best.trial} (${best.metric.toFixed(4)})` : '';
    return `trial ${r.trial} done (${this.count()}/${this.total}): ${key} ${r.metric.toFixed(4)}${bestNote}`;
  }

  /** Counts a trial that failed for good (its attempts used up); returns the line to print. */
  fail(trial: number, error: string): string {
    if (!this.finished.has(trial)) this.failures.set(trial, error);
    return `trial ${trial} failed (${this.count()}/${this.total}): ${error}`;
  }

  /** Trials finished or failed for good. */
  count(): number {
    return this.finished.size + this.failures.size;
  }

  get complete(): boolean {
    return this.count() >= this.total;
  }

  /** The best finished trial so far (greater or smaller is better as metric_for_best_model says). */
  best(): TrialResult | undefined {
    const gib = greaterIsBetter(this.base);
    let best: TrialResult | undefined;
    for (const r of this.results()) if (!best || (gib ? r.metric > best.metric : r.metric < best.metric)) best = r; // ties: the lower trial, as recordSearch
    return best;
  }

  /** Finished trials in trial order (what recordSearch ranks once the search is complete). */
  results(): TrialResult[] {
    return [...this.finished.values()].sort((a, b) => a.trial - b.trial);
  }

  failed(): { trial: number; error: string }[] {
    return [...this.failures.entries()].sort(([a], [b]) => a - b).map(([trial, error]) => ({ trial, error }));
  }
}

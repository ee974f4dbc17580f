// The Redis side of the distributed search, on BullMQ: connecting to the `--queue` server, enqueueing a
// search's trials (idempotent job ids), following them to the end with QueueEvents plus a periodic sweep
// (so trials that finished before the follower subscribed are counted too), and the record-once lock.
// It does not train (src/cli/worker.ts runs the trials) nor rank and move folders (recordSearch does).

import { hostname } from 'node:os';
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError } from '../errors.ts';
import type { TrainingArguments } from '../train/args.ts';
import { SearchTally, trialJobId, type QueueServer, type TrialJobData } from './queue.ts';
import { trialResult } from './search.ts';

/** The one BullMQ queue all searches share (job ids carry the search id). */
export const QUEUE_NAME = 'finetune-search';

/** An upper bound on a job's attempts; workers fail a trial for good after their own --max-attempts. */
export const JOB_ATTEMPTS_CAP = 50;

/** What a worker returns for a trial (the job's return value in Redis). */
export interface TrialJobResult {
  metrics: Record<string, number>;
  seconds: number;
}

export function redisConnection(server: QueueServer): ConnectionOptions {
  return {
    host: server.host,
    port: server.port,
    db: server.db,
    ...(server.username !== undefined ? { username: server.username } : {}),
    ...(server.password !== undefined ? { password: server.password } : {}),
    maxRetriesPerRequest: null, // BullMQ workers need blocking commands that wait for a reconnect
  };
}

/**
 * Checks that the `--queue` server answers (one connection, no retries) before any BullMQ client is
 * made, so a wrong URL or a server that is down is one clear error instead of endless reconnects.
 */
export async function probeRedis(server: QueueServer, timeoutMs = 5000): Promise<void> {
  const client = new Redis({ ...(redisConnection(server) as RedisOptions), lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  let last = '';
  client.on('error', (e: Error) => (last = e.message));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new ConfigError('--queue', `no Redis server answered at ${server.host}:${server.port} (${last || (e instanceof Error ? e.message : String(e))}); start redis-server there or fix the URL`);
  } finally {
    client.disconnect();
  }
}

/** Adds every trial as a job; a job id already in the queue (the same search run again) adds nothing. */
export async function enqueueTrials(queue: Queue, jobs: TrialJobData[]): Promise<void> {
  await queue.addBulk(
    jobs.map((data) => ({
      name: 'trial',
      data,
      opts: { jobId: trialJobId(data.search, data.trial), attempts: JOB_ATTEMPTS_CAP, removeOnComplete: false, removeOnFail: false },
    })),
  );
}

function isResult(v: unknown): v is TrialJobResult {
  if (v === null || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return typeof r.seconds === 'number' && r.metrics !== null && typeof r.metrics === 'object';
}

/**
 * Follows the search's jobs until each one has completed or failed for good, printing a progress line
 * per trial (and a note per failed attempt that will be retried). Returns the tally.
 */
export async function followTrials(queue: Queue, events: QueueEvents, jobs: TrialJobData[], base: TrainingArguments, print: (s: string) => void, sweepMs = 2000): Promise<SearchTally> {
  const tally = new SearchTally(base, jobs.length);
  const byId = new Map(jobs.map((d) => [trialJobId(d.search, d.trial), d]));
  const settled = new Set<string>();
  let wake: (() => void) | undefined;
  let failure: unknown;

  const check = async (jobId: string, attemptError?: string): Promise<void> => {
    const d = byId.get(jobId);
    if (!d || settled.has(jobId)) return;
    // The state first, then the job's fields: a job that completes between the two reads then still
    // shows its return value (BullMQ writes it in the same step as the move to completed).
    const state = await queue.getJobState(jobId);
    const job = await queue.getJob(jobId);
    if (!job || state === 'unknown') throw new ConfigError('--queue', `job ${jobId} is no longer in the queue (removed by hand?); run the same search command again to enqueue it`);
    if (state === 'completed') {
      if (!isResult(job.returnvalue)) throw new ConfigError(`job ${jobId}`, 'completed without trial metrics; was it run by another version of finetune?');
      settled.add(jobId);
      print(tally.finish(trialResult(base, d.trial, d.params, job.returnvalue.metrics, job.returnvalue.seconds)));
    } else if (state === 'failed') {
      settled.add(jobId);
      print(tally.fail(d.trial, job.failedReason || 'failed without a message'));
    } else if (attemptError !== undefined) {
      print(`trial ${d.trial}: an attempt failed and will be retried: ${attemptError}`);
    }
  };
  const run = (p: Promise<void>): void => {
    p.catch((e: unknown) => {
      failure ??= e;
    }).finally(() => wake?.());
  };
  events.on('completed', ({ jobId }) => run(check(jobId)));
  events.on('failed', ({ jobId, failedReason }) => run(check(jobId, failedReason)));
  await events.waitUntilReady();
  while (!tally.complete) {
    for (const jobId of byId.keys()) await check(jobId); // trials that ended before we subscribed, or missed events
    if (failure !== undefined) throw failure;
    if (tally.complete) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, sweepMs);
    });
    if (failure !== undefined) throw failure;
  }
  return tally;
}

/** Takes the record-once lock (`SET <search id>:recorded <host:pid> NX`): mine for the one follower that records; otherwise who holds it. */
export async function takeRecordLock(server: QueueServer, search: string): Promise<{ mine: true } | { mine: false; holder: string }> {
  const client = new Redis({ ...(redisConnection(server) as RedisOptions), maxRetriesPerRequest: 3 });
  try {
    const key = `${search}:recorded`;
    const got = await client.set(key, `${hostname()}:${process.pid}`, 'NX');
    if (got === 'OK') return { mine: true };
    return { mine: false, holder: (await client.get(key)) ?? 'another follower' };
  } finally {
    client.disconnect();
  }
}

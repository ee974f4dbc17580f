// `finetune worker --queue redis://host:port`: a BullMQ worker that runs the trials `finetune search
// --queue` enqueued, one runClassificationTrial per job, into <search output dir>/trial-<i>. Bad settings
// fail a trial at once (UnrecoverableError); other errors and stalls (a killed worker) are retried up to
// --max-attempts. SIGTERM aborts the current trial between steps, hands its job back to the queue, exits 143.
// It is not the follower (src/cli/search.ts) and does not rank or record results.

import { rm } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { ConfigError, FinetuneError } from '../errors.ts';
import { parseQueueUrl, parseTrialJobData } from '../hpo/queue.ts';
import { probeRedis, QUEUE_NAME, redisConnection, type TrialJobResult } from '../hpo/queue-redis.ts';
import { trialArguments } from '../hpo/search.ts';
import { resolveSettings } from '../tasks/config.ts';
import { cliMessage, flagTable } from './errors.ts';
import { printLine } from './progress.ts';
import { runClassificationTrial } from './search.ts';
import { SETTING_FLAGS } from './train.ts';

function positiveInt(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(flag, `expected a whole number >= 1, got "${v}"`);
    return n;
  };
}

interface WorkerOpts {
  queue: string;
  concurrency: number;
  stalledIntervalMs: number;
  lockDurationMs: number;
  maxAttempts: number;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run the trials of distributed searches (`finetune search --queue`) from a Redis queue, until stopped')
    .requiredOption('--queue <url>', 'the Redis server the search enqueued on, e.g. redis://host:6379')
    .addOption(new Option('--concurrency <n>', 'trials run at once in this process').default(1).argParser(positiveInt('--concurrency')))
    .addOption(new Option('--stalled-interval-ms <n>', 'how often to look for trials whose worker died').default(30_000).argParser(positiveInt('--stalled-interval-ms')))
    .addOption(new Option('--lock-duration-ms <n>', 'a trial is taken back this long after its worker stops answering').default(30_000).argParser(positiveInt('--lock-duration-ms')))
    .addOption(new Option('--max-attempts <n>', 'runs of one trial (first run, retries after errors or a dead worker) before it fails for good').default(3).argParser(positiveInt('--max-attempts')))
    .addHelpText('after', '\nExample:\n  $ finetune worker --queue redis://10.0.0.2:6379\n')
    .action(async (opts: WorkerOpts) => runWorker(opts));
}

async function runWorker(opts: WorkerOpts): Promise<void> {
  const server = parseQueueUrl(opts.queue);
  const flags = flagTable(SETTING_FLAGS);
  const stopping = new AbortController();
  const print = (s: string): void => printLine(s);

  const processor = async (job: Job, token?: string): Promise<TrialJobResult> => {
    const jobId = job.id ?? '?';
    const attempt = job.attemptsStarted;
    const t0 = performance.now();
    try {
      const d = parseTrialJobData(job.data, jobId);
      const pipeline = resolveSettings([{ values: d.pipeline, source: `job ${jobId}` }]).pipeline;
      const args = trialArguments(d.args, d.params, d.trial);
      print(`trial ${d.trial} of search ${d.search} (attempt ${attempt}/${opts.maxAttempts}): ${JSON.stringify(d.params)} -> ${args.output_dir}`);
      await rm(args.output_dir, { recursive: true, force: true }); // an earlier attempt's partial folder: start from scratch
      const metrics = await runClassificationTrial(pipeline, args, undefined, (m) => print(`  [trial ${d.trial}] ${m}`), stopping.signal);
      if (stopping.signal.aborted) {
        await job.moveToWait(token); // not a failed attempt: another worker runs it
        print(`trial ${d.trial}: stopped by SIGTERM, handed back to the queue`);
        throw new WaitingError();
      }
      print(`trial ${d.trial} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return { metrics, seconds: (performance.now() - t0) / 1000 };
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      const message = err instanceof FinetuneError ? cliMessage(err, flags) : err instanceof Error ? err.message : String(err);
      if (err instanceof FinetuneError) {
        print(`job ${jobId} failed (not retried: fix the search's settings): ${message}`);
        throw new UnrecoverableError(message);
      }
      if (attempt >= opts.maxAttempts) {
        print(`job ${jobId} failed on attempt ${attempt}, the last (--max-attempts ${opts.maxAttempts}): ${message}`);
        throw new UnrecoverableError(`failed ${attempt} time(s), last: ${message}`);
      }
      print(`job ${jobId} failed on attempt ${attempt}/${opts.maxAttempts}, will be retried: ${message}`);
      throw err;
    }
  };

  await probeRedis(server);
  const worker = new Worker(QUEUE_NAME, processor, {
    connection: redisConnection(server),
    concurrency: opts.concurrency,
    stalledInterval: opts.stalledIntervalMs,
    lockDuration: opts.lockDurationMs,
    maxStalledCount: opts.maxAttempts - 1, // a dead worker's run counts as an attempt
    autorun: false,
  });
  worker.on('error', (e) => print(`worker: ${e.message} (retrying)`));
  await worker.waitUntilReady();

  const done = new Promise<void>((resolve) => {
    process.once('SIGTERM', () => {
      print('SIGTERM: taking no more trials; the running trial stops at its next step and goes back to the queue');
      stopping.abort();
      const hardStop = setTimeout(() => {
        print('the trial did not stop in 30 s; exiting (its job returns to the queue after --lock-duration-ms)');
        process.exit(143);
      }, 30_000);
      hardStop.unref();
      worker
        .close()
        .catch((e: unknown) => print(`closing the worker: ${e instanceof Error ? e.message : String(e)}`))
        .finally(resolve);
    });
  });
  print(`worker: running trials from ${opts.queue} (queue "${QUEUE_NAME}", concurrency ${opts.concurrency}, up to ${opts.maxAttempts} attempt(s) per trial)`);
  worker.run().catch((e: unknown) => {
    print(`worker stopped: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
  await done;
  process.exitCode = 143;
}

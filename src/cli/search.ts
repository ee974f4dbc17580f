// `finetune search`: grid or random hyperparameter search; every trial is a full `finetune train`
// run scored on the validation split; prints the results table and keeps the best model. With --queue
// the trials go to a Redis queue for `finetune worker`s and this process follows and records them.

import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { Queue, QueueEvents } from 'bullmq';
import { parseQueueUrl, SearchTally, searchId, trialJobData } from '../hpo/queue.ts';
import { enqueueTrials, followTrials, probeRedis, QUEUE_NAME, redisConnection, takeRecordLock } from '../hpo/queue-redis.ts';
import { formatResults, gridTrials, parseValues, randomTrials, recordSearch, runSearch, type SearchSpace, type Trial, type TrialResult } from '../hpo/search.ts';
import { writeHtmlReport, type RunLog } from '../report/index.ts';
import { greaterIsBetter, type TrainingArguments } from '../train/args.ts';
import { describeSettings, resolveSettings, type PipelineConfig } from '../tasks/config.ts';
import { DEMO_TRAINING_OVERRIDES, spamAssassinDataset } from '../tasks/demo.ts';
import { trainTextClassifier } from '../tasks/text-classification.ts';
import type { TextDataset } from '../data/index.ts';
import { printLine } from './progress.ts';
import { addSettingFlags, settingsLayers } from './train.ts';

/** The search's report: every trial with its settings and validation metrics, the best one kept. */
export function searchRunLog(results: TrialResult[], args: TrainingArguments, settingsLines: string[], bestDir: string): RunLog {
  const metric = args.metric_for_best_model.replace(/^eval_/, '');
  const best = results[0];
  return {
    records: [],
    summary: {
      title: `finetune search: ${results.length} trials`,
      task: 'text-classification',
      outputDir: args.output_dir,
      status: 'completed',
      ...(best ? { headline: { metric, value: best.metric, split: 'validation' } } : {}),
      search: {
        metric,
        direction: greaterIsBetter(args) ? 'maximize' : 'minimize',
        trials: results.map((r) => ({
          id: r.trial,
          params: r.params as Record<string, number>,
          metrics: r.metrics,
          status: 'completed' as const,
          durationSeconds: r.seconds,
          kept: r === best,
        })),
      },
      notes: [`best model kept in ${bestDir}`, ...settingsLines.map((l) => l.trim())],
    },
  };
}

/**
 * Trains one trial (arguments from trialArguments) and returns its validation metrics: the one trial
 * runner of the local search and of a queue worker, so both give the same numbers for the same trial.
 */
export async function runClassificationTrial(
  pipeline: PipelineConfig,
  trialArgs: TrainingArguments,
  data: TextDataset | undefined,
  message: (m: string) => void,
  signal?: AbortSignal,
): Promise<Record<string, number>> {
  const run = await trainTextClassifier(pipeline, trialArgs, { message, ...(signal ? { signal } : {}) }, data ? { train: data } : undefined);
  return run.validation?.metrics ?? {};
}

/**
 * The pipeline settings as another machine must read them: data files made absolute, and the model
 * too when it names a local folder (a Hub id stays as given). The paths must be on storage every
 * worker mounts at the same place.
 */
export function portablePipeline(pipeline: PipelineConfig, cwd = process.cwd()): PipelineConfig {
  const abs = (p: string | null): string | null => (p === null ? null : resolve(cwd, p));
  const model = pipeline.model !== null && existsSync(resolve(cwd, pipeline.model)) ? resolve(cwd, pipeline.model) : pipeline.model;
  return { ...pipeline, model, train_file: abs(pipeline.train_file), validation_file: abs(pipeline.validation_file), test_file: abs(pipeline.test_file) };
}

/** `finetune search --queue`: enqueue every trial, follow them, record the results once. */
async function searchOnQueue(url: string, local: PipelineConfig, localArgs: TrainingArguments, trials: Trial[], print: (s: string) => void): Promise<void> {
  const server = parseQueueUrl(url);
  const pipeline = portablePipeline(local) as unknown as Record<string, unknown>;
  const args: TrainingArguments = { ...localArgs, output_dir: resolve(localArgs.output_dir) };
  if (trials.length === 0) throw new ConfigError('search', 'no trials: give at least one value list (e.g. --lr 1e-4,3e-4)');
  const id = searchId(pipeline, args, trials);
  const jobs = trials.map((_, i) => trialJobData(id, trials, i, pipeline, args));
  await probeRedis(server);
  const connection = redisConnection(server);
  const queue = new Queue(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  const onError = (e: Error): void => print(`queue: ${e.message} (retrying)`);
  queue.on('error', onError);
  events.on('error', onError);
  try {
    await queue.waitUntilReady();
    await mkdir(args.output_dir, { recursive: true });
    await enqueueTrials(queue, jobs);
    print(`search ${id}: ${jobs.length} trial(s) on ${url} (queue "${QUEUE_NAME}"); start \`finetune worker --queue ${url}\` on machines that see ${args.output_dir}`);
    const tally = await followTrials(queue, events, jobs, args, print);
    const failed = tally.failed();
    if (failed.length > 0) print(`\n${failed.length} trial(s) failed: ${failed.map((f) => `trial ${f.trial}: ${f.error}`).join('; ')}`);
    if (tally.results().length === 0) throw new ConfigError('search', `no trial of search ${id} finished, so there is no best model to keep; fix the errors above and run the search again`);
    const lock = await takeRecordLock(server, id);
    if (!lock.mine) {
      print(`\nsearch ${id} was already recorded (by ${lock.holder}): results in ${join(args.output_dir, 'search_results.json')}, best model in ${join(args.output_dir, 'best')}`);
      return;
    }
    const { results, bestDir } = await recordSearch(args, tally.results());
    print(`\n${formatResults(results, args.metric_for_best_model)}`);
    let reportNote = '';
    if (args.report) {
      const path = join(args.output_dir, 'report.html');
      await writeHtmlReport(path, searchRunLog(results, args, describeSettings(local, args), bestDir));
      reportNote = `; report: ${path}`;
    }
    print(`\nbest model: ${bestDir} (results in ${args.output_dir}/search_results.json${reportNote})`);
  } finally {
    await events.close();
    await queue.close();
  }
}

export function registerSearch(program: Command): void {
  const cmd = program
    .command('search')
    .description('hyperparameter search: train one model per setting, keep the best on the validation split')
    .option('--lr <values>', 'learning rates to try, e.g. 1e-4,3e-4,1e-3')
    .option('--batch-sizes <values>', 'batch sizes to try, e.g. 16,32')
    .option('--epochs <values>', 'epoch counts to try, e.g. 2,3')
    .option('--warmup-ratios <values>', 'warmup ratios to try, e.g. 0,0.1')
    .option('--weight-decays <values>', 'weight decays to try, e.g. 0,0.01')
    .option('--random <n>', 'random search: try n of the combinations (default: the whole grid)')
    .option('--queue <url>', 'distributed: enqueue the trials on this Redis server (redis://host:6379) for `finetune worker`s, follow them and record the results')
    .addHelpText('after', '\nExample:\n  $ finetune search --train-file sms.tsv --format tsv --no-header --column-names label,text --lr 1e-4,3e-4 --batch-sizes 16,32 --metric-for-best-model f1_macro\n');
  addSettingFlags(cmd).action(async (opts: Record<string, unknown>) => {
    const { layers, isDemo } = await settingsLayers(opts, cmd, { ...DEMO_TRAINING_OVERRIDES, output_dir: 'finetune-search', validation_split: 0.1 });
    const { pipeline, args } = resolveSettings(layers);
    if (pipeline.task !== 'text-classification') {
      throw new ConfigError('task', `search runs text-classification trials only, got "${pipeline.task}"; tune other tasks with repeated \`finetune train\` runs`);
    }
    const space: SearchSpace = {};
    if (opts.lr) space.learning_rate = parseValues('learning_rate', String(opts.lr));
    if (opts.batchSizes) space.per_device_train_batch_size = parseValues('per_device_train_batch_size', String(opts.batchSizes));
    if (opts.epochs) space.num_train_epochs = parseValues('num_train_epochs', String(opts.epochs));
    if (opts.warmupRatios) space.warmup_ratio = parseValues('warmup_ratio', String(opts.warmupRatios));
    if (opts.weightDecays) space.weight_decay = parseValues('weight_decay', String(opts.weightDecays));
    const trials = opts.random ? randomTrials(space, Number(opts.random), args.seed) : gridTrials(space);
    const print = (s: string): void => printLine(s);
    for (const line of describeSettings(pipeline, args, layers.map((l) => l.source))) print(line);
    print(`search: ${trials.length} trial(s), scored by validation ${args.metric_for_best_model}`);
    if (typeof opts.queue === 'string') {
      if (isDemo) throw new ConfigError('--queue', 'a distributed search needs your data: give --train-file (on storage every worker mounts at the same path)');
      await searchOnQueue(opts.queue, pipeline, args, trials, print);
      return;
    }
    const data = isDemo ? spamAssassinDataset() : undefined;
    const tally = new SearchTally(args, trials.length);
    const { results, bestDir } = await runSearch(
      args,
      trials,
      async (trialArgs, i) => {
        print(`\ntrial ${i}: ${JSON.stringify(trials[i])}`);
        return runClassificationTrial(pipeline, trialArgs, data, (m) => print(`  ${m}`));
      },
      (r) => print(tally.finish(r)),
    );
    print(`\n${formatResults(results, args.metric_for_best_model)}`);
    let reportNote = '';
    if (args.report) {
      const path = join(args.output_dir, 'report.html');
      await writeHtmlReport(path, searchRunLog(results, args, describeSettings(pipeline, args), bestDir));
      reportNote = `; report: ${path}`;
    }
    print(`\nbest model: ${bestDir} (results in ${args.output_dir}/search_results.json${reportNote})`);
  });
}

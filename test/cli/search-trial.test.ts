// The trial a queue worker would run from its job data (after a JSON round trip, as it crosses Redis)
// gives exactly the validation metrics of the same trial in a local search: the job data carries
// everything a trial needs, and both paths share runClassificationTrial. Tiny scratch model, 2 steps.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { portablePipeline, runClassificationTrial } from '../../src/cli/search.ts';
import { parseTrialJobData, searchId, trialJobData, trialJobId } from '../../src/hpo/queue.ts';
import { gridTrials, runSearch, trialArguments } from '../../src/hpo/search.ts';
import { resolveSettings } from '../../src/tasks/config.ts';
import { tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const dir = tempDir('finetune-search-trial-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a trial from its job data', () => {
  it('matches the local search trial by trial', async () => {
    const train = writeSentimentCsv(dir, 40);
    const settings = (out: string) =>
      resolveSettings([{ values: { train_file: train, max_steps: 2, metric_for_best_model: 'accuracy', output_dir: out, scratch_hidden_size: 32, scratch_intermediate_size: 64, scratch_vocab_size: 200, seed: 7 }, source: 'test' }]);
    const trials = gridTrials({ learning_rate: [1e-3, 3e-3] });
    const quiet = (): void => {};

    const local = settings(join(dir, 'local'));
    const { results } = await runSearch(local.args, trials, (a) => runClassificationTrial(local.pipeline, a, undefined, quiet));

    const remote = settings(join(dir, 'remote'));
    const pipeline = portablePipeline(remote.pipeline);
    const id = searchId(pipeline, remote.args, trials);
    for (let i = 0; i < trials.length; i++) {
      const wire: unknown = JSON.parse(JSON.stringify(trialJobData(id, trials, i, { ...pipeline }, remote.args)));
      const job = parseTrialJobData(wire, trialJobId(id, i));
      const jobPipeline = resolveSettings([{ values: job.pipeline, source: `job ${trialJobId(id, i)}` }]).pipeline; // validated as a worker would
      const metrics = await runClassificationTrial(jobPipeline, trialArguments(job.args, job.params, job.trial), undefined, quiet);
      const mine = results.find((r) => r.trial === i);
      assert.ok(mine, `trial ${i} missing from the local results`);
      assert.equal(typeof metrics.accuracy, 'number');
      assert.deepEqual(Object.keys(metrics).sort(), Object.keys(mine.metrics).sort());
      for (const k of Object.keys(metrics)) {
        if (/runtime|per_second/.test(k)) continue; // wall-clock figures
        assert.equal(metrics[k], mine.metrics[k], `trial ${i} ${k}`);
      }
    }
  });
});

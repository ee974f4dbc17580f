// The Redis-free parts of the distributed search: --queue URL parsing, the search id and per-trial job
// ids (stable, so re-enqueueing is idempotent) and the validation of a job's data.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { parseQueueUrl, parseTrialJobData, SearchTally, searchId, trialJobId } from '../../src/hpo/queue.ts';
import { gridTrials, trialResult } from '../../src/hpo/search.ts';
import { DEFAULT_PIPELINE_CONFIG } from '../../src/tasks/config.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';

describe('parseQueueUrl', () => {
  it('reads host, port, database and credentials', () => {
    assert.deepEqual(parseQueueUrl('redis://host:6380'), { host: 'host', port: 6380, db: 0 });
    assert.deepEqual(parseQueueUrl('redis://10.0.0.2'), { host: '10.0.0.2', port: 6379, db: 0 });
    assert.deepEqual(parseQueueUrl('redis://u:p%40ss@h:1/3'), { host: 'h', port: 1, db: 3, username: 'u', password: 'p@ss' });
    assert.deepEqual(parseQueueUrl('redis://[::1]:7000'), { host: '::1', port: 7000, db: 0 });
  });
  it('names the flag and shows the expected form', () => {
    for (const bad of ['host:6379', 'http://host:6379', 'redis://h/x', 'not a url']) {
      assert.throws(() => parseQueueUrl(bad), (e: unknown) => e instanceof ConfigError && /--queue/.test(e.message) && /redis:\/\//.test(e.message), bad);
    }
  });
});

describe('searchId and trialJobId', () => {
  const trials = gridTrials({ learning_rate: [1e-4, 3e-4], per_device_train_batch_size: [8, 16] });
  const base = { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: '/shared/search' };
  it('is the same for the same search, whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as typeof base;
    assert.equal(searchId(DEFAULT_PIPELINE_CONFIG, base, trials), searchId(DEFAULT_PIPELINE_CONFIG, reordered, trials));
    assert.match(searchId(DEFAULT_PIPELINE_CONFIG, base, trials), /^[0-9a-f]{16}$/);
  });
  it('differs when the trials, settings or output folder differ', () => {
    const id = searchId(DEFAULT_PIPELINE_CONFIG, base, trials);
    assert.notEqual(searchId(DEFAULT_PIPELINE_CONFIG, base, trials.slice(1)), id);
    assert.notEqual(searchId(DEFAULT_PIPELINE_CONFIG, { ...base, seed: base.seed + 1 }, trials), id);
    assert.notEqual(searchId(DEFAULT_PIPELINE_CONFIG, { ...base, output_dir: '/shared/other' }, trials), id);
  });
  it('gives one job id per trial, without the ":" BullMQ refuses in custom ids', () => {
    const ids = trials.map((_, i) => trialJobId('abc', i));
    assert.equal(new Set(ids).size, trials.length);
    assert.ok(ids.every((id) => !id.includes(':') && !/^\d+$/.test(id)));
  });
});

describe('parseTrialJobData', () => {
  const good = { search: 'abc', trial: 1, total: 4, params: { learning_rate: 1e-4 }, pipeline: { ...DEFAULT_PIPELINE_CONFIG }, args: { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: '/shared/s' } };
  it('accepts what the search enqueues (after a JSON round trip)', () => {
    const d = parseTrialJobData(JSON.parse(JSON.stringify(good)), 'abc-trial-1');
    assert.equal(d.trial, 1);
    assert.deepEqual(d.params, { learning_rate: 1e-4 });
    assert.equal(d.args.output_dir, '/shared/s');
  });
  it('names the job and the field that is wrong', () => {
    const cases: [unknown, RegExp][] = [
      [null, /job j: data/],
      [{ ...good, trial: -1 }, /job j: trial/],
      [{ ...good, total: 1 }, /job j: total/],
      [{ ...good, params: { dropout: 0.1 } }, /job j: params\.dropout/],
      [{ ...good, params: { learning_rate: 'fast' } }, /job j: params\.learning_rate/],
      [{ ...good, args: { output_dir: 3 } }, /job j: args/],
    ];
    for (const [data, re] of cases) assert.throws(() => parseTrialJobData(data, 'j'), re);
  });
});

describe('SearchTally', () => {
  const base = { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: '/s', metric_for_best_model: 'eval_accuracy' };
  const result = (trial: number, accuracy: number) => trialResult(base, trial, { learning_rate: trial }, { accuracy }, 1);
  it('counts results in arrival order, once each, with the best so far', () => {
    const t = new SearchTally(base, 3);
    assert.equal(t.finish(result(2, 0.6)), 'trial 2 done (1/3): accuracy 0.6000; best so far: trial 2 (0.6000)');
    assert.equal(t.finish(result(0, 0.8)), 'trial 0 done (2/3): accuracy 0.8000; best so far: trial 0 (0.8000)');
    assert.equal(t.finish(result(0, 0.8)), 'trial 0 done (2/3): accuracy 0.8000; best so far: trial 0 (0.8000)'); // seen again
    assert.equal(t.complete, false);
    assert.match(t.fail(1, 'config "learning_rate": must be > 0'), /^trial 1 failed \(3\/3\): config "learning_rate"/);
    assert.equal(t.complete, true);
    assert.deepEqual(t.results().map((r) => r.trial), [0, 2]);
    assert.deepEqual(t.failed(), [{ trial: 1, error: 'config "learning_rate": must be > 0' }]);
  });
  it('breaks ties towards the lower trial and minimises losses', () => {
    const t = new SearchTally(base, 2);
    t.finish(result(1, 0.7));
    t.finish(result(0, 0.7));
    assert.equal(t.best()?.trial, 0);
    const lossBase = { ...base, metric_for_best_model: 'loss' };
    const l = new SearchTally(lossBase, 2);
    l.finish(trialResult(lossBase, 0, {}, { loss: 0.4 }, 1));
    l.finish(trialResult(lossBase, 1, {}, { loss: 0.3 }, 1));
    assert.equal(l.best()?.trial, 1);
  });
});

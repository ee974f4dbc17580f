// The Redis-free parts of the distributed search: --queue URL parsing, the search id and per-trial job
// ids (stable, so re-enqueueing is idempotent) and the validation of a job's data.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { parseQueueUrl, parseTrialJobData, searchId, trialJobId } from '../../src/hpo/queue.ts';
import { gridTrials } from '../../src/hpo/search.ts';
import { DEFAULT_PIPELINE_CONFIG } from '../../src/pipeline/config.ts';
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

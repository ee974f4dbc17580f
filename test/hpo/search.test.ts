// recordSearch (shared by the local search and, later, the queue follower): ranks the trials by the
// metric in the right direction, keeps the best trial's folder as best/, removes the others and writes
// search_results.json.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { recordSearch, trialArguments, trialResult } from '../../src/hpo/search.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';

const root = mkdtempSync(join(tmpdir(), 'finetune-record-'));
after(() => rmSync(root, { recursive: true, force: true }));

function searchFolder(name: string, n: number): string {
  const dir = join(root, name);
  for (let i = 0; i < n; i++) {
    mkdirSync(join(dir, `trial-${i}`), { recursive: true });
    writeFileSync(join(dir, `trial-${i}`, 'marker'), String(i));
  }
  return dir;
}

describe('recordSearch', () => {
  it('keeps the trial with the highest accuracy', async () => {
    const dir = searchFolder('acc', 3);
    const base = { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: dir, metric_for_best_model: 'eval_accuracy' };
    const finished = [0.5, 0.9, 0.7].map((a, i) => trialResult(base, i, { learning_rate: i }, { accuracy: a, loss: 1 }, 1));
    const { results, bestDir } = await recordSearch(base, finished);
    assert.deepEqual(results.map((r) => r.trial), [1, 2, 0]);
    assert.equal(readFileSync(join(bestDir, 'marker'), 'utf8'), '1');
    assert.ok(!existsSync(join(dir, 'trial-0')) && !existsSync(join(dir, 'trial-1')) && !existsSync(join(dir, 'trial-2')));
    const saved = JSON.parse(readFileSync(join(dir, 'search_results.json'), 'utf8')) as { metric: string; greater_is_better: boolean; results: { trial: number }[] };
    assert.equal(saved.metric, 'accuracy');
    assert.equal(saved.greater_is_better, true);
    assert.deepEqual(saved.results.map((r) => r.trial), [1, 2, 0]);
  });
  it('keeps the trial with the lowest loss', async () => {
    const dir = searchFolder('loss', 2);
    const base = { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: dir, metric_for_best_model: 'loss' };
    const { results } = await recordSearch(base, [trialResult(base, 0, {}, { loss: 0.3 }, 1), trialResult(base, 1, {}, { loss: 0.2 }, 1)]);
    assert.equal(results[0].trial, 1);
    assert.equal(readFileSync(join(dir, 'best', 'marker'), 'utf8'), '1');
  });
  it('refuses an empty search and a missing metric', async () => {
    const base = { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: join(root, 'none'), metric_for_best_model: 'f1_macro' };
    await assert.rejects(recordSearch(base, []), /no trial finished/);
    assert.throws(() => trialResult(base, 0, {}, { accuracy: 1 }, 1), /"f1_macro" is not among the trial's metrics \(accuracy\)/);
  });
});

describe('trialArguments', () => {
  it('puts each trial in its own folder under the search folder', () => {
    const a = trialArguments({ ...DEFAULT_TRAINING_ARGUMENTS, output_dir: '/s' }, { learning_rate: 0.1 }, 3);
    assert.equal(a.output_dir, join('/s', 'trial-3'));
    assert.equal(a.learning_rate, 0.1);
    assert.equal(a.report, false);
  });
});

// `finetune search` run as a user runs it: trials use the same defaults as `train` (a model built from
// scratch gets train's scratch learning rate, batch size, warmup and weight decay unless searched), and
// the search writes report.html with every trial.

import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SCRATCH_TRAINING_DEFAULTS } from '../../src/tasks/demo.ts';
import { runCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const dir = tempDir('finetune-search-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('finetune search', () => {
  it('uses train\'s defaults and writes a report of the trials', () => {
    const data = writeSentimentCsv(dir, 60);
    const out = join(dir, 'search');
    const r = runCli(['--threads', '1', 'search', '--train-file', data, '--batch-sizes', '8,16', '--max-steps', '2', '--metric-for-best-model', 'accuracy', '--output-dir', out], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const settings = r.stdout.slice(r.stdout.indexOf('settings ('), r.stdout.indexOf('search: '));
    assert.match(settings, /defaults for a model built from scratch/);
    assert.ok(settings.includes(`learning_rate ${SCRATCH_TRAINING_DEFAULTS.learning_rate}`), settings);
    assert.ok(settings.includes(`warmup_ratio ${SCRATCH_TRAINING_DEFAULTS.warmup_ratio}`), settings);
    assert.ok(settings.includes(`weight_decay ${SCRATCH_TRAINING_DEFAULTS.weight_decay}`), settings);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<h2>Hyperparameter search<\/h2>/);
    assert.match(html, /2 trials, ranked by <code>accuracy<\/code>/);
    assert.match(r.stdout, /report: .*report\.html/);
    assert.match(r.stdout, /trial \d done \(2\/2\): accuracy [\d.]+; best so far: trial \d/);
  });
});

// Killing a training run with SIGKILL and resuming from its last checkpoint ends bitwise identical to
// an uninterrupted run with the same seed; the killed run leaves only complete checkpoints.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, startCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const COMMON = ['--max-steps', '12', '--save-strategy', 'steps', '--save-steps', '3', '--eval-strategy', 'steps', '--eval-steps', '6',
  '--per-device-train-batch-size', '8', '--learning-rate', '1e-3', '--max-length', '16', '--no-report', '--save-total-limit', '0',
  '--metric-for-best-model', 'accuracy'];

function scratch(dir: string): string[] {
  return ['train', '--train-file', join(dir, 'train.csv'), ...COMMON];
}

describe('resume after SIGKILL', () => {
  it('ends with the same weights, bit for bit, as an uninterrupted run', async () => {
    const dir = tempDir();
    writeSentimentCsv(dir, 120);
    const full = runCli([...scratch(dir), '--output-dir', join(dir, 'full'), '--load-best-model-at-end', 'false']);
    assert.equal(full.code, 0, full.stderr + full.stdout);

    const out = join(dir, 'killed');
    const child = startCli([...scratch(dir), '--output-dir', out]);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(join(out, 'checkpoint-6'))) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        if (!existsSync(join(out, 'checkpoint-6'))) reject(new Error('the run ended before it could be killed'));
        else resolve();
      });
    });
    await new Promise((r) => child.on('exit', r));
    // Only complete checkpoints (temp folders are not checkpoint-N names).
    for (const name of readdirSync(out).filter((n) => /^checkpoint-\d+$/.test(n))) {
      assert.ok(existsSync(join(out, name, 'trainer_state.json')), `${name} is incomplete`);
      assert.ok(existsSync(join(out, name, 'model.safetensors')), `${name} has no weights`);
    }
    assert.ok(!existsSync(join(out, 'checkpoint-12')), 'the killed run should not have finished');

    const resumed = runCli([...scratch(dir), '--output-dir', out, '--resume-from-checkpoint', 'latest', '--load-best-model-at-end', 'false']);
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    assert.match(resumed.stdout, /resumed from .*checkpoint-\d+ at step \d+/);
    const a = readFileSync(join(dir, 'full', 'checkpoint-12', 'model.safetensors'));
    const b = readFileSync(join(out, 'checkpoint-12', 'model.safetensors'));
    assert.ok(a.equals(b), 'final weights differ between the uninterrupted and the resumed run');
    const oa = readFileSync(join(dir, 'full', 'checkpoint-12', 'optimizer.safetensors'));
    const ob = readFileSync(join(out, 'checkpoint-12', 'optimizer.safetensors'));
    assert.ok(oa.equals(ob), 'optimizer state differs');
  });
});

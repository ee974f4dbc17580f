// kill -9 at several moments of `finetune train` (mid-checkpoint write, between checkpoints), then resume with
// --resume-from-checkpoint latest: the final weights and optimizer state are byte-identical to an uninterrupted
// run, metrics.jsonl holds each step once, and the dead run's lock does not block the resume.
// (test/train/resume.test.ts covers the kill after checkpoint-6.)

import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, startCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const COMMON = ['--max-steps', '12', '--save-strategy', 'steps', '--save-steps', '3', '--eval-strategy', 'steps', '--eval-steps', '6',
  '--per-device-train-batch-size', '8', '--learning-rate', '1e-3', '--max-length', '16', '--no-report', '--save-total-limit', '2',
  '--metric-for-best-model', 'accuracy', '--load-best-model-at-end', 'false', '--logging-steps', '1'];

/** Kill moments: a predicate on the output folder's entries that says "now". */
const MOMENTS: [string, (names: string[]) => boolean][] = [
  ['mid-checkpoint write (checkpoint-9 half written)', (n) => n.some((x) => /^checkpoint-9\.tmp-\d+$/.test(x))],
  ['after checkpoint-9', (n) => n.includes('checkpoint-9')],
];

describe('kill -9 at several moments, then resume', () => {
  it('ends byte-identical to an uninterrupted run every time', { timeout: 240_000 }, async () => {
    const dir = tempDir();
    const train = writeSentimentCsv(dir, 120);
    const full = runCli(['train', '--train-file', train, ...COMMON, '--output-dir', join(dir, 'full')]);
    assert.equal(full.code, 0, full.stderr);
    for (const [k, [name, now]] of MOMENTS.entries()) {
      const out = join(dir, `killed-${k}`);
      const child = startCli(['train', '--train-file', train, ...COMMON, '--output-dir', out]);
      const killed = await new Promise<boolean>((resolve) => {
        const timer = setInterval(() => {
          let names: string[] = [];
          try {
            names = readdirSync(out);
          } catch {
            return;
          }
          if (now(names)) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve(true);
          }
        }, 5);
        child.on('exit', () => {
          clearInterval(timer);
          resolve(false);
        });
      });
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
      if (!killed) {
        console.log(`${name}: the run finished before the moment came (skipped)`);
        continue;
      }
      if (readdirSync(out).filter((n) => /^checkpoint-\d+$/.test(n)).length === 0) {
        console.log(`${name}: killed before the first checkpoint; nothing to resume`);
        continue;
      }
      const resumed = runCli(['train', '--train-file', train, ...COMMON, '--output-dir', out, '--resume-from-checkpoint', 'latest']);
      assert.equal(resumed.code, 0, `${name}: ${resumed.stderr}`);
      for (const f of ['model.safetensors', 'optimizer.safetensors']) {
        assert.ok(readFileSync(join(dir, 'full', 'checkpoint-12', f)).equals(readFileSync(join(out, 'checkpoint-12', f))), `${name}: ${f} differs`);
      }
      const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss?: number })
        .filter((r) => r.loss !== undefined).map((r) => r.step);
      assert.deepEqual(steps, [...new Set(steps)], `${name}: metrics.jsonl repeats steps`);
      assert.ok(!readdirSync(out).some((n) => n.includes('.tmp-')), `${name}: a temp folder was left behind`);
      assert.ok(!existsSync(join(out, '.finetune.lock')), `${name}: the lock outlived the run`);
    }
  });
});

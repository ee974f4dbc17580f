// `finetune launch`: 2 ranks over Gloo on loopback. Killing rank 1 mid-run makes rank 0 fail its next
// allreduce and the launcher exit non-zero well within --timeout; every checkpoint left is complete;
// relaunching with --resume-from-checkpoint latest finishes. Skips without the Gloo addon.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launch } from '../../src/cli/launch.ts';
import { BIN, runCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const skip = existsSync(join(root, 'build/Release/finetune_dist.node')) ? false : 'needs build/Release/finetune_dist.node (apt-get install libgloo-dev; npm run install)';
const TIMEOUT_S = 15;

function train(dir: string, extra: string[] = []): string[] {
  return ['launch', '--nproc-per-node', '2', '--timeout', String(TIMEOUT_S), '--master-port', '29611', '--', 'train', '--train-file', join(dir, 'train.csv'),
    '--max-steps', '30', '--save-strategy', 'steps', '--save-steps', '3', '--eval-strategy', 'no', '--per-device-train-batch-size', '4',
    '--learning-rate', '1e-3', '--max-length', '16', '--no-report', '--save-total-limit', '0', '--threads', '1', '--output-dir', join(dir, 'out'), ...extra];
}

/** The child of `launcher` whose environment has RANK=rank. */
function rankPid(launcher: number, rank: number): number | null {
  const r = spawnSync('pgrep', ['-P', String(launcher)], { encoding: 'utf8' });
  for (const pid of r.stdout.split('\n').filter(Boolean).map(Number)) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`RANK=${rank}`)) return pid;
    } catch {
      // exited meanwhile
    }
  }
  return null;
}

describe('finetune launch', { skip }, () => {
  it('a killed rank stops the others within --timeout; checkpoints stay intact; a relaunch resumes', { timeout: 150_000 }, async (t) => {
    const dir = tempDir();
    writeSentimentCsv(dir, 120);
    const out = join(dir, 'out');
    const child = spawn(process.execPath, [BIN, ...train(dir)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let killedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(join(out, 'checkpoint-6'))) {
          const pid = rankPid(child.pid as number, 1);
          if (pid === null) return;
          clearInterval(timer);
          process.kill(pid, 'SIGKILL');
          killedAt = performance.now();
          resolve();
        }
      }, 20);
      void exited.then(() => {
        clearInterval(timer);
        reject(new Error(`the run ended before rank 1 could be killed:\n${err}`));
      });
    });
    const code = await exited;
    const seconds = (performance.now() - killedAt) / 1000;
    t.diagnostic(`launcher exited ${seconds.toFixed(1)} s after rank 1 was killed`);
    assert.equal(code, 1, err);
    assert.ok(seconds < TIMEOUT_S + 5, `the launcher took ${seconds.toFixed(1)} s to stop after rank 1 died`);
    assert.match(err, /rank 1 \(pid \d+\) exited with signal SIGKILL/);
    assert.match(err, /\[rank 0\] .*gloo/i);
    const ckpts = readdirSync(out).filter((n) => /^checkpoint-\d+$/.test(n));
    assert.ok(ckpts.length > 0);
    assert.ok(!ckpts.includes('checkpoint-30'), 'the run should not have finished');
    for (const name of ckpts) {
      assert.ok(existsSync(join(out, name, 'trainer_state.json')), `${name} is incomplete`);
      assert.ok(existsSync(join(out, name, 'model.safetensors')), `${name} has no weights`);
    }
    const resumed = runCli(train(dir, ['--resume-from-checkpoint', 'latest']), { timeoutMs: 120_000 });
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    assert.match(resumed.stdout + resumed.stderr, /resumed from .*checkpoint-\d+ at step \d+/);
    assert.ok(existsSync(join(out, 'checkpoint-30', 'model.safetensors')));
  });
});

describe('launch flags', () => {
  const base = { nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29500, timeout: 60 };
  it('refuses bad flags before starting anything', async () => {
    await assert.rejects(launch({ ...base, nprocPerNode: 0 }, ['train']), /--nproc-per-node/);
    await assert.rejects(launch({ ...base, nnodes: 2, nodeRank: 2 }, ['train']), /--node-rank/);
    await assert.rejects(launch({ ...base, nnodes: 2, nodeRank: 1 }, ['train']), /--rdzv/);
    await assert.rejects(launch(base, []), /after `--`/);
  });
});

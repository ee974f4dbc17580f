// Run identity of checkpoints: rotation deletes only this run's, resume refuses another run's (or a mix
// under "latest"); metrics.jsonl is cut back to the resumed step; a failed checkpoint write leaves no temp folder.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { resolveResumeCheckpoint, rotateCheckpoints, truncateMetricsLog, writeCheckpoint, type TrainerState } from '../../src/train/checkpoint.ts';
import { tempDir } from '../helpers/cli.ts';

function fakeCheckpoint(out: string, step: number, runId: string | null): string {
  const dir = join(out, `checkpoint-${step}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'trainer_state.json'), JSON.stringify({ global_step: step, sampler: {}, ...(runId ? { run_id: runId } : {}) }));
  return dir;
}

describe('checkpoint run identity', () => {
  it('rotation deletes only this run\'s oldest checkpoints', async () => {
    const out = tempDir();
    fakeCheckpoint(out, 500, 'old');
    fakeCheckpoint(out, 10, 'new');
    fakeCheckpoint(out, 20, 'new');
    await rotateCheckpoints(out, 1, null, 'new');
    assert.deepEqual(readdirSync(out).sort(), ['checkpoint-20', 'checkpoint-500']);
  });

  it('resume "latest" refuses a folder mixing runs; an explicit foreign checkpoint is refused', async () => {
    const out = tempDir();
    fakeCheckpoint(out, 10, 'a');
    assert.equal(await resolveResumeCheckpoint(out, 'latest'), join(out, 'checkpoint-10'));
    fakeCheckpoint(out, 30, 'b');
    await assert.rejects(resolveResumeCheckpoint(out, 'latest'), (e: Error) => e instanceof ConfigError && /2 different runs/.test(e.message));
    const other = tempDir();
    const foreign = fakeCheckpoint(other, 40, 'c');
    const single = tempDir();
    fakeCheckpoint(single, 5, 'a');
    await assert.rejects(resolveResumeCheckpoint(single, foreign), /belongs to run c, but .* holds checkpoints of run a/);
    assert.equal(await resolveResumeCheckpoint(tempDir(), foreign), foreign, 'a fresh folder may continue a copied checkpoint');
    await assert.rejects(resolveResumeCheckpoint(out, other), /not a checkpoint folder/);
    await assert.rejects(resolveResumeCheckpoint(tempDir(), 'latest'), /no checkpoint-N folder/);
  });

  it('metrics.jsonl is cut back to the resumed step (and a torn last line dropped)', () => {
    const d = tempDir();
    const p = join(d, 'metrics.jsonl');
    writeFileSync(p, ['{"step":3,"loss":1}', '{"step":6,"eval_accuracy":0.5}', '{"step":9,"loss":0.5}', '{"step":12,"lo'].join('\n'));
    truncateMetricsLog(p, 6);
    assert.equal(readFileSync(p, 'utf8'), '{"step":3,"loss":1}\n{"step":6,"eval_accuracy":0.5}\n');
  });

  it('a checkpoint write that fails (e.g. disk full) leaves no temp folder', async () => {
    const out = tempDir();
    const state = { global_step: 1, run_id: 'x' } as unknown as TrainerState;
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    await assert.rejects(writeCheckpoint(join(out, 'checkpoint-1'), async () => { throw enospc; }, { m: [], v: [] }, state), /ENOSPC/);
    assert.deepEqual(readdirSync(out), []);
    assert.ok(!existsSync(join(out, 'checkpoint-1')));
  });
});

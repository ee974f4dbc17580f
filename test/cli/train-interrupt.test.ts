// Ctrl-C / SIGTERM during `finetune train` (the real binary in a child process): training stops at the
// next step boundary, writes a resumable checkpoint of that step, exits 130 (SIGINT) / 143 (SIGTERM),
// says "interrupted at step N" (log, metrics.jsonl, report.html) with the exact resume command, and
// leaves the final model already in the output folder byte-identical; the checkpoint then resumes.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, startCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const dir = tempDir('finetune-interrupt-');
const csv = writeSentimentCsv(dir, 48);
const out = join(dir, 'run');
const tiny = join(dir, 'tiny.yaml');
writeFileSync(tiny, 'scratch_vocab_size: 100\nscratch_hidden_size: 32\nscratch_intermediate_size: 64\nscratch_num_heads: 2\nscratch_num_layers: 1\n');
const COMMON = ['train', '-c', tiny, '--train-file', csv, '--output-dir', out, '--per-device-train-batch-size', '8', '--eval-strategy', 'no', '--logging-steps', '1', '--seed', '3'];

/** Steps logged in metrics.jsonl so far. */
function loggedSteps(): number[] {
  if (!existsSync(join(out, 'metrics.jsonl'))) return [];
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { step: number }).step);
}

/** Starts a long run, sends `signal` once a step past `after` is logged, and collects the result. */
async function interruptAfter(args: string[], after: number, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = startCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 120_000;
  let sent = false;
  while (!sent && Date.now() < deadline && child.exitCode === null) {
    if (loggedSteps().some((s) => s > after)) {
      child.kill(signal);
      sent = true;
    } else await new Promise((r) => setTimeout(r, 50));
  }
  if (!sent) child.kill('SIGKILL');
  const code = await exited;
  assert.ok(sent, `no step past ${after} was logged in time\n${stdout}\n${stderr}`);
  return { code, stdout, stderr };
}

describe('finetune train interrupted by a signal', () => {
  it('SIGINT: checkpoint of the step, exit 130, final model untouched; SIGTERM: exit 143; both resume', async () => {
    // An earlier completed run leaves a final model (and checkpoints) in the folder.
    const first = runCli([...COMMON, '--max-steps', '2', '--save-strategy', 'steps', '--save-steps', '2']);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const finalBefore = readFileSync(join(out, 'model.safetensors'));
    const configBefore = readFileSync(join(out, 'config.json'), 'utf8');

    // Resume it for a long run and press Ctrl-C after its first step.
    const r = await interruptAfter([...COMMON, '--max-steps', '100000', '--save-strategy', 'no', '--resume-from-checkpoint', join(out, 'checkpoint-2')], 2, 'SIGINT');
    assert.equal(r.code, 130, r.stdout + r.stderr);
    const step = Number(/interrupted at step (\d+) of 100000; resumable checkpoint: (\S+)/.exec(r.stdout)?.[1]);
    assert.ok(step >= 3, r.stdout);
    const ckpt = join(out, `checkpoint-${step}`);
    assert.ok(existsSync(join(ckpt, 'trainer_state.json')) && existsSync(join(ckpt, 'model.safetensors')), 'a full checkpoint of the interrupted step');
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(finalBefore), 'the earlier final model is untouched');
    assert.equal(readFileSync(join(out, 'config.json'), 'utf8'), configBefore);
    assert.doesNotMatch(r.stdout, /saved the model to/);
    const last = JSON.parse(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!) as { step: number; status: string };
    assert.deepEqual([last.step, last.status], [step, 'interrupted']);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /interrupted at step \d+/);
    // The exact command that resumes it: this run's arguments with --resume-from-checkpoint <that checkpoint>.
    const cmd = /resume with:\n {2}npx finetune (.+)\n/.exec(r.stdout)?.[1];
    assert.ok(cmd, r.stdout);
    assert.ok(cmd.endsWith(`--resume-from-checkpoint ${ckpt}`) && !cmd.includes('checkpoint-2 '), cmd);

    // SIGTERM on the resumed run: exit 143 and a later checkpoint.
    const t = await interruptAfter([...COMMON, '--max-steps', '100000', '--save-strategy', 'no', '--resume-from-checkpoint', ckpt], step, 'SIGTERM');
    assert.equal(t.code, 143, t.stdout + t.stderr);
    assert.match(t.stdout, new RegExp(`resumed from ${ckpt} at step ${step}`));
    const step2 = Number(/interrupted at step (\d+)/.exec(t.stdout)?.[1]);
    assert.ok(step2 > step, t.stdout);

    // And that checkpoint resumes to a finished run.
    const done = runCli([...COMMON, '--max-steps', String(step2 + 1), '--save-strategy', 'no', '--resume-from-checkpoint', join(out, `checkpoint-${step2}`)]);
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, new RegExp(`resumed from .*checkpoint-${step2} at step ${step2}`));
    assert.ok(!readFileSync(join(out, 'model.safetensors')).equals(finalBefore), 'a finished run saves its final model');
  });
});

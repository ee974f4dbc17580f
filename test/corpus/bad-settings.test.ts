// Bad data and settings through the real `finetune` binary: each case exits 1 with one message naming the
// flag, file or line, never a stack trace (exit 70), never a hang, and the output folder's earlier run is
// left exactly as it was. The cases are generated here; add a line to grow the corpus.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const dir = tempDir();
const csv = writeSentimentCsv(dir, 40);
const run = join(dir, 'earlier-run');
mkdirSync(join(run, 'checkpoint-7'), { recursive: true });
writeFileSync(join(run, 'checkpoint-7', 'trainer_state.json'), '{"global_step":7,"sampler":{},"run_id":"old"}');
writeFileSync(join(run, 'metrics.jsonl'), '{"step":7,"loss":1}\n');
writeFileSync(join(run, 'model.safetensors'), 'precious');
const snapshot = (): string => readdirSync(run, { recursive: true }).sort().join(',') + readFileSync(join(run, 'metrics.jsonl'), 'utf8');
const before = snapshot();
writeFileSync(join(dir, 'a-file'), 'x');
writeFileSync(join(dir, 'big-field.csv'), `text,label\nok,positive\n"${'w '.repeat(1_500_000)}",negative\n`);
writeFileSync(join(dir, 'big-line.jsonl'), `{"text":"ok","label":"positive"}\n{"text":"${'w'.repeat(3_000_000)}","label":"negative"}\n`);
const locked = join(dir, 'locked');
mkdirSync(locked);

const T = ['train', '--train-file', csv, '--max-steps', '1', '--no-report'];
const CASES: [name: string, args: string[], stderr: RegExp][] = [
  ['--output-dir is a file', [...T, '--output-dir', join(dir, 'a-file')], /a-file is a file, not a folder; choose another --output-dir/],
  ['--output-dir under /proc (no spin)', [...T, '--output-dir', '/proc/finetune-x/y'], /cannot be created there.*--output-dir/],
  ['--metric-for-best-model bogus, before touching the folder', [...T, '--output-dir', run, '--overwrite-output-dir', '--metric-for-best-model', 'bogus'], /"bogus" is not a metric of text-classification.*--metric-for-best-model/],
  ['a folder holding another run', [...T, '--output-dir', run], /already holds another run \(checkpoint-7, metrics\.jsonl, model\.safetensors\).*--overwrite-output-dir/],
  ['a folder locked by a live process', [...T, '--output-dir', locked], new RegExp(`in use by another finetune run \\(pid ${process.pid} on ${hostname()}`)],
  ['a 3 MB CSV field', ['train', '--train-file', join(dir, 'big-field.csv'), '--output-dir', join(dir, 'o1')], /big-field\.csv:3: .*--max-record-size/],
  ['a 3 MB JSONL line', ['train', '--train-file', join(dir, 'big-line.jsonl'), '--output-dir', join(dir, 'o2')], /big-line\.jsonl:2: .*--max-record-size/],
  ['--max-record-size 0', [...T, '--max-record-size', '0', '--output-dir', join(dir, 'o3')], /--max-record-size must be at least 1/],
  ['resume with no checkpoint', [...T, '--output-dir', join(dir, 'o4'), '--resume-from-checkpoint', 'latest'], /no checkpoint-N folder/],
  ['resume from another run\'s checkpoint', [...T, '--output-dir', run, '--resume-from-checkpoint', join(dir, 'foreign')], /not a checkpoint folder|belongs to run/],
];

function runAsync(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/finetune.js'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - t0 });
    });
  });
}

describe('bad data and settings through the CLI', () => {
  it('every case exits 1 with a message naming what to fix; no stack traces, no hangs, the earlier run untouched', { timeout: 150_000 }, async () => {
    writeFileSync(join(locked, '.finetune.lock'), JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), command: 'train' }));
    const problems: string[] = [];
    // Three at a time: bounded wall time on a small machine.
    for (let i = 0; i < CASES.length; i += 3) {
      const batch = CASES.slice(i, i + 3);
      const results = await Promise.all(batch.map(([, args]) => runAsync(args, 60_000)));
      results.forEach((r, k) => {
        const [name, , want] = batch[k]!;
        if (r.code === null) problems.push(`HANG ${name}`);
        else if (r.code === 70 || /internal error|\n\s+at .*\.ts:\d+/.test(r.stderr)) problems.push(`STACK TRACE ${name}: ${r.stderr.slice(0, 300)}`);
        else if (r.code !== 1) problems.push(`EXIT ${r.code} ${name}: ${r.stderr.slice(0, 300)}`);
        else if (!want.test(r.stderr)) problems.push(`MESSAGE ${name}: ${r.stderr.slice(0, 300)}`);
      });
    }
    assert.deepEqual(problems, []);
    assert.equal(snapshot(), before, 'the earlier run was changed');
    for (const o of ['o1', 'o2', 'o3', 'o4']) assert.ok(!existsSync(join(dir, o)), `${o}: a failed run left an empty output folder`);
    assert.ok(existsSync(join(locked, '.finetune.lock')), 'another process\'s lock was removed');
  });

  it('evaluate --output into a folder that does not exist yet', { timeout: 60_000 }, () => {
    const data = join(dir, 'eval.csv');
    writeFileSync(data, 'text,label\nhello there,LABEL_0\nanother one,LABEL_1\n');
    const out = join(dir, 'new', 'folder', 'metrics.json');
    const r = runCli(['evaluate', '--model', join(import.meta.dirname, '../fixtures/tiny-bert-seqcls'), '--data', data, '--output', out], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(readFileSync(out, 'utf8')) as { metrics: Record<string, number> }).metrics.accuracy !== undefined);
  });
});

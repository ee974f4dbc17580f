// The distributed search end to end on one machine: a private redis-server on a free 127.0.0.1 port,
// real `finetune worker` processes and the `finetune search --queue` follower. (a) 2 workers run a
// 4-trial search whose recorded results equal a local search's, recorded once; (b) a worker SIGKILLed
// mid-trial has its trial retried by the other; (c) a trial with bad settings fails, error reported;
// (d) a SIGTERMed worker exits 143 and hands its trial back at once; an unreachable server is one error.
// Skips when redis-server is not installed (.ci/run installs Debian's).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { BIN, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const redisBin = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin'].map((d) => join(d, 'redis-server')).find((f) => existsSync(f) && statSync(f).isFile()) ?? '';
const skip = redisBin === '' ? 'redis-server is not installed (apt-get install redis-server); skipping the distributed search tests' : false;

const dir = tempDir('finetune-queue-redis-');
const csv = writeSentimentCsv(dir, 40);
const tiny = join(dir, 'tiny.yaml');
writeFileSync(tiny, 'scratch_vocab_size: 100\nscratch_hidden_size: 32\nscratch_intermediate_size: 64\nscratch_num_heads: 2\nscratch_num_layers: 1\n');
const children: ChildProcess[] = [];
let url = '';

interface Proc {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => text, exited };
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Runs a search (follower) to the end, bounded. */
async function search(args: string[], ms = 40_000): Promise<{ code: number | null; out: string }> {
  const p = start(['search', '-c', tiny, '--train-file', csv, '--metric-for-best-model', 'accuracy', '--seed', '7', '--no-report', ...args]);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out: p.out() };
}

interface Recorded {
  results: { trial: number; params: Record<string, number>; metrics: Record<string, number> }[];
}
const recorded = (out: string): Recorded => JSON.parse(readFileSync(join(out, 'search_results.json'), 'utf8')) as Recorded;

let w1: Proc;
let w2: Proc;
const WORKER = (): string[] => ['worker', '--queue', url, '--stalled-interval-ms', '1000', '--lock-duration-ms', '2000', '--max-attempts', '3'];

describe('distributed search on a Redis queue', { skip, timeout: 85_000 }, () => {
  before(async () => {
    const port = await freePort();
    url = `redis://127.0.0.1:${port}`;
    const redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    children.push(redis);
    const client = new Redis({ host: '127.0.0.1', port, retryStrategy: () => 100, maxRetriesPerRequest: 50 });
    client.on('error', () => {}); // refused until redis-server listens; retried
    try {
      assert.equal(await client.ping(), 'PONG');
      assert.equal(redis.exitCode, null, 'redis-server exited');
    } finally {
      client.disconnect();
    }
    w1 = start(WORKER());
    w2 = start(WORKER());
    await until('both workers to connect', () => /worker: running trials/.test(w1.out()) && /worker: running trials/.test(w2.out()));
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('(a) 2 workers run a 4-trial search; the recorded results equal a local search, recorded once', async () => {
    const grid = ['--lr', '1e-3,3e-3', '--batch-sizes', '8,16', '--max-steps', '3'];
    const local = await search([...grid, '--output-dir', join(dir, 'local')]);
    assert.equal(local.code, 0, local.out);
    const q = await search([...grid, '--output-dir', join(dir, 'queued'), '--queue', url]);
    assert.equal(q.code, 0, q.out);
    assert.match(q.out, /\(4\/4\)/);
    assert.equal(q.out.match(/best model: /g)?.length, 1);
    const ran = (w: Proc): number => (w.out().match(/trial \d of search /g) ?? []).length;
    assert.equal(ran(w1) + ran(w2), 4, 'each trial run once');
    const mine = recorded(join(dir, 'local')).results;
    const theirs = recorded(join(dir, 'queued')).results;
    assert.deepEqual(theirs.map((r) => r.trial), mine.map((r) => r.trial));
    for (const [i, r] of theirs.entries()) {
      assert.deepEqual(r.params, mine[i].params);
      for (const k of Object.keys(mine[i].metrics)) if (!/runtime|per_second/.test(k)) assert.equal(r.metrics[k], mine[i].metrics[k], `trial ${r.trial} ${k}`);
    }
    assert.ok(existsSync(join(dir, 'queued', 'best', 'config.json')));
    // The same command again: nothing enqueued twice, nothing recorded twice.
    const again = await search([...grid, '--output-dir', join(dir, 'queued'), '--queue', url]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /already recorded \(by [^)]+\): results in .*search_results\.json/);
    assert.equal(ran(w1) + ran(w2), 4, 'no trial run again');
    assert.ok(existsSync(join(dir, 'queued', 'best', 'config.json')), 'the recorded best model is left alone');
  });

  it('(b) a worker SIGKILLed mid-trial: the other worker retries its trial and the search completes', async () => {
    const out = join(dir, 'killed');
    const follower = search(['--lr', '1e-3,2e-3', '--max-steps', '3000', '--eval-strategy', 'no', '--save-strategy', 'no', '--output-dir', out, '--queue', url], 60_000);
    const started = (w: Proc): RegExpMatchArray | null => w.out().match(/trial (\d) of search \w+ \(attempt 1\/3\): \{"learning_rate":0\.00[12]\}/);
    await until('both workers to start a trial', () => started(w1) !== null && started(w2) !== null);
    const lost = Number(started(w1)?.[1]);
    w1.child.kill('SIGKILL');
    const r = await follower;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\(2\/2\)/);
    assert.match(w2.out(), new RegExp(`trial ${lost} of search \\w+ \\(attempt 2/3\\)`));
    assert.equal(r.out.match(/best model: /g)?.length, 1);
    assert.deepEqual(recorded(out).results.map((x) => x.trial).sort(), [0, 1]);
  });

  it('(c) a trial with bad settings fails at once and the follower reports its error', async () => {
    const w2Before = w2.out().length;
    const r = await search(['--lr', '1e-3', '--batch-sizes', '8,0', '--max-steps', '2', '--output-dir', join(dir, 'bad'), '--queue', url]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /trial 1 failed \(\d\/2\): .*batch_size.*positive integer/);
    assert.match(w2.out().slice(w2Before), /not retried: fix the search's settings/);
    assert.doesNotMatch(w2.out().slice(w2Before), /attempt 2/);
    assert.deepEqual(recorded(join(dir, 'bad')).results.map((x) => x.trial), [0]);
  });

  it('(d) SIGTERM on a worker mid-trial: exit 143, its trial handed back at once and run by the other', async () => {
    const w3 = start(WORKER());
    await until('the third worker to connect', () => /worker: running trials/.test(w3.out()));
    const out = join(dir, 'term');
    const follower = search(['--lr', '1e-3,2e-3', '--max-steps', '3000', '--eval-strategy', 'no', '--save-strategy', 'no', '--output-dir', out, '--queue', url], 60_000);
    const started = (w: Proc, from: number): RegExpMatchArray | null => w.out().slice(from).match(/trial (\d) of search \w+ \(attempt 1\/3\): \{"learning_rate":0\.00[12]\}/);
    const w2Before = w2.out().length;
    await until('both workers to start a trial', () => started(w3, 0) !== null && started(w2, w2Before) !== null);
    const handed = Number(started(w3, 0)?.[1]);
    w3.child.kill('SIGTERM');
    assert.equal(await w3.exited, 143, w3.out());
    assert.match(w3.out(), new RegExp(`trial ${handed}: stopped by SIGTERM, handed back to the queue`));
    const r = await follower;
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /\(2\/2\)/);
    assert.match(w2.out().slice(w2Before), new RegExp(`trial ${handed} of search \\w+ \\(attempt 2/3\\)`));
    assert.deepEqual(recorded(out).results.map((x) => x.trial).sort(), [0, 1]);
  });

  it('a server that does not answer is one clear --queue error, not endless reconnects', async () => {
    const port = await freePort();
    const r = await search(['--lr', '1e-3', '--max-steps', '2', '--output-dir', join(dir, 'nowhere'), '--queue', `redis://127.0.0.1:${port}`], 20_000);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /--queue.*no Redis server answered at 127\.0\.0\.1:\d+.*start redis-server/);
  });
});

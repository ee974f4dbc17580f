// `npx finetune serve` runs node as a grandchild (npm -> sh -c -> node); npm forwards SIGTERM to the shell,
// which dies without passing it on. bin/finetune.js then sees its parent gone and stops gracefully. The
// test reproduces the chain without npm: a `sh -c` parent with npm's environment variable, killed by SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { BIN } from '../helpers/cli.ts';
import { SEQCLS_DIR } from '../inference/fixtures.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the server stops when the shell npm started it under is killed by SIGTERM', { timeout: 60_000 }, async () => {
  const sh = spawn('/bin/sh', ['-c', `"${process.execPath}" "${BIN}" serve "${SEQCLS_DIR}" --port 0 & echo $! ; wait`], {
    env: { ...process.env, npm_lifecycle_event: 'npx' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
  sh.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const t0 = Date.now();
  while (!/serving .* at http/.test(err)) {
    if (Date.now() - t0 > 40_000) assert.fail(`the server did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const nodePid = Number(out.trim().split('\n')[0]);
  assert.ok(nodePid > 0 && alive(nodePid));
  sh.kill('SIGTERM'); // what npm forwards; dash dies of it
  const t1 = Date.now();
  while (alive(nodePid) && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 100));
  const stillAlive = alive(nodePid);
  if (stillAlive) process.kill(nodePid, 'SIGKILL');
  assert.ok(!stillAlive, 'the server outlived the npm process chain');
});

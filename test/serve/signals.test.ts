// Graceful shutdown of a real server process: SIGTERM (and SIGINT) while a request is in flight — the
// request is answered, the process exits with code 0 and logs that it stopped.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { SEQCLS_DIR } from '../inference/fixtures.ts';

const CHILD = fileURLToPath(new URL('./serve-child.ts', import.meta.url));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} finishes the in-flight request, then the process exits 0`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, SEQCLS_DIR, '400'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'exit');
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const { url } = JSON.parse(line.toString()) as { url: string };
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const inflight = fetch(url + '/v1/predict', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs": ["in flight"]}' });
      await new Promise((r) => setTimeout(r, 100)); // the request now waits in the 400 ms batch window
      child.kill(signal);
      const r = await inflight;
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as { outputs: unknown[] }).outputs.length, 1);
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, stderr);
      assert.match(stderr, new RegExp(`${signal}: closing[\\s\\S]*stopped`));
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
}

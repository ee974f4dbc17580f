// Hostile HTTP against the service on 127.0.0.1, in bounded loops: half-sent headers and slow bodies are cut
// by the timeouts, a flood of them does not lock normal clients out for long, bodies in other charsets, with a
// Content-Encoding or with invalid UTF-8 are refused with the right status, a huge body is 413, and /health
// answers quickly while a ~1 MiB request is tokenized.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { SEQCLS_DIR } from '../inference/fixtures.ts';

let server: RunningServer;
let port: number;

before(async () => {
  server = await startServer(SEQCLS_DIR, { port: 0, headersTimeoutMs: 800, requestTimeoutMs: 1200, keepAliveTimeoutMs: 500, maxConnections: 40 });
  port = server.port;
});
after(async () => {
  await server.close();
});

/** Opens a raw connection and writes `text`; resolves when the server closes it (or rejects after `ms`). */
function closedWithin(write: (s: Socket) => void, ms: number): Promise<{ after: number; response: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1', () => write(s));
    let response = '';
    s.on('data', (d) => (response += d.toString()));
    s.on('error', () => undefined);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connection still open after ${ms} ms`));
    }, ms);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ after: Date.now() - t0, response });
    });
  });
}

function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : new Uint8Array(body) });
}

describe('hostile HTTP', () => {
  it('half-sent headers and slow bodies are cut by the timeouts', async () => {
    const half = await closedWithin((s) => s.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: appl'), 5000);
    assert.ok(half.after < 4000, `headers: ${half.after} ms`);
    const slow = await closedWithin((s) => {
      s.write('POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs": "');
      const drip = setInterval(() => (s.writable ? s.write('a') : clearInterval(drip)), 100);
      s.on('close', () => clearInterval(drip));
    }, 6000);
    assert.ok(slow.after < 5000, `slow body: ${slow.after} ms`);
  });

  it('a flood of half-sent requests beyond the connection cap only delays normal clients until the timeouts clear it', async () => {
    const flood = Array.from({ length: 60 }, () => closedWithin((s) => s.write('GET /health HTTP/1.1\r\nHo'), 8000).catch(() => null));
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all(flood);
    const r = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(r.status, 200);
  });

  it('refuses other charsets, compressed bodies, invalid UTF-8 (naming the offset) and huge bodies', async () => {
    const json = '{"inputs": ["hello"]}';
    let r = await post(Buffer.from(json, 'utf16le'), { 'content-type': 'application/json; charset=utf-16' });
    assert.equal(r.status, 415);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /utf-16/);
    r = await post(gzipSync(json), { 'content-encoding': 'gzip' });
    assert.equal(r.status, 415);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /Content-Encoding "gzip"/);
    const bad = Buffer.concat([Buffer.from('{"inputs": ["ab'), Buffer.from([0xc3, 0x28]), Buffer.from('"]}')]);
    r = await post(bad);
    assert.equal(r.status, 400);
    const e = ((await r.json()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'invalid_utf8');
    assert.match(e.message, /offset 15/);
    r = await post(`{"inputs": ["${'x'.repeat(2 * 1024 * 1024)}"]}`);
    assert.equal(r.status, 413);
    r = await post(json, { 'content-type': 'application/json; charset=UTF-8' });
    assert.equal(r.status, 200);
  });

  it('/health answers while a ~1 MiB request is tokenized', async () => {
    const words = 'the quick brown fox jumps over the lazy dog '.repeat(460).slice(0, 19_990);
    const body = JSON.stringify({ inputs: Array.from({ length: 52 }, (_, i) => `${i} ${words}`) });
    assert.ok(body.length > 1_000_000 && body.length < 1024 * 1024, `${body.length}`);
    // What one request used to block the event loop for: tokenizing all of it in one go.
    const t0 = performance.now();
    server.requests.prepare((JSON.parse(body) as { inputs: string[] }).inputs);
    const blockedBefore = performance.now() - t0;
    const big = post(body);
    let worst = 0;
    let done = false;
    void big.then(() => (done = true));
    const probes: number[] = [];
    while (!done) {
      const t0 = performance.now();
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      await r.text();
      const ms = performance.now() - t0;
      probes.push(ms);
      worst = Math.max(worst, ms);
      await new Promise((r2) => setTimeout(r2, 5));
    }
    const res = await big;
    assert.equal(res.status, 200);
    console.log(`/health during a ${body.length}-byte request: ${probes.length} probes, worst ${worst.toFixed(0)} ms (tokenizing it in one go: ${blockedBefore.toFixed(0)} ms)`);
    // Bounded by one item's tokenization (plus one forward pass), not the whole request's.
    assert.ok(worst < blockedBefore / 2, `/health took ${worst.toFixed(0)} ms; the whole request tokenizes in ${blockedBefore.toFixed(0)} ms`);
  });
});

describe('connection cap under ulimit -n', () => {
  it('the default cap stays below the soft open-file limit', async (t) => {
    const { execFileSync } = await import('node:child_process');
    try {
      execFileSync('sh', ['-c', 'ulimit -n 128']);
    } catch {
      return t.skip('cannot lower ulimit -n here');
    }
    // A child with ulimit -n 128 reports the cap its server chose.
    const code = `const { startServer } = await import(${JSON.stringify(new URL('../../src/serve/index.ts', import.meta.url).href)});
      const s = await startServer(${JSON.stringify(SEQCLS_DIR)}, { port: 0 }); console.log(s.app.server.maxConnections); await s.close();`;
    const out = execFileSync('sh', ['-c', `ulimit -n 128 && "${process.execPath}" --import tsx --input-type=module -e '${code.replace(/'/g, "'\\''")}'`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(Number(out.trim().split('\n').at(-1)), 64);
  });
});

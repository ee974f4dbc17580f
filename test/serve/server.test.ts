// The HTTP service on loopback with an ephemeral port: predictions equal the pipeline's own, every kind
// of bad input gets a 4xx JSON body naming the problem while other clients keep being served, health /
// readiness / Prometheus metrics, micro-batching of concurrent requests, queue-full 503 + Retry-After,
// per-request timeout, bearer token, graceful close, and start-up failures with clear messages.

import assert from 'node:assert/strict';
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ModelError } from '../../src/errors.ts';
import { TextPipeline } from '../../src/inference/index.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../src/serve/index.ts';
import { SEQCLS_DIR, TOKCLS_DIR, tmpDir } from '../inference/fixtures.ts';

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

async function call(server: RunningServer, path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const r = await fetch(server.url + path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
    body: init.body,
  });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: r.status, headers: r.headers, json, text };
}

const predict = (s: RunningServer, body: unknown, headers?: Record<string, string>) =>
  call(s, '/v1/predict', { body: typeof body === 'string' ? body : JSON.stringify(body), headers });

/** The error object of a JSON error reply. */
function errorOf(r: Reply): { code: string; message: string; field?: string } {
  const e = (r.json as { error?: { code: string; message: string; field?: string } } | null)?.error;
  assert.ok(e && typeof e.message === 'string' && e.message.length > 0, `no JSON error body: ${r.text}`);
  return e;
}

/** Value of a Prometheus sample line `name{labels} value` (sum over matching lines). */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + (labels ? `{${labels}` : '')) && (labels || line.startsWith(name + ' ') || line.startsWith(name + '{'))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

async function withServer(dir: string, opts: ServeOptions, fn: (s: RunningServer) => Promise<void>): Promise<void> {
  const s = await startServer(dir, { port: 0, ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

describe('a text-classification server', () => {
  let server: RunningServer;
  let reference: TextPipeline;
  before(async () => {
    server = await startServer(SEQCLS_DIR, { port: 0, maxWaitMs: 2 });
    reference = await TextPipeline.load(SEQCLS_DIR, { warn: () => undefined });
  });
  after(async () => {
    await server.close();
    reference.dispose();
  });

  test('binds 127.0.0.1 by default, on the ephemeral port it reports', () => {
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0, 'no port');
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    const addr = server.app.server.address();
    assert.ok(addr !== null && typeof addr === 'object' && addr.address === '127.0.0.1', JSON.stringify(addr));
  });

  test('POST /v1/predict returns the pipeline outputs for texts and text pairs', async () => {
    const inputs = ['a fine day', { text: 'is it raining?', text_pair: 'yes' }];
    const r = await predict(server, { inputs });
    assert.equal(r.status, 200);
    const body = r.json as { task: string; model: string; outputs: unknown[] };
    assert.equal(body.task, 'text-classification');
    assert.equal(body.model, 'tiny-bert-seqcls');
    assert.deepEqual(body.outputs, JSON.parse(JSON.stringify(reference.run(inputs))));
    // A single input (not a list) gives a one-element list; parameters are passed through.
    const one = await predict(server, { inputs: 'a fine day', parameters: { top_k: 1 } });
    assert.equal(one.status, 200);
    const out = (one.json as { outputs: Array<{ scores: unknown[] }> }).outputs;
    assert.equal(out.length, 1);
    assert.equal(out[0]!.scores.length, 1);
  });

  test('GET /health and /ready answer 200 with JSON', async () => {
    const h = await call(server, '/health');
    assert.deepEqual([h.status, h.json], [200, { status: 'ok' }]);
    const r = await call(server, '/ready');
    assert.equal(r.status, 200);
    assert.equal((r.json as { task: string }).task, 'text-classification');
  });

  const BAD: Array<[name: string, body: string, headers: Record<string, string> | undefined, status: number, message: RegExp]> = [
    ['malformed JSON', '{"inputs": ["a"', undefined, 400, /not valid JSON/],
    ['a body that is not an object', '["a", "b"]', undefined, 400, /must be a JSON object/],
    ['no inputs', '{"parameters": {}}', undefined, 400, /inputs: is required/],
    ['a wrong field type', '{"inputs": [1, 2]}', undefined, 400, /inputs\[0\]: expected a string, got number 1/],
    ['a wrong parameter type', '{"inputs": "a", "parameters": {"top_k": "3"}}', undefined, 400, /parameters\.top_k: expected an integer/],
    ['an unknown top-level field', '{"inputs": "a", "input": "b"}', undefined, 400, /unknown field/],
    ['an empty list', '{"inputs": []}', undefined, 400, /the list is empty/],
    ['a 100,000-character text', JSON.stringify({ inputs: 'x'.repeat(100_000) }), undefined, 400, /100000 characters; the limit is 20000/],
    ['a 10 MB body', JSON.stringify({ inputs: 'y'.repeat(10_000_000) }), undefined, 413, /larger than 1048576 bytes/],
    ['an unknown task', '{"inputs": "a", "task": "summarize-this"}', undefined, 400, /unknown task "summarize-this"/],
    ['another task than the model\'s', '{"inputs": "a", "task": "token-classification"}', undefined, 400, /serves text-classification, not token-classification/],
    ['a non-JSON content type', 'inputs=a', { 'content-type': 'application/x-www-form-urlencoded' }, 415, /Content-Type: application\/json/],
    ['a plain-text body', 'classify this', { 'content-type': 'text/plain' }, 415, /Content-Type: application\/json/],
    ['too many inputs', JSON.stringify({ inputs: Array.from({ length: 65 }, () => 'a') }), undefined, 400, /65 inputs in one request; the limit is 64/],
  ];
  for (const [name, body, headers, status, message] of BAD) {
    test(`${name} → ${status} with a JSON error; the next client is served`, async () => {
      const r = await predict(server, body, headers);
      assert.equal(r.status, status, r.text);
      assert.match(errorOf(r).message, message);
      const ok = await predict(server, { inputs: ['still serving'] });
      assert.equal(ok.status, 200);
    });
  }

  test('unknown routes are 404 with a JSON body', async () => {
    const r = await call(server, '/v2/predict');
    assert.equal(r.status, 404);
    assert.match(errorOf(r).message, /POST \/v1\/predict/);
  });

  test('concurrent requests share forward passes (micro-batching) and all succeed', async () => {
    const before = await call(server, '/metrics');
    const passes0 = metric(before.text, 'finetune_batch_size_count');
    const N = 24;
    const rs = await Promise.all(Array.from({ length: N }, (_, i) => predict(server, { inputs: `request number ${i}` })));
    assert.deepEqual(rs.map((r) => r.status), Array(N).fill(200));
    const m = await call(server, '/metrics');
    const passes = metric(m.text, 'finetune_batch_size_count') - passes0;
    assert.ok(passes < N, `${N} requests took ${passes} forward passes`);
  });

  test('GET /metrics is Prometheus text with requests by status, latency, batch sizes and queue depth', async () => {
    const m = await call(server, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.ok(metric(m.text, 'finetune_http_requests_total', 'route="/v1/predict",status="200"') > 0, 'no 200 count');
    assert.ok(metric(m.text, 'finetune_http_requests_total', 'route="/v1/predict",status="400"') > 0, 'no 400 count');
    assert.match(m.text, /^# TYPE finetune_http_request_duration_seconds histogram$/m);
    assert.match(m.text, /^finetune_http_request_duration_seconds_bucket\{le="0\.005",route="\/v1\/predict"\} \d+$/m);
    assert.match(m.text, /^finetune_batch_size_bucket\{le="1"\} \d+$/m);
    assert.match(m.text, /^finetune_queue_depth 0$/m);
    assert.match(m.text, /^finetune_process_resident_memory_bytes \d+/m);
  });
});

describe('limits, auth and lifecycle', () => {
  test('a full queue answers 503 with Retry-After, and the queued requests still succeed', async () => {
    await withServer(SEQCLS_DIR, { maxQueue: 2, maxWaitMs: 400, maxBatchSize: 64 }, async (s) => {
      const first = [predict(s, { inputs: 'one' }), predict(s, { inputs: 'two' })];
      await new Promise((r) => setTimeout(r, 100)); // both are queued, waiting for the batch window
      const third = await predict(s, { inputs: 'three' });
      assert.equal(third.status, 503, third.text);
      assert.equal(third.headers.get('retry-after'), '1');
      assert.equal(errorOf(third).code, 'queue_full');
      assert.deepEqual((await Promise.all(first)).map((r) => r.status), [200, 200]);
      const m = await call(s, '/metrics');
      assert.equal(metric(m.text, 'finetune_rejected_requests_total', 'reason="queue_full"'), 1);
    });
  });

  test('a request that outlives its timeout gets 504', async () => {
    await withServer(SEQCLS_DIR, { timeoutMs: 50, maxWaitMs: 1000 }, async (s) => {
      const r = await predict(s, { inputs: 'slow' });
      assert.equal(r.status, 504, r.text);
      assert.match(errorOf(r).message, /within 50 ms/);
    });
  });

  test('with a bearer token, predict and metrics need it; health and ready stay open', async () => {
    await withServer(SEQCLS_DIR, { token: 's3cret-token' }, async (s) => {
      const no = await predict(s, { inputs: 'a' });
      assert.equal(no.status, 401);
      assert.equal(no.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await predict(s, { inputs: 'a' }, { authorization: 'Bearer wrong-token' })).status, 401);
      assert.equal((await predict(s, { inputs: 'a' }, { authorization: 'Bearer s3cret-token' })).status, 200);
      assert.equal((await call(s, '/metrics')).status, 401);
      assert.equal((await call(s, '/health')).status, 200);
      assert.equal((await call(s, '/ready')).status, 200);
    });
  });

  test('close() lets in-flight requests finish, then the port stops answering', async () => {
    const s = await startServer(SEQCLS_DIR, { port: 0, maxWaitMs: 300 });
    const inflight = Promise.all([predict(s, { inputs: 'in flight 1' }), predict(s, { inputs: 'in flight 2' })]);
    await new Promise((r) => setTimeout(r, 80));
    await s.close();
    assert.deepEqual((await inflight).map((r) => r.status), [200, 200]);
    await assert.rejects(fetch(s.url + '/health'));
    await s.close(); // idempotent
  });

  test('token classification: entities with character spans over HTTP', async () => {
    await withServer(TOKCLS_DIR, {}, async (s) => {
      const text = 'hello world, the quick brown fox';
      const r = await predict(s, { inputs: [text], parameters: { aggregation_strategy: 'simple', ignore_labels: [] } });
      assert.equal(r.status, 200, r.text);
      const [entities] = (r.json as { outputs: Array<Array<{ entity_group: string; start: number; end: number; word: string; score: number }>> }).outputs;
      assert.ok(entities!.length > 0, 'no entities');
      for (const e of entities!) assert.ok(e.start >= 0 && e.end <= text.length && e.start < e.end && e.score > 0, JSON.stringify(e));
      const bad = await predict(s, { inputs: text, parameters: { aggregation_strategy: 'biggest' } });
      assert.equal(bad.status, 400);
      assert.equal(errorOf(bad).field, 'parameters.aggregation_strategy');
    });
  });

  test('start-up fails with a clear message for a missing folder or a broken model folder', async () => {
    await assert.rejects(startServer('/no/such/model-folder', { port: 0 }), (e: unknown) => e instanceof ModelError && /cannot serve \/no\/such\/model-folder: .*no such model folder/.test(e.message));
    const work = await tmpDir();
    try {
      const broken = join(work.dir, 'broken');
      await mkdir(broken);
      await copyFile(join(SEQCLS_DIR, 'tokenizer.json'), join(broken, 'tokenizer.json'));
      await writeFile(join(broken, 'config.json'), '{"model_type": "bert", ');
      await assert.rejects(startServer(broken, { port: 0 }), (e: unknown) => e instanceof ModelError && /cannot serve .*broken.*config\.json/.test(e.message));
      const noWeights = join(work.dir, 'no-weights');
      await mkdir(noWeights);
      for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await copyFile(join(SEQCLS_DIR, f), join(noWeights, f));
      await assert.rejects(startServer(noWeights, { port: 0 }), (e: unknown) => e instanceof ModelError && /model\.safetensors/.test(e.message));
    } finally {
      await work.cleanup();
    }
  });

  test('invalid options are refused before loading', async () => {
    await assert.rejects(startServer(SEQCLS_DIR, { port: 70000 }), /port/);
    await assert.rejects(startServer(SEQCLS_DIR, { token: 'short' }), /token/);
  });
});

// text-generation over HTTP: greedy output equals the library's (src/generate driven in this process)
// and, on the real stories260K weights, the golden story; chats; bad parameters → 400 naming the field
// while the server keeps serving; /health answers during a long generation (decoding runs in a worker
// thread); a timed-out generation stops decoding; queue-full 503; graceful close; start-up failures.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nativeAvailable, setNumThreads } from '../../src/backend/index.ts';
import { ModelError } from '../../src/errors.ts';
import type { CausalLM } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { textGeneration } from '../../src/inference/text-generation.ts';
import { fromPretrained } from '../../src/models/pretrained.ts';
import { startServer, type RunningServer, type ServeOptions } from '../../src/serve/index.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizers/index.ts';
import { SEQCLS_DIR, tmpDir } from '../inference/fixtures.ts';
import { NO_STORIES, STORIES_DIR, makeGpt2Folder, type StoriesGolden } from '../inference/text-generation-fixtures.ts';

// The server's worker and this process decode with the same backend and one kernel thread, so their
// float sums (and so greedy choices) agree exactly; one thread is also the fastest for these tiny models.
if (nativeAvailable()) setNumThreads(1);
const SERVE: ServeOptions = { port: 0, numThreads: 1 };

interface Reply {
  status: number;
  headers: Headers;
  json: unknown;
}

async function post(s: RunningServer, body: unknown): Promise<Reply> {
  const r = await fetch(`${s.url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, headers: r.headers, json: await r.json() };
}

const outputsOf = (r: Reply) => (r.json as { outputs: Array<Array<{ generated_text: unknown; finish_reason: string }>> }).outputs;
const errorOf = (r: Reply) => (r.json as { error: { code: string; message: string; field?: string } }).error;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A request that keeps the worker busy for about a second: many prompts decoded to the 64-position limit. */
const longJob = (n = 64) => ({ inputs: Array.from({ length: n }, (_, i) => `story number ${i}`), parameters: { max_new_tokens: 56 } });

let work: Awaited<ReturnType<typeof tmpDir>>;
let gpt2Dir: string;
before(async () => {
  work = await tmpDir('ft-serve-textgen-');
  gpt2Dir = await makeGpt2Folder(join(work.dir, 'gpt2'));
});
after(async () => work.cleanup());

describe('a text-generation server (tiny GPT-2)', () => {
  let server: RunningServer;
  let model: CausalLM;
  let tok: Tokenizer;
  before(async () => {
    server = await startServer(gpt2Dir, { ...SERVE, maxItemsPerRequest: 256 });
    model = (await fromPretrained(gpt2Dir, { warn: () => undefined })) as unknown as CausalLM;
    model.eval();
    tok = await loadTokenizer(gpt2Dir);
  });
  after(async () => server.close());

  test('serves the task from config.json; the model runs in a worker thread; /ready says so', async () => {
    assert.equal(server.task, 'text-generation');
    assert.equal(server.pipeline, null);
    const ready = await fetch(`${server.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { task: string }).task, 'text-generation');
  });

  test('greedy output over HTTP equals the library\'s greedy output (prompt + continuation)', async () => {
    const prompt = 'The cat sat on';
    const ids = tok.encode(prompt, null, { addSpecialTokens: true }).ids;
    const { tokens, finishReason } = generate(model, [ids], { maxNewTokens: 10 });
    const r = await post(server, { inputs: prompt, parameters: { max_new_tokens: 10 } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, {
      task: 'text-generation',
      model: 'gpt2',
      outputs: [[{ generated_text: prompt + tok.decode(tokens[0]!, { skipSpecialTokens: true }), finish_reason: finishReason[0] }]],
    });
    const only = await post(server, { inputs: [prompt], parameters: { max_new_tokens: 10, return_full_text: false }, task: 'text-generation' });
    assert.deepEqual(outputsOf(only), [[{ generated_text: tok.decode(tokens[0]!, { skipSpecialTokens: true }), finish_reason: finishReason[0] }]]);
  });

  test('a seeded sample and a chat equal the library\'s', async () => {
    const sampled = await post(server, { inputs: 'Hello', parameters: { temperature: 0.8, top_p: 0.9, seed: 11, max_new_tokens: 8 } });
    assert.deepEqual(outputsOf(sampled), [textGeneration(model, tok, 'Hello', { doSample: true, temperature: 0.8, topP: 0.9, seed: 11, maxNewTokens: 8 })]);
    const chat = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hi' }];
    const r = await post(server, { inputs: chat, parameters: { max_new_tokens: 6 } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(outputsOf(r), [textGeneration(model, tok, chat, { maxNewTokens: 6 })]);
    assert.deepEqual((outputsOf(r)[0]![0]!.generated_text as unknown[]).slice(0, 2), chat);
  });

  const BAD: Array<[body: unknown, field: string, message: RegExp]> = [
    [{ inputs: 'a', parameters: { max_new_tokens: 100_000 } }, 'parameters.max_new_tokens', /from 1 to 256/],
    [{ inputs: 'The cat sat on the mat', parameters: { max_new_tokens: 62 } }, 'parameters.max_new_tokens', /64 positions/],
    [{ inputs: 'a', parameters: { temperature: -1 } }, 'parameters.temperature', /greater than 0/],
    [{ inputs: 'a', parameters: { top_k: 'ten' } }, 'parameters.top_k', /expected a number/],
    [{ inputs: 'a', parameters: { top_p: 2 } }, 'parameters.top_p', /at most 1/],
    [{ inputs: 'a', parameters: { repetition_penalty: -2 } }, 'parameters.repetition_penalty', /greater than 0/],
    [{ inputs: 'a', parameters: { do_sample: 1 } }, 'parameters.do_sample', /true or false/],
    [{ inputs: 'a', parameters: { seed: 'lucky' } }, 'parameters.seed', /expected a number/],
    [{ inputs: 'a', parameters: { stop: [''] } }, 'parameters.stop[0]', /empty/],
    [{ inputs: 'a', parameters: { return_full_text: null, stream: true } }, 'parameters.stream', /unknown parameter/],
    [{ inputs: [{ role: 'user', content: 7 }] }, 'inputs[0].content', /expected a string/],
    [{ inputs: '' }, 'inputs', /encodes to no tokens/],
    [{ inputs: 'a', task: 'fill-mask' }, 'task', /serves text-generation, not fill-mask/],
  ];
  for (const [body, field, message] of BAD) {
    test(`${JSON.stringify(body).slice(0, 70)} → 400 naming ${field}; the next request is served`, async () => {
      const r = await post(server, body);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.equal(errorOf(r).field, field);
      assert.match(errorOf(r).message, message);
      const ok = await post(server, { inputs: 'still serving', parameters: { max_new_tokens: 2 } });
      assert.equal(ok.status, 200);
    });
  }

  test('/health, /metrics and 400s answer while a long generation runs', async () => {
    let finished = 0;
    const t0 = Date.now();
    const job = post(server, longJob()).then((r) => {
      finished = Date.now();
      return r;
    });
    await sleep(50); // the job is in the worker now
    const answered: number[] = [];
    for (let i = 0; i < 5; i++) {
      const h = await fetch(`${server.url}/health`);
      assert.equal(h.status, 200);
      answered.push(Date.now());
    }
    assert.equal((await fetch(`${server.url}/metrics`)).status, 200);
    const bad = await post(server, { inputs: 'a', parameters: { top_p: 5 } });
    assert.equal(bad.status, 400);
    const badAt = Date.now();
    const r = await job;
    assert.equal(r.status, 200);
    assert.equal(outputsOf(r).length, 64);
    assert.ok(finished - t0 > 200, `the long job took ${finished - t0} ms; too short to show anything`);
    assert.ok(answered.every((t) => t < finished) && badAt < finished, `health answered at ${answered.map((t) => t - t0).join(', ')} ms, the 400 at ${badAt - t0} ms, the job finished at ${finished - t0} ms`);
  });

  test('metrics count prompts per generate() call', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /^finetune_batch_size_bucket\{le="64"\} [1-9]\d*$/m);
    assert.match(text, /^finetune_http_requests_total\{route="\/v1\/predict",status="400"\} [1-9]\d*$/m);
  });
});

describe('text-generation limits and lifecycle', () => {
  test('a generation that outlives its timeout gets 504 and stops decoding: the next request is served at once', async () => {
    const s = await startServer(gpt2Dir, { ...SERVE, timeoutMs: 300, maxItemsPerRequest: 256 });
    try {
      const t0 = Date.now();
      const slow = await post(s, longJob(256)); // ~4 s of decoding if it ran to the end
      assert.equal(slow.status, 504, JSON.stringify(slow.json));
      assert.match(errorOf(slow).message, /within 300 ms/);
      const next = await post(s, { inputs: 'quick', parameters: { max_new_tokens: 2 } });
      assert.equal(next.status, 200, JSON.stringify(next.json));
      assert.ok(Date.now() - t0 < 1500, `the next request finished ${Date.now() - t0} ms after the first began`);
    } finally {
      await s.close();
    }
  });

  test('a full queue answers 503 with Retry-After; queued and running generations still finish; close() waits for them', async () => {
    const s = await startServer(gpt2Dir, { ...SERVE, maxQueue: 1 });
    const running = post(s, longJob());
    await sleep(100); // running in the worker: not in the queue
    const queued = post(s, { inputs: 'queued', parameters: { max_new_tokens: 3 } });
    await sleep(30);
    const refused = await post(s, { inputs: 'one too many', parameters: { max_new_tokens: 3 } });
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(errorOf(refused).code, 'queue_full');
    await s.close(); // graceful: the running and the queued request complete
    assert.deepEqual([(await running).status, (await queued).status], [200, 200]);
    await assert.rejects(fetch(`${s.url}/health`));
  });

  test('start-up fails with a clear message: no weights, or an encoder asked to generate', async () => {
    const noWeights = await makeGpt2Folder(join(work.dir, 'no-weights'), { weights: false });
    await assert.rejects(startServer(noWeights, SERVE), (e: unknown) => e instanceof ModelError && /cannot serve .*no-weights.*model\.safetensors/s.test(e.message));
    await assert.rejects(startServer(SEQCLS_DIR, { ...SERVE, task: 'text-generation' }), (e: unknown) => e instanceof ModelError && /serving it as text-generation/.test(e.message));
  });
});

describe('a text-generation server on stories260K (real Llama weights)', { skip: STORIES_DIR === null ? NO_STORIES : false }, () => {
  test('greedy from BOS over HTTP is the golden story, and equals the library\'s greedy tokens', async () => {
    const golden = JSON.parse(readFileSync(join(STORIES_DIR!, 'golden.json'), 'utf8')) as StoriesGolden;
    const dir = join(STORIES_DIR!, 'hf');
    const s = await startServer(dir, SERVE);
    try {
      const r = await post(s, { inputs: ['', 'Once upon a time'], parameters: { max_new_tokens: 80, return_full_text: false } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const [fromBos, fromPrompt] = outputsOf(r).map((o) => o[0]!.generated_text as string);
      const tok = await loadTokenizer(dir);
      assert.equal(fromBos, tok.decode(golden.greedy_ids.slice(0, 80), { skipSpecialTokens: true }));
      assert.ok(golden.greedy_text.startsWith(fromBos!), `"${fromBos}" is not the start of the golden story`);
      assert.ok(golden.greedy_text.startsWith(`Once upon a time${fromPrompt}`), `"${fromPrompt}" does not continue the golden story`);
    } finally {
      await s.close();
    }
  });
});

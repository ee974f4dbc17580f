// Load test of the inference server: N concurrent clients send POST /v1/predict for a bounded time and a
// bounded number of requests, to loopback only, and report throughput, p50/p99 latency, errors and the
// server's memory before and after. Starts the server in-process from --model, or targets --url (which
// must be a loopback address). A benchmark script, not a test: exits 1 if any request failed.
//
//   node --import tsx scripts/loadtest.ts --model test/fixtures/tiny-bert-seqcls --concurrency 8 --duration 30

import { parseArgs } from 'node:util';
import { startServer, type RunningServer } from '../src/serve/index.ts';

const SAMPLE_TEXTS = [
  'I loved this film.',
  'The service was slow and the food was cold, but the staff apologised and gave us a discount.',
  'Not bad.',
  'The quick brown fox jumps over the lazy dog.',
  'Absolutely the worst purchase I have made this year; it broke after two days and support never answered.',
  'Fine-tuning a small encoder on a few thousand labelled sentences is often enough.',
  'ok',
  'Would recommend to a friend, although the battery life could be better.',
];

const USAGE = `usage: node --import tsx scripts/loadtest.ts (--model <dir> | --url http://127.0.0.1:<port>) [options]
  --concurrency N      concurrent clients (default 8)
  --duration S         seconds to run (default 30, at most 600)
  --max-requests N     stop after N requests in total (default 1000000)
  --batch N            texts per request (default 1)
  --token T            bearer token for --url servers started with one
  --max-batch-size N, --max-wait-ms N   micro-batching settings for --model (defaults 32, 5)
  --threads N          native kernel threads for --model (default: the backend's choice)`;

function isLoopback(url: URL): boolean {
  const h = url.hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function serverRss(base: string, headers: Record<string, string>): Promise<number | null> {
  try {
    const text = await (await fetch(`${base}/metrics`, { headers })).text();
    const m = /^finetune_process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const mb = (b: number | null) => (b === null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)} MiB`);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      url: { type: 'string' },
      concurrency: { type: 'string', default: '8' },
      duration: { type: 'string', default: '30' },
      'max-requests': { type: 'string', default: '1000000' },
      batch: { type: 'string', default: '1' },
      token: { type: 'string' },
      'max-batch-size': { type: 'string', default: '32' },
      'max-wait-ms': { type: 'string', default: '5' },
      threads: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || (!values.model === !values.url)) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  const int = (name: string, v: string, min: number, max: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got ${v}`);
    return n;
  };
  const concurrency = int('concurrency', values.concurrency, 1, 1024);
  const durationS = int('duration', values.duration, 1, 600);
  const maxRequests = int('max-requests', values['max-requests'], 1, 10_000_000);
  const batch = int('batch', values.batch, 1, 64);

  let server: RunningServer | null = null;
  let base: string;
  if (values.model) {
    server = await startServer(values.model, {
      port: 0,
      maxBatchSize: int('max-batch-size', values['max-batch-size'], 1, 4096),
      maxWaitMs: int('max-wait-ms', values['max-wait-ms'], 0, 10_000),
      maxQueue: Math.max(256, concurrency * 2),
      numThreads: values.threads === undefined ? undefined : int('threads', values.threads, 1, 1024),
    });
    base = server.url;
  } else {
    const url = new URL(values.url!);
    if (!isLoopback(url)) throw new Error(`--url must be a loopback address (127.0.0.0/8, localhost, ::1), got ${url.hostname}`);
    base = url.origin;
  }
  const headers: Record<string, string> = values.token ? { authorization: `Bearer ${values.token}` } : {};

  const rssBefore = await serverRss(base, headers);
  const heapBefore = process.memoryUsage();
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let sent = 0;
  let rows = 0;
  const deadline = performance.now() + durationS * 1000;
  const t0 = performance.now();

  async function client(id: number): Promise<void> {
    let k = id;
    while (performance.now() < deadline && sent < maxRequests) {
      sent += 1;
      const inputs = Array.from({ length: batch }, () => SAMPLE_TEXTS[k++ % SAMPLE_TEXTS.length]!);
      const start = performance.now();
      try {
        const r = await fetch(`${base}/v1/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ inputs }),
          signal: AbortSignal.timeout(60_000),
        });
        const body = await r.text();
        if (r.status !== 200) errors.set(`HTTP ${r.status}`, (errors.get(`HTTP ${r.status}`) ?? 0) + 1);
        else if ((JSON.parse(body) as { outputs: unknown[] }).outputs.length !== batch) errors.set('bad body', (errors.get('bad body') ?? 0) + 1);
        else {
          latencies.push(performance.now() - start);
          rows += batch;
        }
      } catch (err) {
        const key = (err as Error).name;
        errors.set(key, (errors.get(key) ?? 0) + 1);
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, (_, i) => client(i)));
  const elapsed = (performance.now() - t0) / 1000;
  const rssAfter = await serverRss(base, headers);
  const heapAfter = process.memoryUsage();
  if (server) await server.close();

  latencies.sort((a, b) => a - b);
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const report = {
    target: values.model ? `${values.model} (in-process server)` : base,
    concurrency,
    duration_s: Number(elapsed.toFixed(2)),
    requests: sent,
    ok: latencies.length,
    errors: errorCount,
    error_kinds: Object.fromEntries(errors),
    throughput_rps: Number((latencies.length / elapsed).toFixed(1)),
    texts_per_s: Number((rows / elapsed).toFixed(1)),
    latency_ms: { p50: Number(percentile(latencies, 50).toFixed(2)), p99: Number(percentile(latencies, 99).toFixed(2)), max: Number((latencies.at(-1) ?? NaN).toFixed(2)) },
    server_rss: { before: rssBefore, after: rssAfter },
    loadtest_process: { rss_before: heapBefore.rss, rss_after: heapAfter.rss, heap_used_before: heapBefore.heapUsed, heap_used_after: heapAfter.heapUsed },
  };
  console.log(
    [
      `target         ${report.target}`,
      `clients        ${concurrency} for ${report.duration_s} s (${sent} requests, ${batch} text(s) each)`,
      `throughput     ${report.throughput_rps} req/s, ${report.texts_per_s} texts/s`,
      `latency        p50 ${report.latency_ms.p50} ms, p99 ${report.latency_ms.p99} ms, max ${report.latency_ms.max} ms`,
      `errors         ${errorCount}${errorCount ? ` ${JSON.stringify(report.error_kinds)}` : ''}`,
      `server memory  ${mb(rssBefore)} before, ${mb(rssAfter)} after`,
    ].join('\n'),
  );
  console.log(JSON.stringify(report));
  return errorCount === 0 ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 2;
  },
);

#!/usr/bin/env node
// Soak test of `finetune serve`: starts the server as its own process (bin/finetune.js), drives a mixed load
// (N clients, 1-16 texts of 1-3,000 characters per request) to loopback for a bounded time, and prints the
// server's resident memory (VmRSS from /proc) over time, then the growth after warm-up. A script, not a
// test (Linux only): exits 1 if a request failed or RSS grew by more than --max-growth-mib after warm-up.
//
//   node scripts/soak-serve.mjs --model test/fixtures/tiny-bert-seqcls --duration 120 --clients 8

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../test/fixtures/tiny-bert-seqcls', import.meta.url)) },
    duration: { type: 'string', default: '120' },
    warmup: { type: 'string', default: '30' },
    clients: { type: 'string', default: '8' },
    every: { type: 'string', default: '5' },
    'max-growth-mib': { type: 'string', default: '64' },
  },
});
const duration = Math.min(Number(a.duration), 3600) * 1000;
const warmup = Number(a.warmup) * 1000;
const BIN = fileURLToPath(new URL('../bin/finetune.js', import.meta.url));
const WORDS = 'the a film was great terrible service slow quick brown fox jumps over lazy dog battery life could be better never again would recommend'.split(' ');

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const text = () => {
  const n = 1 + Math.floor(rand() ** 3 * 500); // mostly short, some up to ~3,000 characters
  return Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ');
};
const rssMib = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

const server = spawn(process.execPath, [BIN, 'serve', a.model, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const url = await new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    log += d.toString();
    const m = /serving .* at (http:\/\/\S+)/.exec(log);
    if (m) resolve(m[1]);
  });
  server.on('exit', () => reject(new Error(`server exited: ${log}`)));
});
console.log(`server pid ${server.pid} at ${url}; model ${a.model}; ${a.clients} clients for ${duration / 1000} s (warm-up ${warmup / 1000} s)`);
console.log(`t=0s rss ${rssMib(server.pid).toFixed(0)} MiB (idle, model loaded)`);

const t0 = Date.now();
let requests = 0;
let failures = 0;
let texts = 0;
async function client() {
  while (Date.now() - t0 < duration) {
    const inputs = Array.from({ length: 1 + Math.floor(rand() * 16) }, text);
    try {
      const r = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs }) });
      await r.arrayBuffer();
      if (r.status !== 200) failures++;
    } catch {
      failures++;
    }
    requests++;
    texts += inputs.length;
  }
}
const samples = [];
const sampler = setInterval(() => {
  const s = { t: (Date.now() - t0) / 1000, rss: rssMib(server.pid) };
  samples.push(s);
  console.log(`t=${s.t.toFixed(0)}s rss ${s.rss.toFixed(0)} MiB  requests ${requests} texts ${texts} failures ${failures}`);
}, Number(a.every) * 1000);
await Promise.all(Array.from({ length: Number(a.clients) }, client));
clearInterval(sampler);
await new Promise((r) => setTimeout(r, 3000)); // idle: the pool is trimmed after 2 s
const idle = rssMib(server.pid);
server.kill('SIGTERM');
const after = samples.filter((s) => s.t * 1000 >= warmup);
const base = after[0]?.rss ?? NaN;
const peak = Math.max(...after.map((s) => s.rss));
const growth = peak - base;
console.log(`after warm-up: first ${base.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, last ${after.at(-1)?.rss.toFixed(0)} MiB; growth ${growth.toFixed(0)} MiB; idle after the load ${idle.toFixed(0)} MiB`);
console.log(`${requests} requests (${texts} texts), ${failures} failures, ${(requests / (duration / 1000)).toFixed(1)} req/s`);
process.exit(failures > 0 || !(growth <= Number(a['max-growth-mib'])) ? 1 : 0);

// Op benchmark (`npm run bench:ops`): the native backend's kernels at BERT-base training shapes
// (B=8, T=128, C=768, 12 heads, FFN 3072, vocab 30522), side by side with PyTorch on the same machine
// in the same run (/usr/bin/python3 with Debian's python3-torch; skipped with a message when absent).
// Prints median time, GFLOP/s, % of the measured FMA peak, and the speed ratio against PyTorch at its
// best thread setting (its default and torch.set_num_threads(N), whichever is faster per op).
// A script, not a test: nothing here asserts.

import { spawnSync } from 'node:child_process';

import type { AttentionArgs } from '../src/backend/backend.ts';
import {
  measureFmaPeak,
  nativeAvailable,
  nativeBackend as nat,
  nativeBuildInfo,
  nativeLoadError,
} from '../src/backend/native.ts';

const B = 8;
const T = 128;
const C = 768;
const H = 12;
const D = C / H;
const FFN = 3072;
const VOCAB = 30522;
const ROWS = B * T;

interface Op {
  name: string;
  /** Floating-point operations per call (0 = memory-bound op: no GFLOP/s shown). */
  flops: number;
  run: () => void;
}

function rand(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 - 0.5) * 2 * scale;
  }
  return out;
}

/** Median wall time in ms over repeated calls: 2 warm-ups, then at least 5 runs or ~1.5 s. */
function time(run: () => void): number {
  run();
  run();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 5 || (performance.now() - start < 1500 && samples.length < 50)) {
    const t0 = performance.now();
    run();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/** BERT-base parameter shapes (embeddings, 12 layers, pooler): ~110M parameters. */
function bertParamSizes(): number[] {
  const sizes = [VOCAB * C, 512 * C, 2 * C, C, C];
  for (let l = 0; l < 12; l++) {
    for (let i = 0; i < 4; i++) sizes.push(C * C, C); // query, key, value, attention output
    sizes.push(C, C, FFN * C, FFN, C * FFN, C, C, C); // LN, intermediate, output, LN
  }
  sizes.push(C * C, C);
  return sizes;
}

function linearOps(name: string, inF: number, outF: number): Op[] {
  const x = rand(ROWS * inF, 1);
  const w = rand(outF * inF, 2, 0.05);
  const gy = rand(ROWS * outF, 3);
  const y = new Float32Array(ROWS * outF);
  const gx = new Float32Array(ROWS * inF);
  const gw = new Float32Array(outF * inF);
  const flops = 2 * ROWS * inF * outF;
  return [
    // y = x W^T ; gx = gy W ; gW = gy^T x
    { name: `${name} fwd`, flops, run: () => nat.gemm(1, ROWS, outF, inF, 1, x, 0, 0, false, w, 0, 0, true, 0, y, 0, 0) },
    { name: `${name} bwd dX`, flops, run: () => nat.gemm(1, ROWS, inF, outF, 1, gy, 0, 0, false, w, 0, 0, false, 0, gx, 0, 0) },
    { name: `${name} bwd dW`, flops, run: () => nat.gemm(1, outF, inF, ROWS, 1, gy, 0, 0, true, x, 0, 0, false, 0, gw, 0, 0) },
  ];
}

function nativeOps(): Op[] {
  const ops: Op[] = [
    ...linearOps('linear 768->768', C, C),
    ...linearOps('linear 768->3072', C, FFN),
    ...linearOps('linear 3072->768', FFN, C),
  ];

  const nq = B * H * T * D;
  const args: AttentionArgs = {
    B, H, Hkv: H, Tq: T, Tk: T, D,
    q: rand(nq, 4), k: rand(nq, 5), v: rand(nq, 6),
    keyMask: new Float32Array(B * T).fill(1), causal: false, scale: 1 / Math.sqrt(D), dropoutP: 0.1, seed: 7,
  };
  const out = new Float32Array(nq);
  const lse = new Float32Array(B * H * T);
  const gout = rand(nq, 8);
  const gq = new Float32Array(nq);
  const gk = new Float32Array(nq);
  const gv = new Float32Array(nq);
  const attnFlops = 2 * B * H * T * T * D;
  ops.push({ name: 'attention fwd (mask, dropout 0.1)', flops: 2 * attnFlops, run: () => nat.attention(args, out, lse) });
  ops.push({
    name: 'attention bwd',
    flops: 4 * attnFlops, // dV, dP, dQ, dK (the score recompute is extra work, not counted)
    run: () => nat.attentionBackward(args, out, lse, gout, gq, gk, gv),
  });

  const x = rand(ROWS * C, 9);
  const gamma = rand(C, 10);
  const beta = rand(C, 11);
  const y = new Float32Array(ROWS * C);
  const mean = new Float32Array(ROWS);
  const rstd = new Float32Array(ROWS);
  const gx = new Float32Array(ROWS * C);
  const gg = new Float32Array(C);
  const gb = new Float32Array(C);
  ops.push({ name: 'layer norm fwd (1024x768)', flops: 0, run: () => nat.layerNorm(x, gamma, beta, ROWS, C, 1e-12, y, mean, rstd) });
  ops.push({
    name: 'layer norm bwd',
    flops: 0,
    run: () => nat.layerNormBackward(x, gamma, mean, rstd, y, ROWS, C, gx, gg, gb),
  });

  const h = rand(ROWS * FFN, 12, 3);
  const hy = new Float32Array(ROWS * FFN);
  const hg = new Float32Array(ROWS * FFN);
  ops.push({ name: 'gelu fwd (1024x3072)', flops: 0, run: () => nat.unary('gelu', h, hy, ROWS * FFN, 0) });
  ops.push({ name: 'gelu bwd', flops: 0, run: () => nat.unaryBackward('gelu', h, hy, hy, hg, ROWS * FFN, 0) });

  const logits = rand(ROWS * VOCAB, 13, 4);
  const targets = new Int32Array(ROWS).map((_, i) => (i % 7 === 0 ? (i * 31) % VOCAB : -100)); // ~15% masked, MLM-like
  const loss = new Float32Array(ROWS);
  const clse = new Float32Array(ROWS);
  const gloss = new Float32Array(ROWS).fill(1 / ROWS);
  const glogits = new Float32Array(ROWS * VOCAB);
  ops.push({
    name: 'cross-entropy fwd (1024x30522)',
    flops: 0,
    run: () => nat.crossEntropy(logits, targets, ROWS, VOCAB, -100, loss, clse),
  });
  ops.push({
    name: 'cross-entropy bwd',
    flops: 0,
    run: () => nat.crossEntropyBackward(logits, clse, targets, gloss, ROWS, VOCAB, -100, glogits),
  });

  const sizes = bertParamSizes();
  const params = sizes.map((n, i) => ({ p: rand(n, 100 + i, 0.02), g: rand(n, 200 + i, 0.01), m: new Float32Array(n), v: new Float32Array(n) }));
  let step = 0;
  ops.push({
    name: `clip + AdamW (${(sizes.reduce((a, b) => a + b, 0) / 1e6).toFixed(1)}M params)`,
    flops: 0,
    run: () => {
      step++;
      let sq = 0;
      for (const q of params) sq += nat.sumSquares(q.g, q.g.length);
      const norm = Math.sqrt(sq);
      const scale = norm > 1 ? 1 / (norm + 1e-6) : 1;
      for (const q of params) nat.adamw(q.p, q.g, q.m, q.v, q.p.length, 1e-4, 0.9, 0.999, 1e-8, 0.01, step, scale);
    },
  });
  return ops;
}

// The PyTorch side: the same ops at the same shapes, timed the same way (median, 2 warm-ups).
const TORCH_SCRIPT = String.raw`
import json, sys, time, math
try:
    import torch
except Exception as e:
    print(json.dumps({"error": "import torch failed: %s" % e})); sys.exit(0)
cfg = json.loads(sys.stdin.read())
if cfg["threads"] > 0:
    torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
B, T, C, H, FFN, V = 8, 128, 768, 12, 3072, 30522
D, R = C // H, B * T
F = torch.nn.functional
def timeit(fn):
    fn(); fn()
    s, start = [], time.perf_counter()
    while len(s) < 5 or (time.perf_counter() - start < 1.5 and len(s) < 50):
        t0 = time.perf_counter(); fn(); s.append(time.perf_counter() - t0)
    s.sort(); return s[len(s) // 2] * 1e3
res = {}
with torch.no_grad():
    for name, i, o in [("linear 768->768", C, C), ("linear 768->3072", C, FFN), ("linear 3072->768", FFN, C)]:
        x, w, gy = torch.randn(R, i), torch.randn(o, i) * 0.05, torch.randn(R, o)
        res[name + " fwd"] = timeit(lambda: torch.matmul(x, w.t()))
        res[name + " bwd dX"] = timeit(lambda: torch.matmul(gy, w))
        res[name + " bwd dW"] = timeit(lambda: torch.matmul(gy.t(), x))
# attention as BERT in transformers 4.x computes it (eager: matmul, mask add, softmax, dropout, matmul)
q = torch.randn(B, H, T, D, requires_grad=True); k = torch.randn(B, H, T, D, requires_grad=True)
v = torch.randn(B, H, T, D, requires_grad=True); mask = torch.zeros(B, 1, 1, T)
def attn():
    s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D) + mask
    return torch.matmul(F.dropout(torch.softmax(s, -1), 0.1, True), v)
with torch.no_grad():
    res["attention fwd (mask, dropout 0.1)"] = timeit(attn)
g = torch.randn(B, H, T, D)
o = attn()
res["attention bwd"] = timeit(lambda: torch.autograd.grad(o, (q, k, v), g, retain_graph=True))
x = torch.randn(R, C, requires_grad=True); ln = torch.nn.LayerNorm(C, eps=1e-12)
with torch.no_grad():
    res["layer norm fwd (1024x768)"] = timeit(lambda: ln(x))
y = ln(x); gy = torch.randn(R, C)
res["layer norm bwd"] = timeit(lambda: torch.autograd.grad(y, (x, ln.weight, ln.bias), gy, retain_graph=True))
h = (torch.randn(R, FFN) * 3).requires_grad_()
with torch.no_grad():
    res["gelu fwd (1024x3072)"] = timeit(lambda: F.gelu(h))
hy = F.gelu(h); hg = torch.randn(R, FFN)
res["gelu bwd"] = timeit(lambda: torch.autograd.grad(hy, h, hg, retain_graph=True))
logits = (torch.randn(R, V) * 4).requires_grad_()
tg = torch.tensor([(i * 31) % V if i % 7 == 0 else -100 for i in range(R)])
with torch.no_grad():
    res["cross-entropy fwd (1024x30522)"] = timeit(lambda: F.cross_entropy(logits, tg, ignore_index=-100))
l = F.cross_entropy(logits, tg, ignore_index=-100)
res["cross-entropy bwd"] = timeit(lambda: torch.autograd.grad(l, logits, retain_graph=True))
sizes = cfg["paramSizes"]
ps = [torch.nn.Parameter(torch.randn(n) * 0.02) for n in sizes]
for p in ps: p.grad = torch.randn_like(p) * 0.01
opt = torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.01)
def step():
    torch.nn.utils.clip_grad_norm_(ps, 1.0); opt.step()
res["clip + AdamW"] = timeit(step)
print(json.dumps({"threads": torch.get_num_threads(), "results": res}))
`;

interface TorchRun {
  threads: number;
  results: Record<string, number>;
}

function runTorch(threads: number, paramSizes: number[]): TorchRun | string {
  const python = '/usr/bin/python3';
  const r = spawnSync(python, ['-c', TORCH_SCRIPT], {
    input: JSON.stringify({ threads, paramSizes }),
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.error) return `could not run ${python}: ${r.error.message}`;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(line) as { error?: string } & Partial<TorchRun>;
    if (parsed.error) return `${parsed.error} (install it with: apt-get install -y python3-torch)`;
    return { threads: parsed.threads ?? threads, results: parsed.results ?? {} };
  } catch {
    return `PyTorch run failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function main(): void {
  if (!nativeAvailable()) {
    console.log(`native backend unavailable: ${nativeLoadError()}`);
    process.exitCode = 1;
    return;
  }
  const info = nativeBuildInfo();
  // Best of three short probes: a busy machine can only make the probe slower, never faster.
  const peak = Math.max(measureFmaPeak(300), measureFmaPeak(300), measureFmaPeak(300));
  console.log(`finetune native: gemm=${info.gemm} (built with ${info.blas}), isa=${info.isa} (widest ${info.isaMax}), threads=${info.threads}`);
  console.log(`measured fp32 FMA peak: ${peak.toFixed(0)} GFLOP/s on ${info.threads} threads (issue #2 quotes ~200 on its machine)`);
  console.log(`shapes: BERT-base B=${B} T=${T} C=${C} heads=${H} FFN=${FFN} vocab=${VOCAB}\n`);

  const ops = nativeOps();
  const ours = new Map<string, number>();
  for (const op of ops) ours.set(op.name, time(op.run));

  const sizes = bertParamSizes();
  const torchRuns: TorchRun[] = [];
  let torchNote = '';
  for (const threads of [0, info.threads]) {
    const r = runTorch(threads, sizes);
    if (typeof r === 'string') {
      torchNote = `PyTorch skipped: ${r}`;
      break;
    }
    torchRuns.push(r);
  }
  const torchBest = (name: string): { ms: number; threads: number } | null => {
    const key = name.startsWith('clip + AdamW') ? 'clip + AdamW' : name;
    let best: { ms: number; threads: number } | null = null;
    for (const r of torchRuns) {
      const ms = r.results[key];
      if (ms !== undefined && (best === null || ms < best.ms)) best = { ms, threads: r.threads };
    }
    return best;
  };

  const header = `${pad('op', 36)} ${pad('ms', 9, true)} ${pad('GFLOP/s', 8, true)} ${pad('%peak', 6, true)} | ${pad('torch ms', 9, true)} ${pad('GFLOP/s', 8, true)} ${pad('thr', 4, true)} | ${pad('speedup', 7, true)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  let sumOurs = 0;
  let sumTorch = 0;
  for (const op of ops) {
    const ms = ours.get(op.name) ?? NaN;
    const gf = op.flops > 0 ? op.flops / (ms * 1e6) : NaN;
    const tb = torchBest(op.name);
    const cells = [
      pad(op.name, 36),
      pad(ms.toFixed(2), 9, true),
      pad(Number.isNaN(gf) ? '-' : gf.toFixed(1), 8, true),
      pad(Number.isNaN(gf) || peak === 0 ? '-' : `${((100 * gf) / peak).toFixed(0)}%`, 6, true),
    ];
    let tail = `| ${pad('-', 9, true)} ${pad('-', 8, true)} ${pad('-', 4, true)} | ${pad('-', 7, true)}`;
    if (tb) {
      const tgf = op.flops > 0 ? (op.flops / (tb.ms * 1e6)).toFixed(1) : '-';
      tail = `| ${pad(tb.ms.toFixed(2), 9, true)} ${pad(tgf, 8, true)} ${pad(String(tb.threads), 4, true)} | ${pad(`${(tb.ms / ms).toFixed(2)}x`, 7, true)}`;
      sumOurs += ms;
      sumTorch += tb.ms;
    }
    console.log(`${cells.join(' ')} ${tail}`);
  }
  if (torchRuns.length > 0) {
    console.log(`\nall ops: finetune ${sumOurs.toFixed(1)} ms, PyTorch ${sumTorch.toFixed(1)} ms (best thread setting per op): ${(sumTorch / sumOurs).toFixed(2)}x`);
    console.log('speedup = PyTorch time / finetune time (> 1: finetune faster). PyTorch attention is the eager matmul-softmax-dropout-matmul path BERT uses.');
  } else {
    console.log(`\n${torchNote}`);
  }
}

main();

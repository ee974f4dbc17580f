// `npm run bench`: BERT fine-tuning throughput, finetune against PyTorch on the same machine in one run.
// For each configuration (bench/train-configs.ts) it runs the finetune side (bench/train-finetune.ts)
// and the PyTorch side (bench/torch_train.py, at its default thread setting and at
// torch.set_num_threads(N); the faster is reported) in separate processes, same weights (one safetensors
// file), same batch, and prints samples/s, tokens/s, GFLOP/s, % of the FMA peak measured in this run, peak
// RSS of each process, inference throughput and the ratios, with the load average beside each row.
// --profile adds a per-kernel breakdown of a training step and its roofline; the SpamAssassin
// variable-length comparison is bench/train-spam.ts. A script, not a test: nothing here asserts.
//
// Usage: npm run bench -- [--models small,tiny | --all] [--steps 5] [--warmup 2] [--threads N]
//        [--no-torch] [--profile] [--no-spam] [--no-onnx] [--json results.json]

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { measureFmaPeak, nativeAvailable, nativeBackend, nativeBuildInfo, nativeLoadError } from '../src/backend/native.ts';
import { family, type OpTally } from './profile.ts';
import { CONFIGS, DROPOUT, LEARNING_RATE, MAX_GRAD_NORM, NUM_LABELS, WEIGHT_DECAY, forwardFlops, median, trainFlops, type BenchConfig } from './train-configs.ts';
import type { FinetuneReport } from './train-finetune.ts';

const PYTHON = '/usr/bin/python3';
const HERE = fileURLToPath(new URL('.', import.meta.url));

interface Flags {
  models: string[];
  steps: number;
  warmup: number;
  threads: number;
  torch: boolean;
  profile: boolean;
  spam: boolean;
  onnx: boolean;
  json: string | null;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { models: CONFIGS.filter((c) => c.key !== 'base').map((c) => c.key), steps: 5, warmup: 2, threads: 0, torch: true, profile: false, spam: true, onnx: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--all') f.models = CONFIGS.map((c) => c.key);
    else if (k === '--models') f.models = next().split(',').map((s) => s.trim()).filter(Boolean);
    else if (k === '--steps') f.steps = Number(next());
    else if (k === '--warmup') f.warmup = Number(next());
    else if (k === '--threads') f.threads = Number(next());
    else if (k === '--no-torch') f.torch = false;
    else if (k === '--profile') f.profile = true;
    else if (k === '--no-spam') f.spam = false;
    else if (k === '--no-onnx') f.onnx = false;
    else if (k === '--json') f.json = next();
    else if (k === '--help' || k === '-h') {
      console.log('npm run bench -- [--models base,small,minilm,mini,tiny | --all] [--steps N] [--warmup N] [--threads N] [--no-torch] [--profile] [--no-spam] [--no-onnx] [--json FILE]');
      process.exit(0);
    } else throw new Error(`unknown flag ${k} (see --help)`);
  }
  for (const m of f.models) if (!CONFIGS.some((c) => c.key === m)) throw new Error(`unknown model ${m}; choose from ${CONFIGS.map((c) => c.key).join(', ')}`);
  return f;
}

const load = (): string => loadavg()[0].toFixed(2);

/** Runs a worker and parses the JSON object on its last stdout line. */
function runJson<T>(cmd: string, args: string[], what: string): T | string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, timeout: 60 * 60 * 1000 });
  if (r.error) return `${what}: ${r.error.message}`;
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const parsed = JSON.parse(line) as T & { error?: string };
    if (parsed.error) return `${what}: ${parsed.error}`;
    return parsed;
  } catch {
    return `${what} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-4).join(' | ')}`;
  }
}

function runFinetune(c: BenchConfig, f: Flags, files: { weights: string; batch: string }, profile: boolean): FinetuneReport | string {
  const args = ['--import', 'tsx', join(HERE, 'train-finetune.ts'), '--config', c.key, '--warmup', String(f.warmup), '--steps', String(profile ? Math.min(f.steps, 3) : f.steps), '--infer-steps', String(f.steps), '--weights', files.weights, '--batch-file', files.batch];
  if (f.threads > 0) args.push('--threads', String(f.threads));
  if (profile) args.push('--profile');
  return runJson<FinetuneReport>(process.execPath, args, `finetune ${c.key}`);
}

interface TorchReport {
  threads: number;
  version: string;
  parameters: number;
  trainMs: number[];
  inferMs: number[];
  maxRssBytes: number;
  checkLoss: number;
  checkLogits: number[];
}

function torchAvailable(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (${r.error.message}); install Debian's python3-torch: apt-get install -y python3-torch`;
  if (r.status !== 0) return `${PYTHON} cannot import torch; install it with: apt-get install -y python3-torch`;
  return null;
}

function runTorch(c: BenchConfig, f: Flags, files: { weights: string; batch: string }, threads: number): TorchReport | string {
  const cfg = {
    config: { hidden: c.hidden, heads: c.heads, intermediate: c.intermediate, layers: c.layers, vocab: c.vocab, dropout: DROPOUT, labels: NUM_LABELS },
    weights: files.weights, batch: files.batch, threads, warmup: f.warmup, steps: f.steps, inferSteps: f.steps,
    lr: LEARNING_RATE, weightDecay: WEIGHT_DECAY, maxGradNorm: MAX_GRAD_NORM,
  };
  return runJson<TorchReport>(PYTHON, [join(HERE, 'torch_train.py'), JSON.stringify(cfg)], `PyTorch ${c.key} (threads ${threads || 'default'})`);
}

/** STREAM-like bandwidth: y += a*x over 64 MB arrays (12 bytes moved per element), best of 5. */
function measureBandwidth(): number {
  const n = 16 << 20;
  const x = new Float32Array(n).fill(1);
  const y = new Float32Array(n);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    nativeBackend.axpy(0.5, x, y, n);
    if (i > 0) best = Math.min(best, performance.now() - t0);
  }
  return (12 * n) / (best * 1e6);
}

const pad = (s: string, n: number, right = true): string => (right ? s.padStart(n) : s.padEnd(n));
const mb = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MB`;

interface Row {
  c: BenchConfig;
  load: string;
  ours: FinetuneReport;
  torch: TorchReport | null;
  torchOther: TorchReport | null;
}

function printTraining(rows: Row[], peak: number): void {
  console.log('\nTraining step (forward + backward + clip + AdamW), fp32, T=128, median of timed steps');
  const h = `${pad('model', 22, false)} ${pad('B', 3)} ${pad('load', 5)} | ${pad('finetune s/s', 12)} ${pad('tok/s', 7)} ${pad('GFLOP/s', 7)} ${pad('%peak', 5)} ${pad('RSS', 8)} | ${pad('torch s/s', 9)} ${pad('thr', 3)} ${pad('GFLOP/s', 7)} ${pad('%peak', 5)} ${pad('RSS', 8)} | ${pad('speedup', 7)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const r of rows) {
    const ms = median(r.ours.trainMs);
    const flops = trainFlops(r.c);
    const sps = (r.c.batch * 1000) / ms;
    const gf = flops / (ms * 1e6);
    let tail = `| ${pad('-', 9)} ${pad('-', 3)} ${pad('-', 7)} ${pad('-', 5)} ${pad('-', 8)} | ${pad('-', 7)}`;
    if (r.torch) {
      const tms = median(r.torch.trainMs);
      const tgf = flops / (tms * 1e6);
      tail = `| ${pad(((r.c.batch * 1000) / tms).toFixed(2), 9)} ${pad(String(r.torch.threads), 3)} ${pad(tgf.toFixed(1), 7)} ${pad(`${((100 * tgf) / peak).toFixed(0)}%`, 5)} ${pad(mb(r.torch.maxRssBytes), 8)} | ${pad(`${(tms / ms).toFixed(2)}x`, 7)}`;
    }
    console.log(`${pad(r.c.label, 22, false)} ${pad(String(r.c.batch), 3)} ${pad(r.load, 5)} | ${pad(sps.toFixed(2), 12)} ${pad(((sps * r.c.seqLen) / 1000).toFixed(1) + 'k', 7)} ${pad(gf.toFixed(1), 7)} ${pad(`${((100 * gf) / peak).toFixed(0)}%`, 5)} ${pad(mb(r.ours.maxRssBytes), 8)} ${tail}`);
  }
  console.log('speedup = PyTorch step time / finetune step time (> 1: finetune faster). GFLOP/s counts the matrix products only (train-configs.ts).');
  for (const r of rows) {
    if (!r.torchOther || !r.torch) continue;
    const a = median(r.torch.trainMs);
    const b = median(r.torchOther.trainMs);
    console.log(`  PyTorch ${r.c.key}: ${r.torch.threads} thread(s) ${a.toFixed(0)} ms/step, ${r.torchOther.threads} thread(s) ${b.toFixed(0)} ms/step (reported: the faster)`);
  }
}

function printInference(rows: Row[]): void {
  console.log('\nInference (eval mode, no grad), same batch, median');
  const h = `${pad('model', 22, false)} ${pad('load', 5)} | ${pad('finetune s/s', 12)} ${pad('GFLOP/s', 7)} | ${pad('torch s/s', 9)} ${pad('GFLOP/s', 7)} | ${pad('speedup', 7)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const r of rows) {
    const ms = median(r.ours.inferMs);
    const flops = forwardFlops(r.c);
    let tail = `| ${pad('-', 9)} ${pad('-', 7)} | ${pad('-', 7)}`;
    // The faster PyTorch setting for inference may differ from training's.
    const cands = [r.torch, r.torchOther].filter((t): t is TorchReport => t !== null);
    if (cands.length) {
      const best = cands.reduce((a, b) => (median(a.inferMs) <= median(b.inferMs) ? a : b));
      const tms = median(best.inferMs);
      tail = `| ${pad(((r.c.batch * 1000) / tms).toFixed(2), 9)} ${pad((flops / (tms * 1e6)).toFixed(1), 7)} | ${pad(`${(tms / ms).toFixed(2)}x`, 7)}`;
    }
    console.log(`${pad(r.c.label, 22, false)} ${pad(r.load, 5)} | ${pad(((r.c.batch * 1000) / ms).toFixed(2), 12)} ${pad((flops / (ms * 1e6)).toFixed(1), 7)} ${tail}`);
  }
}

function printProfile(c: BenchConfig, rep: FinetuneReport, peak: number, bw: number): void {
  const p = rep.profile;
  if (!p) return;
  const n = p.steps;
  const stepMs = median(p.stepMs);
  const fams = new Map<string, OpTally>();
  let kernelMs = 0;
  let bytes = 0;
  for (const [k, t] of p.ops) {
    const f = family(k);
    const e = fams.get(f) ?? { calls: 0, ms: 0, flops: 0, bytes: 0 };
    e.calls += t.calls;
    e.ms += t.ms;
    e.flops += t.flops;
    e.bytes += t.bytes;
    fams.set(f, e);
    kernelMs += t.ms;
    bytes += t.bytes;
  }
  console.log(`\nProfile: ${c.label} B=${c.batch}, ${n} profiled steps, ${stepMs.toFixed(1)} ms/step (with timers), load ${load()}`);
  const h = `${pad('kernel', 34, false)} ${pad('calls', 6)} ${pad('ms/step', 8)} ${pad('%step', 6)} ${pad('GFLOP/s', 8)} ${pad('GB/s', 6)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const [k, t] of [...fams.entries()].sort((a, b) => b[1].ms - a[1].ms)) {
    if (t.ms / n < 0.05 * (stepMs / 100)) continue;
    const gf = t.flops ? (t.flops / (t.ms * 1e6)).toFixed(1) : '-';
    console.log(`${pad(k, 34, false)} ${pad((t.calls / n).toFixed(0), 6)} ${pad((t.ms / n).toFixed(2), 8)} ${pad(((100 * t.ms) / n / stepMs).toFixed(1), 6)} ${pad(gf, 8)} ${pad((t.bytes / (t.ms * 1e6)).toFixed(1), 6)}`);
  }
  const outside = stepMs - kernelMs / n;
  console.log(`${pad('outside kernels (JS, autograd, GC)', 34, false)} ${pad('', 6)} ${pad(outside.toFixed(2), 8)} ${pad(((100 * outside) / stepMs).toFixed(1), 6)}`);
  // Roofline: the matrix products at the FMA peak, every kernel's compulsory bytes at the measured bandwidth.
  const flops = trainFlops(c);
  const tFlops = flops / (peak * 1e6);
  const tBytes = bytes / n / (bw * 1e6);
  console.log(`roofline: ${(flops / 1e9).toFixed(1)} GFLOP/step -> ${tFlops.toFixed(1)} ms at ${peak.toFixed(0)} GFLOP/s; ${(bytes / n / 1e9).toFixed(2)} GB/step compulsory -> ${tBytes.toFixed(1)} ms at ${bw.toFixed(1)} GB/s; floor ${Math.max(tFlops, tBytes).toFixed(1)} ms (overlapped) to ${(tFlops + tBytes).toFixed(1)} ms (serial); measured ${median(rep.trainMs).toFixed(1)} ms`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const dev = argv.indexOf('--device');
  if (dev >= 0 && argv[dev + 1] === 'webgpu') {
    // The WebGPU bench: its own flags and table (bench/webgpu.ts).
    await (await import('./webgpu.ts')).runWebGpuBench(argv.filter((_, i) => i !== dev && i !== dev + 1));
    return;
  }
  const f = parseFlags(argv);
  if (!nativeAvailable()) {
    console.log(`native backend unavailable: ${nativeLoadError()}`);
    process.exitCode = 1;
    return;
  }
  const info = nativeBuildInfo();
  const threads = f.threads > 0 ? f.threads : info.threads;
  // Best of several short probes: a busy machine can only make a probe slower, never faster.
  const peak = Math.max(...Array.from({ length: 5 }, () => measureFmaPeak(200)));
  const bw = measureBandwidth();
  console.log(`finetune native: gemm=${info.gemm}, avx2=${info.avx2}, threads=${threads}; measured fp32 FMA peak ${peak.toFixed(0)} GFLOP/s, memory bandwidth ${bw.toFixed(1)} GB/s (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  const torchSkip = f.torch ? torchAvailable() : 'disabled by --no-torch';
  if (torchSkip) console.log(`PyTorch side skipped: ${torchSkip}`);

  const dir = join(tmpdir(), 'finetune-bench');
  const rows: Row[] = [];
  const profiles: [BenchConfig, FinetuneReport][] = [];
  for (const key of f.models) {
    const c = CONFIGS.find((x) => x.key === key)!;
    const files = { weights: join(dir, `${c.key}.safetensors`), batch: join(dir, `${c.key}.batch.safetensors`) };
    const l = load();
    process.stderr.write(`[bench] ${c.label}: finetune (load ${l})...\n`);
    const ours = runFinetune(c, f, files, false);
    if (typeof ours === 'string') {
      console.log(`${c.label}: ${ours}`);
      continue;
    }
    let torch: TorchReport | null = null;
    let torchOther: TorchReport | null = null;
    if (!torchSkip) {
      const runs: TorchReport[] = [];
      for (const t of [0, threads]) {
        process.stderr.write(`[bench] ${c.label}: PyTorch threads=${t || 'default'} (load ${load()})...\n`);
        const r = runTorch(c, f, files, t);
        if (typeof r === 'string') console.log(r);
        else runs.push(r);
      }
      runs.sort((a, b) => median(a.trainMs) - median(b.trainMs));
      torch = runs[0] ?? null;
      torchOther = runs[1] ?? null;
      if (torch) {
        const rel = Math.abs(torch.checkLoss - ours.checkLoss) / Math.abs(torch.checkLoss);
        console.log(`${c.label}: same-math check (eval-mode loss on the batch): finetune ${ours.checkLoss.toFixed(6)}, PyTorch ${torch.checkLoss.toFixed(6)} (rel. diff ${rel.toExponential(1)})${rel > 1e-4 ? '  <-- MISMATCH' : ''}`);
      }
    }
    rows.push({ c, load: l, ours, torch, torchOther });
    if (f.profile) {
      process.stderr.write(`[bench] ${c.label}: profile (load ${load()})...\n`);
      const p = runFinetune(c, f, files, true);
      if (typeof p === 'string') console.log(p);
      else profiles.push([c, p]);
    }
  }
  printTraining(rows, peak);
  printInference(rows);
  if (rows.some((r) => r.torch)) {
    console.log(`\nPeak RSS: each side in its own process (finetune: Node + addon; PyTorch ${rows.find((r) => r.torch)?.torch?.version}).`);
  }
  for (const [c, p] of profiles) printProfile(c, p, peak, bw);

  const extras: Record<string, unknown> = {};
  if (f.onnx) {
    const { onnxInference } = await import('./train-onnx.ts');
    extras.onnx = await onnxInference(rows.map((r) => ({ c: r.c, ours: r.ours })), dir, f);
  }
  if (f.spam) {
    const { spamComparison } = await import('./train-spam.ts');
    extras.spam = await spamComparison({ steps: Math.max(f.steps * 4, 20), torch: !torchSkip, threads: f.threads });
  }
  if (f.json) {
    writeFileSync(f.json, JSON.stringify({ peak, bandwidth: bw, threads, rows, profiles, extras }, null, 1));
    console.log(`\nraw results written to ${f.json}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exitCode = 1;
});

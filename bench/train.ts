// `npm run bench`: BERT fine-tuning throughput, finetune against PyTorch on the same machine in one run.
// For each configuration (bench/train-configs.ts) it runs the finetune side (bench/train-finetune.ts)
// and the PyTorch side (bench/torch_train.py, fp32 and bf16 autocast, each at its default thread setting
// and at torch.set_num_threads(N); the faster is reported) in separate processes, same weights (one
// safetensors file), same batch, and prints samples/s, tokens/s, GFLOP/s, % of the peak measured in this
// run (fp32 columns: the FMA peak of the widest ISA present, AVX-512 or AVX2; bf16 columns: the bf16
// dot-product peak where the CPU has one), peak RSS of each process, inference throughput and the
// ratios, with the CPU, the kernel ISA and the load average beside the figures. --bf16 adds finetune's
// bf16 mixed precision (bench/train-finetune.ts: the step under F.autocast, as the Trainer with bf16: true).
// --profile adds a per-kernel breakdown of a training step and its roofline; the SpamAssassin
// variable-length comparison is bench/train-spam.ts. A script, not a test: nothing here asserts.
//
// Usage: npm run bench -- [--models small,tiny | --all] [--steps 5] [--warmup 2] [--threads N]
//        [--bf16] [--no-torch] [--no-torch-bf16] [--profile] [--no-spam] [--no-onnx] [--json results.json]

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { measureBf16Peak, measureFmaPeak, nativeAvailable, nativeBackend, nativeBuildInfo, nativeLoadError } from '../src/backend/native.ts';
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
  torchBf16: boolean;
  bf16: boolean;
  profile: boolean;
  spam: boolean;
  onnx: boolean;
  json: string | null;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { models: CONFIGS.filter((c) => c.key !== 'base').map((c) => c.key), steps: 5, warmup: 2, threads: 0, torch: true, torchBf16: true, bf16: false, profile: false, spam: true, onnx: true, json: null };
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
    else if (k === '--no-torch-bf16') f.torchBf16 = false;
    else if (k === '--bf16') f.bf16 = true;
    else if (k === '--profile') f.profile = true;
    else if (k === '--no-spam') f.spam = false;
    else if (k === '--no-onnx') f.onnx = false;
    else if (k === '--json') f.json = next();
    else if (k === '--help' || k === '-h') {
      console.log('npm run bench -- [--models base,small,minilm,mini,tiny | --all] [--steps N] [--warmup N] [--threads N] [--bf16] [--no-torch] [--no-torch-bf16] [--profile] [--no-spam] [--no-onnx] [--json FILE]');
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

function runFinetune(c: BenchConfig, f: Flags, files: { weights: string; batch: string }, profile: boolean, bf16 = false): FinetuneReport | string {
  const args = ['--import', 'tsx', join(HERE, 'train-finetune.ts'), '--config', c.key, '--warmup', String(f.warmup), '--steps', String(profile ? Math.min(f.steps, 3) : f.steps), '--infer-steps', String(f.steps), '--weights', files.weights, '--batch-file', files.batch];
  if (f.threads > 0) args.push('--threads', String(f.threads));
  if (profile) args.push('--profile');
  if (bf16) args.push('--bf16');
  const r = runJson<FinetuneReport>(process.execPath, args, `finetune ${c.key}${bf16 ? ' bf16' : ''}`);
  // The worker's "finetune bf16: not available ..." is printed as is.
  return typeof r === 'string' && r.includes('finetune bf16:') ? r.slice(r.indexOf('finetune bf16:')) : r;
}

interface TorchReport {
  threads: number;
  version: string;
  bf16: boolean;
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

function runTorch(c: BenchConfig, f: Flags, files: { weights: string; batch: string }, threads: number, bf16: boolean): TorchReport | string {
  const cfg = {
    config: { hidden: c.hidden, heads: c.heads, intermediate: c.intermediate, layers: c.layers, vocab: c.vocab, dropout: DROPOUT, labels: NUM_LABELS },
    weights: files.weights, batch: files.batch, threads, warmup: f.warmup, steps: f.steps, inferSteps: f.steps,
    lr: LEARNING_RATE, weightDecay: WEIGHT_DECAY, maxGradNorm: MAX_GRAD_NORM, bf16,
  };
  return runJson<TorchReport>(PYTHON, [join(HERE, 'torch_train.py'), JSON.stringify(cfg)], `PyTorch ${bf16 ? 'bf16 autocast' : 'fp32'} ${c.key} (threads ${threads || 'default'})`);
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
  /** finetune with --bf16 (null: not asked for or not available). */
  oursBf16: FinetuneReport | null;
  torch: TorchReport | null;
  torchOther: TorchReport | null;
  torchBf16: TorchReport | null;
  torchBf16Other: TorchReport | null;
}

/** The machine's measured peaks, and the CPU and ISA they belong to. */
interface Peaks {
  cpu: string;
  /** The kernels' ISA variant in use (finetune), and the widest one present. */
  isa: string;
  /** fp32 FMA peak of the widest ISA present (AVX-512 or AVX2), GFLOP/s, and the AVX2 one beside it. */
  fp32: number;
  avx2: number;
  /** bf16 dot-product peak (AVX512_BF16), GFLOP/s; 0 = none (bf16 columns then use the fp32 peak). */
  bf16: number;
}

/** CPU model with family/model numbers from /proc/cpuinfo when readable (Linux). */
function cpuLabel(): string {
  const model = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const field = (k: string): string | undefined => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1]?.trim();
    const fam = field('cpu family');
    const mod = field('model');
    return fam ? `${model} (family ${fam}, model ${mod ?? '?'}, ${cpus().length} CPUs)` : model;
  } catch {
    return model;
  }
}

const pct = (gf: number, peak: number): string => (peak > 0 ? `${((100 * gf) / peak).toFixed(0)}%` : '-');

function printTraining(rows: Row[], pk: Peaks): void {
  const bf16Peak = pk.bf16 > 0 ? pk.bf16 : pk.fp32;
  console.log('\nTraining step (forward + backward + clip + AdamW), T=128, median of timed steps');
  console.log(`CPU: ${pk.cpu}; finetune kernels: ${pk.isa}. %pk of fp32 columns: of the ${pk.isa} fp32 FMA peak ${pk.fp32.toFixed(0)} GFLOP/s (AVX2: ${pk.avx2.toFixed(0)}); of bf16 columns: ${pk.bf16 > 0 ? `of the bf16 dot-product peak ${pk.bf16.toFixed(0)} GFLOP/s` : 'no bf16 dot products on this CPU, so of the fp32 peak'}.`);
  const h = `${pad('model', 22, false)} ${pad('B', 3)} ${pad('load', 5)} | ${pad('ft fp32 s/s', 11)} ${pad('tok/s', 7)} ${pad('GFLOP/s', 7)} ${pad('%pk', 4)} ${pad('RSS', 7)} | ${pad('ft bf16 s/s', 11)} ${pad('%pk', 4)} | ${pad('pt fp32 s/s', 11)} ${pad('thr', 3)} ${pad('GFLOP/s', 7)} ${pad('%pk', 4)} ${pad('RSS', 7)} | ${pad('pt bf16 s/s', 11)} ${pad('thr', 3)} ${pad('%pk', 4)} ${pad('RSS', 7)} | ${pad('fp32 x', 6)} ${pad('bf16 x', 6)} ${pad('best x', 6)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const r of rows) {
    const flops = trainFlops(r.c);
    const ms = median(r.ours.trainMs);
    const gf = flops / (ms * 1e6);
    const sps = (r.c.batch * 1000) / ms;
    const bms = r.oursBf16 ? median(r.oursBf16.trainMs) : null;
    const ftBf16 = bms ? `${pad(((r.c.batch * 1000) / bms).toFixed(2), 11)} ${pad(pct(flops / (bms * 1e6), bf16Peak), 4)}` : `${pad('-', 11)} ${pad('-', 4)}`;
    const tms = r.torch ? median(r.torch.trainMs) : null;
    const ptFp32 = r.torch && tms
      ? `${pad(((r.c.batch * 1000) / tms).toFixed(2), 11)} ${pad(String(r.torch.threads), 3)} ${pad((flops / (tms * 1e6)).toFixed(1), 7)} ${pad(pct(flops / (tms * 1e6), pk.fp32), 4)} ${pad(mb(r.torch.maxRssBytes), 7)}`
      : `${pad('-', 11)} ${pad('-', 3)} ${pad('-', 7)} ${pad('-', 4)} ${pad('-', 7)}`;
    const tbms = r.torchBf16 ? median(r.torchBf16.trainMs) : null;
    const ptBf16 = r.torchBf16 && tbms
      ? `${pad(((r.c.batch * 1000) / tbms).toFixed(2), 11)} ${pad(String(r.torchBf16.threads), 3)} ${pad(pct(flops / (tbms * 1e6), bf16Peak), 4)} ${pad(mb(r.torchBf16.maxRssBytes), 7)}`
      : `${pad('-', 11)} ${pad('-', 3)} ${pad('-', 4)} ${pad('-', 7)}`;
    const ratio = (a: number | null, b: number | null): string => (a && b ? `${(a / b).toFixed(2)}x` : '-');
    const bestTorch = [tms, tbms].filter((x): x is number => x !== null);
    const bestOurs = [ms, bms].filter((x): x is number => x !== null);
    const best = bestTorch.length ? ratio(Math.min(...bestTorch), Math.min(...bestOurs)) : '-';
    console.log(`${pad(r.c.label, 22, false)} ${pad(String(r.c.batch), 3)} ${pad(r.load, 5)} | ${pad(sps.toFixed(2), 11)} ${pad(((sps * r.c.seqLen) / 1000).toFixed(1) + 'k', 7)} ${pad(gf.toFixed(1), 7)} ${pad(pct(gf, pk.fp32), 4)} ${pad(mb(r.ours.maxRssBytes), 7)} | ${ftBf16} | ${ptFp32} | ${ptBf16} | ${pad(ratio(tms, ms), 6)} ${pad(ratio(tbms, bms), 6)} ${pad(best, 6)}`);
  }
  console.log('ft = finetune, pt = PyTorch. fp32 x = PyTorch fp32 step time / finetune fp32 step time (> 1: finetune faster); bf16 x = the same for bf16 (autocast vs finetune --bf16); best x = fastest PyTorch setting / fastest finetune setting. GFLOP/s counts the matrix products only (train-configs.ts).');
  for (const r of rows) {
    for (const [what, a, b] of [['fp32', r.torch, r.torchOther], ['bf16 autocast', r.torchBf16, r.torchBf16Other]] as const) {
      if (!a || !b) continue;
      console.log(`  PyTorch ${what} ${r.c.key}: ${a.threads} thread(s) ${median(a.trainMs).toFixed(0)} ms/step, ${b.threads} thread(s) ${median(b.trainMs).toFixed(0)} ms/step (reported: the faster)`);
    }
  }
}

function printInference(rows: Row[]): void {
  console.log('\nInference (eval mode, no grad), same batch, median; PyTorch at its faster thread setting');
  const h = `${pad('model', 22, false)} ${pad('load', 5)} | ${pad('finetune s/s', 12)} ${pad('GFLOP/s', 7)} | ${pad('pt fp32 s/s', 11)} ${pad('GFLOP/s', 7)} | ${pad('pt bf16 s/s', 11)} ${pad('GFLOP/s', 7)} | ${pad('fp32 x', 7)} ${pad('bf16 x', 7)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const r of rows) {
    const ms = median(r.ours.inferMs);
    const flops = forwardFlops(r.c);
    // The faster PyTorch setting for inference may differ from training's.
    const bestInfer = (cands: Array<TorchReport | null>): number | null => {
      const ok = cands.filter((t): t is TorchReport => t !== null);
      return ok.length ? Math.min(...ok.map((t) => median(t.inferMs))) : null;
    };
    const cell = (tms: number | null): string => (tms === null ? `${pad('-', 11)} ${pad('-', 7)}` : `${pad(((r.c.batch * 1000) / tms).toFixed(2), 11)} ${pad((flops / (tms * 1e6)).toFixed(1), 7)}`);
    const ratio = (tms: number | null): string => (tms === null ? '-' : `${(tms / ms).toFixed(2)}x`);
    const f32 = bestInfer([r.torch, r.torchOther]);
    const b16 = bestInfer([r.torchBf16, r.torchBf16Other]);
    console.log(`${pad(r.c.label, 22, false)} ${pad(r.load, 5)} | ${pad(((r.c.batch * 1000) / ms).toFixed(2), 12)} ${pad((flops / (ms * 1e6)).toFixed(1), 7)} | ${cell(f32)} | ${cell(b16)} | ${pad(ratio(f32), 7)} ${pad(ratio(b16), 7)}`);
  }
  console.log('fp32 x / bf16 x = PyTorch fp32 / bf16-autocast inference time over finetune fp32 inference time (> 1: finetune faster).');
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
  // Best of several short probes: a busy machine can only make a probe slower, never faster. The fp32
  // peak is the widest ISA's (AVX-512 where present), the AVX2 one is printed beside it.
  // Many short probes: on a loaded machine a short one is likelier to run undisturbed.
  const best = (probe: () => number): number => Math.max(...Array.from({ length: 15 }, probe));
  const peaks: Peaks = {
    cpu: cpuLabel(),
    isa: info.isa,
    fp32: best(() => measureFmaPeak(50, info.isaMax)),
    avx2: info.isaMax === 'portable' ? 0 : best(() => measureFmaPeak(50, 'avx2')),
    bf16: best(() => measureBf16Peak(50)),
  };
  const peak = peaks.fp32;
  const bw = measureBandwidth();
  console.log(`CPU: ${peaks.cpu}; ISA levels up to ${info.isaMax}, kernels: ${info.isa}`);
  console.log(`finetune native: gemm=${info.gemm}, isa=${info.isa}, threads=${threads}; measured fp32 FMA peak ${peak.toFixed(0)} GFLOP/s (${info.isaMax}; AVX2 ${peaks.avx2.toFixed(0)}), bf16 dot-product peak ${peaks.bf16 > 0 ? `${peaks.bf16.toFixed(0)} GFLOP/s` : 'none (no AVX512_BF16)'}, memory bandwidth ${bw.toFixed(1)} GB/s (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  if (!f.bf16) console.log('finetune bf16: not run (pass --bf16)');
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
    let oursBf16: FinetuneReport | null = null;
    if (f.bf16) {
      process.stderr.write(`[bench] ${c.label}: finetune bf16 (load ${load()})...\n`);
      const r = runFinetune(c, f, files, false, true);
      if (typeof r === 'string') console.log(`${c.label}: ${r}`);
      else oursBf16 = r;
    }
    // PyTorch at both thread settings, fp32 and (unless --no-torch-bf16) bf16 autocast: [best, other].
    const torchRuns = (bf16: boolean): [TorchReport | null, TorchReport | null] => {
      const runs: TorchReport[] = [];
      for (const t of [0, threads]) {
        process.stderr.write(`[bench] ${c.label}: PyTorch ${bf16 ? 'bf16 autocast' : 'fp32'} threads=${t || 'default'} (load ${load()})...\n`);
        const r = runTorch(c, f, files, t, bf16);
        if (typeof r === 'string') console.log(r);
        else runs.push(r);
      }
      runs.sort((a, b) => median(a.trainMs) - median(b.trainMs));
      return [runs[0] ?? null, runs[1] ?? null];
    };
    const [torch, torchOther] = torchSkip ? [null, null] : torchRuns(false);
    const [torchBf16, torchBf16Other] = torchSkip || !f.torchBf16 ? [null, null] : torchRuns(true);
    const check = (what: string, ft: FinetuneReport, pt: TorchReport, tol: number): void => {
      const rel = Math.abs(pt.checkLoss - ft.checkLoss) / Math.abs(pt.checkLoss);
      console.log(`${c.label}: same-math check ${what} (eval-mode loss on the batch): finetune ${ft.checkLoss.toFixed(6)}, PyTorch ${pt.checkLoss.toFixed(6)} (rel. diff ${rel.toExponential(1)}, tolerance ${tol})${rel > tol ? '  <-- MISMATCH' : ''}`);
    };
    if (torch) check('fp32', ours, torch, 1e-4);
    // bf16 operands carry 8 significant bits: the two sides round differently, so only a loose check.
    if (torchBf16) check('bf16 autocast vs finetune fp32', ours, torchBf16, 2e-2);
    if (torchBf16 && oursBf16) check('bf16', oursBf16, torchBf16, 2e-2);
    rows.push({ c, load: l, ours, oursBf16, torch, torchOther, torchBf16, torchBf16Other });
    if (f.profile) {
      process.stderr.write(`[bench] ${c.label}: profile (load ${load()})...\n`);
      const p = runFinetune(c, f, files, true);
      if (typeof p === 'string') console.log(p);
      else profiles.push([c, p]);
    }
  }
  printTraining(rows, peaks);
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
    writeFileSync(f.json, JSON.stringify({ peak, peaks, bandwidth: bw, threads, rows, profiles, extras }, null, 1));
    console.log(`\nraw results written to ${f.json}`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exitCode = 1;
});

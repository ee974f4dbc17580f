// `npm run bench -- --device webgpu`: the WebGPU backend on this machine's adapter. First the adapter's
// fp32 matmul peak as measured by the backend's own best GEMM (square sizes doubling until one product
// takes long enough; the best GFLOP/s is "peak"), then per BERT configuration the training step
// (forward, loss, backward, grad norm, AdamW, as the Trainer runs it): ms/step, samples/s, GFLOP/s and
// the share of that peak. Runs unchanged on any Vulkan, Metal or D3D12 GPU. A script: asserts nothing.
//
// Usage: npm run bench -- --device webgpu [--models tiny,mini] [--steps 3] [--warmup 1] [--gemm-only]
//        [--batch B] [--seq-len T]   (SwiftShader, a CPU Vulkan, manages ~0.03-0.2 GFLOP/s: use --gemm-only)

import { loadavg } from 'node:os';

import type { WebGpuBackend } from '../src/backend/webgpu/backend.ts';
import { webgpuNodeBackend } from '../src/backend/webgpu/node.ts';
import type { BertConfig } from '../src/models/hf-config.ts';
import { makeHfConfig } from '../src/models/hf-config.ts';
import { BertForSequenceClassification } from '../src/models/bert.ts';
import type { ModelBatch } from '../src/models/types.ts';
import { manualSeed } from '../src/nn/init.ts';
import { AdamW, decayGroups } from '../src/optim/adamw.ts';
import { clipScale, globalGradNormAsync } from '../src/optim/clip.ts';
import * as F from '../src/tensor/index.ts';
import { CONFIGS, LEARNING_RATE, MAX_GRAD_NORM, WEIGHT_DECAY, hfFields, makeBatch, median, trainFlops, type BenchConfig } from './train-configs.ts';

interface Flags {
  models: string[];
  steps: number;
  warmup: number;
  gemmOnly: boolean;
  batch: number;
  seqLen: number;
}

function parse(argv: string[]): Flags {
  const f: Flags = { models: ['tiny'], steps: 3, warmup: 1, gemmOnly: false, batch: 0, seqLen: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = (): string => argv[++i] ?? '';
    if (k === '--models') f.models = next().split(',').filter(Boolean);
    else if (k === '--all') f.models = CONFIGS.map((c) => c.key);
    else if (k === '--steps') f.steps = Number(next());
    else if (k === '--warmup') f.warmup = Number(next());
    else if (k === '--gemm-only') f.gemmOnly = true;
    else if (k === '--batch') f.batch = Number(next());
    else if (k === '--seq-len') f.seqLen = Number(next());
    else throw new Error(`unknown flag ${k} for --device webgpu (see bench/webgpu.ts)`);
  }
  return f;
}

/** GFLOP/s of C = A B^T (the Linear layout) at n x n x n, best of repeated timed batches. */
async function gemmRate(be: WebGpuBackend, n: number): Promise<{ gflops: number; seconds: number }> {
  const mem = be.deviceMemory;
  const a = mem.allocate('float32', n * n, true) as Float32Array;
  const b = mem.allocate('float32', n * n, true) as Float32Array;
  const c = mem.allocate('float32', n * n, false) as Float32Array;
  const once = (): void => be.gemm(1, n, n, n, 1, a, 0, 0, false, b, 0, 0, true, 0, c, 0, 0);
  once();
  await be.runtime.finish();
  let best = Infinity;
  let reps = 1;
  let spent = 0;
  for (let trial = 0; trial < 4 && spent < 3; trial++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) once();
    await be.runtime.finish();
    const s = (performance.now() - t0) / 1000;
    spent += s;
    best = Math.min(best, s / reps);
    if (s < 0.2) reps *= 4;
  }
  for (const x of [a, b, c]) mem.release(x);
  return { gflops: (2 * n * n * n) / best / 1e9, seconds: best };
}

async function trainRate(be: WebGpuBackend, cfg: BenchConfig, f: Flags): Promise<number[]> {
  manualSeed(0);
  const model = new BertForSequenceClassification(makeHfConfig('bert', hfFields(cfg)) as BertConfig);
  const named = model.namedParameters();
  const b = makeBatch(cfg);
  const [B, T] = [cfg.batch, cfg.seqLen];
  const batch: ModelBatch = {
    inputIds: F.Tensor.wrap(b.inputIds, [B, T]),
    attentionMask: F.Tensor.wrap(b.attentionMask, [B, T]),
    tokenTypeIds: F.Tensor.wrap(b.tokenTypeIds, [B, T]),
    labels: F.Tensor.wrap(b.labels, [B]),
  };
  model.train();
  const opt = new AdamW(decayGroups(named, WEIGHT_DECAY), { lr: LEARNING_RATE });
  const params = named.map(([, p]) => p);
  const ms: number[] = [];
  for (let i = 0; i < f.warmup + f.steps; i++) {
    const t0 = performance.now();
    const loss = F.tidy(() => {
      const out = model.forward(batch);
      out.loss!.backward();
      return out.loss!;
    });
    await loss.readItem();
    loss.dispose();
    opt.update(clipScale(await globalGradNormAsync(params), MAX_GRAD_NORM));
    opt.zeroGrad();
    await be.runtime.finish();
    if (i >= f.warmup) ms.push(performance.now() - t0);
  }
  opt.dispose();
  model.dispose();
  return ms;
}

export async function runWebGpuBench(argv: string[]): Promise<void> {
  const f = parse(argv);
  const be = await webgpuNodeBackend();
  F.setDefaultBackend(be);
  console.log(`finetune webgpu: adapter "${be.runtime.adapterName}" (load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
  let peak = 0;
  for (let n = 128; n <= 4096; n *= 2) {
    const r = await gemmRate(be, n);
    peak = Math.max(peak, r.gflops);
    console.log(`  gemm ${n}x${n}x${n} (A B^T): ${r.gflops.toFixed(2)} GFLOP/s (${(r.seconds * 1000).toFixed(1)} ms)`);
    if (r.seconds > 0.5) break; // big enough to fill the device; larger would only take longer
  }
  console.log(`adapter fp32 matmul peak (best GEMM above): ${peak.toFixed(2)} GFLOP/s`);
  if (f.gemmOnly) return;
  console.log('config                     | batch x T | ms/step | samples/s | GFLOP/s | % of peak');
  for (const key of f.models) {
    const base = CONFIGS.find((c) => c.key === key);
    if (!base) throw new Error(`unknown model ${key}; choose from ${CONFIGS.map((c) => c.key).join(', ')}`);
    const cfg: BenchConfig = { ...base, batch: f.batch || base.batch, seqLen: f.seqLen || base.seqLen };
    const ms = median(await trainRate(be, cfg, f));
    const gflops = trainFlops(cfg) / (ms / 1000) / 1e9;
    console.log(
      `${cfg.label.padEnd(26)} | ${`${cfg.batch} x ${cfg.seqLen}`.padEnd(9)} | ${ms.toFixed(0).padStart(7)} | ${((cfg.batch * 1000) / ms).toFixed(2).padStart(9)} | ${gflops.toFixed(2).padStart(7)} | ${((100 * gflops) / peak).toFixed(1).padStart(8)}%`,
    );
  }
}

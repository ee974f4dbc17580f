// ISA benchmark (`npm run bench:isa`): the FMA peak of each vector width this CPU has, and the GEMM
// (BERT's Linear shapes: forward, input gradient, weight gradient) with every kernel variant side by side
// in one run, interleaved (round robin, best of N: a shared machine can only slow a probe down), on 1 and
// 2 threads: built-in AVX2, built-in AVX-512, OpenBLAS (its own core choice). Also a few memory-bound and
// transcendental kernels (GELU, softmax, layer norm, AdamW) per variant. About 20 s. Nothing here asserts;
// it supplies the numbers behind the per-shape GEMM choice in native/src/gemm.cc (docs/performance.md).
//
// Usage: npm run bench:isa -- [--reps 5] [--threads 1,2]

import { cpus, loadavg } from 'node:os';

import {
  measureFmaPeak,
  nativeAvailable,
  nativeBackend as nat,
  nativeBuildInfo,
  nativeLoadError,
  setGemmImplementation,
  setIsa,
  setNumThreads,
  supportedIsaLevels,
  type IsaLevel,
} from '../src/backend/native.ts';

interface Shape {
  name: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

// (rows, out, in) products of BERT-base (B*T = 1024, C = 768, FFN 3072) and bert-tiny (C = 128, FFN 512).
const SHAPES: Shape[] = [
  { name: 'base qkv fwd 1024x768x768', M: 1024, N: 768, K: 768, transA: false, transB: true },
  { name: 'base ffn1 fwd 1024x3072x768', M: 1024, N: 3072, K: 768, transA: false, transB: true },
  { name: 'base ffn2 dX 1024x3072x768', M: 1024, N: 3072, K: 768, transA: false, transB: false },
  { name: 'base ffn1 dW 3072x768x1024', M: 3072, N: 768, K: 1024, transA: true, transB: false },
  { name: 'tiny ffn1 fwd 1024x512x128', M: 1024, N: 512, K: 128, transA: false, transB: true },
  { name: 'tiny attn-out dW 128x128x1024', M: 128, N: 128, K: 1024, transA: true, transB: false },
];

function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) / 16777216 - 0.5;
  }
  return out;
}

interface Variant {
  label: string;
  setup: () => void;
}

function variants(levels: IsaLevel[], blas: boolean): Variant[] {
  const v: Variant[] = [];
  for (const l of levels) {
    if (l === 'portable') continue;
    v.push({ label: `builtin-${l}`, setup: () => { setGemmImplementation('builtin'); setIsa(l); } });
  }
  // OpenBLAS with the AVX2 rule of gemm.cc (with the AVX-512 built-in kernel in use it is not called at
  // all unless its core has AVX-512 kernels): the shapes it does not get run on builtin-avx2.
  if (blas) v.push({ label: 'openblas*', setup: () => { setGemmImplementation('openblas'); setIsa(levels.includes('avx2') ? 'avx2' : 'portable'); } });
  return v;
}

/** Best time (ms) of `reps` rounds per variant, the variants interleaved within each round. */
function bestTimes(vs: Variant[], run: () => void, reps: number, inner = 1): number[] {
  const best = vs.map(() => Infinity);
  for (let r = 0; r < reps; r++) {
    vs.forEach((v, i) => {
      v.setup();
      run(); // warm caches and the thread scratch
      const t0 = performance.now();
      for (let k = 0; k < inner; k++) run();
      best[i] = Math.min(best[i], (performance.now() - t0) / inner);
    });
  }
  return best;
}

const pad = (s: string, n: number): string => s.padStart(n);

function main(): void {
  if (!nativeAvailable()) {
    console.log(`native backend unavailable: ${nativeLoadError()}`);
    process.exitCode = 1;
    return;
  }
  const argv = process.argv.slice(2);
  let reps = 5;
  let threadList = [1, 2];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--reps') reps = Number(argv[++i]);
    else if (argv[i] === '--threads') threadList = (argv[++i] ?? '').split(',').map(Number).filter((n) => n > 0);
    else throw new Error(`unknown flag ${argv[i]} (use --reps N, --threads 1,2)`);
  }
  const info = nativeBuildInfo();
  const levels = supportedIsaLevels();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`CPU: ${cpu}; ISA levels: ${levels.join(', ')} (default ${info.isaMax}); BLAS linked: ${info.blas}${info.blasCore ? ` (core ${info.blasCore})` : ''}; load ${loadavg()[0].toFixed(2)}`);

  for (const t of threadList) {
    setNumThreads(t);
    const peaks = (['avx2', 'avx512'] as IsaLevel[]).filter((l) => levels.includes(l)).map((l) => [l, Math.max(...Array.from({ length: 20 }, () => measureFmaPeak(20, l)))] as const);
    console.log(`\n${t} thread(s): FMA peak ${peaks.map(([l, p]) => `${l} ${p.toFixed(0)} GFLOP/s`).join(', ')}`);
    const vs = variants(levels, info.blas === 'openblas');
    const widest = peaks[peaks.length - 1]?.[1] ?? 0;
    console.log(`${'GEMM (GFLOP/s, % of widest peak)'.padEnd(32)} ${vs.map((v) => pad(v.label, 20)).join(' ')}`);
    for (const s of SHAPES) {
      const a = rand(s.M * s.K, 1);
      const b = rand(s.K * s.N, 2);
      const c = new Float32Array(s.M * s.N);
      const run = (): void => nat.gemm(1, s.M, s.N, s.K, 1, a, 0, 0, s.transA, b, 0, 0, s.transB, 0, c, 0, 0);
      const times = bestTimes(vs, run, reps);
      const flops = 2 * s.M * s.N * s.K;
      const cells = times.map((ms) => {
        const gf = flops / (ms * 1e6);
        return pad(`${gf.toFixed(1)} (${widest ? ((100 * gf) / widest).toFixed(0) : '-'}%)`, 20);
      });
      console.log(`${s.name.padEnd(32)} ${cells.join(' ')}`);
    }
    // Non-GEMM kernels per variant (ms per call, lower is better).
    const isaVs: Variant[] = levels.map((l) => ({ label: l, setup: () => setIsa(l) }));
    const n = 1024 * 3072;
    const x = rand(n, 3);
    const y = new Float32Array(n);
    const g = rand(n, 4);
    const m = new Float32Array(n);
    const v2 = new Float32Array(n);
    const gamma = rand(768, 5);
    const beta = rand(768, 6);
    const mean = new Float32Array(4096);
    const rstd = new Float32Array(4096);
    const ops: Array<[string, () => void]> = [
      ['gelu fwd 1024x3072', () => nat.unary('gelu', x, y, n, 0)],
      ['softmax 8x12x128x128', () => nat.softmax(x, 8 * 12 * 128, 128, y, false)],
      ['layer norm 4096x768', () => nat.layerNorm(x, gamma, beta, 4096, 768, 1e-12, y, mean, rstd)],
      ['adamw 3.1M params', () => nat.adamw(y, g, m, v2, n, 1e-4, 0.9, 0.999, 1e-8, 0.01, 10, 1)],
    ];
    console.log(`${'kernel (ms per call)'.padEnd(32)} ${isaVs.map((v) => pad(v.label, 10)).join(' ')}`);
    for (const [name, run] of ops) {
      const times = bestTimes(isaVs, run, reps, 3);
      console.log(`${name.padEnd(32)} ${times.map((ms) => pad(ms.toFixed(3), 10)).join(' ')}`);
    }
  }
  console.log('\nopenblas* = OpenBLAS on the shapes native/src/gemm.cc gives it under AVX2 (N >= 512, K >= 384, A not transposed); the others ran on builtin-avx2.');
  setIsa(info.isaMax);
  setGemmImplementation(info.blas);
}

main();

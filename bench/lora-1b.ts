// `npm run bench:lora`: LoRA training of a Llama-3.2-1B-shaped model (random weights, real shapes: 16 layers,
// hidden 2048, 32 heads / 8 KV heads, intermediate 8192, vocabulary 128,256, tied embeddings) with gradient
// checkpointing, three ways, each in its own process so peak RSS is its own:
//   fp32 — fp32 base weights and embedding, fp32 products;
//   bf16 — base Linear weights and the (tied) embedding stored in bf16, products under bf16 autocast;
//   nf4  — base Linear weights in NF4 + double quant (QLoRA), embedding in bf16, bf16 autocast.
// In bf16/nf4 the fp32 base weights never exist whole: layers are built one at a time and quantised
// before the next is built. Adapters (r 16, all linear layers) and AdamW state are fp32.
// Prints tokens/s (median step after warmup) and peak RSS. A script, not a test: nothing asserts.
//
// Usage: npm run bench:lora -- [--modes fp32,bf16,nf4] [--layers 16] [--seq 512] [--batch 1] [--steps 3]
//        [--warmup 1] [--rank 16] [--threads N]      (tiny check: --layers 1 --seq 64 --steps 1 --warmup 0)

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { bf16Support, nativeAvailable, nativeBackend, nativeLoadError, setNumThreads } from '../src/backend/native.ts';
import { fromBf16Bits, quantize, toBf16Bits, type QuantFormat, type QuantizedWeight } from '../src/backend/quant.ts';
import { makeHfConfig, type LlamaConfig } from '../src/models/hf-config.ts';
import { loraConfig } from '../src/lora/config.ts';
import { applyLora } from '../src/lora/inject.ts';
import { LoraLinear } from '../src/lora/layer.ts';
import { enableGradientCheckpointing } from '../src/models/checkpointing.ts';
import { ModuleList } from '../src/models/common.ts';
import { LlamaDecoderLayer, LlamaForCausalLM } from '../src/models/llama.ts';
import { createModel } from '../src/models/pretrained.ts';
import type { DecoderInputs } from '../src/models/decoder.ts';
import { deferredInit, manualSeed } from '../src/nn/init.ts';
import { Linear, Module } from '../src/nn/module.ts';
import { AdamW } from '../src/optim/adamw.ts';
import * as F from '../src/tensor/index.ts';
import { Tensor } from '../src/tensor/index.ts';

type Mode = 'fp32' | 'bf16' | 'nf4';

interface Flags {
  modes: Mode[];
  layers: number;
  seq: number;
  batch: number;
  steps: number;
  warmup: number;
  rank: number;
  threads: number;
  child: Mode | null;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { modes: ['fp32', 'bf16', 'nf4'], layers: 16, seq: 512, batch: 1, steps: 3, warmup: 1, rank: 16, threads: 0, child: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    const int = (): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a} needs a whole number, got ${v}`);
      i++;
      return n;
    };
    if (a === '--modes') {
      f.modes = v.split(',').map((m) => {
        if (m !== 'fp32' && m !== 'bf16' && m !== 'nf4') throw new Error(`--modes: unknown mode "${m}" (fp32, bf16, nf4)`);
        return m;
      });
      i++;
    } else if (a === '--child') {
      f.child = v as Mode;
      i++;
    } else if (a === '--layers') f.layers = int();
    else if (a === '--seq') f.seq = int();
    else if (a === '--batch') f.batch = int();
    else if (a === '--steps') f.steps = Math.max(1, int());
    else if (a === '--warmup') f.warmup = int();
    else if (a === '--rank') f.rank = Math.max(1, int());
    else if (a === '--threads') f.threads = int();
    else throw new Error(`unknown flag ${a} (see the usage line at the top of bench/lora-1b.ts)`);
  }
  return f;
}

/** Llama-3.2-1B's shapes (config.json of meta-llama/Llama-3.2-1B), with the layer count from --layers. */
function llama1bConfig(layers: number, vocab = 128256): LlamaConfig {
  return makeHfConfig('llama', {
    vocab_size: vocab, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: layers, num_attention_heads: 32,
    num_key_value_heads: 8, head_dim: 64, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
    tie_word_embeddings: true, initializer_range: 0.02,
  }) as LlamaConfig;
}

const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** A frozen embedding table stored in bf16: rows are widened to fp32 on lookup (no gradient to the table). */
class Bf16Embedding extends Module {
  constructor(readonly table: QuantizedWeight) {
    super();
  }

  forward(ids: Tensor): Tensor {
    const C = this.table.cols;
    const idv = ids.intData;
    const out = new Float32Array(idv.length * C);
    const d = this.table.data as Uint16Array;
    for (let i = 0; i < idv.length; i++) {
      const row = idv[i] * C;
      for (let c = 0; c < C; c++) out[i * C + c] = fromBf16Bits(d[row + c]);
    }
    return Tensor.wrap(out, [...ids.shape, C]);
  }
}

/** n uniform values with standard deviation std (an LCG: random weights only need the scale). */
function randomUniform(n: number, std: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  const half = Math.sqrt(3) * std;
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2147483648 - 1) * half;
  }
  return out;
}

function randomBf16Table(rows: number, cols: number, std: number): QuantizedWeight {
  // Uniform with the given std (random weights only need the scale; a normal draw per entry costs minutes here).
  const data = new Uint16Array(rows * cols);
  const half = Math.sqrt(3) * std;
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = toBf16Bits((s / 2147483648 - 1) * half);
  }
  return { format: 'bf16', rows, cols, data, absmax: null, block: 0, double: null };
}

/** Builds the model for `mode`; in bf16/nf4 never more than one fp32 layer exists at a time. */
function buildModel(mode: Mode, f: Flags): LlamaForCausalLM {
  manualSeed(0);
  const opts = { r: f.rank, alpha: 2 * f.rank, dropout: 0, rslora: false, init: false as const };
  if (mode === 'fp32') {
    const model = createModel(llama1bConfig(f.layers), 'text-generation', { seed: 0 }) as LlamaForCausalLM;
    applyLora(model, loraConfig({ target_modules: LORA_TARGETS, r: f.rank, lora_alpha: 2 * f.rank, init_lora_weights: false }));
    return model;
  }
  // The trunk with a 1-row vocabulary (no 1 GB fp32 embedding) and one placeholder layer (configs need >= 1),
  // then the real parts.
  const cfg = llama1bConfig(f.layers);
  const model = new LlamaForCausalLM(llama1bConfig(1, 1));
  const placeholder = model.model.layers;
  const format: QuantFormat = mode === 'nf4' ? 'nf4' : 'bf16';
  const layers: LlamaDecoderLayer[] = [];
  for (let l = 0; l < f.layers; l++) {
    // Deferred init: the Linear weights take no memory and draw nothing until read; the quantiser reads a
    // uniform fp32 draw of the right scale instead (the normal draw costs ~25 s per layer on a loaded machine).
    const layer = F.untracked(() => deferredInit(() => new LlamaDecoderLayer(cfg)));
    for (const [path, m] of layer.namedModules()) {
      if (!(m instanceof Linear) || !LORA_TARGETS.includes(path.split('.').at(-1)!)) continue;
      const cut = path.lastIndexOf('.');
      const parent = layer.namedModules().find(([p]) => p === path.slice(0, cut))![1];
      const lora = new LoraLinear(m, opts);
      lora.quantizedWeight = quantize(randomUniform(m.outFeatures * m.inFeatures, cfg.initializer_range, l * 131 + path.length), m.outFeatures, m.inFeatures, format, { doubleQuant: true });
      m.weight.dispose();
      parent.replaceChild(path.slice(cut + 1), lora);
    }
    F.pool.clear();
    layers.push(layer);
  }
  placeholder.dispose();
  model.model.replaceChild('layers', new ModuleList(layers));
  const embed = new Bf16Embedding(randomBf16Table(cfg.vocab_size, cfg.hidden_size, cfg.initializer_range));
  model.model.embedTokens.weight.dispose();
  model.model.replaceChild('embed_tokens', embed);
  // Tied LM head on the bf16 table: the GEMM widens it panel by panel (linearQuantized).
  model.logits = (inputs: DecoderInputs): Tensor => F.linearQuantized(model.model.hiddenStates(inputs), embed.table, null);
  return model;
}

interface ChildReport {
  mode: Mode;
  tokensPerSecond: number;
  stepSeconds: number[];
  peakRssMiB: number;
  buildSeconds: number;
  losses: number[];
  trainable: number;
}

function runChild(mode: Mode, f: Flags): void {
  if (!nativeAvailable()) throw new Error(`native backend unavailable: ${nativeLoadError()}`);
  F.setDefaultBackend(nativeBackend);
  if (f.threads > 0) setNumThreads(f.threads);
  const t0 = performance.now();
  const model = buildModel(mode, f);
  // Only the adapters train (the released fp32 base weights stay registered, frozen and empty).
  for (const [name, p] of model.namedParameters()) p.requiresGrad = /\.lora_[AB]\.weight$/.test(name) && !p.isDisposed;
  enableGradientCheckpointing(model);
  model.train();
  const params = model.trainableParameters().map(([, t]) => t);
  const trainable = params.reduce((n, t) => n + t.size, 0);
  const buildSeconds = (performance.now() - t0) / 1000;
  const opt = new AdamW([{ params, weightDecay: 0 }], { lr: 1e-4 });
  const ids = new Int32Array(f.batch * f.seq);
  for (let i = 0; i < ids.length; i++) ids[i] = (i * 2654435761) % 128256 >>> 0;
  const precision = mode === 'fp32' ? 'fp32' : 'bf16';
  const times: number[] = [];
  const losses: number[] = [];
  for (let s = 0; s < f.warmup + f.steps; s++) {
    const t = performance.now();
    const loss = F.tidy(() => {
      const batch = { inputIds: Tensor.from(ids, [f.batch, f.seq], 'int32'), labels: Tensor.from(ids, [f.batch, f.seq], 'int32') };
      const out = F.autocast(precision, () => model.forward(batch));
      out.loss!.backward();
      return out.loss!.item();
    });
    opt.update();
    opt.zeroGrad();
    losses.push(loss);
    if (s >= f.warmup) times.push((performance.now() - t) / 1000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const report: ChildReport = {
    mode, tokensPerSecond: (f.batch * f.seq) / median, stepSeconds: times, losses, trainable, buildSeconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
  };
  process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
}

function main(): void {
  const f = parseFlags(process.argv.slice(2));
  if (f.child) {
    runChild(f.child, f);
    return;
  }
  const bf = nativeAvailable() ? bf16Support() : { supported: false, kernel: false };
  console.log(`LoRA on a Llama-3.2-1B-shaped model: ${f.layers} layers, hidden 2048, 32/8 heads, intermediate 8192, vocab 128256; ` +
    `batch ${f.batch} x seq ${f.seq}, LoRA r ${f.rank} on ${LORA_TARGETS.join(',')}, gradient checkpointing; ` +
    `CPU bf16 dot products (AVX512_BF16): ${bf.supported ? 'yes' : 'no (bf16 runs the slower converted path)'}`);
  const script = fileURLToPath(import.meta.url);
  const rows: ChildReport[] = [];
  for (const mode of f.modes) {
    const args = ['--import', 'tsx', script, '--child', mode, ...process.argv.slice(2).filter((_, i, a) => a[i] !== '--modes' && a[i - 1] !== '--modes')];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
    const line = r.stdout.split('\n').find((l) => l.startsWith('REPORT '));
    if (r.status !== 0 || !line) {
      console.log(`${mode}: failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''})\n${r.stderr.slice(-2000)}`);
      continue;
    }
    const rep = JSON.parse(line.slice(7)) as ChildReport;
    rows.push(rep);
    console.log(`${mode.padEnd(5)} ${rep.tokensPerSecond.toFixed(1).padStart(8)} tokens/s   peak RSS ${rep.peakRssMiB.toFixed(0).padStart(6)} MiB   ` +
      `build ${rep.buildSeconds.toFixed(1)} s   trainable ${rep.trainable.toLocaleString('en-US')}   losses ${rep.losses.map((l) => l.toFixed(3)).join(' ')}`);
  }
  const fp32 = rows.find((r) => r.mode === 'fp32');
  if (fp32) for (const r of rows) if (r !== fp32) console.log(`${r.mode}: ${(r.tokensPerSecond / fp32.tokensPerSecond).toFixed(2)}x fp32 tokens/s, ${(r.peakRssMiB / fp32.peakRssMiB).toFixed(2)}x its peak RSS`);
}

main();

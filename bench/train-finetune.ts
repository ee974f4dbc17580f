// The finetune side of `npm run bench`, run by bench/train.ts in its own process (so its peak RSS is
// its own): builds BertForSequenceClassification for one configuration with seeded random weights,
// writes those weights and the batch to safetensors for the PyTorch side, then times training steps
// (forward + loss + backward + clip + AdamW + zero grad, as src/train/trainer.ts does) and inference.
// Prints one JSON line. With --profile it times every kernel call instead (bench/profile.ts).
// --bf16 runs the training step under bf16 mixed precision, as the Trainer does with `bf16: true`
// (forward under F.autocast('bf16'); its recorded backward products on bf16 operands too).
// Not here: PyTorch (torch_train.py), tables and ratios (train.ts).

import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { nativeAvailable, nativeBackend, nativeLoadError, setNumThreads, getNumThreads } from '../src/backend/native.ts';
import type { BertConfig } from '../src/models/hf-config.ts';
import { makeHfConfig } from '../src/models/hf-config.ts';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors.ts';
import { BertForSequenceClassification } from '../src/models/bert.ts';
import type { ModelBatch } from '../src/models/types.ts';
import { manualSeed } from '../src/nn/init.ts';
import { applyOverrides, DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../src/train/args.ts';
import { AdamW, decayGroups } from '../src/optim/adamw.ts';
import { clipScale, globalGradNorm } from '../src/optim/clip.ts';
import * as F from '../src/tensor/index.ts';
import { Tensor } from '../src/tensor/index.ts';
import { CONFIGS, LEARNING_RATE, MAX_GRAD_NORM, WEIGHT_DECAY, hfFields, makeBatch } from './train-configs.ts';
import { Profiler, type OpTally } from './profile.ts';

interface Args {
  config: string;
  warmup: number;
  steps: number;
  inferSteps: number;
  threads: number;
  weights: string | null;
  batchFile: string | null;
  profile: boolean;
  bf16: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { config: 'tiny', warmup: 2, steps: 5, inferSteps: 5, threads: 0, weights: null, batchFile: null, profile: false, bf16: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--config') a.config = v, i++;
    else if (k === '--warmup') a.warmup = Number(v), i++;
    else if (k === '--steps') a.steps = Number(v), i++;
    else if (k === '--infer-steps') a.inferSteps = Number(v), i++;
    else if (k === '--threads') a.threads = Number(v), i++;
    else if (k === '--weights') a.weights = v, i++;
    else if (k === '--batch-file') a.batchFile = v, i++;
    else if (k === '--profile') a.profile = true;
    else if (k === '--bf16') a.bf16 = true;
    else throw new Error(`train-finetune: unknown argument ${k}`);
  }
  return a;
}

/** The worker's report (one JSON line on stdout). */
export interface FinetuneReport {
  config: string;
  /** Whether the step ran with bf16 mixed precision. */
  bf16: boolean;
  threads: number;
  parameters: number;
  /** Wall time of each timed training step, ms. */
  trainMs: number[];
  /** Wall time of each timed inference forward (eval mode, no grad), ms. */
  inferMs: number[];
  /** Loss of the batch in eval mode (no dropout) with the initial weights: both sides must agree. */
  checkLoss: number;
  checkLogits: number[];
  maxRssBytes: number;
  poolPeakBytes: number;
  profile?: { steps: number; stepMs: number[]; ops: [string, OpTally][] };
}

/**
 * The precision of the training step: 'bf16' with --bf16 (as `bf16: true` in the training settings makes
 * the Trainer run its forward, and so the recorded backward, under F.autocast('bf16')), else 'fp32'.
 */
function stepPrecision(bf16: boolean): 'bf16' | 'fp32' {
  if (!bf16) return 'fp32';
  const targs: TrainingArguments = applyOverrides(DEFAULT_TRAINING_ARGUMENTS, { bf16: true }, '--bf16');
  return targs.bf16 ? 'bf16' : 'fp32';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const precision = stepPrecision(args.bf16);
  if (!nativeAvailable()) throw new Error(`native backend unavailable: ${nativeLoadError()}`);
  if (args.threads > 0) setNumThreads(args.threads);
  const cfg = CONFIGS.find((c) => c.key === args.config);
  if (!cfg) throw new Error(`unknown config ${args.config}`);
  const profiler = args.profile ? new Profiler(nativeBackend) : null;
  F.setDefaultBackend(profiler ? profiler.backend : nativeBackend);
  if (profiler) profiler.enabled = false;

  manualSeed(0);
  const model = new BertForSequenceClassification(makeHfConfig('bert', hfFields(cfg)) as BertConfig);
  const named = model.namedParameters();
  const b = makeBatch(cfg);
  const [B, T] = [cfg.batch, cfg.seqLen];
  const batch: ModelBatch = {
    inputIds: Tensor.wrap(b.inputIds, [B, T]),
    attentionMask: Tensor.wrap(b.attentionMask, [B, T]),
    tokenTypeIds: Tensor.wrap(b.tokenTypeIds, [B, T]),
    labels: Tensor.wrap(b.labels, [B]),
  };

  if (args.weights && !existsSync(args.weights)) {
    mkdirSync(dirname(args.weights), { recursive: true });
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, p] of named) tensors[name] = { dtype: 'F32', shape: p.shape, data: p.floatData as Float32Array };
    await writeSafetensors(args.weights, tensors, { format: 'pt' });
  }
  if (args.batchFile && !existsSync(args.batchFile)) {
    await writeSafetensors(args.batchFile, {
      input_ids: { dtype: 'I32', shape: [B, T], data: b.inputIds },
      attention_mask: { dtype: 'I32', shape: [B, T], data: b.attentionMask },
      token_type_ids: { dtype: 'I32', shape: [B, T], data: b.tokenTypeIds },
      labels: { dtype: 'I32', shape: [B], data: b.labels },
    });
  }

  // Same math check: eval mode (no dropout), initial weights.
  model.eval();
  const check = F.noGrad(() => F.tidy(() => {
    const out = model.forward(batch);
    return { loss: out.loss!.item(), logits: Array.from(out.logits.floatData.subarray(0, 4)) };
  }));

  // Inference throughput.
  const inferMs: number[] = [];
  const inferBatch: ModelBatch = { inputIds: batch.inputIds, attentionMask: batch.attentionMask, tokenTypeIds: batch.tokenTypeIds };
  for (let i = 0; i < args.warmup + args.inferSteps; i++) {
    const t0 = performance.now();
    F.noGrad(() => F.tidy(() => void model.forward(inferBatch).logits.floatData[0]));
    if (i >= args.warmup) inferMs.push(performance.now() - t0);
  }

  // Training steps, as the Trainer runs them.
  model.train();
  const opt = new AdamW(decayGroups(named, WEIGHT_DECAY), { lr: LEARNING_RATE });
  const params = named.map(([, p]) => p);
  const step = (): void => {
    F.tidy(() => {
      const out = F.autocast(precision, () => model.forward(batch));
      out.loss!.backward();
      return out.loss!.item();
    });
    const norm = globalGradNorm(params);
    opt.update(clipScale(norm, MAX_GRAD_NORM));
    opt.zeroGrad();
  };
  const trainMs: number[] = [];
  for (let i = 0; i < args.warmup + args.steps; i++) {
    const t0 = performance.now();
    step();
    if (i >= args.warmup) trainMs.push(performance.now() - t0);
  }

  const report: FinetuneReport = {
    config: cfg.key,
    bf16: args.bf16,
    threads: getNumThreads(),
    parameters: params.reduce((n, p) => n + p.size, 0),
    trainMs,
    inferMs,
    checkLoss: check.loss,
    checkLogits: check.logits,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    poolPeakBytes: F.memoryStats().peakAllocatedBytes,
  };
  if (profiler) {
    profiler.reset();
    profiler.enabled = true;
    const stepMs: number[] = [];
    const n = Math.max(1, args.steps);
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      step();
      stepMs.push(performance.now() - t0);
    }
    profiler.enabled = false;
    report.profile = { steps: n, stepMs, ops: profiler.tallies() };
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? (e.message.startsWith('finetune bf16:') ? e.message : `${e.message}\n${e.stack ?? ''}`) : String(e);
  process.stdout.write(`${JSON.stringify({ error: msg })}\n`);
  process.exitCode = 1;
});

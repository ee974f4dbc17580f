// The variable-length comparison of `npm run bench`: the offline demo's task (SpamAssassin emails,
// the demo's compact BERT L2 H128 and an 8000-token WordPiece vocabulary trained on the emails), at
// max_length 512 and batch 16 (at the demo's 128, 85% of the emails are truncated to the same length and
// there is little padding to save), trained three ways — pad every batch to 512 (what most scripts do),
// dynamic padding (pad to the longest in the batch), and dynamic padding with length grouping
// (transformers' group_by_length, src/data/sampler.ts) — reporting useful (non-padding) tokens per
// second. PyTorch runs the same batches (same weights) when available. Not here: the fixed-shape
// benchmark (train.ts, train-finetune.ts).

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { nativeBackend, setNumThreads } from '../src/backend/native.ts';
import { BatchSampler, collate, type Batch, type Features } from '../src/data/index.ts';
import type { BertConfig } from '../src/models/hf-config.ts';
import { makeHfConfig } from '../src/models/hf-config.ts';
import { writeSafetensors, type TensorToWrite } from '../src/io/safetensors.ts';
import { BertForSequenceClassification } from '../src/models/bert.ts';
import { manualSeed } from '../src/nn/init.ts';
import { AdamW, decayGroups } from '../src/optim/adamw.ts';
import { clipScale, globalGradNorm } from '../src/optim/clip.ts';
import { spamAssassinDataset } from '../src/tasks/demo.ts';
import { trainWordPieceTokenizer } from '../src/tokenizers/index.ts';
import { toModelBatch } from '../src/train/batches.ts';
import * as F from '../src/tensor/index.ts';
import { DROPOUT, LEARNING_RATE, MAX_GRAD_NORM, WEIGHT_DECAY, median } from './train-configs.ts';

const MAX_LEN = 512;
const BATCH = 16;
const SHAPE = { layers: 2, hidden: 128, heads: 2, intermediate: 512 }; // the demo's scratch model

type Mode = 'pad-to-max' | 'dynamic' | 'dynamic + grouped';
const MODES: Mode[] = ['pad-to-max', 'dynamic', 'dynamic + grouped'];

interface ModeResult {
  mode: Mode;
  steps: number;
  usefulTokens: number;
  paddedTokens: number;
  finetuneMs: number;
  torchMs: number | null;
}

/** Evenly spaced batches of epoch 0 (so a run of `steps` batches has the epoch's length mix). */
function sampleBatches(features: Features[], mode: Mode, steps: number, padId: number): Batch[] {
  const sampler = new BatchSampler({
    size: features.length,
    batchSize: BATCH,
    seed: 42,
    dropLast: true,
    lengths: mode === 'dynamic + grouped' ? features.map((f) => f.inputIds.length) : undefined,
  });
  const all = sampler.epochBatches(0);
  const stride = Math.max(1, Math.floor(all.length / steps));
  const picked = all.filter((_, i) => i % stride === 0).slice(0, steps);
  return picked.map((idx) => {
    const b = collate(idx.map((i) => features[i]), { padTokenId: padId });
    if (mode !== 'pad-to-max' || b.seqLen === MAX_LEN) return b;
    // Pad-to-max: the same examples re-collated to the full length.
    const T = MAX_LEN;
    const ids = new Int32Array(BATCH * T).fill(padId);
    const mask = new Int32Array(BATCH * T);
    for (let r = 0; r < BATCH; r++) {
      ids.set(b.inputIds.subarray(r * b.seqLen, (r + 1) * b.seqLen), r * T);
      mask.set(b.attentionMask.subarray(r * b.seqLen, (r + 1) * b.seqLen), r * T);
    }
    return { ...b, seqLen: T, inputIds: ids, attentionMask: mask, tokenTypeIds: new Int32Array(BATCH * T) };
  });
}

function buildModel(vocab: number, padId: number): BertForSequenceClassification {
  manualSeed(0);
  return new BertForSequenceClassification(
    makeHfConfig('bert', {
      vocab_size: vocab, hidden_size: SHAPE.hidden, num_hidden_layers: SHAPE.layers, num_attention_heads: SHAPE.heads,
      intermediate_size: SHAPE.intermediate, max_position_embeddings: 512, hidden_dropout_prob: DROPOUT,
      attention_probs_dropout_prob: DROPOUT, pad_token_id: padId, num_labels: 2,
    }) as BertConfig,
  );
}

/** Trains on the batches in order; returns per-step ms. */
function trainFinetune(model: BertForSequenceClassification, batches: Batch[]): number[] {
  const named = model.namedParameters();
  const params = named.map(([, p]) => p);
  const opt = new AdamW(decayGroups(named, WEIGHT_DECAY), { lr: LEARNING_RATE });
  model.train();
  const ms: number[] = [];
  for (const b of batches) {
    const t0 = performance.now();
    F.tidy(() => {
      const out = model.forward(toModelBatch(b));
      out.loss!.backward();
      return out.loss!.item();
    });
    opt.update(clipScale(globalGradNorm(params), MAX_GRAD_NORM));
    opt.zeroGrad();
    ms.push(performance.now() - t0);
  }
  opt.dispose();
  return ms;
}

/** Sum of the timed steps (the first two are warm-up and excluded). */
const timed = (ms: number[]): number => ms.slice(2).reduce((a, b) => a + b, 0);

export async function spamComparison(o: { steps: number; torch: boolean; threads: number }): Promise<ModeResult[]> {
  if (o.threads > 0) setNumThreads(o.threads);
  F.setDefaultBackend(nativeBackend);
  console.log(`\nVariable-length text: SpamAssassin (the demo's data), BERT L${SHAPE.layers} H${SHAPE.hidden}, batch ${BATCH}, max_length ${MAX_LEN}`);
  const data = spamAssassinDataset();
  const texts = data.examples.map((e) => e.text);
  const tokenizer = trainWordPieceTokenizer(texts, { vocabSize: 8000, lowercase: true, modelMaxLength: MAX_LEN });
  const padId = tokenizer.padTokenId ?? 0;
  const features: Features[] = data.examples.map((e) => {
    const enc = tokenizer.encode(e.text, null, { truncation: 'longest_first', maxLength: MAX_LEN });
    return { inputIds: enc.ids, label: e.label === 'spam' ? 1 : 0 };
  });
  const lens = features.map((f) => f.inputIds.length).sort((a, b) => a - b);
  console.log(`${features.length} emails; tokens per email after truncation: median ${median(lens)}, ${((100 * lens.filter((l) => l === MAX_LEN).length) / lens.length).toFixed(0)}% truncated at ${MAX_LEN}`);

  const dir = join(tmpdir(), 'finetune-bench', 'spam');
  mkdirSync(dir, { recursive: true });
  const model0 = buildModel(tokenizer.vocabSize, padId);
  const weights = join(dir, 'model.safetensors');
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, p] of model0.namedParameters()) tensors[name] = { dtype: 'F32', shape: p.shape, data: p.floatData as Float32Array };
  await writeSafetensors(weights, tensors);
  model0.dispose();

  const results: ModeResult[] = [];
  for (const mode of MODES) {
    const batches = sampleBatches(features, mode, o.steps + 2, padId);
    let useful = 0;
    let padded = 0;
    for (const b of batches.slice(2)) {
      for (const m of b.attentionMask) useful += m;
      padded += b.batchSize * b.seqLen;
    }
    const model = buildModel(tokenizer.vocabSize, padId);
    const ms = trainFinetune(model, batches);
    model.dispose();
    let torchMs: number | null = null;
    if (o.torch) {
      const file = join(dir, `${mode.replace(/[^a-z]+/g, '-')}.batches.safetensors`);
      const bt: Record<string, TensorToWrite> = {};
      batches.forEach((b, i) => {
        bt[`b${i}.input_ids`] = { dtype: 'I32', shape: [b.batchSize, b.seqLen], data: b.inputIds };
        bt[`b${i}.attention_mask`] = { dtype: 'I32', shape: [b.batchSize, b.seqLen], data: b.attentionMask };
        bt[`b${i}.labels`] = { dtype: 'I32', shape: [b.batchSize], data: b.labels! };
      });
      await writeSafetensors(file, bt);
      const runs: number[] = [];
      for (const threads of [0, o.threads > 0 ? o.threads : 2]) {
        const cfg = {
          config: { ...SHAPE, vocab: tokenizer.vocabSize, maxPositions: 512, dropout: DROPOUT, labels: 2 },
          weights, batches: file, numBatches: batches.length, threads, lr: LEARNING_RATE, weightDecay: WEIGHT_DECAY, maxGradNorm: MAX_GRAD_NORM,
        };
        const r = spawnSync('/usr/bin/python3', [fileURLToPath(new URL('./torch_train.py', import.meta.url)), JSON.stringify(cfg)], { encoding: 'utf8', maxBuffer: 1 << 24 });
        try {
          const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { trainMs?: number[] };
          if (parsed.trainMs) runs.push(timed(parsed.trainMs));
        } catch {
          console.log(`PyTorch (${mode}, threads ${threads || 'default'}) failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        }
      }
      if (runs.length) torchMs = Math.min(...runs);
    }
    results.push({ mode, steps: batches.length - 2, usefulTokens: useful, paddedTokens: padded, finetuneMs: timed(ms), torchMs });
  }

  const h = `${'loop'.padEnd(18)} ${'steps'.padStart(5)} ${'useful%'.padStart(7)} | ${'finetune useful tok/s'.padStart(21)} | ${'PyTorch useful tok/s'.padStart(20)}`;
  console.log(h);
  console.log('-'.repeat(h.length));
  for (const r of results) {
    const ours = (r.usefulTokens / r.finetuneMs) * 1000;
    const torch = r.torchMs === null ? '-' : ((r.usefulTokens / r.torchMs) * 1000).toFixed(0);
    console.log(`${r.mode.padEnd(18)} ${String(r.steps).padStart(5)} ${((100 * r.usefulTokens) / r.paddedTokens).toFixed(0).padStart(6)}% | ${ours.toFixed(0).padStart(21)} | ${torch.padStart(20)}`);
  }
  const base = results.find((r) => r.mode === 'pad-to-max');
  const best = results.find((r) => r.mode === 'dynamic + grouped');
  if (base && best) {
    const gain = (best.usefulTokens / best.finetuneMs) / (base.usefulTokens / base.finetuneMs);
    let line = `finetune dynamic + grouped vs its own pad-to-max: ${gain.toFixed(2)}x useful tokens/s`;
    if (base.torchMs !== null) line += `; vs PyTorch pad-to-max: ${((best.usefulTokens / best.finetuneMs) / (base.usefulTokens / base.torchMs)).toFixed(2)}x`;
    console.log(`${line} (load ${loadavg()[0].toFixed(2)})`);
  }
  return results;
}

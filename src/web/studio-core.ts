// The browser side of `finetune studio`: text classification trained on the user's GPU (WebGPU) from a
// CSV/TSV pasted or dropped into the page, with the same TypeScript core the CLI uses (tokenizer
// training, compact BERT, AdamW, linear warmup schedule, clipping, evaluation). The data never leaves
// the page. The result is a Hugging Face model folder as in-memory files (config.json, model.safetensors,
// tokenizer files) for the page to offer as downloads. Not yet here: starting from a pretrained folder.

import { parseDelimited } from '../data/csv.ts';
import { collate, type Features } from '../data/collate.ts';
import { ClassificationMetrics } from '../eval/classification.ts';
import { makeHfConfig, setLabels, type BertConfig } from '../models/hf-config.ts';
import { BertForSequenceClassification } from '../models/bert.ts';
import { manualSeed } from '../nn/init.ts';
import { AdamW, decayGroups } from '../optim/adamw.ts';
import { clipScale, globalGradNormAsync } from '../optim/clip.ts';
import { learningRate } from '../optim/schedules.ts';
import * as F from '../tensor/index.ts';
import type { Backend } from '../backend/backend.ts';
import { trainWordPieceTokenizer } from '../tokenizers/train-wordpiece.ts';
import { specialTokensMapJson, tokenizerConfigJson, vocabTxt } from '../tokenizers/save.ts';
import { serializeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { stateDictForSave } from '../models/pretrained.ts';
import { configJsonFor } from '../models/family.ts';

export interface StudioOptions {
  /** 'tsv' for `label<TAB>text` lines without a header (the SMS Spam Collection), 'csv' with a header. */
  format: 'tsv' | 'csv';
  textColumn: string;
  labelColumn: string;
  steps: number;
  batchSize: number;
  maxLength: number;
  learningRate: number;
  hidden: number;
  layers: number;
  seed: number;
}

export const STUDIO_DEFAULTS: StudioOptions = {
  format: 'tsv', textColumn: 'text', labelColumn: 'label', steps: 20, batchSize: 8, maxLength: 32,
  learningRate: 1e-3, hidden: 64, layers: 1, seed: 42,
};

export interface StudioEvents {
  onMessage?: (m: string) => void;
  onStep?: (s: { step: number; steps: number; loss: number; lr: number; gradNorm: number }) => void;
}

export interface StudioResult {
  losses: number[];
  labels: string[];
  metrics: Record<string, number>;
  trainExamples: number;
  evalExamples: number;
  /** The fine-tuned model as a Hugging Face folder: file name -> contents. */
  files: Record<string, Uint8Array>;
}

/** Trains a compact BERT classifier on `text` (the file's contents) on `backend`; returns losses and metrics. */
export async function trainInBrowser(text: string, backend: Backend, o: StudioOptions, ev: StudioEvents = {}): Promise<StudioResult> {
  F.setDefaultBackend(backend);
  manualSeed(o.seed);
  const table = o.format === 'tsv'
    ? parseDelimited(text, '<dropped file>', { delimiter: '\t', quoting: 'none', split: 'first', hasHeader: false, columnNames: [o.labelColumn, o.textColumn] })
    : parseDelimited(text, '<dropped file>', { delimiter: ',', quoting: 'csv', split: 'every', hasHeader: true });
  const ti = table.columns.indexOf(o.textColumn);
  const li = table.columns.indexOf(o.labelColumn);
  if (ti < 0 || li < 0) throw new Error(`columns "${o.textColumn}" and "${o.labelColumn}" are needed; the file has ${table.columns.join(', ')}`);
  const rows = table.rows.filter((r) => (r[ti] ?? '').trim() !== '');
  const labels = [...new Set(rows.map((r) => r[li]))].sort();
  // Every 10th row is held out for evaluation (deterministic).
  const train = rows.filter((_, i) => i % 10 !== 0);
  const held = rows.filter((_, i) => i % 10 === 0);
  ev.onMessage?.(`${rows.length} rows, labels ${labels.join(', ')}; train ${train.length}, evaluate ${held.length}`);

  const tokenizer = trainWordPieceTokenizer(train.map((r) => r[ti]), { vocabSize: 4000, lowercase: true, modelMaxLength: Math.max(o.maxLength, 128) });
  const config = setLabels(
    makeHfConfig('bert', {
      vocab_size: tokenizer.vocabSize, hidden_size: o.hidden, num_hidden_layers: o.layers, num_attention_heads: Math.max(1, o.hidden / 32),
      intermediate_size: 4 * o.hidden, max_position_embeddings: Math.max(o.maxLength, 128), pad_token_id: tokenizer.padTokenId ?? 0,
    }),
    labels,
  ) as BertConfig;
  const model = new BertForSequenceClassification(config);
  ev.onMessage?.(`tokenizer: ${tokenizer.vocabSize} tokens; model: BERT L${o.layers} H${o.hidden}, ${model.numParameters()} parameters`);
  const features = (rs: string[][]): Features[] =>
    rs.map((r) => ({ inputIds: tokenizer.encode(r[ti], null, { truncation: true, maxLength: o.maxLength }).ids, label: labels.indexOf(r[li]) }));
  const trainF = features(train);
  const heldF = features(held);
  const toBatch = (fs: Features[]) => {
    const b = collate(fs, { padTokenId: tokenizer.padTokenId ?? 0 });
    return {
      inputIds: F.Tensor.wrap(b.inputIds, [b.batchSize, b.seqLen]),
      attentionMask: F.Tensor.wrap(b.attentionMask, [b.batchSize, b.seqLen]),
      labels: F.Tensor.wrap(b.labels!, [b.batchSize]),
    };
  };

  const named = model.trainableParameters();
  const params = named.map(([, p]) => p);
  const opt = new AdamW(decayGroups(named, 0.01), { lr: o.learningRate });
  const warmup = Math.ceil(o.steps * 0.1);
  const losses: number[] = [];
  model.train();
  for (let step = 0; step < o.steps; step++) {
    const start = (step * o.batchSize) % Math.max(1, trainF.length);
    const batch = toBatch(Array.from({ length: Math.min(o.batchSize, trainF.length) }, (_, i) => trainF[(start + i) % trainF.length]));
    const loss = F.tidy(() => {
      const out = model.forward(batch);
      out.loss!.backward();
      return out.loss!;
    });
    const value = await loss.readItem();
    loss.dispose();
    for (const t of Object.values(batch)) t.dispose();
    const norm = await globalGradNormAsync(params);
    opt.lr = learningRate(step, { name: 'linear', baseLr: o.learningRate, warmupSteps: warmup, totalSteps: o.steps });
    opt.update(clipScale(norm, 1));
    opt.zeroGrad();
    losses.push(value);
    ev.onStep?.({ step: step + 1, steps: o.steps, loss: value, lr: opt.lr, gradNorm: norm });
  }

  model.eval();
  const metric = new ClassificationMetrics(labels);
  for (let i = 0; i < heldF.length; i += 32) {
    const part = heldF.slice(i, i + 32);
    const batch = toBatch(part);
    const logits = F.tidy(() => F.noGrad(() => F.contiguous(model.forward({ inputIds: batch.inputIds, attentionMask: batch.attentionMask }).logits)));
    await logits.sync();
    metric.updateFromLogits(logits.floatData, Int32Array.from(part, (f) => f.label!));
    logits.dispose();
    for (const t of Object.values(batch)) t.dispose();
  }
  const metrics = { ...metric.compute() };
  // The Hugging Face folder, as save_pretrained + tokenizer.save_pretrained would write it.
  await F.syncHost(model.parameters());
  const state = stateDictForSave(model);
  const { header, chunks } = serializeSafetensors(Object.fromEntries(state) as Record<string, TensorToWrite>, { format: 'pt' });
  const weights = new Uint8Array(header.length + chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const part of [header, ...chunks]) {
    weights.set(part, at);
    at += part.length;
  }
  const utf8 = (x: unknown): Uint8Array => new TextEncoder().encode(typeof x === 'string' ? x : `${JSON.stringify(x, null, 2)}\n`);
  const files: Record<string, Uint8Array> = {
    'config.json': utf8(configJsonFor(model.hfConfig, model.architecture)),
    'model.safetensors': weights,
    'tokenizer.json': utf8(tokenizer.json),
    'tokenizer_config.json': utf8(tokenizerConfigJson(tokenizer)),
    'special_tokens_map.json': utf8(specialTokensMapJson(tokenizer)),
    'vocab.txt': utf8(vocabTxt(tokenizer)),
  };
  opt.dispose();
  model.dispose();
  return { losses, labels, metrics, trainExamples: train.length, evalExamples: held.length, files };
}

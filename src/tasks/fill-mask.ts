// Continued pretraining with masked LM on unlabelled domain text, end to end (`finetune train --task
// fill-mask`): read texts (a .txt file, one text per line, or a table's text column), cut each into windows
// of max_length tokens, mask them dynamically per batch as transformers' DataCollatorForLanguageModeling does
// (mlm_probability of the non-special tokens; of those 80% [MASK], 10% random, 10% kept), train a
// …ForMaskedLM model, report perplexity on a fixed-masked validation split, and save a folder that
// `finetune train --model <folder>` then fine-tunes for any task.
// Not here: the short masked-LM pass before a scratch model is fine-tuned (mlm.ts), causal LM (src/data/causal-lm.ts).

import { readFile } from 'node:fs/promises';
import { collate, decodeTextFile, deriveSeed, preprocessDataset, Rng, splitLines, type Features, type TextDataset } from '../data/index.ts';
import { ConfigError, FileFormatError } from '../errors.ts';
import { argmaxRow } from '../eval/classification.ts';
import { PerplexityMetric } from '../eval/perplexity.ts';
import type { TaskModel } from '../models/types.ts';
import { manualSeed } from '../nn/init.ts';
import * as F from '../tensor/index.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import type { TrainingArguments } from '../train/args.ts';
import { FeatureBatches, toModelBatch, type FeatureBatchesOptions } from '../train/batches.ts';
import type { ModelBatch } from '../models/types.ts';
import { preprocessOptions, type PipelineConfig } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import { countsOf, loadSplits, loadTaskModel, say, scratchTaskModel, tick, trainEvaluateSave, type LoadedTaskModel, type TaskRun } from './task-run.ts';
import { setUpLora } from './lora.ts';
import { readTextDataset, type PipelineEvents } from './text-classification.ts';

/** BERT's masking of one sequence: returns masked ids and labels (-100 where not predicted). */
export function maskTokens(ids: ArrayLike<number>, special: Set<number>, maskId: number, vocabSize: number, rng: Rng, prob = 0.15): { inputIds: number[]; labels: number[] } {
  const inputIds = Array.from(ids);
  const labels = new Array<number>(inputIds.length).fill(-100);
  for (let i = 0; i < inputIds.length; i++) {
    if (special.has(inputIds[i]) || rng.nextFloat() >= prob) continue;
    labels[i] = inputIds[i];
    const r = rng.nextFloat();
    if (r < 0.8) inputIds[i] = maskId;
    else if (r < 0.9) inputIds[i] = Math.floor(rng.nextFloat() * vocabSize);
  }
  return { inputIds, labels };
}

/** Salt that keeps masking draws apart from the sampler's shuffles of the same seed. */
const MASK_SALT = 0x4d4c4d;

/** What masking needs from the tokenizer, and how much to mask. */
export interface MaskingOptions {
  maskTokenId: number;
  /** Never masked ([CLS], [SEP], [PAD], ...). */
  specialIds: ReadonlySet<number>;
  /** Random replacements are drawn from 0..vocabSize-1 (transformers: len(tokenizer)). */
  vocabSize: number;
  /** Fraction of tokens chosen for prediction (mlm_probability). */
  probability: number;
}

/**
 * Masking settings for a tokenizer; throws a ConfigError when it has no mask token.
 *
 * @example
 * const masking = maskingFor(tokenizer, 0.15);
 */
export function maskingFor(tokenizer: Tokenizer, probability: number): MaskingOptions {
  const maskTokenId = tokenizer.maskTokenId;
  if (maskTokenId === null) {
    throw new ConfigError('mask_token', 'this tokenizer has no mask token, so it cannot be trained with masked LM; set "mask_token" in tokenizer_config.json or use a BERT-style model');
  }
  return { maskTokenId, specialIds: new Set(tokenizer.allSpecialIds), vocabSize: tokenizer.vocabSize, probability };
}

/**
 * Masks a batch of features with `rng` (labels = original ids where masked, -100 elsewhere). When chance
 * masks nothing in the whole batch, one maskable token is masked, so the loss is never 0/0.
 */
export function maskBatch(features: readonly Features[], m: MaskingOptions, rng: Rng): Features[] {
  const out = features.map((f) => {
    const r = maskTokens(f.inputIds, m.specialIds as Set<number>, m.maskTokenId, m.vocabSize, rng, m.probability);
    const g: Features = { inputIds: r.inputIds, tokenLabels: r.labels };
    if (f.tokenTypeIds) g.tokenTypeIds = f.tokenTypeIds;
    return g;
  });
  if (out.some((f) => Array.prototype.some.call(f.tokenLabels, (l: number) => l !== -100))) return out;
  const candidates: [number, number][] = [];
  out.forEach((f, b) => {
    for (let t = 0; t < f.inputIds.length; t++) if (!m.specialIds.has(f.inputIds[t] as number)) candidates.push([b, t]);
  });
  if (candidates.length === 0) return out;
  const [b, t] = candidates[rng.nextInt(candidates.length)] as [number, number];
  const f = out[b] as Features & { inputIds: number[]; tokenLabels: number[] };
  f.tokenLabels[t] = f.inputIds[t] as number;
  f.inputIds[t] = m.maskTokenId;
  return out;
}

/**
 * Training batches with dynamic masking: every time a batch is served its tokens are masked afresh, from a
 * generator seeded by (seed, epoch, batch), so masks differ between epochs yet a resumed run sees exactly
 * the masks an uninterrupted one would.
 *
 * @example
 * const train = new MaskedLmBatches(windows, { batchSize: 16, seed: 42, shuffle: true, padTokenId: 0 }, maskingFor(tok, 0.15));
 */
export class MaskedLmBatches extends FeatureBatches {
  private readonly batchOpts: FeatureBatchesOptions;
  constructor(
    features: readonly Features[],
    opts: FeatureBatchesOptions,
    readonly masking: MaskingOptions,
  ) {
    super(features, opts);
    this.batchOpts = opts;
  }

  override next(): { batch: ModelBatch; epoch: number; index: number; size: number; tokens: number } {
    const s = this.sampler.next();
    const rng = Rng.fromSeed(deriveSeed(this.batchOpts.seed, MASK_SALT, s.epoch, s.batch));
    const masked = maskBatch(s.indices.map((i) => this.features[i] as Features), this.masking, rng);
    const padded = collate(masked, { padTokenId: this.batchOpts.padTokenId, padToMultipleOf: this.batchOpts.padToMultipleOf });
    let tokens = 0;
    for (const v of padded.attentionMask) tokens += v;
    return { batch: toModelBatch(padded), epoch: s.epoch, index: s.batch, size: s.indices.length, tokens };
  }
}

/** Features masked once, each by its own seeded draw (evaluation: the same masks at every evaluation). */
export function fixedMaskedFeatures(features: readonly Features[], m: MaskingOptions, seed: number): Features[] {
  return features.map((f, i) => maskBatch([f], m, Rng.fromSeed(deriveSeed(seed, MASK_SALT + 1, i)))[0] as Features);
}

/**
 * Tokenises texts into windows of at most `maxLength` tokens (special tokens included): a long text gives
 * several consecutive windows rather than being cut short.
 *
 * @example
 * const windows = mlmFeatures(ds, tok, 128); // [{ inputIds: [2, ..., 3], tokenTypeIds: [0, ...] }, ...]
 */
export function mlmFeatures(ds: TextDataset, tokenizer: Tokenizer, maxLength: number): Features[] {
  const out: Features[] = [];
  for (const ex of ds.examples) {
    const enc = tokenizer.encode(ex.text, null, { truncation: 'longest_first', maxLength });
    for (const w of [enc, ...(enc.overflowing ?? [])]) out.push({ inputIds: w.ids, tokenTypeIds: w.typeIds });
  }
  return out;
}

/**
 * Reads unlabelled text: a .txt/.text/.md file holds one text per line (blank lines dropped and reported);
 * other formats use the text column.
 *
 * @example
 * const ds = await readMaskedLmDataset('domain.txt', DEFAULT_PIPELINE_CONFIG);
 */
export async function readMaskedLmDataset(file: string, p: PipelineConfig): Promise<TextDataset> {
  if (p.format !== null || !/\.(txt|text|md)$/i.test(file)) return readTextDataset(file, p, 'single_label_classification', false);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new FileFormatError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, undefined, { cause: err });
  }
  const lines = splitLines(decodeTextFile(bytes, file));
  const ds: TextDataset = {
    file,
    originKind: 'line',
    steps: [],
    task: 'single_label_classification',
    labelled: false,
    examples: lines.map((text, i) => ({ text, origin: i + 1 })),
  };
  const clean = preprocessDataset(ds, preprocessOptions(p)).dataset as TextDataset;
  if (clean.examples.length === 0) throw new FileFormatError(file, 'holds no text (every line is empty)');
  return clean;
}

/**
 * Evaluates a masked-LM model batch by batch: loss = mean negative log-likelihood per masked token over the
 * whole set (not a mean of batch means) and perplexity = exp(loss).
 *
 * @example
 * const r = await evaluateMaskedLm(model, new FeatureBatches(fixedMaskedFeatures(windows, masking, 42), { batchSize: 32, seed: 0, shuffle: false, padTokenId: 0 }));
 * r.metrics.perplexity;
 */
export async function evaluateMaskedLm(
  model: TaskModel,
  data: FeatureBatches,
  onBatch?: (done: number, total: number) => void,
  /** With a tokenizer, each window's masked positions (gold and predicted token) are kept as records. */
  collectWith?: Tokenizer,
): Promise<EvalResult> {
  const metric = new PerplexityMetric();
  const records: Record<string, unknown>[] = [];
  let done = 0;
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  for (const { batch, indices } of data.inOrder()) {
    F.tidy(() =>
      F.noGrad(() => {
        if (!batch.labels) return;
        const gold = F.contiguous(batch.labels).intData;
        let count = 0;
        for (const l of gold) if (l !== -100) count++;
        if (count === 0) return;
        const out = model.forward(batch);
        if (out.loss) metric.update(out.loss.item() * count, count);
        if (collectWith) {
          const [B, T] = batch.labels.shape as [number, number];
          const logits = F.contiguous(out.logits).floatData; // (B, T, V)
          const V = logits.length / (B * T);
          const ids = F.contiguous(batch.inputIds).intData;
          const tok = (id: number): string => collectWith.idToToken(id) ?? String(id);
          indices.forEach((index, b) => {
            const masked: Record<string, unknown>[] = [];
            for (let t = 0; t < T; t++) {
              const g = gold[b * T + t] as number;
              if (g === -100) continue;
              const p = argmaxRow(logits, b * T + t, V);
              masked.push({ position: t, input: tok(ids[b * T + t] as number), label: tok(g), predicted: tok(p) });
            }
            records.push({ index, masked });
          });
        }
      }),
    );
    done++;
    onBatch?.(done, data.batchesPerEpoch);
    await tick();
  }
  if (wasTraining) model.train();
  const { loss, perplexity } = metric.compute() as { loss: number; perplexity: number };
  return { metrics: { loss, perplexity }, samples: data.features.length, steps: done, runtime: (performance.now() - started) / 1000, ...(collectWith ? { records } : {}) };
}

/**
 * Continued pretraining with masked LM (`finetune train --task fill-mask`). Starts from `p.model` (any
 * family with a masked-LM head) or a compact BERT whose WordPiece vocabulary is trained on the text; saves a
 * …ForMaskedLM folder that `finetune train --model <output_dir>` fine-tunes for a downstream task.
 *
 * @example
 * const run = await trainMaskedLm({ ...DEFAULT_PIPELINE_CONFIG, task: 'fill-mask', train_file: 'domain.txt' }, args);
 * run.validation?.metrics.perplexity;
 */
export async function trainMaskedLm(
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
  given?: { train: TextDataset; validation?: TextDataset; test?: TextDataset },
): Promise<TaskRun> {
  manualSeed(args.seed);
  if (args.class_weights !== null) throw new ConfigError('class_weights', 'applies to text-classification and token-classification, not fill-mask; drop --class-weights');
  // 1. Data.
  const splits = await loadSplits(p, args, ev, given, (file) => readMaskedLmDataset(file, p), 'no training text: pass --train-file (a .txt file with one text per line, or a table with --text-column)', false);
  const { train, validation, test } = splits;
  // 2. No labels: the masked tokens are the targets.
  // 3. Tokenizer and model.
  let loaded: LoadedTaskModel;
  if (p.model) {
    loaded = await loadTaskModel(p.model, 'fill-mask', null, ev);
  } else {
    say(ev, `no --model given: building a compact BERT (${p.scratch_num_layers} layers, hidden ${p.scratch_hidden_size}) and a ${p.scratch_vocab_size}-token WordPiece vocabulary from the text`);
    loaded = await scratchTaskModel(train.examples.map((e) => e.text), 'fill-mask', p, args, null, ev);
  }
  const persist = setUpLora(p, loaded, 'fill-mask', ev);
  const { model, tokenizer } = loaded;
  const masking = maskingFor(tokenizer, p.mlm_probability);
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  say(ev, `model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}, masking ${p.mlm_probability} of the tokens`);
  // 4. Features: windows, masked per batch (training) or once (evaluation).
  const padTokenId = tokenizer.padTokenId ?? 0;
  const windowsOf = (ds: TextDataset, name: string): Features[] => {
    const w = mlmFeatures(ds, tokenizer, maxLength);
    if (w.length > ds.examples.length) say(ev, `${name}: ${ds.examples.length} texts → ${w.length} windows of at most ${maxLength} tokens`);
    return w;
  };
  const trainBatches = new MaskedLmBatches(
    windowsOf(train, 'train'),
    { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true, groupByLength: args.group_by_length, padTokenId },
    masking,
  );
  const evaluator = (ds: TextDataset, name: string, collectPredictions = false): ((m: TaskModel) => Promise<EvalResult>) => {
    const batches = new FeatureBatches(fixedMaskedFeatures(windowsOf(ds, name), masking, args.seed), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
    return (m) => evaluateMaskedLm(m, batches, undefined, collectPredictions ? tokenizer : undefined);
  };
  // 5–6. Train, evaluate, save, report.
  return trainEvaluateSave(
    {
      task: 'fill-mask',
      loaded,
      train: trainBatches,
      validate: validation.examples.length ? evaluator(validation, 'validation') : null,
      test: test?.examples.length ? evaluator(test, 'test', true) : null,
      labels: [],
      dataFile: train.file,
      dataCounts: countsOf(splits),
      ...(persist ? { persist } : {}),
    },
    args,
    ev,
  );
}

/**
 * `finetune evaluate` for a saved masked-LM model: perplexity on `file` with masks drawn from `args.seed`.
 *
 * @example
 * const { result } = await evaluateMaskedLmFile('domain-bert', 'held-out.txt', p, args);
 */
export async function evaluateMaskedLmFile(
  modelDir: string,
  file: string,
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
): Promise<{ result: EvalResult; examples: number }> {
  const loaded = await loadTaskModel(modelDir, 'fill-mask', null, ev, { strict: true });
  const ds = await readMaskedLmDataset(file, p);
  const masking = maskingFor(loaded.tokenizer, p.mlm_probability);
  const windows = mlmFeatures(ds, loaded.tokenizer, Math.min(args.max_length, loaded.maxPositions));
  const batches = new FeatureBatches(fixedMaskedFeatures(windows, masking, args.seed), {
    batchSize: args.per_device_eval_batch_size,
    seed: 0,
    shuffle: false,
    padTokenId: loaded.tokenizer.padTokenId ?? 0,
  });
  return { result: await evaluateMaskedLm(loaded.model, batches), examples: ds.examples.length };
}

// Token classification (NER, POS tagging) end to end, as a library call: read word lists with one tag per
// word, split, build the tag map, load (or build) tokenizer and model, align tags to sub-tokens as
// transformers' run_ner does (the tag on each word's first sub-token, -100 on the others and on special
// tokens), train, score with seqeval's entity-level precision/recall/F1 and token accuracy batch by batch,
// save a Hugging Face folder (BertForTokenClassification & co.), write metrics.jsonl and report.html.
// Not here: inference-time entity grouping (src/inference/tasks/token-classification.ts).

import {
  alignWordLabels,
  assertKnownLabels,
  buildLabelMap,
  labelMapFromDataset,
  nearDuplicateLabelsWarning,
  loadDataset,
  type Features,
  type LabelMap,
  type TokenDataset,
} from '../data/index.ts';
import { DataError } from '../errors.ts';
import { labelNames } from '../models/hf-config.ts';
import { argmaxRow } from '../eval/classification.ts';
import { EntityMetrics, type EntityTypeScores } from '../eval/seqeval.ts';
import { manualSeed } from '../nn/init.ts';
import type { TaskModel } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import type { Tokenizer } from '../tokenizers/tokenizer.ts';
import type { TrainingArguments } from '../train/args.ts';
import { FeatureBatches } from '../train/batches.ts';
import { setClassWeights, useTokenClassWeights } from '../models/heads.ts';
import { resolveClassWeights } from './class-weights.ts';
import { preprocessOptions, type PipelineConfig } from './config.ts';
import type { EvalResult } from './evaluate.ts';
import { countsOf, loadSplits, loadTaskModel, say, scratchTaskModel, tick, trainEvaluateSave, type LoadedTaskModel, type TaskRun } from './task-run.ts';
import { setUpLora } from './lora.ts';
import type { PipelineEvents } from './text-classification.ts';

/** Evaluation of a token classifier: seqeval metrics plus the scores of each entity type. */
export interface TokenEvalResult extends EvalResult {
  perType: EntityTypeScores[];
}

/**
 * Reads word lists (a list, a JSON array string or a whitespace-separated string per row) and their tags.
 *
 * @example
 * const ds = await readTokenDataset('ner.jsonl', { ...DEFAULT_PIPELINE_CONFIG, tokens_column: 'tokens', tags_column: 'ner_tags' });
 */
export async function readTokenDataset(file: string, p: PipelineConfig, labelled = true): Promise<TokenDataset> {
  const ds = await loadDataset(file, {
    read: {
      ...(p.format ? { format: p.format } : {}),
      ...(p.has_header !== null ? { hasHeader: p.has_header } : {}),
      ...(p.column_names ? { columnNames: p.column_names } : {}),
      maxRecordSize: p.max_record_size,
    },
    columns: { task: 'token_classification', tokens: p.tokens_column, ...(labelled ? { tags: p.tags_column } : {}), ...(p.label_names ? { tagNames: p.label_names } : {}) },
    preprocess: preprocessOptions(p),
  });
  if (ds.task !== 'token_classification') throw new DataError(`${file}: expected word lists with tags`);
  return ds;
}

/**
 * Tokenises pre-split words and aligns the word tags to sub-tokens: the first sub-token of each word gets
 * the word's tag id, later sub-tokens and special tokens get -100 (transformers' run_ner with
 * label_all_tokens=False). Without `labels`, no tokenLabels are set (prediction). Sequences longer than
 * `maxLength` tokens are truncated; `onTruncated` hears each such example's origin.
 *
 * @example
 * tokenFeatures(ds, tok, 128, labelMap)[0].tokenLabels // e.g. [-100, 3, -100, 0, -100] for [CLS] new ##ark is [SEP]
 */
export function tokenFeatures(ds: TokenDataset, tokenizer: Tokenizer, maxLength: number, labels: LabelMap | null, onTruncated?: (origin: number) => void): Features[] {
  return ds.examples.map((ex) => {
    const enc = tokenizer.encode(ex.tokens, null, { truncation: 'longest_first', maxLength });
    if (enc.overflowing?.length && onTruncated) onTruncated(ex.origin);
    const f: Features = { inputIds: enc.ids, tokenTypeIds: enc.typeIds };
    if (labels && ex.tags) {
      const ids = ex.tags.map((t) => {
        const id = labels.label2id[t];
        if (id === undefined) throw new DataError(`${ds.file}: tag "${t}" (line/record ${ex.origin}) is not one of the model's tags (${labels.labels.join(', ')})`);
        return id;
      });
      f.tokenLabels = alignWordLabels(enc.wordIds, ids);
    }
    return f;
  });
}

/**
 * Evaluates a token classifier batch by batch: mean loss, seqeval entity precision/recall/F1 (micro, with
 * macro and weighted averages) and token accuracy over the positions that carry a label (first sub-tokens).
 *
 * @example
 * const r = await evaluateTokenClassifier(model, batches, labelMap.labels); // r.metrics.f1, r.perType
 */
export async function evaluateTokenClassifier(
  model: TaskModel,
  data: FeatureBatches,
  labels: readonly string[],
  onBatch?: (done: number, total: number) => void,
  collectPredictions = false,
): Promise<TokenEvalResult> {
  const metric = new EntityMetrics();
  const records: Record<string, unknown>[] = [];
  let lossSum = 0;
  let lossCount = 0;
  const total = data.batchesPerEpoch;
  let done = 0;
  const started = performance.now();
  const wasTraining = model.training;
  model.eval();
  for (const { batch, indices } of data.inOrder()) {
    F.tidy(() =>
      F.noGrad(() => {
        const out = model.forward(batch);
        if (!batch.labels) return;
        const [B, T] = batch.inputIds.shape;
        const logits = F.contiguous(out.logits).floatData; // (B, T, N)
        const N = logits.length / (B * T);
        const preds = new Int32Array(B * T);
        for (let r = 0; r < B * T; r++) preds[r] = argmaxRow(logits, r, N);
        const gold = F.contiguous(batch.labels).intData;
        metric.updateFromIds(gold, preds, T, labels);
        if (collectPredictions) {
          // One tag per scored word (its first sub-token), as run_ner's predictions.txt.
          indices.forEach((index, b) => {
            const tags: string[] = [];
            const predicted: string[] = [];
            for (let t = 0; t < T; t++) {
              const g = gold[b * T + t] as number;
              if (g === -100) continue;
              tags.push(labels[g] as string);
              predicted.push(labels[preds[b * T + t] as number] as string);
            }
            records.push({ index, tags, predicted });
          });
        }
        if (out.loss) {
          lossSum += out.loss.item() * B;
          lossCount += B;
        }
      }),
    );
    done++;
    onBatch?.(done, total);
    await tick();
  }
  if (wasTraining) model.train();
  const metrics = { ...metric.compute() };
  if (lossCount > 0) metrics.loss = lossSum / lossCount;
  return { metrics, labels: [...labels], perType: metric.perType(), samples: data.features.length, steps: done, runtime: (performance.now() - started) / 1000, ...(collectPredictions ? { records } : {}) };
}

/**
 * Trains a token classifier (`finetune train --task token-classification`). `datasets` may be given
 * directly; otherwise they are read from the files named in `p` (tokens_column, tags_column).
 *
 * @example
 * const run = await trainTokenClassifier({ ...DEFAULT_PIPELINE_CONFIG, task: 'token-classification', train_file: 'ner.jsonl' }, args);
 * run.validation?.metrics.f1;
 */
export async function trainTokenClassifier(
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
  given?: { train: TokenDataset; validation?: TokenDataset; test?: TokenDataset },
): Promise<TaskRun> {
  manualSeed(args.seed);
  // 1. Data.
  const splits = await loadSplits(p, args, ev, given, (file) => readTokenDataset(file, p), 'no training data: pass --train-file with a word-list column (--tokens-column) and a tag column (--tags-column)');
  const { train, validation, test } = splits;
  // 2. Labels (tags).
  const labelMap = labelMapFromDataset(train);
  if (validation.examples.length) assertKnownLabels(validation, labelMap);
  if (test?.examples.length) assertKnownLabels(test, labelMap);
  say(ev, `tags (${labelMap.labels.length}): ${labelMap.labels.join(', ')}`);
  const similar = nearDuplicateLabelsWarning(labelMap.labels, train.file);
  if (similar) say(ev, similar);
  // 3. Tokenizer and model.
  let loaded: LoadedTaskModel;
  if (p.model) {
    loaded = await loadTaskModel(p.model, 'token-classification', labelMap, ev);
  } else {
    say(ev, `no --model given: building a compact BERT (${p.scratch_num_layers} layers, hidden ${p.scratch_hidden_size}) and a ${p.scratch_vocab_size}-token WordPiece vocabulary from the training words`);
    loaded = await scratchTaskModel(train.examples.map((e) => e.tokens.join(' ')), 'token-classification', p, args, labelMap, ev);
  }
  const persist = setUpLora(p, loaded, 'token-classification', ev);
  const { model, tokenizer } = loaded;
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  say(ev, `model: ${loaded.description}, ${(model.numParameters() / 1e6).toFixed(2)}M parameters; max_length ${maxLength}`);
  // 4. Features.
  const padTokenId = tokenizer.padTokenId ?? 0;
  const features = (ds: TokenDataset, name: string): Features[] => {
    const cut: number[] = [];
    const out = tokenFeatures(ds, tokenizer, maxLength, labelMap, (o) => cut.push(o));
    if (cut.length) say(ev, `${name}: ${cut.length} sequence(s) longer than ${maxLength} tokens were truncated; their last words are neither trained nor scored (first at ${ds.file} line/record ${cut.slice(0, 5).join(', ')}); raise --max-length to keep them`);
    return out;
  };
  const trainFeatures = features(train, 'train');
  let classWeights: Record<string, number> | undefined;
  if (args.class_weights !== null) {
    const w = tokenClassWeights(args.class_weights, labelMap, trainFeatures);
    setClassWeights(model.hfConfig, w);
    useTokenClassWeights(model);
    classWeights = Object.fromEntries(labelMap.labels.map((l, i) => [l, w[i] as number]));
    say(ev, `class weights (${args.class_weights}): ${labelMap.labels.map((l, i) => `${l} ${(w[i] as number).toFixed(4)}`).join(', ')}`);
  }
  const trainBatches = new FeatureBatches(trainFeatures, {
    batchSize: args.per_device_train_batch_size,
    seed: args.seed,
    shuffle: true,
    groupByLength: args.group_by_length,
    padTokenId,
  });
  const evalBatches = (ds: TokenDataset, name: string): FeatureBatches =>
    new FeatureBatches(features(ds, name), { batchSize: args.per_device_eval_batch_size, seed: 0, shuffle: false, padTokenId });
  const valBatches = validation.examples.length ? evalBatches(validation, 'validation') : null;
  const testBatches = test?.examples.length ? evalBatches(test, 'test') : null;
  // 5–6. Train, evaluate, save, report.
  const run = await trainEvaluateSave(
    {
      task: 'token-classification',
      loaded,
      train: trainBatches,
      validate: valBatches ? (m) => evaluateTokenClassifier(m, valBatches, labelMap.labels) : null,
      test: testBatches && test
        ? async (m) => {
            const r = await evaluateTokenClassifier(m, testBatches, labelMap.labels, undefined, true);
            // The words beside their tags; a truncated sentence's last words have no prediction.
            r.records = r.records?.map((rec, i) => {
              const ex = test.examples[i];
              const { index, tags, predicted } = rec;
              return { index, tokens: ex?.tokens, tags: ex?.tags ?? tags, predicted };
            });
            return r;
          }
        : null,
      labels: labelMap.labels,
      dataFile: train.file,
      dataCounts: countsOf(splits),
      ...(persist ? { persist } : {}),
    },
    args,
    ev,
  );
  return classWeights ? { ...run, classWeights } : run;
}

/**
 * --class-weights for token classification: a JSON file {"tag": weight}, or "auto", scikit-learn's
 * "balanced" n / (K * count) over the tags the loss sees (each word's first sub-token; -100 positions, and
 * the words of truncated sequences that were cut, are not counted).
 *
 * @example
 * tokenClassWeights('auto', labelMap, trainFeatures); // e.g. [2.1, 2.1, 4.2, 0.33] for B-LOC, B-PER, I-LOC, O
 */
export function tokenClassWeights(spec: string, labels: LabelMap, trainFeatures: readonly Features[]): number[] {
  const seen: string[] = [];
  for (const f of trainFeatures) {
    const ids = f.tokenLabels ?? [];
    for (let t = 0; t < ids.length; t++) if (ids[t] !== -100) seen.push(labels.labels[ids[t] as number] as string);
  }
  return resolveClassWeights(spec, labels, seen);
}

/**
 * `finetune evaluate` for a saved token classifier: reads `file` with the pipeline's column settings,
 * reports tags the model was not trained on (never guessed), and scores it.
 *
 * @example
 * const { result } = await evaluateTokenClassifierFile('ner-model', 'test.jsonl', p, args);
 */
export async function evaluateTokenClassifierFile(
  modelDir: string,
  file: string,
  p: PipelineConfig,
  args: TrainingArguments,
  ev?: PipelineEvents,
): Promise<{ result: TokenEvalResult; examples: number }> {
  const loaded = await loadTaskModel(modelDir, 'token-classification', null, ev, { strict: true });
  const names = labelNames(loaded.model.hfConfig);
  const map = buildLabelMap(names, names);
  const ds = await readTokenDataset(file, p);
  assertKnownLabels(ds, map);
  const maxLength = Math.min(args.max_length, loaded.maxPositions);
  const batches = new FeatureBatches(tokenFeatures(ds, loaded.tokenizer, maxLength, map), {
    batchSize: args.per_device_eval_batch_size,
    seed: 0,
    shuffle: false,
    padTokenId: loaded.tokenizer.padTokenId ?? 0,
  });
  return { result: await evaluateTokenClassifier(loaded.model, batches, map.labels), examples: ds.examples.length };
}

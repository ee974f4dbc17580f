// Question-answering pipeline: windows of a long context and their answer spans worked by hand (run_qa's
// prepare_train_features with doc_stride), the post-processing from windows' logits to SQuAD EM/F1 with a
// stub model whose logits are known (windows straddling batches, a context with an astral character), and a
// small end-to-end run with a scratch BERT whose loss falls and whose saved folder reloads to the same scores.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/backend/index.ts';
import type { QaDataset } from '../../src/data/index.ts';
import type { ModelBatch, ModelOutput, TaskModel, TaskName } from '../../src/models/types.ts';
import { Module } from '../../src/nn/module.ts';
import { DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from '../../src/tasks/config.ts';
import { evaluateQaFile, evaluateQuestionAnswering, qaFeatures, trainQuestionAnswering } from '../../src/tasks/question-answering.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../../src/train/args.ts';
import { FeatureBatches } from '../../src/train/batches.ts';
import { tempDir } from '../helpers/cli.ts';
import { fixedVocabTokenizer, qaRows, writeJsonl } from './tiny-data.ts';

// [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, where=5 does=6 alice=7 live=8 ?=9 lives=10 in=11 new=12 york=13 .=14 bob=15 paris=16
const tok = fixedVocabTokenizer(['where', 'does', 'alice', 'live', '?', 'lives', 'in', 'new', 'york', '.', 'bob', 'paris']);
const CONTEXT = 'alice lives in new york . bob lives in paris .';
// Context tokens and their character spans:
//   0 alice [0,5]  1 lives [6,11]  2 in [12,14]  3 new [15,18]  4 york [19,23]  5 . [24,25]
//   6 bob [26,29]  7 lives [30,35]  8 in [36,38]  9 paris [39,44]  10 . [45,46]
const QUESTION = 'where does alice live ?';

function qaDataset(examples: { id: string; context: string; question: string; text: string[]; start: number[] }[]): QaDataset {
  return {
    file: 'mem.jsonl',
    originKind: 'line',
    steps: [],
    task: 'question_answering',
    labelled: true,
    examples: examples.map((e, i) => ({ id: e.id, context: e.context, question: e.question, answers: { text: e.text, answerStart: e.start }, origin: i + 1 })),
  };
}

const ds = qaDataset([
  { id: 'a', context: CONTEXT, question: QUESTION, text: ['new york'], start: [15] },
  { id: 'b', context: CONTEXT, question: `  ${QUESTION}`, text: ['paris'], start: [39] },
  { id: 'c', context: CONTEXT, question: QUESTION, text: [], start: [] },
]);

describe('qaFeatures: windows and answer spans (run_qa prepare_train_features)', () => {
  // max_length 14 = [CLS] + 5 question tokens + [SEP] + 6 context tokens + [SEP]; doc_stride 2 → windows of
  // context tokens [0, 6), [4, 10), [8, 11). Context token k of a window sits at position 7 + k.
  const feats = qaFeatures(ds, tok, { maxLength: 14, docStride: 2 });

  it('cuts the context into overlapping windows after the (left-stripped) question', () => {
    assert.equal(feats.length, 9);
    assert.deepEqual(feats.map((f) => f.exampleIndex), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const q = [2, 5, 6, 7, 8, 9, 3];
    assert.deepEqual(feats[0]!.inputIds, [...q, 7, 10, 11, 12, 13, 14, 3]);
    assert.deepEqual(feats[1]!.inputIds, [...q, 13, 14, 15, 10, 11, 16, 3]);
    assert.deepEqual(feats[2]!.inputIds, [...q, 11, 16, 14, 3]);
    assert.deepEqual(feats[3]!.inputIds, feats[0]!.inputIds); // leading spaces of the question are stripped
    assert.deepEqual(feats[2]!.tokenTypeIds, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    const none = [null, null, null, null, null, null, null];
    assert.deepEqual(feats[0]!.offsets, [...none, [0, 5], [6, 11], [12, 14], [15, 18], [19, 23], [24, 25], null]);
    assert.deepEqual(feats[2]!.offsets, [...none, [36, 38], [39, 44], [45, 46], null]);
  });

  it('labels the answer tokens inside a window and the CLS index (0) elsewhere', () => {
    // "new york" = context tokens 3–4: inside window 0 only (window 1 has "york" but not "new").
    assert.deepEqual(feats.slice(0, 3).map((f) => [f.startPosition, f.endPosition]), [[10, 11], [0, 0], [0, 0]]);
    // "paris" = context token 9: the last context token of window 1 (position 12), and position 8 of window 2.
    // (run_qa's loop would step onto the [SEP] at 13 in window 1; see qaFeatures' doc comment.)
    assert.deepEqual(feats.slice(3, 6).map((f) => [f.startPosition, f.endPosition]), [[0, 0], [12, 12], [8, 8]]);
    // Unanswerable: every window points at CLS.
    assert.deepEqual(feats.slice(6).map((f) => [f.startPosition, f.endPosition]), [[0, 0], [0, 0], [0, 0]]);
  });

  it('names the example when the question leaves no room for the stride', () => {
    assert.throws(() => qaFeatures(ds, tok, { maxLength: 10, docStride: 2 }), /mem\.jsonl: line 1: the question \(5 tokens\).*--max-length/);
  });
});

/** A QA "model" whose logits depend only on the token: start 3 on "new", 4 on "paris"; end 3 on "york", 4 on "paris"; 5 and 5 on [CLS]. */
class StubQa extends Module implements TaskModel {
  readonly task: TaskName = 'question-answering';
  readonly config: Record<string, unknown> = {};
  forward(batch: ModelBatch): ModelOutput {
    const ids = batch.inputIds.intData;
    const start = new Float32Array(ids.length);
    const end = new Float32Array(ids.length);
    ids.forEach((id, i) => {
      start[i] = id === 12 ? 3 : id === 16 ? 4 : id === 2 ? 5 : 0;
      end[i] = id === 13 ? 3 : id === 16 ? 4 : id === 2 ? 5 : 0;
    });
    const shape = batch.inputIds.shape;
    return { loss: null, logits: Tensor.wrap(start, [...shape]), startLogits: Tensor.wrap(start, [...shape]), endLogits: Tensor.wrap(end, [...shape]) };
  }
}

describe('evaluateQuestionAnswering: windows → answer → SQuAD EM/F1', () => {
  it('picks the best span across an example\'s windows, batch boundaries and code-point offsets included', async () => {
    // An astral character before the answer: offsets are code points, String.slice wants UTF-16 units.
    const emoji = '\u{1F600} alice lives in paris .';
    const data = qaDataset([
      { id: 'a', context: CONTEXT, question: QUESTION, text: ['new york'], start: [15] },
      { id: 'b', context: CONTEXT, question: QUESTION, text: ['paris', 'in paris'], start: [39, 36] },
      { id: 'd', context: emoji, question: QUESTION, text: ['paris'], start: [17] },
    ]);
    const feats = qaFeatures(data, tok, { maxLength: 14, docStride: 2 });
    assert.equal(feats.length, 7); // 3 + 3 + 1 windows; batches of 2 split examples across batches
    const predictions: Record<string, string> = {};
    const r = await evaluateQuestionAnswering(new StubQa(), data, new FeatureBatches(feats, { batchSize: 2, seed: 0, shuffle: false, padTokenId: 0 }), {
      nBestSize: 20,
      maxAnswerLength: 30,
      allowNoAnswer: false,
      onPrediction: (id, text) => (predictions[id] = text),
    });
    // Best span everywhere: "paris"–"paris" (4 + 4) beats "new"–"york" (3 + 3).
    assert.deepEqual(predictions, { a: 'paris', b: 'paris', d: 'paris' });
    // a: "paris" vs "new york" → 0; b and d: exact → 1. Percent, as the SQuAD script.
    assert.ok(Math.abs(r.metrics.exact_match! - 200 / 3) < 1e-9);
    assert.ok(Math.abs(r.metrics.f1! - 200 / 3) < 1e-9);
    assert.equal(r.metrics.count, 3);
  });

  it('respects max_answer_length, and lets the empty answer win (SQuAD v2) only when asked', async () => {
    const context = 'alice lives in new york .';
    const data = qaDataset([{ id: 'a', context, question: QUESTION, text: ['new york'], start: [15] }]);
    const feats = qaFeatures(data, tok, { maxLength: 64, docStride: 8 });
    const predict = async (opts: { maxAnswerLength: number; allowNoAnswer: boolean }): Promise<string> => {
      let out = '?';
      await evaluateQuestionAnswering(new StubQa(), data, new FeatureBatches(feats, { batchSize: 4, seed: 0, shuffle: false, padTokenId: 0 }), { nBestSize: 20, ...opts, onPrediction: (_, t) => (out = t) });
      return out;
    };
    assert.equal(await predict({ maxAnswerLength: 30, allowNoAnswer: false }), 'new york'); // 3 + 3; CLS (offsets null) is never a span
    assert.equal(await predict({ maxAnswerLength: 1, allowNoAnswer: false }), 'new'); // one token: "new" (3 + 0) comes before "york" (0 + 3)
    assert.equal(await predict({ maxAnswerLength: 30, allowNoAnswer: true }), ''); // null score 5 + 5 beats 6
  });
});

describe('trainQuestionAnswering end to end (scratch BERT, tiny SQuAD-style data)', () => {
  it('lowers the loss over windowed contexts, reports EM/F1, and the saved folder reloads to the same scores', async () => {
    const dir = tempDir('finetune-qa-');
    const rows = qaRows(100);
    const trainFile = writeJsonl(dir, 'train.jsonl', rows.slice(0, 80));
    const valFile = writeJsonl(dir, 'validation.jsonl', rows.slice(80));
    const p: PipelineConfig = {
      ...DEFAULT_PIPELINE_CONFIG,
      task: 'question-answering',
      train_file: trainFile,
      validation_file: valFile,
      doc_stride: 3,
      scratch_vocab_size: 120,
      scratch_hidden_size: 32,
      scratch_intermediate_size: 64,
      scratch_num_heads: 2,
      scratch_num_layers: 1,
    };
    const args: TrainingArguments = {
      ...DEFAULT_TRAINING_ARGUMENTS,
      output_dir: join(dir, 'out'),
      num_train_epochs: 2,
      learning_rate: 3e-3,
      per_device_train_batch_size: 8,
      max_length: 16, // contexts of ~12 tokens + question: every example needs two windows
      logging_steps: 1,
      save_strategy: 'no',
      load_best_model_at_end: false,
      report: false,
    };
    const messages: string[] = [];
    const run = await trainQuestionAnswering(p, args, { message: (m) => messages.push(m) });
    assert.ok(messages.some((m) => /train: 80 examples → \d+ windows/.test(m)), messages.join('\n'));
    const losses = run.train.logHistory.filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(losses.slice(-5)) < 0.5 * mean(losses.slice(0, 5)), `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    const m = run.validation!.metrics;
    assert.equal(m.count, 20);
    assert.ok(m.f1! >= m.exact_match! && m.exact_match! > 50, `validation exact_match ${m.exact_match}, f1 ${m.f1}`); // the city after "<name> lives in"

    const config = JSON.parse(readFileSync(join(args.output_dir, 'config.json'), 'utf8')) as { architectures: string[] };
    assert.deepEqual(config.architectures, ['BertForQuestionAnswering']);
    const again = await evaluateQaFile(args.output_dir, valFile, p, args);
    assert.equal(again.result.metrics.exact_match, m.exact_match);
    assert.equal(again.result.metrics.f1, m.f1);
    assert.ok(Math.abs(again.result.metrics.loss! - m.loss!) < 1e-5);
    assert.deepEqual(Object.keys(again.predictions), rows.slice(80).map((r) => r.id)); // keyed by the file's "id" column
  });
});

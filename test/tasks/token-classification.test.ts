// Token classification pipeline: word tags aligned to sub-tokens exactly as transformers' run_ner does
// (worked by hand on a tokenizer whose vocabulary is written out), and a small end-to-end run — a scratch
// BERT with a WordPiece tokenizer trained on the data — whose loss falls, whose saved folder reloads to
// the same seqeval scores, and whose evaluation refuses tags it never saw.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/backend/index.ts';
import type { TokenDataset } from '../../src/data/index.ts';
import { buildLabelMap, labelMapFromDataset } from '../../src/data/index.ts';
import { DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from '../../src/tasks/config.ts';
import { evaluateTokenClassifierFile, tokenFeatures, trainTokenClassifier } from '../../src/tasks/token-classification.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../../src/train/args.ts';
import { tempDir } from '../helpers/cli.ts';
import { fixedVocabTokenizer, nerRows, writeJsonl } from './tiny-data.ts';

function tokenDataset(examples: { tokens: string[]; tags: string[] }[]): TokenDataset {
  return { file: 'mem.jsonl', originKind: 'line', steps: [], task: 'token_classification', labelled: true, examples: examples.map((e, i) => ({ ...e, origin: i + 1 })) };
}

describe('tokenFeatures: word tags → sub-token labels', () => {
  // [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then new=5 -=6 york=7 loves=8 hug=9 ##ging=10 ##face=11 .=12
  const tok = fixedVocabTokenizer(['new', '-', 'york', 'loves', 'hug', '##ging', '##face', '.']);
  const ds = tokenDataset([{ tokens: ['New-York', 'loves', 'Huggingface', '.'], tags: ['B-LOC', 'O', 'B-ORG', 'O'] }]);
  const labels = labelMapFromDataset(ds); // sorted: B-LOC=0, B-ORG=1, O=2

  it('labels the first sub-token of each word and -100 elsewhere (run_ner, label_all_tokens=False)', () => {
    assert.deepEqual(labels.labels, ['B-LOC', 'B-ORG', 'O']);
    const [f] = tokenFeatures(ds, tok, 64, labels);
    // Lower-cased; "new-york" splits at the hyphen into three tokens of word 0; "huggingface" → hug ##ging ##face.
    assert.deepEqual(Array.from(f!.inputIds), [2, 5, 6, 7, 8, 9, 10, 11, 12, 3]);
    assert.deepEqual(Array.from(f!.tokenTypeIds!), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(Array.from(f!.tokenLabels!), [-100, 0, -100, -100, 2, 1, -100, -100, 2, -100]);
  });

  it('truncates to max_length (special tokens included) and says which examples lost words', () => {
    const cut: number[] = [];
    const [f] = tokenFeatures(ds, tok, 6, labels, (o) => cut.push(o));
    assert.deepEqual(Array.from(f!.inputIds), [2, 5, 6, 7, 8, 3]);
    assert.deepEqual(Array.from(f!.tokenLabels!), [-100, 0, -100, -100, 2, -100]);
    assert.deepEqual(cut, [1]);
  });

  it('sets no labels for unlabelled data and rejects a tag outside the label map', () => {
    const [f] = tokenFeatures(ds, tok, 64, null);
    assert.equal(f!.tokenLabels, undefined);
    assert.throws(() => tokenFeatures(ds, tok, 64, buildLabelMap(['B-LOC', 'O'])), /tag "B-ORG".*not one of the model's tags/);
  });
});

describe('trainTokenClassifier end to end (scratch BERT, tiny NER data)', () => {
  it('lowers the loss, scores entities, saves a folder that reloads to the same scores, refuses unseen tags', async () => {
    const dir = tempDir('finetune-ner-');
    const rows = nerRows(120);
    const trainFile = writeJsonl(dir, 'train.jsonl', rows.slice(0, 96));
    const valFile = writeJsonl(dir, 'validation.jsonl', rows.slice(96));
    const p: PipelineConfig = {
      ...DEFAULT_PIPELINE_CONFIG,
      task: 'token-classification',
      train_file: trainFile,
      validation_file: valFile,
      scratch_vocab_size: 120,
      scratch_hidden_size: 32,
      scratch_intermediate_size: 64,
      scratch_num_heads: 2,
      scratch_num_layers: 1,
    };
    const args: TrainingArguments = {
      ...DEFAULT_TRAINING_ARGUMENTS,
      output_dir: join(dir, 'out'),
      num_train_epochs: 3,
      learning_rate: 3e-3,
      per_device_train_batch_size: 8,
      max_length: 32,
      logging_steps: 1,
      save_strategy: 'no',
      load_best_model_at_end: false,
      report: false,
    };
    const run = await trainTokenClassifier(p, args);
    const losses = run.train.logHistory.filter((r) => typeof r.loss === 'number').map((r) => r.loss as number);
    assert.equal(losses.length, 36); // 96 examples / 8 per batch × 3 epochs, logged every step
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(losses.slice(-6)) < 0.5 * mean(losses.slice(0, 6)), `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
    const m = run.validation!.metrics;
    for (const k of ['precision', 'recall', 'f1', 'accuracy', 'loss']) assert.equal(typeof m[k], 'number', k);
    assert.ok(m.f1! > 0.7, `validation entity F1 ${m.f1}`);

    const config = JSON.parse(readFileSync(join(args.output_dir, 'config.json'), 'utf8')) as { architectures: string[]; id2label: Record<string, string> };
    assert.deepEqual(config.architectures, ['BertForTokenClassification']);
    assert.deepEqual(config.id2label, { 0: 'B-LOC', 1: 'B-PER', 2: 'I-LOC', 3: 'O' });

    const again = await evaluateTokenClassifierFile(args.output_dir, valFile, p, args);
    assert.equal(again.examples, 24);
    for (const k of ['precision', 'recall', 'f1', 'accuracy']) assert.equal(again.result.metrics[k], m[k], k);
    assert.ok(Math.abs(again.result.metrics.loss! - m.loss!) < 1e-5);
    assert.deepEqual(again.result.perType.map((t) => [t.type, t.number]), [['LOC', 24], ['PER', 24]]);

    const bad = writeJsonl(dir, 'bad.jsonl', [rows[0]!, { tokens: ['zed', 'visited', 'oslo'], ner_tags: ['B-PER', 'O', 'B-MISC'] }]);
    await assert.rejects(evaluateTokenClassifierFile(args.output_dir, bad, p, args), /"B-MISC".*line 2/s);
  });
});

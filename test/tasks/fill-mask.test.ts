// Masked-LM continued pretraining: long texts become consecutive windows (worked by hand), masking follows
// BERT's recipe (15% of non-special tokens; of those 80% [MASK], 10% random, 10% kept — checked as
// frequencies against binomial bounds), training masks are redrawn per batch yet reproducible from the
// sampler position (exact resume), and a small end-to-end run lowers the validation perplexity and saves a
// BertForMaskedLM folder whose encoder a token classifier then loads.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/backend/index.ts';
import { Rng, buildLabelMap, type Features, type TextDataset } from '../../src/data/index.ts';
import { DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from '../../src/tasks/config.ts';
import { MaskedLmBatches, evaluateMaskedLmFile, maskBatch, maskingFor, mlmFeatures, readMaskedLmDataset, trainMaskedLm } from '../../src/tasks/fill-mask.ts';
import { loadTaskModel } from '../../src/tasks/task-run.ts';
import { loadCheckpointTensors } from '../../src/io/checkpoint.ts';
import { toFloat32 } from '../../src/io/safetensors.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../../src/train/args.ts';
import { tempDir } from '../helpers/cli.ts';
import { fixedVocabTokenizer, textLines } from './tiny-data.ts';

// [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, a=5 b=6 c=7 d=8 e=9 f=10 g=11
const tok = fixedVocabTokenizer(['a', 'b', 'c', 'd', 'e', 'f', 'g']);

function textDataset(texts: string[]): TextDataset {
  return { file: 'mem.txt', originKind: 'line', steps: [], task: 'single_label_classification', labelled: false, examples: texts.map((text, i) => ({ text, origin: i + 1 })) };
}

describe('mlmFeatures', () => {
  it('cuts a long text into consecutive windows of max_length tokens, each with [CLS] … [SEP]', () => {
    const f = mlmFeatures(textDataset(['a b c d e f g', 'b']), tok, 5);
    assert.deepEqual(f.map((x) => Array.from(x.inputIds)), [[2, 5, 6, 7, 3], [2, 8, 9, 10, 3], [2, 11, 3], [2, 6, 3]]);
  });
});

describe('masking', () => {
  const masking = maskingFor(tok, 0.15);
  const seq = [2, ...Array.from({ length: 200 }, (_, i) => 5 + (i % 7)), 3];

  it('masks 15% of the non-special tokens: 80% [MASK], 10% random, 10% unchanged; labels are the originals', () => {
    const rng = Rng.fromSeed(7);
    let chosen = 0;
    let asMask = 0;
    let kept = 0;
    let total = 0;
    for (let rep = 0; rep < 100; rep++) {
      const [f] = maskBatch([{ inputIds: seq }], masking, rng) as [Features];
      seq.forEach((orig, t) => {
        const label = f.tokenLabels![t] as number;
        const now = f.inputIds[t] as number;
        if (t === 0 || t === seq.length - 1) {
          assert.equal(label, -100);
          assert.equal(now, orig); // specials are never masked
          return;
        }
        total++;
        if (label === -100) return assert.equal(now, orig);
        assert.equal(label, orig);
        chosen++;
        if (now === 4) asMask++;
        else if (now === orig) kept++;
      });
    }
    // Binomial bounds at ~4.5 standard deviations (n = 20,000 tokens, then ~3,000 chosen).
    const near = (k: number, n: number, p: number): boolean => Math.abs(k - n * p) < 4.5 * Math.sqrt(n * p * (1 - p));
    assert.ok(near(chosen, total, 0.15), `${chosen} of ${total} chosen`);
    assert.ok(near(asMask, chosen, 0.8 + 0.1 / tok.vocabSize), `${asMask} of ${chosen} → [MASK]`); // random draws may hit [MASK] too
    // "kept" = the 10% left alone plus random draws that hit the original id (1/12 of the 10% random).
    assert.ok(near(kept, chosen, 0.1 + 0.1 / tok.vocabSize), `${kept} of ${chosen} kept`);
  });

  it('masks at least one token per batch so the loss is never 0/0', () => {
    const rarely = maskingFor(tok, 1e-9);
    const out = maskBatch([{ inputIds: [2, 5, 6, 3] }, { inputIds: [2, 7, 3] }], rarely, Rng.fromSeed(1));
    const labelled = out.flatMap((f) => Array.from(f.tokenLabels!).filter((l) => l !== -100));
    assert.equal(labelled.length, 1);
  });

  it('redraws masks per batch, reproducibly from the sampler position (resume sees the same masks)', () => {
    const feats: Features[] = Array.from({ length: 8 }, () => ({ inputIds: seq }));
    const opts = { batchSize: 4, seed: 3, shuffle: true, padTokenId: 0 };
    const a = new MaskedLmBatches(feats, opts, masking);
    const ids = (b: MaskedLmBatches): number[] => Array.from(b.next().batch.inputIds.intData);
    const e0b0 = ids(a);
    const e0b1 = ids(a);
    const e1b0 = ids(a);
    assert.notDeepEqual(e0b0, e1b0); // a new epoch, new masks
    const b = new MaskedLmBatches(feats, opts, masking);
    b.setState({ epoch: 0, batch: 1 });
    assert.deepEqual(ids(b), e0b1);
    assert.deepEqual(ids(b), e1b0);
  });
});

describe('trainMaskedLm end to end (scratch BERT on domain text)', () => {
  it('lowers the validation perplexity and saves a BertForMaskedLM folder that a token classifier loads', async () => {
    const dir = tempDir('finetune-mlm-');
    const file = join(dir, 'domain.txt');
    writeFileSync(file, textLines(160).join('\n\n') + '\n'); // blank lines in between are dropped
    const ds = await readMaskedLmDataset(file, DEFAULT_PIPELINE_CONFIG);
    assert.equal(ds.examples.length, 160);
    assert.deepEqual(ds.examples.slice(0, 2).map((e) => e.origin), [1, 3]);
    const p: PipelineConfig = {
      ...DEFAULT_PIPELINE_CONFIG,
      task: 'fill-mask',
      train_file: file,
      validation_split: 0.2,
      scratch_vocab_size: 120,
      scratch_hidden_size: 32,
      scratch_intermediate_size: 64,
      scratch_num_heads: 2,
      scratch_num_layers: 1,
    };
    const args: TrainingArguments = {
      ...DEFAULT_TRAINING_ARGUMENTS,
      output_dir: join(dir, 'out'),
      num_train_epochs: 4,
      learning_rate: 3e-3,
      per_device_train_batch_size: 16,
      max_length: 16,
      save_strategy: 'no',
      load_best_model_at_end: false,
      report: false,
    };
    const run = await trainMaskedLm(p, args);
    const evals = run.train.logHistory.filter((r) => typeof r.eval_perplexity === 'number');
    assert.equal(evals.length, 4);
    const first = evals[0]!.eval_perplexity as number;
    const last = evals[evals.length - 1]!.eval_perplexity as number;
    assert.ok(last < 0.7 * first, `validation perplexity ${first} → ${last}`);
    const m = run.validation!.metrics;
    assert.ok(Math.abs(m.perplexity! - Math.exp(m.loss!)) < 1e-6 * m.perplexity!);

    const config = JSON.parse(readFileSync(join(args.output_dir, 'config.json'), 'utf8')) as { architectures: string[] };
    assert.deepEqual(config.architectures, ['BertForMaskedLM']);
    // Same data and mask seed → the same perplexity from the saved folder.
    const again = await evaluateMaskedLmFile(args.output_dir, file, p, args);
    assert.equal(again.examples, 160);
    assert.ok(Number.isFinite(again.result.metrics.perplexity));

    // The adapted encoder is what a downstream model starts from.
    const saved = await loadCheckpointTensors(args.output_dir);
    const ner = await loadTaskModel(args.output_dir, 'token-classification', buildLabelMap(['B-PER', 'O']), { message: () => {} });
    const params = new Map(ner.model.namedParameters());
    for (const name of ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.0.attention.self.query.weight', 'bert.encoder.layer.0.output.LayerNorm.bias']) {
      assert.deepEqual(Array.from(params.get(name)!.floatData), Array.from(toFloat32(saved.tensors.get(name)!)), name);
    }
  });
});

// The exported folders load in transformers.js (@huggingface/transformers) with remote models disabled
// (no network) and give the same results as finetune's own pipelines on the source folders: labels
// and scores for text-classification, per-token entities for token-classification, mean-pooled
// embeddings for feature-extraction.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { env, pipeline as hfPipeline } from '@huggingface/transformers';
import { exportOnnx } from '../../src/export/index.ts';
import { TextPipeline } from '../../src/inference/index.ts';
import { SEQCLS_DIR, TOKCLS_DIR, makeModelFolder, tmpDir } from '../inference/fixtures.ts';

const TEXTS = ['Hello, world!', 'The quick brown fox jumps over the lazy dog.', 'a b', 'Numbers 3.14159, 2e-5 and 1,000,000 matter.'];

interface HfLabel {
  label: string;
  score: number;
}
interface HfToken {
  entity: string;
  score: number;
  word: string;
}

describe('transformers.js runs the ONNX export offline', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = work.dir + '/';
  });
  after(async () => work.cleanup());

  /** Exports `dir` under the local model path; returns the model id transformers.js resolves. */
  async function exported(dir: string, name: string): Promise<string> {
    await exportOnnx(dir, join(work.dir, name));
    return name;
  }

  test('text-classification: same labels and scores (1e-4) as finetune', async () => {
    const id = await exported(SEQCLS_DIR, 'seqcls');
    const hf = await hfPipeline('text-classification', id);
    const ours = await TextPipeline.load(SEQCLS_DIR, { warn: () => undefined });
    try {
      const mine = ours.run(TEXTS) as Array<{ label: string; score: number; scores: HfLabel[] }>;
      for (let i = 0; i < TEXTS.length; i++) {
        const theirs = (await hf(TEXTS[i]!, { top_k: null })) as HfLabel[];
        assert.equal(theirs[0]!.label, mine[i]!.label, `text ${i}: top label`);
        assert.equal(theirs.length, mine[i]!.scores.length);
        for (const t of theirs) {
          const m = mine[i]!.scores.find((s) => s.label === t.label)!;
          assert.ok(Math.abs(m.score - t.score) < 1e-4, `text ${i} ${t.label}: ${m.score} vs ${t.score}`);
        }
      }
    } finally {
      ours.dispose();
      await hf.dispose();
    }
  });

  test('token-classification: same entity and score for every token', async () => {
    const id = await exported(TOKCLS_DIR, 'tokcls');
    const hf = await hfPipeline('token-classification', id);
    const ours = await TextPipeline.load(TOKCLS_DIR, { warn: () => undefined });
    try {
      for (const text of TEXTS) {
        const theirs = (await hf(text, { ignore_labels: [] })) as HfToken[];
        const mine = ours.run(text, { ignore_labels: [] })[0] as HfToken[];
        assert.equal(theirs.length, mine.length, text);
        theirs.forEach((t, k) => {
          assert.equal(t.entity, mine[k]!.entity, `${text} token ${k}`);
          assert.equal(t.word, mine[k]!.word, `${text} token ${k}`);
          assert.ok(Math.abs(t.score - mine[k]!.score) < 1e-4, `${text} token ${k}: ${t.score} vs ${mine[k]!.score}`);
        });
      }
    } finally {
      ours.dispose();
      await hf.dispose();
    }
  });

  test('feature-extraction (a RoBERTa encoder, mean pooling): same embedding to 1e-4', async () => {
    const src = join(work.dir, 'roberta-src');
    const model = await makeModelFolder(src, 'roberta', 'feature-extraction');
    model.dispose();
    const id = await exported(src, 'roberta-fe');
    const hf = await hfPipeline('feature-extraction', id);
    const ours = await TextPipeline.load(src, { warn: () => undefined });
    try {
      for (const text of TEXTS) {
        const theirs = await hf(text, { pooling: 'mean' });
        const mine = ours.run(text)[0] as number[];
        const got = Array.from(theirs.data as Float32Array);
        assert.equal(got.length, mine.length);
        got.forEach((v, c) => assert.ok(Math.abs(v - mine[c]!) < 1e-4, `${text} dim ${c}: ${v} vs ${mine[c]}`));
      }
    } finally {
      ours.dispose();
      await hf.dispose();
    }
  });
});

// ModernBERT and DeBERTa-v2 exports load in transformers.js (@huggingface/transformers, offline) and give
// the labels and scores of finetune's own text-classification pipeline on the source folder (1e-4).
// The models are random (with the tiny BERT fixture's WordPiece tokenizer): this checks the graph and the
// folder layout transformers.js expects for these model types, not pretrained quality.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { env, pipeline as hfPipeline } from '@huggingface/transformers';
import { exportOnnx } from '../../src/export/index.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import { TextPipeline } from '../../src/inference/index.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { SEQCLS_DIR, tmpDir } from '../inference/fixtures.ts';

const TEXTS = ['Hello, world!', 'The quick brown fox jumps over the lazy dog.', 'a b'];

interface HfLabel {
  label: string;
  score: number;
}

const CASES: [string, ModelType, JsonObject][] = [
  ['modernbert', 'modernbert', { hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 24, local_attention: 4, global_attn_every_n_layers: 2, max_position_embeddings: 64 }],
  ['deberta-v3', 'deberta-v2', {
    hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 64, relative_attention: true,
    position_buckets: 8, share_att_key: true, pos_att_type: 'p2c|c2p', norm_rel_ebd: 'layer_norm', position_biased_input: false, type_vocab_size: 0,
  }],
];

describe('transformers.js runs ModernBERT and DeBERTa-v2 exports offline', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = work.dir + '/';
  });
  after(async () => work.cleanup());

  for (const [name, type, fields] of CASES) {
    test(`${name} text-classification: same labels and scores (1e-4) as finetune`, async () => {
      const tokenizer = await loadTokenizer(SEQCLS_DIR);
      const src = join(work.dir, `${name}-src`);
      const pad = tokenizer.getVocab().get('[PAD]') ?? 0;
      const model = createModel(makeHfConfig(type, { ...fields, vocab_size: tokenizer.vocabSize, pad_token_id: pad, id2label: { 0: 'neg', 1: 'pos', 2: 'mixed' } }), 'text-classification', { seed: 5 });
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 20));
      await savePretrained(model, src, { tokenizer });
      await exportOnnx(src, join(work.dir, name));
      const hf = await hfPipeline('text-classification', name);
      const ours = await TextPipeline.load(src, { warn: () => undefined });
      try {
        const mine = ours.run(TEXTS) as Array<{ label: string; scores: HfLabel[] }>;
        for (let i = 0; i < TEXTS.length; i++) {
          const theirs = (await hf(TEXTS[i]!, { top_k: null })) as HfLabel[];
          assert.equal(theirs.length, 3);
          for (const t of theirs) {
            const m = mine[i]!.scores.find((s) => s.label === t.label)!;
            assert.ok(Math.abs(m.score - t.score) < 1e-4, `${name} text ${i} ${t.label}: ${m.score} vs ${t.score}`);
          }
        }
      } finally {
        ours.dispose();
        await hf.dispose();
      }
    });
  }
});

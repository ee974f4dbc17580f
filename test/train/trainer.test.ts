// Trainer precision: with bf16 the periodic evaluation runs under bf16 autocast (as transformers' Trainer
// with bf16=True), without it in fp32, and the mode is restored after the evaluation.
// Not here: resume and checkpoints (resume.test.ts), CLI flags (precision-flags.test.ts).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { makeHfConfig } from '../../src/models/hf-config.ts';
import { createModel } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import { FeatureBatches } from '../../src/train/batches.ts';
import { Trainer } from '../../src/train/trainer.ts';

describe('Trainer evaluation precision', () => {
  for (const bf16 of [true, false]) {
    it(`bf16 ${bf16}: evaluate runs under ${bf16 ? 'bf16' : 'fp32'} autocast`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'trainer-'));
      try {
        const model = createModel(makeHfConfig('llama', { vocab_size: 32, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 32 }), 'text-generation', { seed: 1 });
        const ids = [1, 5, 7, 9, 2, 3];
        const train = new FeatureBatches([{ inputIds: ids, tokenLabels: ids }, { inputIds: ids, tokenLabels: ids }], { batchSize: 2, seed: 0, shuffle: false, padTokenId: 0 });
        const seen: string[] = [];
        const trainer = new Trainer({
          model,
          args: { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: dir, bf16, max_steps: 2, eval_strategy: 'steps', eval_steps: 1, save_strategy: 'no', logging_steps: 1 },
          train,
          evaluate: async () => {
            await new Promise((r) => setImmediate(r)); // the scope holds across awaits
            seen.push(F.autocastPrecision());
            return { loss: 0 };
          },
          saveModel: async () => {},
          loadModel: async () => {},
        });
        await trainer.train();
        assert.deepEqual(seen, bf16 ? ['bf16', 'bf16'] : ['fp32', 'fp32']);
        assert.equal(F.autocastPrecision(), 'fp32');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

// Gradient checkpointing: on tiny BERT (text-classification, dropout on) and Llama (causal LM) models, a
// training step with every layer checkpointed gives the same loss and every parameter gradient within 1e-6
// of the plain step (dropout masks identical thanks to the restored generator state), keeps fewer tensor
// bytes alive at the peak, and leaves eval/noGrad forwards untouched.
// Not here: the CLI flag (test/train/precision-flags.test.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { enableGradientCheckpointing } from '../../src/models/checkpointing.ts';
import { createModel } from '../../src/models/pretrained.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import type { ModelBatch } from '../../src/models/types.ts';
import { manualSeed } from '../../src/nn/init.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

function ids(B: number, T: number, V: number, seed: number): Tensor {
  const a = new Int32Array(B * T);
  for (let i = 0; i < a.length; i++) a[i] = (i * 7919 + seed * 31) % V;
  return Tensor.from(a, [B, T], 'int32');
}

interface Case {
  name: string;
  build: () => PretrainedTaskModel;
  batch: () => ModelBatch;
}

const B = 3;
const T = 10;
const CASES: Case[] = [
  {
    name: 'BERT text-classification (dropout 0.1, padding)',
    build: () =>
      createModel(makeHfConfig('bert', { vocab_size: 60, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 2, intermediate_size: 32, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1, num_labels: 3 }), 'text-classification', { seed: 5 }),
    batch: () => {
      const mask = new Int32Array(B * T).fill(1);
      for (let t = 6; t < T; t++) mask[t] = 0; // first example padded
      return { inputIds: ids(B, T, 60, 1), attentionMask: Tensor.from(mask, [B, T], 'int32'), labels: Tensor.from(new Int32Array([0, 2, 1]), [B], 'int32') };
    },
  },
  {
    name: 'Llama causal LM (GQA)',
    build: () =>
      createModel(makeHfConfig('llama', { vocab_size: 64, hidden_size: 16, num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 24, attention_dropout: 0.1 }), 'text-generation', { seed: 6 }),
    batch: () => ({ inputIds: ids(B, T, 64, 2), labels: ids(B, T, 64, 2) }),
  },
];

function step(c: Case, checkpointed: boolean, precision: F.MatmulPrecision = 'fp32'): { loss: number; grads: Map<string, Float32Array>; peak: number } {
  const model = c.build();
  if (checkpointed) assert.ok(enableGradientCheckpointing(model) === 3);
  model.train();
  manualSeed(123); // the same dropout seeds for both runs
  const base = F.memoryStats().allocatedBytes;
  F.pool.peakAllocatedBytes = F.pool.allocatedBytes;
  const loss = F.tidy(() => {
    const out = F.autocast(precision, () => model.forward(c.batch()));
    out.loss!.backward(); // outside the scope, as the trainer does: the recompute must reuse bf16
    return out.loss!.item();
  });
  const peak = F.memoryStats().peakAllocatedBytes - base;
  const grads = new Map<string, Float32Array>();
  for (const [n, p] of model.trainableParameters()) grads.set(n, Float32Array.from(p.grad?.floatData ?? []));
  model.dispose();
  return { loss, grads, peak };
}

for (const backend of nativeAvailable() ? ['reference', 'native'] : ['reference']) {
  describe(`gradient checkpointing (${backend} backend)`, () => {
    for (const [c, precision] of CASES.flatMap((c) => [[c, 'fp32'], [c, 'bf16']] as [Case, F.MatmulPrecision][])) {
      it(`${c.name}${precision === 'bf16' ? ' under bf16 autocast' : ''}: same loss and every parameter gradient within 1e-6`, () => {
        const run = (ck: boolean) => (backend === 'native' ? F.withBackend(nativeBackend, () => step(c, ck, precision)) : step(c, ck, precision));
        const plain = run(false);
        const ck = run(true);
        assert.equal(ck.loss, plain.loss);
        assert.equal(ck.grads.size, plain.grads.size);
        let worst = 0;
        let nonzero = 0;
        for (const [n, g] of plain.grads) {
          const h = ck.grads.get(n)!;
          assert.equal(h.length, g.length, n);
          for (let i = 0; i < g.length; i++) {
            worst = Math.max(worst, Math.abs(g[i] - h[i]));
            if (g[i] !== 0) nonzero++;
          }
        }
        assert.ok(nonzero > 100, 'gradients were computed');
        assert.ok(worst <= 1e-6, `max |grad difference| ${worst}`);
        console.log(`# ${backend} ${c.name} ${precision}: max grad diff ${worst}; peak tracked tensor bytes ${plain.peak} plain vs ${ck.peak} checkpointed`);
      });
    }
  });
}

describe('gradient checkpointing outside training', () => {
  it('eval forward under noGrad gives the same logits', () => {
    const c = CASES[1];
    const a = c.build();
    const b = c.build();
    enableGradientCheckpointing(b);
    a.eval();
    b.eval();
    const la = F.noGrad(() => Float32Array.from(a.forward(c.batch()).logits.floatData));
    const lb = F.noGrad(() => Float32Array.from(b.forward(c.batch()).logits.floatData));
    assert.deepEqual(lb, la);
  });
});

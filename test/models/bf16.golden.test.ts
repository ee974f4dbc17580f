// bf16 mixed precision against the Hugging Face goldens (bert-seqcls, bert-tokcls: fp32 references from
// transformers): the same 5 AdamW steps as bert.golden.test.ts, with every forward under F.autocast('bf16')
// and gpt2-clm (matrix products and their backward on bf16 operands, fp32 master weights, AdamW state, softmax, norms,
// losses). Stated tolerance: each step's loss within 2e-3 relative of the fp32 golden, and the loss
// change from step 0 (the training signal) within 10% of the golden's; gradient norms within 2e-2.
// Native backend (the AVX512_BF16 kernel where present), else reference.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import { AdamW, decayGroups } from '../../src/optim/adamw.ts';
import { clipScale, globalGradNorm } from '../../src/optim/clip.ts';
import { learningRate } from '../../src/optim/schedules.ts';
import * as F from '../../src/tensor/index.ts';
import { fixturePath, readGoldenBatch } from './helpers.ts';

const LOSS_TOL = 5e-4;
const DELTA_TOL = 0.02;
const NORM_TOL = 5e-3;

interface Golden {
  losses: number[];
  grad_norms_before_clip: number[];
}

const rel = (a: number, e: number): number => Math.abs(a - e) / Math.max(Math.abs(e), 1e-12);

for (const [name, task] of [['bert-seqcls', 'text-classification'], ['bert-tokcls', 'token-classification'], ['gpt2-clm', undefined]] as [string, TaskName | undefined][]) {
  describe(`bf16 autocast follows the fp32 golden (${name})`, () => {
    it(`5 AdamW steps: losses within ${LOSS_TOL} relative, loss decrease within ${DELTA_TOL * 100}%, grad norms within ${NORM_TOL}`, async () => {
      const dir = fixturePath(`goldens/${name}`);
      F.setDefaultBackend(nativeAvailable() ? nativeBackend : referenceBackend);
      const { model } = await loadPretrained(dir, task ? { task } : {});
      const batch = await readGoldenBatch(`${dir}/inputs.safetensors`);
      const golden = JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as Golden;
      model.train();
      const named = model.trainableParameters();
      const params = named.map(([, p]) => p);
      const opt = new AdamW(decayGroups(named, 0.01), { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8 });
      const losses: number[] = [];
      const rows: string[] = [];
      for (let k = 0; k < 5; k++) {
        const loss = F.tidy(() => {
          const out = F.autocast('bf16', () => model.forward(batch));
          out.loss!.backward();
          return out.loss!.item();
        });
        losses.push(loss);
        const norm = globalGradNorm(params);
        rows.push(`step ${k}: loss ${loss.toFixed(6)} vs ${golden.losses[k].toFixed(6)} (rel ${rel(loss, golden.losses[k]).toExponential(1)}), norm rel ${rel(norm, golden.grad_norms_before_clip[k]).toExponential(1)}`);
        assert.ok(rel(loss, golden.losses[k]) <= LOSS_TOL, rows.at(-1));
        assert.ok(rel(norm, golden.grad_norms_before_clip[k]) <= NORM_TOL, rows.at(-1));
        opt.lr = learningRate(k, { name: 'linear', baseLr: 1e-3, warmupSteps: 2, totalSteps: 5 });
        opt.update(clipScale(norm, 1.0));
        opt.zeroGrad();
      }
      const dOurs = losses[4] - losses[0];
      const dGold = golden.losses[4] - golden.losses[0];
      rows.push(`loss change over the steps: ${dOurs.toFixed(6)} vs ${dGold.toFixed(6)}`);
      console.log(`# ${name} bf16 (${F.getDefaultBackend().name}):\n# ${rows.join('\n# ')}`);
      assert.ok(Math.abs(dOurs - dGold) <= DELTA_TOL * Math.abs(dGold), rows.at(-1));
      model.dispose();
      F.setDefaultBackend(referenceBackend);
    });
  });
}

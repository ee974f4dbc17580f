// BertForSequenceClassification and BertForTokenClassification against Hugging Face transformers
// (goldens bert-seqcls and bert-tokcls, copied into test/fixtures/goldens): the checkpoint is loaded
// with fromPretrained, then logits, loss and every parameter gradient of one batch, and 5 AdamW steps
// (linear warmup/decay, clip 1.0) with their losses, learning rates, gradient norms and final weights,
// all to 1e-4 relative to the reference's largest magnitude. Reference backend, float32.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend/backend.ts';
import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import { AdamW, decayGroups } from '../../src/optim/adamw.ts';
import { clipScale, globalGradNormAsync } from '../../src/optim/clip.ts';
import { learningRate } from '../../src/optim/schedules.ts';
import { webgpuAvailability } from '../../src/backend/webgpu/node.ts';
import * as F from '../../src/tensor/index.ts';
import { assertRelClose, fixturePath, readGoldenBatch } from './helpers.ts';

const TOL = 1e-4;
/**
 * The reference backend always; the native one too when its addon is built, and webgpu when an adapter
 * is found (same tolerance). Reads go through the async API (Tensor.read) so device backends fit.
 */
const BACKENDS: Backend[] = nativeAvailable() ? [referenceBackend, nativeBackend] : [referenceBackend];
const gpu = await webgpuAvailability();
if (gpu.ok) BACKENDS.push(gpu.backend);
else {
  describe('bert goldens on webgpu', { skip: `no WebGPU adapter (${gpu.reason}); install chromium + libvulkan1 (SwiftShader) or a GPU driver` }, () => {
    it('skipped', () => undefined);
  });
}

interface Golden {
  loss0: number;
  losses: number[];
  lrs: number[];
  grad_norms_before_clip: number[];
}

const CASES: { name: string; task: TaskName; architecture: string }[] = [
  { name: 'bert-seqcls', task: 'text-classification', architecture: 'BertForSequenceClassification' },
  { name: 'bert-tokcls', task: 'token-classification', architecture: 'BertForTokenClassification' },
];

/**
 * attention.self.key.bias gets no gradient in exact arithmetic: it adds q·b to every score of a
 * query row, and softmax ignores a constant shift. Both sides hold rounding noise (~1e-13), which
 * AdamW then scales by lr/eps into ~1e-8 weights, so these are checked for being negligible instead.
 */
const ZERO_GRADIENT = /attention\.self\.key\.bias$/;

function assertNegligible(values: ArrayLike<number>, bound: number, what: string): void {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
  assert.ok(max <= bound, `${what}: expected rounding noise only, got max |value| ${max} > ${bound}`);
}

function relScalar(actual: number, expected: number): number {
  return Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
}

for (const [c, backend] of CASES.flatMap((c) => BACKENDS.map((b) => [c, b] as const))) {
  const dir = fixturePath(`goldens/${c.name}`);
  const setup = async () => {
    F.setDefaultBackend(backend);
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(dir, { task: c.task, warn: (m) => warnings.push(m) });
    const batch = await readGoldenBatch(`${dir}/inputs.safetensors`);
    const golden = JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as Golden;
    return { model, info, warnings, batch, golden };
  };

  describe(`${c.architecture} matches transformers (${c.name} golden, ${backend.name} backend)`, () => {
    it('loads every tensor 1:1 with no warnings', async () => {
      const { model, info, warnings } = await setup();
      assert.equal(model.architecture, c.architecture);
      assert.deepEqual(info.missingKeys, []);
      assert.deepEqual(info.unexpectedKeys, []);
      assert.deepEqual(warnings, []);
      const ckpt = (await readSafetensors(`${dir}/model.safetensors`)).tensors;
      assert.deepEqual(model.namedParameters().map(([n]) => n).sort(), [...ckpt.keys()].sort());
      model.dispose();
    });

    it('logits, loss and every parameter gradient of the first batch', async () => {
      const { model, batch, golden } = await setup();
      const ref = (await readSafetensors(`${dir}/step0_outputs_and_grads.safetensors`)).tensors;
      model.eval();
      const logits = F.tidy(() => model.forward({ ...batch, labels: undefined }).logits);
      assert.deepEqual(logits.shape, ref.get('logits')?.shape);
      assertRelClose(await logits.read(), toFloat32(ref.get('logits')!), TOL, 'logits');
      logits.dispose();
      model.train(); // dropout is 0 in the golden config, as in transformers' run
      const loss = F.tidy(() => {
        const { loss } = model.forward(batch);
        assert.ok(loss);
        loss.backward();
        return loss;
      });
      const loss0 = await loss.readItem();
      assert.ok(relScalar(loss0, golden.loss0) <= TOL, `loss ${loss0} vs ${golden.loss0}`);
      loss.dispose();
      const gradNames = [...ref.keys()].filter((k) => k.startsWith('grad.'));
      const params = model.namedParameters();
      assert.equal(gradNames.length, params.length, 'one golden gradient per parameter');
      for (const [name, p] of params) {
        const g = ref.get(`grad.${name}`);
        assert.ok(g, `golden has no gradient for ${name}`);
        assert.ok(p.grad, `no gradient for ${name}`);
        if (ZERO_GRADIENT.test(name)) {
          assertNegligible(await p.grad.read(), 1e-10, `grad ${name}`);
          assertNegligible(toFloat32(g), 1e-10, `golden grad ${name}`);
        } else {
          assertRelClose(await p.grad.read(), toFloat32(g), TOL, `grad ${name}`);
        }
      }
      model.dispose();
    });

    it('5 AdamW steps with warmup-linear schedule and clipping reproduce losses, lrs, norms and weights', async () => {
      const { model, batch, golden } = await setup();
      model.train();
      const named = model.trainableParameters();
      const params = named.map(([, p]) => p);
      const opt = new AdamW(decayGroups(named, 0.01), { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8 });
      for (let k = 0; k < 5; k++) {
        const lossT = F.tidy(() => {
          const out = model.forward(batch);
          out.loss!.backward();
          return out.loss!;
        });
        const loss = await lossT.readItem();
        lossT.dispose();
        const norm = await globalGradNormAsync(params);
        opt.lr = learningRate(k, { name: 'linear', baseLr: 1e-3, warmupSteps: 2, totalSteps: 5 });
        assert.ok(relScalar(loss, golden.losses[k]) <= TOL, `step ${k}: loss ${loss} vs ${golden.losses[k]}`);
        assert.ok(Math.abs(opt.lr - golden.lrs[k]) <= 1e-12, `step ${k}: lr ${opt.lr} vs ${golden.lrs[k]}`);
        assert.ok(relScalar(norm, golden.grad_norms_before_clip[k]) <= TOL, `step ${k}: grad norm ${norm} vs ${golden.grad_norms_before_clip[k]}`);
        opt.update(clipScale(norm, 1.0));
        opt.zeroGrad();
      }
      const after = (await readSafetensors(`${dir}/after_training.safetensors`)).tensors;
      for (const [name, p] of model.namedParameters()) {
        const ref = after.get(name);
        assert.ok(ref, `after_training has no ${name}`);
        if (ZERO_GRADIENT.test(name)) {
          assertNegligible(await p.read(), 1e-6, `after training: ${name}`);
          assertNegligible(toFloat32(ref), 1e-6, `golden after training: ${name}`);
        } else {
          assertRelClose(await p.read(), toFloat32(ref), TOL, `after training: ${name}`);
        }
      }
      opt.dispose();
      model.dispose();
    });
  });
}

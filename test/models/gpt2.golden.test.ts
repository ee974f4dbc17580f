// GPT2LMHeadModel against Hugging Face transformers (golden gpt2-clm, copied into test/fixtures):
// logits, loss and every parameter gradient of one batch, then 5 AdamW steps (linear warmup/decay,
// clipping at 1.0) with their losses, learning rates, gradient norms and final weights, all to 1e-4.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { readSafetensors, toFloat32, toInt32 } from '../../src/io/safetensors.ts';
import { GPT2LMHeadModel } from '../../src/models/gpt2.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import { AdamW, decayGroups } from '../../src/optim/adamw.ts';
import { clipScale, globalGradNorm } from '../../src/optim/clip.ts';
import { learningRate } from '../../src/optim/schedules.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertClose, fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const dir = fixturePath('goldens/gpt2-clm');
const TOL = 1e-4;

interface Golden {
  loss0: number;
  losses: number[];
  lrs: number[];
  grad_norms_before_clip: number[];
}

async function setup() {
  const { model, info } = await loadPretrained(dir);
  assert.ok(model instanceof GPT2LMHeadModel, 'config.json architectures → GPT2LMHeadModel');
  assert.deepEqual([info.missingKeys, info.unexpectedKeys], [[], []]);
  const inputs = (await readSafetensors(`${dir}/inputs.safetensors`)).tensors;
  const int = (name: string) => Tensor.from(toInt32(inputs.get(name)!), inputs.get(name)!.shape, 'int32');
  const batch = { inputIds: int('input_ids'), attentionMask: int('attention_mask'), labels: int('labels') };
  const golden = JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as Golden;
  return { model, batch, golden };
}

describe('GPT2LMHeadModel matches transformers (gpt2-clm golden)', () => {
  it('logits, loss and every gradient of the first batch', async () => {
    const { model, batch, golden } = await setup();
    const ref = (await readSafetensors(`${dir}/step0_outputs_and_grads.safetensors`)).tensors;
    model.eval();
    F.tidy(() => {
      const out = model.forward(batch);
      assert.deepEqual(out.logits.shape, ref.get('logits')!.shape);
      assertClose(out.logits.toArray(), toFloat32(ref.get('logits')!), TOL, 'logits');
      assert.ok(Math.abs(out.loss!.item() - golden.loss0) < TOL, `loss ${out.loss!.item()} vs ${golden.loss0}`);
      out.loss!.backward();
    });
    const gradNames = [...ref.keys()].filter((k) => k.startsWith('grad.'));
    assert.equal(gradNames.length, model.namedParameters().length, 'one golden gradient per parameter');
    const params = new Map(model.namedParameters());
    for (const g of gradNames) {
      const name = g.slice('grad.'.length);
      const p = params.get(name);
      assert.ok(p?.grad, `no gradient for ${name}`);
      const entry = ref.get(g)!;
      let expected = toFloat32(entry);
      if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(name) /* Conv1D: stored (in, out) */) {
        const [r, c] = entry.shape;
        const t = new Float32Array(expected.length);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = expected[i * c + j];
        expected = t;
      }
      assertClose(p.grad.toArray(), expected, TOL, `grad ${name}`);
    }
    model.dispose();
  });

  it('5 AdamW steps with warmup-linear schedule and clipping', async () => {
    const { model, batch, golden } = await setup();
    model.train();
    const named = model.namedParameters();
    const opt = new AdamW(decayGroups(named, 0.01), { lr: 1e-3 });
    const params = named.map(([, p]) => p);
    for (let k = 0; k < 5; k++) {
      const loss = F.tidy(() => {
        const out = model.forward(batch);
        out.loss!.backward();
        return out.loss!.item();
      });
      assert.ok(Math.abs(loss - golden.losses[k]) < TOL, `step ${k} loss ${loss} vs ${golden.losses[k]}`);
      const norm = globalGradNorm(params);
      assert.ok(Math.abs(norm - golden.grad_norms_before_clip[k]) < TOL, `step ${k} grad norm ${norm} vs ${golden.grad_norms_before_clip[k]}`);
      opt.lr = learningRate(k, { name: 'linear', baseLr: 1e-3, warmupSteps: 2, totalSteps: 5 });
      assert.ok(Math.abs(opt.lr - golden.lrs[k]) < 1e-12);
      opt.update(clipScale(norm, 1.0));
      opt.zeroGrad();
    }
    const after = (await readSafetensors(`${dir}/after_training.safetensors`)).tensors;
    const own = new Map(named);
    for (const [key, entry] of after) {
      const name = key === 'lm_head.weight' ? 'transformer.wte.weight' : key; // tied
      let expected = toFloat32(entry);
      if (/\.(c_attn|c_proj|c_fc)\.weight$/.test(name) /* Conv1D: stored (in, out) */) {
        const [r, c] = entry.shape;
        const t = new Float32Array(expected.length);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = expected[i * c + j];
        expected = t;
      }
      assertClose(own.get(name)!.toArray(), expected, TOL, `after training: ${key}`);
    }
    opt.dispose();
    model.dispose();
  });
});

// LoRA on real pretrained weights (stories260K from ../shared/data): fine-tuning only the adapters on a
// small story lowers the loss on held-out text from the same story while the base weights stay fixed;
// the adapter saved in PEFT's layout has PEFT's key names, reloads into a fresh base model and gives
// identical logits; merging it into the base weights gives the same logits as base + adapter.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { collate } from '../../src/data/collate.ts';
import { lmFeatures, packTexts, type LmExample } from '../../src/data/causal-lm.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { loadLoraAdapter, saveLoraAdapter } from '../../src/lora/adapter.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora, loraParameters, mergeLora } from '../../src/lora/inject.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import { fromPretrained } from '../../src/models/pretrained.ts';
import { manualSeed } from '../../src/nn/init.ts';
import { AdamW } from '../../src/optim/adamw.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertClose, sharedPath } from '../generate/helpers.ts';
import { Llama2cTokenizer } from './llama2c-tokenizer.ts';

F.setDefaultBackend(referenceBackend);
const dir = sharedPath('data/tinyllamas-stories260K');
const skip = dir === null ? 'needs ../shared/data/tinyllamas-stories260K' : false;
const tmp = mkdtempSync(join(tmpdir(), 'lora-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TRAIN = [
  'Zog was a purple dragon who lived on a hill. Zog liked to eat red apples. Every day Zog flew to the big tree to find red apples.',
  'One day Zog saw a little boy under the big tree. The boy was sad. Zog gave the boy a red apple and the boy smiled. Zog was happy.',
  'Zog and the boy ate red apples under the big tree. Then Zog flew back to the hill. The purple dragon slept with a smile.',
];
const HELD_OUT = ['Zog the purple dragon flew to the big tree. Zog liked red apples and Zog gave a red apple to the boy.'];

function batchOf(examples: LmExample[]) {
  const b = collate(lmFeatures(examples), { padTokenId: 0 });
  return {
    inputIds: Tensor.from(b.inputIds, [b.batchSize, b.seqLen], 'int32'),
    attentionMask: Tensor.from(b.attentionMask, [b.batchSize, b.seqLen], 'int32'),
    labels: Tensor.from(b.labels!, [b.batchSize, b.seqLen], 'int32'),
  };
}

function evalLoss(model: PretrainedTaskModel, batch: ReturnType<typeof batchOf>): number {
  model.eval();
  return F.tidy(() => F.noGrad(() => model.forward(batch).loss!.item()));
}

function logitsOf(model: PretrainedTaskModel, ids: number[]): number[] {
  return F.tidy(() => F.noGrad(() => model.forward({ inputIds: intTensor(ids, [1, ids.length]) }).logits.toArray()));
}

describe('LoRA fine-tuning of stories260K', { skip }, () => {
  it('lowers held-out loss, saves in PEFT layout, reloads and merges to the same logits', async () => {
    const tok = new Llama2cTokenizer(`${dir}/tok512.bin`);
    const train = batchOf(packTexts(tok, TRAIN, { blockSize: 32 }));
    const heldOut = batchOf(packTexts(tok, HELD_OUT, { blockSize: 64 }));
    const probe = tok.encode('Zog was a purple dragon').ids;

    manualSeed(0);
    const model = await fromPretrained(`${dir}/hf`);
    const baseBefore = new Map(model.namedParameters().map(([n, p]) => [n, p.toArray()]));
    const cfg = loraConfig({ r: 8, lora_alpha: 16, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], task_type: 'CAUSAL_LM' });
    const state = applyLora(model, cfg);
    assert.equal(state.layers.size, 5 * 7, 'every targeted projection of the 5 layers is wrapped');
    const trainable = model.trainableParameters();
    assert.deepEqual(trainable.map(([n]) => n), loraParameters(model).map(([n]) => n), 'only adapters train');

    // B starts at zero: the adapted model computes exactly what the base model computes.
    const before = evalLoss(model, heldOut);
    const opt = new AdamW([{ params: trainable.map(([, p]) => p), weightDecay: 0 }], { lr: 1e-2 });
    for (let step = 0; step < 4; step++) {
      model.train();
      F.tidy(() => model.forward(train).loss!.backward());
      opt.update();
      opt.zeroGrad();
    }
    const afterLoss = evalLoss(model, heldOut);
    assert.ok(afterLoss < before - 0.05, `held-out loss ${before.toFixed(4)} → ${afterLoss.toFixed(4)} should drop`);
    for (const [n, p] of model.namedParameters()) {
      if (!/lora_/.test(n)) assert.deepEqual(p.toArray(), baseBefore.get(n), `base weight ${n} changed`);
    }
    opt.dispose();

    // PEFT layout.
    const adapterDir = join(tmp, 'adapter');
    await saveLoraAdapter(model, adapterDir, { baseModelNameOrPath: 'stories260K' });
    const json = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(json['peft_type'], 'LORA');
    assert.equal(json['r'], 8);
    assert.equal(json['lora_alpha'], 16);
    assert.equal(json['task_type'], 'CAUSAL_LM');
    const keys = [...(await readSafetensors(join(adapterDir, 'adapter_model.safetensors'))).tensors.keys()];
    assert.equal(keys.length, 5 * 7 * 2);
    assert.ok(keys.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), keys.slice(0, 3).join(', '));
    assert.ok(keys.includes('base_model.model.model.layers.4.mlp.down_proj.lora_B.weight'));

    const tuned = logitsOf(model, probe);
    const reloaded = await fromPretrained(`${dir}/hf`);
    await loadLoraAdapter(reloaded, adapterDir);
    assert.deepEqual(logitsOf(reloaded, probe), tuned, 'reloaded adapter reproduces the outputs');

    mergeLora(reloaded);
    assert.equal(loraParameters(reloaded).length, 0);
    assertClose(logitsOf(reloaded, probe), tuned, 1e-4, 'merged logits vs base + adapter');
    const base = await fromPretrained(`${dir}/hf`);
    assert.notDeepEqual(logitsOf(base, probe), tuned, 'the adapter changed the outputs');
    for (const m of [model, reloaded, base]) m.dispose();
  });
});

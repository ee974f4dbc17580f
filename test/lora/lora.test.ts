// LoRA as PEFT implements it, on the golden GPT-2 (Conv1D targets) and a tiny Llama: the adapted layer
// computes x W^T + b + (alpha/r) x A^T B^T (checked against plain loops), starts as the identity update,
// trains only adapters (+ modules_to_save), merges to W + (alpha/r) B A; target matching (suffix lists,
// regex strings, all-linear, layers_to_transform, rank_pattern); PEFT's file layout and key names both
// ways; and the errors for targets that match nothing or something that is not a linear layer.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.ts';
import { loadLoraAdapter, saveLoraAdapter } from '../../src/lora/adapter.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora, loraParameters, mergeLora } from '../../src/lora/inject.ts';
import { LoraLinear } from '../../src/lora/layer.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import { createModel, fromPretrained } from '../../src/models/pretrained.ts';
import { Linear } from '../../src/nn/module.ts';
import { manualSeed } from '../../src/nn/init.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertClose, fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const tmp = mkdtempSync(join(tmpdir(), 'lora-unit-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const gpt2Dir = fixturePath('goldens/gpt2-clm');

const tinyLlama = (task: 'text-generation' | 'text-classification' = 'text-generation'): PretrainedTaskModel =>
  createModel(
    makeHfConfig('llama', { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, tie_word_embeddings: false, pad_token_id: 0, num_labels: 3 }),
    task,
    { seed: 5 },
  );

const logits = (m: PretrainedTaskModel, ids = [3, 7, 1, 9, 12]): number[] =>
  F.tidy(() => F.noGrad(() => m.forward({ inputIds: intTensor(ids, [1, ids.length]) }).logits.toArray()));

describe('LoraLinear', () => {
  it('computes x W^T + b + (alpha/r) x A^T B^T and merges to W + (alpha/r) B A', () => {
    manualSeed(1);
    const base = new Linear(5, 3);
    (base.bias!.data as Float32Array).set([0.1, -0.2, 0.3]);
    const lora = new LoraLinear(base, { r: 2, alpha: 6, dropout: 0, rslora: false, init: false });
    assert.equal(lora.scaling, 3);
    const x = Tensor.from([0.5, -1, 2, 0.25, 1.5, -0.5, 1, 0, 2, -2], [2, 5]);
    const [W, b, A, B] = [base.weight.toArray(), base.bias!.toArray(), lora.loraA.weight.toArray(), lora.loraB.weight.toArray()];
    const expected: number[] = [];
    const xs = x.toArray();
    for (let n = 0; n < 2; n++) {
      const xa = [0, 1].map((k) => xs.slice(n * 5, n * 5 + 5).reduce((s, v, i) => s + v * A[k * 5 + i], 0));
      for (let o = 0; o < 3; o++) {
        const base_ = xs.slice(n * 5, n * 5 + 5).reduce((s, v, i) => s + v * W[o * 5 + i], b[o]);
        expected.push(base_ + 3 * (xa[0] * B[o * 2] + xa[1] * B[o * 2 + 1]));
      }
    }
    const y = F.noGrad(() => lora.forward(x).toArray());
    assertClose(y, expected, 1e-5, 'LoRA forward');
    lora.merge();
    const merged = base.weight.toArray();
    for (let o = 0; o < 3; o++) for (let i = 0; i < 5; i++) {
      const d = 3 * (B[o * 2] * A[i] + B[o * 2 + 1] * A[5 + i]);
      assert.ok(Math.abs(merged[o * 5 + i] - (W[o * 5 + i] + d)) < 1e-6);
    }
  });

  it('rank-stabilised scaling is alpha / sqrt(r); dropout only in training', () => {
    const lora = new LoraLinear(new Linear(4, 4), { r: 4, alpha: 8, dropout: 0.5, rslora: true, init: false });
    assert.equal(lora.scaling, 4);
    const x = Tensor.from([1, 2, 3, 4], [1, 4]);
    lora.eval();
    assert.deepEqual(F.noGrad(() => lora.forward(x).toArray()), F.noGrad(() => lora.forward(x).toArray()));
    lora.train();
    assert.notDeepEqual(F.noGrad(() => lora.forward(x).toArray()), F.noGrad(() => lora.forward(x).toArray()));
  });
});

describe('applyLora on GPT-2 (Conv1D)', () => {
  it('starts as the base model, trains only adapters, saves PEFT keys with fan_in_fan_out', async () => {
    const model = await fromPretrained(gpt2Dir);
    model.eval();
    const before = logits(model);
    const state = applyLora(model, loraConfig({ r: 4, lora_alpha: 8, target_modules: ['c_attn'], task_type: 'CAUSAL_LM' }));
    assert.deepEqual([...state.layers.keys()], ['transformer.h.0.attn.c_attn', 'transformer.h.1.attn.c_attn']);
    assert.deepEqual(logits(model), before, 'B = 0: the adapted model equals the base model');
    model.train();
    F.tidy(() => {
      const ids = intTensor([5, 6, 7, 8], [1, 4]);
      model.forward({ inputIds: ids, labels: ids }).loss!.backward();
    });
    const withGrad = model.namedParameters().filter(([, p]) => p.grad !== null).map(([n]) => n);
    assert.deepEqual(withGrad, loraParameters(model).map(([n]) => n));
    const dir = join(tmp, 'gpt2-adapter');
    await saveLoraAdapter(model, dir);
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg['fan_in_fan_out'], true);
    assert.deepEqual(cfg['target_modules'], ['c_attn']);
    const st = (await readSafetensors(join(dir, 'adapter_model.safetensors'))).tensors;
    assert.deepEqual(st.get('base_model.model.transformer.h.0.attn.c_attn.lora_A.weight')!.shape, [4, 32]);
    assert.deepEqual(st.get('base_model.model.transformer.h.1.attn.c_attn.lora_B.weight')!.shape, [96, 4]);
    model.dispose();
  });

  it('a target matching nothing, or a non-linear module, is a clear error', async () => {
    const model = await fromPretrained(gpt2Dir);
    assert.throws(() => applyLora(model, loraConfig({ target_modules: ['q_proj'] })), (e: unknown) => e instanceof ModelError && /match no module.*c_attn/.test(e.message));
    assert.throws(() => applyLora(model, loraConfig({ target_modules: ['mlp'] })), (e: unknown) => e instanceof ModelError && /"transformer\.h\.0\.mlp" is a GPT2MLP, not a Linear/.test(e.message));
    assert.throws(() => loraConfig({ target_modules: [] }), ConfigError);
    assert.throws(() => loraConfig({ target_modules: ['c_attn'], r: 0 }), ConfigError);
  });
});

describe('applyLora on Llama', () => {
  it('all-linear adapts every projection but lm_head; regex, layers_to_transform and rank_pattern select', () => {
    const all = applyLora(tinyLlama(), loraConfig({ target_modules: 'all-linear' }));
    assert.equal(all.layers.size, 2 * 7);
    assert.ok(![...all.layers.keys()].includes('lm_head'));
    const regex = applyLora(tinyLlama(), loraConfig({ target_modules: 'model\\.layers\\.1\\.self_attn\\.(q|v)_proj' }));
    assert.deepEqual([...regex.layers.keys()], ['model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    const picked = applyLora(tinyLlama(), loraConfig({ target_modules: ['q_proj', 'v_proj'], layers_to_transform: [1], layers_pattern: 'layers', rank_pattern: { v_proj: 2 } }));
    assert.deepEqual([...picked.layers.entries()].map(([k, l]) => [k, l.r]), [['model.layers.1.self_attn.q_proj', 8], ['model.layers.1.self_attn.v_proj', 2]]);
  });

  it('SEQ_CLS trains and saves the score head as PEFT modules_to_save; reload and merge reproduce logits', async () => {
    const model = tinyLlama('text-classification');
    const state = applyLora(model, loraConfig({ r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'], task_type: 'SEQ_CLS', init_lora_weights: false }));
    assert.deepEqual(state.config.modules_to_save, ['classifier', 'score']);
    assert.deepEqual(model.trainableParameters().map(([n]) => n).filter((n) => !/lora_/.test(n)), ['score.weight']);
    (model.namedParameters().find(([n]) => n === 'score.weight')![1].data as Float32Array).fill(0.25);
    model.eval();
    const tuned = logits(model);
    const dir = join(tmp, 'cls-adapter');
    await saveLoraAdapter(model, dir);
    const keys = [...(await readSafetensors(join(dir, 'adapter_model.safetensors'))).tensors.keys()].sort();
    assert.ok(keys.includes('base_model.model.score.weight'), keys.join(', '));
    assert.ok(keys.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight'));
    const fresh = tinyLlama('text-classification');
    await loadLoraAdapter(fresh, dir);
    fresh.eval();
    assert.deepEqual(logits(fresh), tuned);
    mergeLora(fresh);
    assertClose(logits(fresh), tuned, 1e-5, 'merged');
  });

  it('loads an adapter folder as PEFT writes it, and refuses one that does not fit', async () => {
    const model = tinyLlama();
    model.eval();
    const dir = join(tmp, 'peft-written');
    mkdirSync(dir, { recursive: true });
    // adapter_config.json as peft 0.17 writes it (extra fields are ignored).
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({
      alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'tiny-llama', bias: 'none', corda_config: null, eva_config: null,
      exclude_modules: null, fan_in_fan_out: false, inference_mode: true, init_lora_weights: true, layer_replication: null,
      layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 16, lora_bias: false, lora_dropout: 0.05,
      megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA', r: 4, rank_pattern: {},
      revision: null, target_modules: ['v_proj', 'q_proj'], task_type: 'CAUSAL_LM', trainable_token_indices: null, use_dora: false, use_rslora: false,
    }));
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const l of [0, 1]) for (const [p, out] of [['q_proj', 16], ['v_proj', 8]] as const) {
      tensors[`base_model.model.model.layers.${l}.self_attn.${p}.lora_A.weight`] = { dtype: 'F32', shape: [4, 16], data: new Float32Array(64).fill(0.1) };
      tensors[`base_model.model.model.layers.${l}.self_attn.${p}.lora_B.weight`] = { dtype: 'F32', shape: [out, 4], data: new Float32Array(out * 4).fill(-0.05) };
    }
    await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    const base = logits(model);
    const state = await loadLoraAdapter(model, dir);
    assert.equal(state.layers.size, 4);
    assert.equal(state.layers.get('model.layers.0.self_attn.q_proj')!.scaling, 4);
    assert.notDeepEqual(logits(model), base);

    const badDir = join(tmp, 'peft-bad');
    mkdirSync(badDir, { recursive: true });
    writeFileSync(join(badDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'] }));
    await writeSafetensors(join(badDir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
    await assert.rejects(loadLoraAdapter(tinyLlama(), badDir), (e: unknown) => e instanceof ModelError && /shape \[4, 16\].*expects \[8, 16\]/.test(e.message));
    const pickleDir = join(tmp, 'peft-pickle');
    mkdirSync(pickleDir, { recursive: true });
    writeFileSync(join(pickleDir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, target_modules: ['q_proj'] }));
    writeFileSync(join(pickleDir, 'adapter_model.bin'), 'x');
    await assert.rejects(loadLoraAdapter(tinyLlama(), pickleDir), /never unpickles/);
  });
});

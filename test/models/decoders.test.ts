// Qwen3, Gemma 2, Gemma 3 text and Phi-3 beyond the numbers (those are in decoders.torch.test.ts):
// parameter names equal the transformers checkpoint keys, generation with the KV cache gives the logits
// of a full forward pass (past the sliding window and the longrope switch), save → load round trips the
// weights and config.json, transformers v5 `rope_parameters` configs are read, and PEFT's default LoRA
// targets name real modules.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ModelError } from '../../src/errors.ts';
import { intTensor, type CausalLM } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { makeHfConfig, parseHfConfig, type Phi3Config } from '../../src/models/hf-config.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { gemmaSpec } from '../../src/models/gemma.ts';
import { phi3Rope } from '../../src/models/phi3.ts';
import { createModel, fromPretrained, savePretrained, stateDictForSave } from '../../src/models/pretrained.ts';
import { DEFAULT_LORA_TARGET_MODULES } from '../../src/tasks/text-generation.ts';
import * as F from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const BASE = { vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, pad_token_id: 0 };
const FAMILIES: [ModelType, JsonObject][] = [
  ['qwen3', { ...BASE, use_sliding_window: true, sliding_window: 3, max_window_layers: 1 }],
  ['gemma2', { ...BASE, sliding_window: 3, query_pre_attn_scalar: 4 }],
  ['gemma3_text', { ...BASE, sliding_window: 3, sliding_window_pattern: 2, query_pre_attn_scalar: 4 }],
  ['phi3', { ...BASE, head_dim: 8, num_attention_heads: 2, num_key_value_heads: 1, sliding_window: 4, partial_rotary_factor: 0.5, max_position_embeddings: 32, original_max_position_embeddings: 5, rope_scaling: { type: 'su', short_factor: [1, 2], long_factor: [3, 4] } }],
];

const tmp: string[] = [];
after(async () => {
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

const layer = (t: string, i: number, names: string[]) => names.map((n) => `model.layers.${i}.${n}.weight`);

describe('parameter names equal transformers checkpoint keys', () => {
  const names = (type: ModelType, fields: JsonObject, task: 'text-generation' | 'text-classification' | 'token-classification') =>
    [...stateDictForSave(createModel(makeHfConfig(type, { ...fields, num_hidden_layers: 1 }), task, { seed: 1 })).keys()].sort();

  it('Qwen3: q/k norms, separate projections, tied lm_head not saved', () => {
    assert.deepEqual(names('qwen3', { ...BASE, tie_word_embeddings: true }, 'text-generation'), [
      'model.embed_tokens.weight', 'model.norm.weight',
      ...layer('', 0, ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'self_attn.q_norm', 'self_attn.k_norm',
        'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj', 'input_layernorm', 'post_attention_layernorm']),
    ].sort());
    assert.ok(names('qwen3', BASE, 'token-classification').includes('score.bias'), 'GenericForTokenClassification has a biased score');
  });

  it('Gemma 2 / 3: four norms per layer; Gemma 3 q/k norms', () => {
    const g2 = names('gemma2', BASE, 'text-classification');
    assert.ok(g2.includes('model.layers.0.pre_feedforward_layernorm.weight') && g2.includes('model.layers.0.post_feedforward_layernorm.weight') && g2.includes('score.weight'));
    assert.ok(!g2.includes('lm_head.weight') && !g2.some((n) => n.includes('q_norm')));
    assert.ok(names('gemma3_text', BASE, 'text-generation').includes('model.layers.0.self_attn.k_norm.weight'));
  });

  it('Phi-3: fused qkv_proj and gate_up_proj', () => {
    assert.deepEqual(names('phi3', BASE, 'text-generation'), [
      'lm_head.weight', 'model.embed_tokens.weight', 'model.norm.weight',
      ...layer('', 0, ['self_attn.qkv_proj', 'self_attn.o_proj', 'mlp.gate_up_proj', 'mlp.down_proj', 'input_layernorm', 'post_attention_layernorm']),
    ].sort());
  });
});

describe('generation with the KV cache', () => {
  for (const [type, fields] of FAMILIES) {
    it(`${type}: cached steps give the full forward's logits beyond the sliding window`, () => {
      // Phi-3 here has original_max_position_embeddings 5 < 8 positions: a cached run switches to the long
      // factors midway, so its cache check uses a longer original length and generate() covers the switch.
      const f = type === 'phi3' ? { ...fields, original_max_position_embeddings: 16 } : fields;
      const model = createModel(makeHfConfig(type, f), 'text-generation', { seed: 2 }) as ReturnType<typeof createModel> & CausalLM;
      model.eval();
      const ids = [5, 9, 2, 7, 3, 11, 4, 8];
      F.noGrad(() => {
        const full = model.logits({ inputIds: intTensor(ids, [1, ids.length]) }).toArray();
        const cache = model.newCache();
        const prompt = 3;
        const got: number[] = [...model.logits({ inputIds: intTensor(ids.slice(0, prompt), [1, prompt]), cache }).toArray()];
        for (let t = prompt; t < ids.length; t++) got.push(...model.logits({ inputIds: intTensor([ids[t]], [1, 1]), cache }).toArray());
        cache.dispose();
        full.forEach((v, i) => assert.ok(Math.abs(v - got[i]) < 1e-4, `${type} logit ${i}: ${got[i]} vs ${v}`));
      });
    });

    it(`${type}: generate() with the cache equals the recomputing slow twin`, () => {
      const model = createModel(makeHfConfig(type, fields), 'text-generation', { seed: 6 }) as ReturnType<typeof createModel> & CausalLM;
      model.eval();
      const opts = { maxNewTokens: 7, stopTokenIds: [] };
      const fast = generate(model, [[5, 9, 2], [7, 3]], opts).tokens;
      const slow = generate(model, [[5, 9, 2], [7, 3]], { ...opts, useCache: false }).tokens;
      assert.deepEqual(fast, slow);
    });
  }

  it('phi3: the cache is dropped once when the sequence passes original_max_position_embeddings', () => {
    const model = createModel(makeHfConfig('phi3', FAMILIES[3][1]), 'text-generation') as ReturnType<typeof createModel> & CausalLM;
    assert.equal(model.cacheInvalidAt?.(5, 6), true);
    assert.equal(model.cacheInvalidAt?.(6, 7), false);
    assert.equal(model.cacheInvalidAt?.(3, 4), false);
  });
});

describe('save / load', () => {
  for (const [type, fields] of FAMILIES) {
    it(`${type}: savePretrained → fromPretrained gives the same logits and config`, async () => {
      const dir = await mkdtemp(join(tmpdir(), `finetune-${type}-`));
      tmp.push(dir);
      const model = createModel(makeHfConfig(type, { ...fields, num_labels: 2 }), 'text-classification', { seed: 3 });
      model.eval();
      await savePretrained(model, dir);
      const back = await fromPretrained(dir, { warn: () => {} });
      back.eval();
      assert.equal(back.architecture, model.architecture);
      const batch = { inputIds: intTensor([4, 5, 6, 7, 8, 0], [1, 6]) };
      const a = F.noGrad(() => model.forward(batch).logits.toArray());
      const b = F.noGrad(() => back.forward(batch).logits.toArray());
      assert.deepEqual(b, a);
      const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as JsonObject;
      assert.equal(json['model_type'], type);
      for (const [k, v] of Object.entries(fields)) assert.deepEqual(json[k], k === 'rope_scaling' ? { ...(v as JsonObject), rope_type: 'su' } : v, `config.json ${k}`);
    });
  }
});

describe('configs as transformers reads them', () => {
  it('Gemma 3 v5 rope_parameters: global and local RoPE bases per layer type', () => {
    const cfg = parseHfConfig({
      model_type: 'gemma3_text', ...BASE, num_hidden_layers: 3,
      rope_parameters: { full_attention: { rope_type: 'linear', factor: 8.0, rope_theta: 1000000.0 }, sliding_attention: { rope_type: 'default', rope_theta: 10000.0 } },
    }, 'config.json');
    const spec = gemmaSpec(cfg as Parameters<typeof gemmaSpec>[0]);
    assert.deepEqual(spec.layerTypes, ['sliding_attention', 'sliding_attention', 'sliding_attention']);
    assert.equal(spec.rope.sliding_attention.invFreq[1], Math.fround(1 / Math.fround(Math.pow(10000, 0.5))));
    assert.equal(spec.rope.full_attention.invFreq[1], Math.fround(Math.fround(1 / Math.fround(Math.pow(1e6, 0.5))) / 8));
    assert.equal(spec.embedScale, Math.fround(4));
  });

  it('EmbeddingGemma (bidirectional) is refused with the field named', () => {
    assert.throws(() => createModel(makeHfConfig('gemma3_text', { ...BASE, use_bidirectional_attention: true }), 'feature-extraction'),
      (e: unknown) => e instanceof ModelError && /use_bidirectional_attention/.test(e.message));
  });

  it("Phi-3 longrope attention factor as in transformers' _compute_longrope_parameters", () => {
    const cfg = makeHfConfig('phi3', { max_position_embeddings: 131072, original_max_position_embeddings: 4096, rope_scaling: { type: 'longrope', short_factor: Array(48).fill(1), long_factor: Array(48).fill(2) } }) as Phi3Config;
    const r = phi3Rope(cfg, 96);
    assert.ok(Math.abs(r.attentionFactor - Math.sqrt(1 + Math.log(32) / Math.log(4096))) < 1e-12);
    assert.ok(Math.abs(r.attentionFactor - 1.1902380714238083) < 1e-12);
    assert.throws(() => phi3Rope({ ...cfg, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 96), /yarn/);
  });

  it("PEFT's default LoRA targets name modules of each family", () => {
    for (const [type, fields] of FAMILIES) {
      const paths = createModel(makeHfConfig(type, fields), 'text-generation').namedModules().map(([p]) => p);
      for (const t of DEFAULT_LORA_TARGET_MODULES[type]) assert.ok(paths.some((p) => p.endsWith(`.${t}`)), `${type}: ${t}`);
    }
  });
});

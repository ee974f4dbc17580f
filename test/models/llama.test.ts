// Llama-family configuration handling: RoPE inverse frequencies (default, linear, llama3) against values
// computed by hand from transformers' formulas; unsupported rope types, sliding windows beyond the input
// and configs that disagree with the tensors are clear errors; Mistral/Qwen2 class names.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ModelError } from '../../src/errors.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { makeHfConfig, parseHfConfig, type LlamaConfig } from '../../src/models/hf-config.ts';
import { LlamaForCausalLM, ropeInverseFrequencies } from '../../src/models/llama.ts';
import { createModel, fromPretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const small = { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 20 };

describe('Llama RoPE', () => {
  it('default frequencies are theta^(-2i/d)', () => {
    const cfg = makeHfConfig('llama', { ...small, head_dim: 8, rope_theta: 10000 }) as LlamaConfig;
    assert.deepEqual([...ropeInverseFrequencies(cfg)].map((x) => +x.toPrecision(6)), [1, 0.1, 0.01, 0.001]);
  });

  it('transformers v5 rope_parameters are read; linear divides by factor; llama3 splits the bands', () => {
    const v5 = parseHfConfig({ model_type: 'llama', ...small, head_dim: 8, rope_parameters: { rope_type: 'linear', rope_theta: 10000.0, factor: 4.0 } }, 'config.json') as LlamaConfig;
    assert.deepEqual([...ropeInverseFrequencies(v5)].map((x) => +x.toPrecision(6)), [0.25, 0.025, 0.0025, 0.00025]);
    const l3 = makeHfConfig('llama', {
      ...small, head_dim: 8, rope_theta: 10000,
      rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
    }) as LlamaConfig;
    // wavelengths 2π/f: 6.28 (between 16/4 and 16/1: smoothed), 62.8, 628, 6283 (> 16: divided by 8)
    const smooth = (16 / (2 * Math.PI) - 1) / 3;
    const expected = [(1 - smooth) / 8 + smooth, 0.1 / 8, 0.01 / 8, 0.001 / 8];
    ropeInverseFrequencies(l3).forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-7 * Math.max(1, expected[i]), `${i}: ${x} vs ${expected[i]}`));
  });

  it('an unsupported rope scaling type is refused, naming it', () => {
    for (const type of ['yarn', 'dynamic', 'longrope']) {
      const cfg = makeHfConfig('llama', { ...small, rope_scaling: { rope_type: type, factor: 2 } });
      assert.throws(() => createModel(cfg, 'text-generation'), (e: unknown) => e instanceof ModelError && e.message.includes(`rope type "${type}" is not supported`));
    }
  });
});

describe('Llama-family gradients', () => {
  it('backprop through RoPE, GQA, biases, padding and the pooled head matches finite differences', () => {
    for (const task of ['text-generation', 'text-classification'] as const) {
      const cfg = makeHfConfig('qwen2', { ...small, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, tie_word_embeddings: task === 'text-generation', pad_token_id: 0, num_labels: 3 });
      const model = createModel(cfg, task, { seed: 9 });
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, i, a) => (a[i] = v * 20));
      model.eval();
      const ids = intTensor([1, 5, 7, 3, 9, 2, 11, 4, 0, 0], [2, 5]);
      const batch = {
        inputIds: ids,
        attentionMask: intTensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 5]),
        labels: task === 'text-generation' ? intTensor([1, 5, 7, 3, 9, 2, 11, 4, -100, -100], [2, 5]) : intTensor([2, 0], [2]),
      };
      const loss = () => F.tidy(() => F.noGrad(() => model.forward(batch).loss!.item()));
      F.tidy(() => model.forward(batch).loss!.backward());
      const named = new Map(model.namedParameters());
      const names = ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.bias',
        'model.layers.0.self_attn.v_proj.weight', 'model.layers.0.self_attn.o_proj.weight', 'model.layers.0.mlp.up_proj.weight',
        'model.layers.0.input_layernorm.weight', 'model.norm.weight', ...(task === 'text-classification' ? ['score.weight'] : [])];
      for (const name of names) {
        const p = named.get(name)!;
        const data = p.data as Float32Array;
        const grad = p.grad!.toArray();
        for (let k = 0; k < 4; k++) {
          const i = (k * 7919 + 13) % data.length;
          const orig = data[i];
          const eps = 1e-2;
          data[i] = orig + eps;
          const up = loss();
          data[i] = orig - eps;
          const down = loss();
          data[i] = orig;
          const fd = (up - down) / (2 * eps);
          assert.ok(Math.abs(fd - grad[i]) <= 2e-3 + 3e-2 * Math.abs(grad[i]), `${task} ${name}[${i}]: finite difference ${fd} vs backprop ${grad[i]}`);
        }
      }
      if (task === 'text-classification') {
        // Untied: the padding row of the embedding gets no gradient (torch's padding_idx).
        assert.ok(named.get('model.embed_tokens.weight')!.grad!.toArray().slice(0, 16).every((g) => g === 0));
      }
      model.dispose();
    }
  });
});

describe('Llama-family models', () => {
  it('Mistral and Qwen2 configs build their transformers classes', () => {
    assert.equal(createModel(makeHfConfig('mistral', { ...small, num_key_value_heads: 1 }), 'text-generation').architecture, 'MistralForCausalLM');
    const qwen = createModel(makeHfConfig('qwen2', { ...small, num_key_value_heads: 1 }), 'text-classification');
    assert.equal(qwen.architecture, 'Qwen2ForSequenceClassification');
    assert.ok(qwen.namedParameters().some(([n]) => n === 'model.layers.0.self_attn.q_proj.bias'), 'Qwen2 has q/k/v biases');
    assert.ok(!qwen.namedParameters().some(([n]) => n === 'model.layers.0.self_attn.o_proj.bias'));
  });

  it('beyond its sliding window a Mistral token sees only the last sliding_window tokens', () => {
    // One layer, window 3: the last token attends to the last 3 tokens only, and RoPE scores depend on
    // relative positions, so its logits equal those of the last 3 tokens run alone.
    const cfg = { ...small, num_hidden_layers: 1, num_key_value_heads: 1, sliding_window: 3 };
    const model = createModel(makeHfConfig('mistral', cfg), 'text-generation', { seed: 5 }) as LlamaForCausalLM;
    model.eval();
    const last = (ids: number[]) => F.noGrad(() => model.logits({ inputIds: intTensor(ids, [1, ids.length]), lastOnly: true }).toArray());
    const full = last([7, 1, 2, 3, 4, 5]);
    const tail = last([3, 4, 5]);
    full.forEach((v, i) => assert.ok(Math.abs(v - tail[i]) < 1e-4, `logit ${i}: ${v} vs ${tail[i]}`));
    const wide = createModel(makeHfConfig('mistral', { ...cfg, sliding_window: 16 }), 'text-generation', { seed: 5 }) as LlamaForCausalLM;
    const noWindow = F.noGrad(() => wide.logits({ inputIds: intTensor([7, 1, 2, 3, 4, 5], [1, 6]), lastOnly: true }).toArray());
    assert.ok(noWindow.some((v, i) => Math.abs(v - full[i]) > 1e-4), 'the window changes the result');
  });

  it('a config that disagrees with the tensors is a clear error', async () => {
    const dir = fixturePath('decoders/qwen2-gqa-bias');
    await assert.rejects(fromPretrained(dir, { config: { intermediate_size: 48 } }), (e: unknown) => e instanceof ModelError && /mlp\.gate_proj\.weight.*shape/.test(e.message));
    await assert.rejects(fromPretrained(dir, { config: { num_key_value_heads: 4 } }), (e: unknown) => e instanceof ModelError && /k_proj/.test(e.message));
  });
});

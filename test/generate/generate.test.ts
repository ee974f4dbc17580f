// The decoding loop on tiny random GPT-2 and Llama models: logits read through the KV cache equal the
// full-sequence logits at every position; a left-padded batch generates what each prompt generates
// alone; the cache-free slow twin agrees; seeded sampling repeats; stop tokens end a row (kept in the
// output, as transformers) and max_new_tokens ends the rest.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { DataError } from '../../src/errors.ts';
import { intTensor, type CausalLM } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { createModel } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { assertClose } from './helpers.ts';

F.setDefaultBackend(referenceBackend);

function tiny(kind: 'gpt2' | 'llama'): CausalLM {
  const config = kind === 'gpt2'
    ? makeHfConfig('gpt2', { n_embd: 16, n_layer: 2, n_head: 2, vocab_size: 50, n_positions: 64, eos_token_id: 49 })
    : makeHfConfig('llama', { hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 50, eos_token_id: 49 });
  const model = createModel(config, 'text-generation', { seed: kind === 'gpt2' ? 3 : 4 }) as unknown as CausalLM;
  model.eval();
  // Random init at std 0.02 gives nearly uniform logits; widen the weights so greedy choices are clear.
  for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, i, a) => (a[i] = v * 25));
  return model;
}

for (const kind of ['gpt2', 'llama'] as const) {
  describe(`generation with ${kind}`, () => {
    it('KV-cache logits equal full-sequence logits at every position', () => {
      const model = tiny(kind);
      const ids = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7, 9, 32, 38, 4, 6, 26];
      const [B, T] = [2, 8];
      F.tidy(() =>
        F.noGrad(() => {
          const full = model.logits({ inputIds: intTensor(ids, [B, T]) }).toArray();
          const cache = model.newCache();
          const parts: number[][] = [[], []];
          const V = model.vocabSize;
          const feed = (start: number, len: number) => {
            const chunk = [0, 1].flatMap((b) => ids.slice(b * T + start, b * T + start + len));
            const out = model.logits({ inputIds: intTensor(chunk, [B, len]), cache }).toArray();
            for (let b = 0; b < B; b++) parts[b].push(...out.slice(b * len * V, (b + 1) * len * V));
          };
          feed(0, 3);
          for (let t = 3; t < T; t++) feed(t, 1);
          assert.equal(cache.length, T);
          cache.dispose();
          assertClose([...parts[0], ...parts[1]], full, 1e-5, 'cached vs full logits');
        }),
      );
    });

    it('a left-padded batch generates what each prompt generates alone', () => {
      const model = tiny(kind);
      const prompts = [[5, 6, 7, 8, 9], [3, 4], [11]];
      const alone = prompts.map((p) => generate(model, [p], { maxNewTokens: 8, stopTokenIds: [] }).tokens[0]);
      const batched = generate(model, prompts, { maxNewTokens: 8, stopTokenIds: [], padTokenId: 0 });
      assert.deepEqual(batched.tokens, alone);
      assert.deepEqual(batched.finishReason, ['length', 'length', 'length']);
    });

    it('the cache-free path and the cached path agree, greedy and seeded sampling', () => {
      const model = tiny(kind);
      const opts = { maxNewTokens: 10, stopTokenIds: [] };
      assert.deepEqual(generate(model, [[1, 2, 3]], opts).tokens, generate(model, [[1, 2, 3]], { ...opts, useCache: false }).tokens);
      const s = { ...opts, doSample: true, temperature: 1.5, topK: 0, seed: 11 };
      const a = generate(model, [[1, 2, 3]], s).tokens;
      assert.deepEqual(generate(model, [[1, 2, 3]], { ...s, useCache: false }).tokens, a);
      assert.deepEqual(generate(model, [[1, 2, 3]], s).tokens, a, 'same seed, same tokens');
      const others = [12, 13, 14].map((seed) => generate(model, [[1, 2, 3]], { ...s, seed }).tokens[0].join(','));
      assert.ok(others.some((o) => o !== a[0].join(',')), 'other seeds draw other tokens');
    });

    it('a stop token ends the row and is kept; max_new_tokens ends the others', () => {
      const model = tiny(kind);
      const free = generate(model, [[5, 6, 7]], { maxNewTokens: 12, stopTokenIds: [] }).tokens[0];
      const stopId = free[3];
      const firstAt = free.indexOf(stopId);
      const r = generate(model, [[5, 6, 7], [9, 9]], { maxNewTokens: 12, stopTokenIds: [stopId], padTokenId: 0 });
      assert.deepEqual(r.tokens[0], free.slice(0, firstAt + 1));
      assert.equal(r.finishReason[0], 'stop');
      if (!r.tokens[1].includes(stopId)) {
        assert.equal(r.tokens[1].length, 12);
        assert.equal(r.finishReason[1], 'length');
      }
      assert.equal(generate(model, [[5]], { maxNewTokens: 0 }).tokens[0].length, 0);
    });
  });
}

describe('generation input errors', () => {
  it('an empty prompt is refused with a clear message', () => {
    const model = tiny('gpt2');
    assert.throws(() => generate(model, [[1], []]), (e: unknown) => e instanceof DataError && /prompt 1 has no tokens/.test(e.message));
  });
});

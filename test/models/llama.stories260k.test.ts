// LlamaForCausalLM on real pretrained weights (Karpathy's stories260K in Hugging Face layout, from
// ../shared/data): logits at the first and last of 16 positions match the independent numpy reference
// to 1e-4, and greedy decoding of BOS reproduces the documented 345-token story exactly (KV cache on),
// with the cache-free slow path agreeing on a prefix.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { LlamaForCausalLM } from '../../src/models/llama.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { assertClose, sharedPath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const dir = sharedPath('data/tinyllamas-stories260K');
const skip = dir === null ? 'needs ../shared/data/tinyllamas-stories260K' : false;

interface StoriesGolden {
  bos_id: number;
  greedy_ids: number[];
  logits_check: { input_ids: number[]; position0_logits: number[]; last_position_logits: number[] };
}

async function load(): Promise<{ model: LlamaForCausalLM; golden: StoriesGolden }> {
  const { model, info } = await loadPretrained(`${dir}/hf`);
  assert.ok(model instanceof LlamaForCausalLM, 'config.json architectures → LlamaForCausalLM');
  assert.deepEqual([info.missingKeys, info.unexpectedKeys], [[], []]);
  model.eval();
  return { model, golden: JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as StoriesGolden };
}

describe('LlamaForCausalLM on stories260K', { skip }, () => {
  it('logits match the reference at positions 0 and 15', async () => {
    const { model, golden } = await load();
    const ids = golden.logits_check.input_ids;
    F.tidy(() => {
      const logits = model.logits({ inputIds: intTensor(ids, [1, ids.length]) });
      const V = model.vocabSize;
      const all = F.contiguous(logits).data;
      assertClose(all.subarray(0, V), golden.logits_check.position0_logits, 1e-4, 'position 0 logits');
      assertClose(all.subarray((ids.length - 1) * V, ids.length * V), golden.logits_check.last_position_logits, 1e-4, 'last position logits');
    });
    model.dispose();
  });

  it('greedy continuation of BOS equals golden.greedy_ids (KV cache), stopping at the next BOS', async () => {
    const { model, golden } = await load();
    const { tokens, finishReason } = generate(model, [[golden.bos_id]], { maxNewTokens: 400, stopTokenIds: [golden.bos_id] });
    assert.equal(finishReason[0], 'stop');
    assert.equal(tokens[0].at(-1), golden.bos_id);
    assert.deepEqual(tokens[0].slice(0, -1), golden.greedy_ids);
    model.dispose();
  });

  it('the cache-free path generates the same first 24 tokens', async () => {
    const { model, golden } = await load();
    const { tokens } = generate(model, [[golden.bos_id]], { maxNewTokens: 24, useCache: false });
    assert.deepEqual(tokens[0], golden.greedy_ids.slice(0, 24));
    model.dispose();
  });
});

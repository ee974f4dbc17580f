// The decoder ONNX exports (Qwen3, Gemma 2, Gemma 3 text, Phi-3) load in transformers.js
// (AutoModelForCausalLM, offline) and its greedy generate() with the KV cache produces the same tokens as
// finetune's generate() on the source model. Random tiny models: this checks the graph's cache layout and
// config.json as transformers.js reads them, not text quality.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoModelForCausalLM, env, Tensor as HfTensor } from '@huggingface/transformers';
import { exportOnnx } from '../../src/export/index.ts';
import type { CausalLM } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import { tmpDir } from '../inference/fixtures.ts';

const BASE = { vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, pad_token_id: 0, eos_token_id: 39, bos_token_id: 1 };
const CASES: [ModelType, JsonObject][] = [
  ['qwen3', BASE],
  ['gemma2', { ...BASE, sliding_window: 3 }],
  ['gemma3_text', { ...BASE, sliding_window: 3, sliding_window_pattern: 2 }],
  ['phi3', { ...BASE, head_dim: 8, num_attention_heads: 2, num_key_value_heads: 1 }],
];

describe('transformers.js generates with the decoder ONNX exports', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = work.dir + '/';
  });
  after(async () => work.cleanup());

  for (const [type, fields] of CASES) {
    test(`${type}: greedy tokens equal finetune's generate()`, async () => {
      const model = createModel(makeHfConfig(type, fields), 'text-generation', { seed: 3 }) as ReturnType<typeof createModel> & CausalLM;
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 10));
      model.eval();
      const src = join(work.dir, `${type}-src`);
      await savePretrained(model, src);
      await exportOnnx(src, join(work.dir, type));
      const hf = await AutoModelForCausalLM.from_pretrained(type);
      try {
        const prompt = [1, 5, 9, 2];
        const ids = new HfTensor('int64', BigInt64Array.from(prompt, (v) => BigInt(v)), [1, prompt.length]);
        const out = (await hf.generate({ input_ids: ids, max_new_tokens: 8, do_sample: false, eos_token_id: 39 } as never)) as HfTensor;
        const theirs = Array.from(out.data as BigInt64Array, Number).slice(prompt.length);
        const ours = generate(model, [prompt], { maxNewTokens: 8, stopTokenIds: [39] }).tokens[0];
        assert.deepEqual(theirs, ours);
      } finally {
        await hf.dispose();
      }
    });
  }
});

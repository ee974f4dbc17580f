// Streaming quantised load (--load-in-4bit / --load-in-8bit): a tiny Llama folder loaded with the
// streaming hooks gives the same logits as load-then-quantise (the embedding in bf16 on both sides),
// the frozen base weights and the embedding are never allocated in fp32, and the tracked tensor bytes
// during the load stay within the fp32 parameters that remain (norms, adapters).
// Not here: the formats (test/backend/mixed-precision.test.ts), quantise-after-load (quantize.test.ts).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { quantize } from '../../src/backend/quant.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora, loraState } from '../../src/lora/inject.ts';
import { quantizeLoraBase, streamingQuantizedLoad } from '../../src/lora/quantize.ts';
import type { LlamaForCausalLM } from '../../src/models/llama.ts';
import { createModel, loadPretrained, savePretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

const V = 64;
const cfg = () => loraConfig({ target_modules: 'all-linear', r: 4, lora_alpha: 8 });
const ids = Int32Array.from({ length: 32 }, (_, i) => (i * 13 + 5) % V);
const logitsOf = (m: LlamaForCausalLM) => F.noGrad(() => Float32Array.from(m.eval().forward({ inputIds: Tensor.from(ids, [2, 16], 'int32') }).logits.floatData));

describe('streaming quantised load', () => {
  for (const tied of [true, false]) {
    it(`nf4 (tie_word_embeddings ${tied}): same logits as quantise-after-load, no fp32 base weight allocated`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'qload-'));
      try {
        const src = createModel(makeHfConfig('llama', {
          vocab_size: V, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, intermediate_size: 64, tie_word_embeddings: tied,
        }), 'text-generation', { seed: 3 });
        await savePretrained(src, dir);
        const warn = () => {};
        // Reference: the eager load, LoRA, quantise after load, embedding rounded to bf16 too.
        const ref = (await loadPretrained(dir, { task: 'text-generation', warn })).model as LlamaForCausalLM;
        applyLora(ref, cfg());
        quantizeLoraBase(ref, 'nf4', { doubleQuant: true });
        const w = ref.model.embedTokens.weight;
        ref.model.embedTokens.bf16 = quantize(w.floatData, w.shape[0], w.shape[1], 'bf16');

        const before = F.pool.stats().allocatedBytes;
        F.pool.peakAllocatedBytes = before;
        const s = streamingQuantizedLoad('nf4', { doubleQuant: true }, (m) => applyLora(m, cfg()));
        const q = (await loadPretrained(dir, { task: 'text-generation', warn, streaming: s })).model as LlamaForCausalLM;
        const peak = F.pool.stats().peakAllocatedBytes - before;
        assert.equal(s.report.layers, 2 * 7);
        assert.equal(s.report.embedding, 'model.embed_tokens.weight');
        for (const [path, layer] of loraState(q)!.layers) {
          assert.ok(layer.quantizedWeight && layer.weight.isDisposed, `${path}: quantised, fp32 never kept`);
        }
        // Every tracked byte allocated during the load is a parameter that stays fp32 (norms, adapters, untied head).
        let fp32Left = 0;
        for (const [, t] of q.namedParameters()) if (!t.isDisposed && t.materialized) fp32Left += 4 * t.size;
        assert.ok(peak <= fp32Left, `peak tracked bytes during load ${peak} > fp32 parameters kept ${fp32Left}`);
        assert.ok(s.report.largestFp32Bytes <= 4 * V * 64, 'one fp32 tensor at a time');
        const a = logitsOf(q);
        const b = logitsOf(ref);
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
        assert.ok(worst < 1e-5, `max logit difference ${worst}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});

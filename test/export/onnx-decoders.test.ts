// The generation graphs of Qwen3, Gemma 2, Gemma 3 text and Phi-3 (past_key_values in, present out), and their
// sequence-classification graphs (last non-pad token, right-padded batch),
// checked by ONNX Runtime against finetune's own KV-cached forward: a left-padded prompt longer than the
// sliding windows, then one cached step, logits agree to 1e-4 at every real token (Phi-3 crosses its
// longrope switch on the step; padded query rows, which nothing reads, are not compared).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { referenceBackend } from '../../src/backend/reference.ts';
import { exportOnnx } from '../../src/export/index.ts';
import { intTensor, type CausalLM } from '../../src/models/decoder.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const BASE = { vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4, pad_token_id: 0 };
const CASES: [ModelType, JsonObject][] = [
  ['qwen3', { ...BASE, use_sliding_window: true, sliding_window: 3, max_window_layers: 1 }],
  ['gemma2', { ...BASE, sliding_window: 3, query_pre_attn_scalar: 6, attn_logit_softcapping: 2.0, final_logit_softcapping: 5.0 }],
  ['gemma3_text', { ...BASE, num_hidden_layers: 3, sliding_window: 3, sliding_window_pattern: 2, rope_local_base_freq: 100.0, tie_word_embeddings: false }],
  ['phi3', { ...BASE, head_dim: 8, num_attention_heads: 2, num_key_value_heads: 1, sliding_window: 4, partial_rotary_factor: 0.5, max_position_embeddings: 32, original_max_position_embeddings: 6, rope_scaling: { type: 'longrope', short_factor: [1, 2], long_factor: [3, 4] } }],
];

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('decoder ONNX export (KV-cache layout) matches finetune under ONNX Runtime', () => {
  for (const [type, fields] of CASES) {
    test(type, async () => {
      const src = await mkdtemp(join(tmpdir(), `finetune-${type}-src-`));
      const out = await mkdtemp(join(tmpdir(), `finetune-${type}-onnx-`));
      dirs.push(src, out);
      const model = createModel(makeHfConfig(type, fields), 'text-generation', { seed: 13 }) as ReturnType<typeof createModel> & CausalLM;
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 10));
      model.eval();
      await savePretrained(model, src);
      const r = await exportOnnx(src, out);
      const sess = await ort.InferenceSession.create(r.modelPath);
      const [B, T] = [2, 6];
      const ids = [5, 9, 2, 7, 3, 11, 0, 0, 4, 8, 6, 1];
      const mask = [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1];
      const pos = [0, 1, 2, 3, 4, 5, 1, 1, 0, 1, 2, 3]; // generate(): cumsum(mask) - 1, and 1 where the mask is 0
      const i64 = (a: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), dims);
      const Hkv = (fields['num_key_value_heads'] as number) ?? 1;
      const D = fields['head_dim'] as number;
      const layers = fields['num_hidden_layers'] as number;
      const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids, [B, T]), attention_mask: i64(mask, [B, T]), position_ids: i64(pos, [B, T]) };
      for (let i = 0; i < layers; i++) for (const k of ['key', 'value']) feeds[`past_key_values.${i}.${k}`] = new ort.Tensor('float32', new Float32Array(0), [B, Hkv, 0, D]);
      const first = await sess.run(feeds);
      const cache = model.newCache();
      const ours1 = F.noGrad(() => model.logits({ inputIds: intTensor(ids, [B, T]), attentionMask: intTensor(mask, [B, T]), positionIds: intTensor(pos, [B, T]), cache }).toArray());
      const V = 40;
      const compare = (got: Float32Array, want: number[], rows: number[], what: string) => {
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (const row of rows) {
          for (let v = 0; v < V; v++) {
            const d = Math.abs(got[row * V + v]! - want[row * V + v]!);
            assert.ok(d <= 1e-4 * Math.max(scale, 1), `${type} ${what} row ${row} logit ${v}: ${got[row * V + v]} vs ${want[row * V + v]}`);
          }
        }
      };
      compare(first['logits']!.data as Float32Array, ours1, mask.flatMap((m, i) => (m ? [i] : [])), 'prompt');
      // One cached step.
      const next = [10, 12];
      const mask2 = [1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1];
      const pos2 = [6, 4];
      const feeds2: Record<string, ort.Tensor> = { input_ids: i64(next, [B, 1]), attention_mask: i64(mask2, [B, T + 1]), position_ids: i64(pos2, [B, 1]) };
      for (let i = 0; i < layers; i++) for (const k of ['key', 'value']) feeds2[`past_key_values.${i}.${k}`] = first[`present.${i}.${k}`]!;
      const second = await sess.run(feeds2);
      const ours2 = F.noGrad(() => model.logits({ inputIds: intTensor(next, [B, 1]), attentionMask: intTensor(mask2, [B, T + 1]), positionIds: intTensor(pos2, [B, 1]), cache }).toArray());
      cache.dispose();
      compare(second['logits']!.data as Float32Array, ours2, [0, 1], 'cached step');
    });
  }

  for (const [type, fields] of CASES) {
    test(`${type} sequence classification (last non-pad token) and token classification`, async () => {
      const src = await mkdtemp(join(tmpdir(), `finetune-${type}-cls-`));
      const out = await mkdtemp(join(tmpdir(), `finetune-${type}-cls-onnx-`));
      dirs.push(src, out);
      const model = createModel(makeHfConfig(type, { ...fields, num_labels: 3 }), 'text-classification', { seed: 17 });
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 10));
      model.eval();
      await savePretrained(model, src);
      const r = await exportOnnx(src, out);
      assert.deepEqual(r.inputNames, ['input_ids', 'attention_mask']);
      const sess = await ort.InferenceSession.create(r.modelPath);
      const [B, T] = [3, 7];
      const ids = [5, 9, 2, 7, 3, 11, 4, 8, 6, 1, 3, 0, 0, 0, 2, 2, 5, 7, 9, 12, 0];
      const mask = ids.map((v) => (v === 0 ? 0 : 1));
      const i64 = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [B, T]);
      const res = await sess.run({ input_ids: i64(ids), attention_mask: i64(mask) });
      const ours = F.noGrad(() => model.forward({ inputIds: intTensor(ids, [B, T]), attentionMask: intTensor(mask, [B, T]) }).logits.toArray());
      const got = Array.from(res['logits']!.data as Float32Array);
      const scale = ours.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      got.forEach((v, i) => assert.ok(Math.abs(v - ours[i]!) <= 1e-4 * Math.max(scale, 1), `${type} logit ${i}: ${v} vs ${ours[i]}`));
      if (type === 'gemma3_text') return; // transformers has no Gemma3 text token-classification head
      const tokModel = createModel(makeHfConfig(type, { ...fields, num_labels: 4 }), 'token-classification', { seed: 19 });
      tokModel.eval();
      const tokSrc = await mkdtemp(join(tmpdir(), `finetune-${type}-tok-`));
      const tokOut = await mkdtemp(join(tmpdir(), `finetune-${type}-tok-onnx-`));
      dirs.push(tokSrc, tokOut);
      await savePretrained(tokModel, tokSrc);
      const tr = await exportOnnx(tokSrc, tokOut);
      const tokRes = await (await ort.InferenceSession.create(tr.modelPath)).run({ input_ids: i64(ids), attention_mask: i64(mask) });
      const tokOurs = F.noGrad(() => tokModel.forward({ inputIds: intTensor(ids, [B, T]), attentionMask: intTensor(mask, [B, T]) }).logits.toArray());
      const tokGot = Array.from(tokRes['logits']!.data as Float32Array);
      const tokScale = tokOurs.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      mask.forEach((m, t) => {
        if (!m) return; // padded query rows: nothing reads them
        for (let c = 0; c < 4; c++) assert.ok(Math.abs(tokGot[t * 4 + c]! - tokOurs[t * 4 + c]!) <= 1e-4 * Math.max(tokScale, 1), `${type} token ${t} label ${c}`);
      });
    });
  }
});

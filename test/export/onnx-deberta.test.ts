// DeBERTa-v2/v3's ONNX export checked by ONNX Runtime: every head (sequence classification, token
// classification, QA, masked LM in both layouts, bare model) with v3 settings (log buckets, shared keys) and v2 settings (pos_*_proj,
// clamped span, absolute positions, token types, embed_proj) reproduces finetune's forward pass to 1e-4 on
// right-padded batches (pad rows included) at two batch/sequence sizes (dynamic axes).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { referenceBackend } from '../../src/backend/reference.ts';
import { exportOnnx } from '../../src/export/index.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const V3: JsonObject = {
  vocab_size: 60, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16, pad_token_id: 0,
  relative_attention: true, position_buckets: 4, share_att_key: true, pos_att_type: 'p2c|c2p', norm_rel_ebd: 'layer_norm',
  position_biased_input: false, type_vocab_size: 0,
};
const V2: JsonObject = {
  vocab_size: 60, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 24, max_position_embeddings: 16, pad_token_id: 0,
  relative_attention: true, max_relative_positions: 3, pos_att_type: ['c2p', 'p2c'], position_biased_input: true, type_vocab_size: 2, embedding_size: 12,
};
const CASES: [string, TaskName, JsonObject][] = [
  ['v3 seq-cls', 'text-classification', { ...V3, num_labels: 3 }],
  ['v3 token-cls', 'token-classification', { ...V3, num_labels: 4 }],
  ['v3 QA', 'question-answering', V3],
  ['v2 seq-cls with token types', 'text-classification', { ...V2, num_labels: 2 }],
  ['v3 masked LM (lm_predictions layout)', 'fill-mask', { ...V3, legacy: false }],
  ['v2 masked LM (cls.predictions layout, embed_proj)', 'fill-mask', V2],
  ['v3 masked LM, untied decoder', 'fill-mask', { ...V3, tie_word_embeddings: false }],
  ['v2 bare model, c2p only', 'feature-extraction', { ...V2, pos_att_type: ['c2p'] }],
];

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function batch(B: number, T: number) {
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = b % 2 === 1 ? Math.max(2, T - 3) : T;
    for (let t = 0; t < T; t++) {
      mask[b * T + t] = t < len ? 1 : 0;
      ids[b * T + t] = t < len ? 1 + ((b * 7 + t * 13) % 59) : 0;
    }
  }
  return { ids, mask };
}

describe('DeBERTa-v2 ONNX export matches finetune under ONNX Runtime', () => {
  for (const [name, task, fields] of CASES) {
    test(name, async () => {
      const src = await mkdtemp(join(tmpdir(), 'finetune-deb-src-'));
      const out = await mkdtemp(join(tmpdir(), 'finetune-deb-onnx-'));
      dirs.push(src, out);
      const model = createModel(makeHfConfig('deberta-v2', fields), task, { seed: 11 });
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 10));
      model.eval();
      await savePretrained(model, src);
      const r = await exportOnnx(src, out);
      const sess = await ort.InferenceSession.create(r.modelPath);
      for (const [B, T] of [[3, 9], [1, 5]] as const) {
        const { ids, mask } = batch(B, T);
        const i64 = (a: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [B, T]);
        const types = Int32Array.from(mask, (v, i) => (v && i % T >= 2 ? 1 : 0));
        const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids), attention_mask: i64(mask) };
        if (sess.inputNames.includes('token_type_ids')) feeds['token_type_ids'] = i64(types);
        const res = await sess.run(feeds);
        const ours = F.noGrad(() => {
          const o = task === 'feature-extraction'
            ? { logits: (model as unknown as { encode(b: object): Tensor }).encode({ inputIds: Tensor.wrap(ids.slice(), [B, T]), attentionMask: Tensor.wrap(mask.slice(), [B, T]), tokenTypeIds: Tensor.wrap(types.slice(), [B, T]) }) }
            : model.forward({ inputIds: Tensor.wrap(ids.slice(), [B, T]), attentionMask: Tensor.wrap(mask.slice(), [B, T]), tokenTypeIds: Tensor.wrap(types.slice(), [B, T]) });
          return { logits: o.logits.toArray(), start: 'startLogits' in o ? o.startLogits?.toArray() : undefined, end: 'endLogits' in o ? o.endLogits?.toArray() : undefined };
        });
        const pairs: [string, number[] | undefined][] = task === 'question-answering'
          ? [['start_logits', ours.start], ['end_logits', ours.end]]
          : [[task === 'feature-extraction' ? 'last_hidden_state' : 'logits', ours.logits]];
        for (const [key, want] of pairs) {
          const got = Array.from(res[key]!.data as Float32Array);
          assert.equal(got.length, want!.length, `${name} ${key} B=${B} T=${T}: length`);
          const scale = want!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const diff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want![i]!)), 0);
          assert.ok(diff <= 1e-4 * Math.max(scale, 1), `${name} ${key} B=${B} T=${T}: max |diff| ${diff} (scale ${scale})`);
        }
      }
    });
  }
});

// ModernBERT's ONNX export checked by ONNX Runtime: every head (sequence classification with cls and mean
// pooling, token classification, QA, masked LM tied and untied, bare model) reproduces finetune's forward pass to 1e-4 on right-padded
// batches longer than the local attention window, at two batch/sequence sizes (dynamic axes).

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

const MB: JsonObject = {
  vocab_size: 60, hidden_size: 16, num_hidden_layers: 4, num_attention_heads: 2, intermediate_size: 12, pad_token_id: 0,
  global_attn_every_n_layers: 3, local_attention: 4, global_rope_theta: 1000.0, local_rope_theta: 50.0, max_position_embeddings: 32,
};
const CASES: [string, TaskName, JsonObject][] = [
  ['seq-cls cls pooling', 'text-classification', { ...MB, num_labels: 3 }],
  ['seq-cls mean pooling, biases', 'text-classification', { ...MB, num_labels: 2, classifier_pooling: 'mean', norm_bias: true, attention_bias: true, mlp_bias: true, classifier_bias: true }],
  ['token-cls', 'token-classification', { ...MB, num_labels: 4 }],
  ['QA', 'question-answering', MB],
  ['masked LM, tied decoder', 'fill-mask', MB],
  ['masked LM, untied decoder without bias', 'fill-mask', { ...MB, tie_word_embeddings: false, decoder_bias: false }],
  ['bare model', 'feature-extraction', MB],
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

describe('ModernBERT ONNX export matches finetune under ONNX Runtime', () => {
  for (const [name, task, fields] of CASES) {
    test(name, async () => {
      const src = await mkdtemp(join(tmpdir(), 'finetune-mb-src-'));
      const out = await mkdtemp(join(tmpdir(), 'finetune-mb-onnx-'));
      dirs.push(src, out);
      const model = createModel(makeHfConfig('modernbert', fields), task, { seed: 11 });
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 10));
      model.eval();
      await savePretrained(model, src);
      const r = await exportOnnx(src, out);
      const sess = await ort.InferenceSession.create(r.modelPath);
      for (const [B, T] of [[3, 9], [1, 5]] as const) {
        const { ids, mask } = batch(B, T);
        const i64 = (a: Int32Array) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [B, T]);
        const res = await sess.run({ input_ids: i64(ids), attention_mask: i64(mask) });
        const ours = F.noGrad(() => {
          const o = task === 'feature-extraction'
            ? { logits: (model as unknown as { encode(b: object): Tensor }).encode({ inputIds: Tensor.wrap(ids.slice(), [B, T]), attentionMask: Tensor.wrap(mask.slice(), [B, T]) }) }
            : model.forward({ inputIds: Tensor.wrap(ids.slice(), [B, T]), attentionMask: Tensor.wrap(mask.slice(), [B, T]) });
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

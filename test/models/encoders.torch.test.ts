// DeBERTa-v2/v3 and ModernBERT against an independent PyTorch re-implementation written from transformers'
// modeling files (torch_encoders2_reference.py; torch only): random models are saved with savePretrained,
// loaded by name in PyTorch, and logits, loss and every parameter gradient must agree to 1e-4 relative.
// DeBERTa cases cover log-bucketed and clamped relative positions, shared and separate position
// projections, c2p and p2c, absolute positions, token types and embed_proj, both masked-LM head layouts;
// padding is in every batch.
// Skips cleanly when no python3 with torch is available.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import type { ModelBatch, TaskName } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertRelClose } from './helpers.ts';

F.setDefaultBackend(referenceBackend);
const SCRIPT = fileURLToPath(new URL('./torch_encoders2_reference.py', import.meta.url));
const TOL = 1e-4;

/** A python3 that can import torch (Debian's python3-torch lives in /usr/bin/python3), or null. */
function findTorchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return py;
  }
  return null;
}

const DROP0 = { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
const V3 = {
  vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16,
  relative_attention: true, position_buckets: 4, share_att_key: true, pos_att_type: 'p2c|c2p', norm_rel_ebd: 'layer_norm',
  position_biased_input: false, type_vocab_size: 0, ...DROP0,
};
const V2 = {
  vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 24, max_position_embeddings: 16,
  relative_attention: true, max_relative_positions: 3, pos_att_type: ['c2p', 'p2c'], position_biased_input: true, type_vocab_size: 2,
  embedding_size: 12, hidden_act: 'gelu_new', ...DROP0,
};

const MB = {
  vocab_size: 50, hidden_size: 16, num_hidden_layers: 4, num_attention_heads: 2, intermediate_size: 12, pad_token_id: 0,
  global_attn_every_n_layers: 3, local_attention: 4, global_rope_theta: 1000.0, local_rope_theta: 50.0, max_position_embeddings: 32,
};
const MB_BIAS = { norm_bias: true, mlp_bias: true, attention_bias: true, classifier_bias: true, hidden_activation: 'gelu_new' };

interface Case {
  name: string;
  modelType: ModelType;
  task: TaskName;
  fields: JsonObject;
  /** Which labels to give: class ids, floats per label, one float, or QA positions. */
  labels: 'class' | 'multi' | 'regression' | 'token' | 'mlm' | 'qa' | 'none';
}

const CASES: Case[] = [
  { name: 'deberta-v3 seq-cls (buckets, shared keys, c2p+p2c)', modelType: 'deberta-v2', task: 'text-classification', fields: { ...V3, num_labels: 3 }, labels: 'class' },
  { name: 'deberta-v3 token-cls', modelType: 'deberta-v2', task: 'token-classification', fields: { ...V3, num_labels: 4 }, labels: 'token' },
  { name: 'deberta-v3 QA', modelType: 'deberta-v2', task: 'question-answering', fields: V3, labels: 'qa' },
  { name: 'deberta-v2 seq-cls soft labels (pos projections, clamped span, embed_proj, token types)', modelType: 'deberta-v2', task: 'text-classification', fields: { ...V2, num_labels: 3 }, labels: 'multi' },
  { name: 'deberta-v2 regression c2p only', modelType: 'deberta-v2', task: 'text-classification', fields: { ...V2, pos_att_type: ['c2p'], num_labels: 1 }, labels: 'regression' },
  { name: 'deberta plain attention features', modelType: 'deberta-v2', task: 'feature-extraction', fields: { ...V3, relative_attention: false }, labels: 'none' },
  { name: 'deberta-v3 masked LM, lm_predictions layout (legacy false)', modelType: 'deberta-v2', task: 'fill-mask', fields: { ...V3, legacy: false }, labels: 'mlm' },
  { name: 'deberta-v2 masked LM, cls.predictions layout, embed_proj (E < C)', modelType: 'deberta-v2', task: 'fill-mask', fields: V2, labels: 'mlm' },
  { name: 'deberta-v2 masked LM, untied decoder', modelType: 'deberta-v2', task: 'fill-mask', fields: { ...V3, tie_word_embeddings: false }, labels: 'mlm' },
  { name: 'modernbert seq-cls cls pooling, local window 2', modelType: 'modernbert', task: 'text-classification', fields: { ...MB, num_labels: 3 }, labels: 'class' },
  { name: 'modernbert seq-cls mean pooling, all biases', modelType: 'modernbert', task: 'text-classification', fields: { ...MB, ...MB_BIAS, classifier_pooling: 'mean', num_labels: 3 }, labels: 'multi' },
  { name: 'modernbert token-cls', modelType: 'modernbert', task: 'token-classification', fields: { ...MB, num_labels: 4 }, labels: 'token' },
  { name: 'modernbert QA', modelType: 'modernbert', task: 'question-answering', fields: { ...MB, ...MB_BIAS }, labels: 'qa' },
  { name: 'modernbert masked LM (tied decoder, decoder bias)', modelType: 'modernbert', task: 'fill-mask', fields: MB, labels: 'mlm' },
  { name: 'modernbert masked LM, untied decoder, no decoder bias, all biases', modelType: 'modernbert', task: 'fill-mask', fields: { ...MB, ...MB_BIAS, tie_word_embeddings: false, decoder_bias: false }, labels: 'mlm' },
  { name: 'modernbert features', modelType: 'modernbert', task: 'feature-extraction', fields: MB, labels: 'none' },
];

/** A deterministic batch: B=3, T=7, padding at the end of rows 1 and 2. */
function makeBatch(c: Case, seed: number): { batch: ModelBatch; files: Record<string, TensorToWrite> } {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const [B, T] = [3, 7];
  const lengths = [7, 5, 3];
  const pad = 0;
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const types = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b];
      ids[b * T + t] = real ? 2 + Math.floor(rand() * 48) : pad;
      mask[b * T + t] = real ? 1 : 0;
      types[b * T + t] = real && t >= 3 ? 1 : 0;
    }
  }
  const int = (a: Int32Array, shape: number[]) => Tensor.from(a, shape, 'int32');
  const batch: ModelBatch = { inputIds: int(ids, [B, T]), attentionMask: int(mask, [B, T]), tokenTypeIds: int(types, [B, T]) };
  const files: Record<string, TensorToWrite> = {
    input_ids: { dtype: 'I64', shape: [B, T], data: ids },
    attention_mask: { dtype: 'I64', shape: [B, T], data: mask },
    token_type_ids: { dtype: 'I64', shape: [B, T], data: types },
  };
  const n = typeof c.fields['num_labels'] === 'number' ? c.fields['num_labels'] : 2;
  if (c.labels === 'class') {
    const y = Int32Array.from({ length: B }, (_, i) => i % n);
    batch.labels = int(y, [B]);
    files['labels'] = { dtype: 'I64', shape: [B], data: y };
  } else if (c.labels === 'multi' || c.labels === 'regression') {
    const y = Float32Array.from({ length: B * n }, () => (c.labels === 'multi' ? (rand() < 0.5 ? 1 : 0) : rand() * 2 - 1));
    batch.labels = Tensor.from(y, c.labels === 'multi' ? [B, n] : [B], 'float32');
    files['labels'] = { dtype: 'F32', shape: c.labels === 'multi' ? [B, n] : [B], data: y };
  } else if (c.labels === 'token' || c.labels === 'mlm') {
    const V = 50;
    const y = Int32Array.from(mask, (m, i) => (m === 0 || (c.labels === 'mlm' && i % 3 !== 0) ? -100 : Math.floor(rand() * (c.labels === 'mlm' ? V : n))));
    batch.labels = int(y, [B, T]);
    files['labels'] = { dtype: 'I64', shape: [B, T], data: y };
  } else if (c.labels === 'qa') {
    const sp = new Int32Array([1, -3, 40]); // clamped to 0 and to T (= ignored)
    const ep = new Int32Array([4, 2, 2]);
    batch.startPositions = int(sp, [B]);
    batch.endPositions = int(ep, [B]);
    files['start_positions'] = { dtype: 'I64', shape: [B], data: sp };
    files['end_positions'] = { dtype: 'I64', shape: [B], data: ep };
  }
  return { batch, files };
}

const python = findTorchPython();
const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

describe('DeBERTa-v2 and ModernBERT match an independent PyTorch implementation', { skip: python === null ? 'no python3 with torch found (apt install python3-torch)' : false }, () => {
  it('logits, losses and every gradient agree for every head', async () => {
    const root = await mkdtemp(join(tmpdir(), 'finetune-torch-'));
    tmpDirs.push(root);
    const runs = [];
    for (const [i, c] of CASES.entries()) {
      const dir = join(root, String(i));
      const model = createModel(makeHfConfig(c.modelType, c.fields), c.task, { seed: 100 + i });
      await savePretrained(model, dir);
      const { batch, files } = makeBatch(c, 7 + i);
      await writeSafetensors(join(dir, 'inputs.safetensors'), files);
      await writeFile(join(dir, 'case.json'), JSON.stringify({ task: c.task }));
      model.eval();
      const ours = F.tidy(() => {
        const out = model.forward(batch);
        out.loss?.backward();
        return { logits: out.logits.toArray(), loss: out.loss?.item() ?? null };
      });
      runs.push({ c, dir, model, ours });
    }
    const r = spawnSync(python as string, [SCRIPT, ...runs.map((x) => x.dir)], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `torch_encoders2_reference.py failed:\n${r.stderr}${r.stdout}`);
    for (const { c, dir, model, ours } of runs) {
      const ref = (await readSafetensors(join(dir, 'torch_out.safetensors'))).tensors;
      assertRelClose(ours.logits, toFloat32(ref.get('logits')!), TOL, `${c.name}: logits`);
      if (ours.loss === null) {
        assert.ok(!ref.has('loss'), `${c.name}: torch computed a loss`);
        continue;
      }
      const refLoss = toFloat32(ref.get('loss')!)[0];
      assert.ok(Math.abs(ours.loss - refLoss) <= TOL * Math.abs(refLoss), `${c.name}: loss ${ours.loss} vs ${refLoss}`);
      const refGrads = [...ref.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5)).sort();
      const withGrad = model.namedParameters().filter(([, p]) => p.requiresGrad);
      assert.deepEqual(withGrad.map(([n]) => n).sort(), refGrads, `${c.name}: trainable parameters`);
      // Some gradients are zero in exact arithmetic and hold rounding noise on both sides (key biases:
      // softmax ignores a per-row shift; QA's last LayerNorm bias and qa_outputs.bias: Σ_t (p_t − y_t) = 0).
      // So each tensor is compared relative to max(its own largest value, 1e-3 × the largest gradient).
      const globalMax = refGrads.reduce((m, n) => toFloat32(ref.get(`grad.${n}`)!).reduce((a, v) => Math.max(a, Math.abs(v)), m), 0);
      for (const [name, p] of withGrad) {
        const expected = toFloat32(ref.get(`grad.${name}`)!);
        const own = expected.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        const scale = Math.max(own, 1e-3 * globalMax);
        const got = p.grad!.toArray();
        let worst = 0;
        for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j] - expected[j]));
        assert.ok(worst <= TOL * scale, `${c.name}: grad ${name}: max |diff| ${worst} > ${TOL} × ${scale}`);
      }
    }
  });
});

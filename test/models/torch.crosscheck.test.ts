// Numeric cross-check of every encoder family and head against a tiny independent PyTorch
// re-implementation of transformers' modules (torch_reference.py; torch only, no transformers):
// fresh random models are saved with savePretrained, loaded strictly by name into the PyTorch modules
// (so the saved names are checked too), and logits, loss and every parameter gradient must agree to
// 1e-4 relative. Skips cleanly when no python3 with torch is available.

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
const SCRIPT = fileURLToPath(new URL('./torch_reference.py', import.meta.url));
const TOL = 1e-4;

/** A python3 that can import torch (Debian's python3-torch lives in /usr/bin/python3), or null. */
function findTorchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 });
    if (r.status === 0) return py;
  }
  return null;
}

const BERTISH = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
const DISTIL = { vocab_size: 50, dim: 16, n_layers: 2, n_heads: 2, hidden_dim: 24, dropout: 0, attention_dropout: 0, seq_classif_dropout: 0, qa_dropout: 0, max_position_embeddings: 20 };

interface Case {
  name: string;
  modelType: ModelType;
  task: TaskName;
  fields: JsonObject;
  /** Which labels to give: class ids, floats per label, one float, or QA positions. */
  labels: 'class' | 'multi' | 'regression' | 'token' | 'mlm' | 'qa' | 'none';
}

const CASES: Case[] = [
  { name: 'bert single-label', modelType: 'bert', task: 'text-classification', fields: { ...BERTISH, max_position_embeddings: 20, num_labels: 3 }, labels: 'class' },
  { name: 'bert regression', modelType: 'bert', task: 'text-classification', fields: { ...BERTISH, max_position_embeddings: 20, num_labels: 1 }, labels: 'regression' },
  { name: 'bert multi-label', modelType: 'bert', task: 'text-classification', fields: { ...BERTISH, max_position_embeddings: 20, num_labels: 3 }, labels: 'multi' },
  { name: 'bert token-cls (relu)', modelType: 'bert', task: 'token-classification', fields: { ...BERTISH, max_position_embeddings: 20, num_labels: 4, hidden_act: 'relu' }, labels: 'token' },
  { name: 'bert QA', modelType: 'bert', task: 'question-answering', fields: { ...BERTISH, max_position_embeddings: 20 }, labels: 'qa' },
  { name: 'bert MLM (gelu_new)', modelType: 'bert', task: 'fill-mask', fields: { ...BERTISH, max_position_embeddings: 20, hidden_act: 'gelu_new' }, labels: 'mlm' },
  { name: 'bert features', modelType: 'bert', task: 'feature-extraction', fields: { ...BERTISH, max_position_embeddings: 20 }, labels: 'none' },
  { name: 'distilbert seq-cls', modelType: 'distilbert', task: 'text-classification', fields: { ...DISTIL, num_labels: 3 }, labels: 'class' },
  { name: 'distilbert seq-cls sinusoidal', modelType: 'distilbert', task: 'text-classification', fields: { ...DISTIL, num_labels: 2, sinusoidal_pos_embds: true }, labels: 'class' },
  { name: 'distilbert token-cls', modelType: 'distilbert', task: 'token-classification', fields: { ...DISTIL, num_labels: 4 }, labels: 'token' },
  { name: 'distilbert QA', modelType: 'distilbert', task: 'question-answering', fields: DISTIL, labels: 'qa' },
  { name: 'distilbert MLM', modelType: 'distilbert', task: 'fill-mask', fields: DISTIL, labels: 'mlm' },
  { name: 'roberta seq-cls', modelType: 'roberta', task: 'text-classification', fields: { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1, num_labels: 3 }, labels: 'class' },
  { name: 'roberta QA', modelType: 'roberta', task: 'question-answering', fields: { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1 }, labels: 'qa' },
  { name: 'roberta MLM', modelType: 'roberta', task: 'fill-mask', fields: { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1 }, labels: 'mlm' },
  { name: 'xlm-roberta token-cls', modelType: 'xlm-roberta', task: 'token-classification', fields: { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1, num_labels: 3 }, labels: 'token' },
  { name: 'roberta features', modelType: 'roberta', task: 'feature-extraction', fields: { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1 }, labels: 'none' },
];

/** A deterministic batch: B=3, T=7, padding at the end of rows 1 and 2. */
function makeBatch(c: Case, seed: number): { batch: ModelBatch; files: Record<string, TensorToWrite> } {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const [B, T] = [3, 7];
  const lengths = [7, 5, 3];
  const pad = c.modelType === 'roberta' || c.modelType === 'xlm-roberta' ? 1 : 0;
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const types = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b];
      ids[b * T + t] = real ? 2 + Math.floor(rand() * 48) : pad;
      mask[b * T + t] = real ? 1 : 0;
      types[b * T + t] = c.modelType === 'bert' && real && t >= 3 ? 1 : 0;
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

describe('encoder families match an independent PyTorch implementation', { skip: python === null ? 'no python3 with torch found (apt install python3-torch)' : false }, () => {
  it('logits, losses and every gradient agree for BERT, DistilBERT, RoBERTa and XLM-RoBERTa heads', async () => {
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
      model.train(); // dropout is 0 in every case, so train mode computes what eval mode does
      const ours = F.tidy(() => {
        const out = model.forward(batch);
        out.loss?.backward();
        return { logits: out.logits.toArray(), loss: out.loss?.item() ?? null };
      });
      runs.push({ c, dir, model, ours });
    }
    const r = spawnSync(python as string, [SCRIPT, ...runs.map((x) => x.dir)], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `torch_reference.py failed:\n${r.stderr}${r.stdout}`);
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

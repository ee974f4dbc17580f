// Adapter folders against PEFT's LoRA semantics written out independently in PyTorch (peft_semantics.py
// on top of test/models/torch_reference.py; torch only): a base model, an adapter with random A and B
// (init_lora_weights false), rslora, dropout (inactive in eval), the task head in modules_to_save with
// PEFT's key names, loaded by loadPretrained(adapterDir) must give the reference's logits. Cases: BERT
// SEQ_CLS and QUESTION_ANS, RoBERTa SEQ_CLS (rslora, dotted target names), DistilBERT
// SEQ_CLS (pre_classifier saved too, as PEFT's endswith rule does) and TOKEN_CLS (q_lin, v_lin).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { ModelType } from '../../src/models/hf-config-schema.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';
import { saveLoraAdapter } from '../../src/lora/adapter.ts';
import { loraConfig, type PeftTaskType } from '../../src/lora/config.ts';
import { applyLora } from '../../src/lora/inject.ts';
import { createModel, loadPretrained, saveModelConfig, savePretrained } from '../../src/models/pretrained.ts';
import type { ModelBatch, TaskName } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { assertRelClose } from '../models/helpers.ts';

F.setDefaultBackend(referenceBackend);
const SCRIPT = fileURLToPath(new URL('./peft_semantics.py', import.meta.url));

function findTorchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) if (spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 }).status === 0) return py;
  return null;
}

const BERTISH = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
const DISTIL = { vocab_size: 50, dim: 16, n_layers: 2, n_heads: 2, hidden_dim: 24, dropout: 0, attention_dropout: 0, seq_classif_dropout: 0, qa_dropout: 0, max_position_embeddings: 20 };
const ROBERTA = { ...BERTISH, max_position_embeddings: 22, type_vocab_size: 1 };

interface Case {
  name: string;
  modelType: ModelType;
  fields: JsonObject;
  task: TaskName;
  taskType: PeftTaskType;
  labels: number;
  targets: string[];
  rslora: boolean;
}

const CASES: Case[] = [
  { name: 'bert SEQ_CLS', modelType: 'bert', fields: BERTISH, task: 'text-classification', taskType: 'SEQ_CLS', labels: 3, targets: ['query', 'value'], rslora: false },
  { name: 'bert QUESTION_ANS', modelType: 'bert', fields: BERTISH, task: 'question-answering', taskType: 'QUESTION_ANS', labels: 2, targets: ['query', 'key', 'value'], rslora: false },
  { name: 'roberta SEQ_CLS rslora', modelType: 'roberta', fields: ROBERTA, task: 'text-classification', taskType: 'SEQ_CLS', labels: 2, targets: ['query', 'value', 'output.dense'], rslora: true },
  // PEFT saves every module whose path ends with "classifier": DistilBERT's pre_classifier too.
  { name: 'distilbert SEQ_CLS', modelType: 'distilbert', fields: DISTIL, task: 'text-classification', taskType: 'SEQ_CLS', labels: 2, targets: ['q_lin', 'v_lin'], rslora: false },
  { name: 'distilbert TOKEN_CLS', modelType: 'distilbert', fields: DISTIL, task: 'token-classification', taskType: 'TOKEN_CLS', labels: 4, targets: ['q_lin', 'v_lin'], rslora: false },
];

function batchFor(c: Case): { batch: ModelBatch; files: Record<string, TensorToWrite> } {
  const [B, T] = [3, 7];
  const lengths = [7, 5, 3];
  const pad = c.modelType === 'roberta' ? 1 : 0;
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const types = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b]!;
      ids[b * T + t] = real ? 2 + ((b * 17 + t * 11) % 47) : pad;
      mask[b * T + t] = real ? 1 : 0;
      types[b * T + t] = c.modelType === 'bert' && real && t >= 3 ? 1 : 0;
    }
  }
  const int = (a: Int32Array) => Tensor.from(a, [B, T], 'int32');
  return {
    batch: { inputIds: int(ids), attentionMask: int(mask), tokenTypeIds: int(types) },
    files: {
      input_ids: { dtype: 'I64', shape: [B, T], data: ids },
      attention_mask: { dtype: 'I64', shape: [B, T], data: mask },
      token_type_ids: { dtype: 'I64', shape: [B, T], data: types },
    },
  };
}

const python = findTorchPython();
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('adapter folders match PEFT semantics in an independent PyTorch implementation', { skip: python === null ? 'no python3 with torch (apt install python3-torch)' : false }, () => {
  it('logits of base + adapter + modules_to_save agree for BERT, RoBERTa and DistilBERT heads', async () => {
    const root = await mkdtemp(join(tmpdir(), 'finetune-peft-'));
    dirs.push(root);
    const ours: Float32Array[] = [];
    for (const [i, c] of CASES.entries()) {
      const dir = join(root, String(i));
      await mkdir(dir, { recursive: true });
      // A base checkpoint (bare encoder with its pooler), as a Hub base model would be.
      const base = createModel(makeHfConfig(c.modelType, c.fields), 'feature-extraction', { seed: 10 + i });
      await savePretrained(base, join(dir, 'base'));
      base.dispose();
      const ids = Array.from({ length: c.labels }, (_, k) => `L${k}`);
      const { model } = await loadPretrained(join(dir, 'base'), { task: c.task, ...(c.task === 'question-answering' ? {} : { id2label: ids }), warn: () => {} });
      applyLora(model, loraConfig({
        r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: c.targets, task_type: c.taskType, init_lora_weights: false, use_rslora: c.rslora,
        base_model_name_or_path: join(dir, 'base'),
      }));
      await saveLoraAdapter(model, join(dir, 'adapter'));
      await saveModelConfig(model, join(dir, 'adapter'));
      if (c.name === 'distilbert SEQ_CLS') {
        const keys = [...(await readSafetensors(join(dir, 'adapter', 'adapter_model.safetensors'))).tensors.keys()].filter((k) => !k.includes('lora_')).sort();
        assert.deepEqual(keys, ['base_model.model.classifier.bias', 'base_model.model.classifier.weight', 'base_model.model.pre_classifier.bias', 'base_model.model.pre_classifier.weight']);
      }
      model.dispose();
      const { batch, files } = batchFor(c);
      await writeSafetensors(join(dir, 'inputs.safetensors'), files);
      await writeFile(join(dir, 'case.json'), JSON.stringify({ task: c.task }));
      const { model: loaded, info } = await loadPretrained(join(dir, 'adapter'), { strict: true });
      assert.equal(info.adapter?.config.task_type, c.taskType);
      loaded.eval();
      ours.push(F.tidy(() => Float32Array.from(F.contiguous(loaded.forward(batch).logits).floatData)));
      loaded.dispose();
    }
    const r = spawnSync(python as string, [SCRIPT, ...CASES.map((_, i) => join(root, String(i)))], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `peft_semantics.py failed:\n${r.stderr}${r.stdout}`);
    for (const [i, c] of CASES.entries()) {
      const ref = toFloat32((await readSafetensors(join(root, String(i), 'peft_out.safetensors'))).tensors.get('logits')!);
      assertRelClose(ours[i]!, ref, 1e-5, `${c.name}: logits`);
    }
  });
});

// Decoder models and LoRA against an independent PyTorch re-implementation (torch_decoder_reference.py;
// torch only, no transformers/peft): random GPT-2, Llama (GQA, head_dim, llama3 RoPE, biases), Qwen2 and
// Mistral models are saved with savePretrained (LoRA adapters with saveLoraAdapter, so the saved names
// and PEFT's layout are checked too), and logits, loss and every trainable parameter's gradient must
// agree to 1e-4 relative. Skips cleanly when no python3 with torch is available.

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
import { readSafetensors, toFloat32, writeSafetensors } from '../../src/io/safetensors.ts';
import { saveLoraAdapter } from '../../src/lora/adapter.ts';
import { loraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { applyLora } from '../../src/lora/inject.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);
const SCRIPT = fileURLToPath(new URL('./torch_decoder_reference.py', import.meta.url));
const TOL = 1e-4;

function findTorchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 }).status === 0) return py;
  }
  return null;
}

const LLAMA = { vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, pad_token_id: 0, num_labels: 3 };
const GPT2 = { vocab_size: 40, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 16, resid_pdrop: 0, embd_pdrop: 0, attn_pdrop: 0, pad_token_id: 0, num_labels: 3 };

interface Case {
  name: string;
  type: ModelType;
  task: TaskName;
  fields: JsonObject;
  lora?: Partial<LoraConfig> & Pick<LoraConfig, 'target_modules'>;
}

const CASES: Case[] = [
  { name: 'llama GQA head_dim untied', type: 'llama', task: 'text-generation', fields: { ...LLAMA, tie_word_embeddings: false } },
  { name: 'qwen2 q/k/v bias tied', type: 'qwen2', task: 'text-generation', fields: { ...LLAMA, tie_word_embeddings: true, rope_theta: 1000000.0 } },
  {
    name: 'llama3 rope + biases', type: 'llama', task: 'text-generation',
    fields: { ...LLAMA, attention_bias: true, mlp_bias: true, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 4 } },
  },
  { name: 'mistral seq-cls', type: 'mistral', task: 'text-classification', fields: { ...LLAMA, num_key_value_heads: 1 } },
  { name: 'gpt2 seq-cls', type: 'gpt2', task: 'text-classification', fields: GPT2 },
  { name: 'gpt2 causal LM', type: 'gpt2', task: 'text-generation', fields: GPT2 },
  { name: 'LoRA llama causal', type: 'llama', task: 'text-generation', fields: { ...LLAMA, tie_word_embeddings: false }, lora: { r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj'], task_type: 'CAUSAL_LM' } },
  { name: 'LoRA gpt2 Conv1D', type: 'gpt2', task: 'text-generation', fields: GPT2, lora: { r: 2, lora_alpha: 6, target_modules: ['c_attn', 'c_fc'], task_type: 'CAUSAL_LM' } },
  { name: 'LoRA qwen2 seq-cls + score', type: 'qwen2', task: 'text-classification', fields: LLAMA, lora: { r: 4, lora_alpha: 4, target_modules: 'all-linear', task_type: 'SEQ_CLS' } },
];

/** B=3, T=7, right padding with id 0 in rows 1 and 2. */
function makeBatch(task: TaskName, seed: number) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const [B, T] = [3, 7];
  const lengths = [7, 5, 3];
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const real = t < lengths[b];
      ids[b * T + t] = real ? 1 + Math.floor(rand() * 39) : 0;
      mask[b * T + t] = real ? 1 : 0;
    }
  }
  const labels = task === 'text-generation' ? Int32Array.from(ids, (v, i) => (mask[i] ? v : -100)) : new Int32Array([2, 0, 1]);
  const lShape = task === 'text-generation' ? [B, T] : [B];
  return {
    batch: { inputIds: Tensor.from(ids, [B, T], 'int32'), attentionMask: Tensor.from(mask, [B, T], 'int32'), labels: Tensor.from(labels, lShape, 'int32') },
    files: {
      input_ids: { dtype: 'I64' as const, shape: [B, T], data: ids },
      attention_mask: { dtype: 'I64' as const, shape: [B, T], data: mask },
      labels: { dtype: 'I64' as const, shape: lShape, data: labels },
    },
  };
}

function scaleOf(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function worstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

const python = findTorchPython();
const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

describe('decoder families and LoRA match an independent PyTorch implementation', { skip: python === null ? 'no python3 with torch found (apt install python3-torch)' : false }, () => {
  it('logits, losses and every trainable gradient agree', async () => {
    const root = await mkdtemp(join(tmpdir(), 'finetune-torch-dec-'));
    tmpDirs.push(root);
    const runs = [];
    for (const [i, c] of CASES.entries()) {
      const dir = join(root, String(i));
      const model = createModel(makeHfConfig(c.type, c.fields), c.task, { seed: 200 + i });
      // Widen the 0.02-std init so logits and gradients are far from rounding noise.
      for (const p of model.parameters()) if (p.ndim === 2) (p.data as Float32Array).forEach((v, j, a) => (a[j] = v * 15));
      await savePretrained(model, dir);
      if (c.lora) {
        applyLora(model, loraConfig({ ...c.lora, init_lora_weights: false }));
        await saveLoraAdapter(model, join(dir, 'adapter'));
      }
      const { batch, files } = makeBatch(c.task, 11 + i);
      await writeSafetensors(join(dir, 'inputs.safetensors'), files);
      await writeFile(join(dir, 'case.json'), JSON.stringify({ task: c.task }));
      model.eval();
      const ours = F.tidy(() => {
        const out = model.forward(batch);
        out.loss!.backward();
        return { logits: out.logits.toArray(), loss: out.loss!.item() };
      });
      runs.push({ c, dir, model, ours });
    }
    const r = spawnSync(python as string, [SCRIPT, ...runs.map((x) => x.dir)], { encoding: 'utf8', timeout: 600_000 });
    assert.equal(r.status, 0, `torch_decoder_reference.py failed:\n${r.stderr}${r.stdout}`);
    for (const { c, dir, model, ours } of runs) {
      const ref = (await readSafetensors(join(dir, 'torch_out.safetensors'))).tensors;
      const refLogits = toFloat32(ref.get('logits')!);
      assert.ok(worstDiff(ours.logits, refLogits) <= TOL * scaleOf(refLogits), `${c.name}: logits differ by ${worstDiff(ours.logits, refLogits)}`);
      const refLoss = toFloat32(ref.get('loss')!)[0];
      assert.ok(Math.abs(ours.loss - refLoss) <= TOL * Math.abs(refLoss), `${c.name}: loss ${ours.loss} vs ${refLoss}`);
      const key = (name: string) => (c.lora ? `base_model.model.${name}` : name);
      const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad);
      const refGrads = [...ref.keys()].filter((k) => k.startsWith('grad.')).map((k) => k.slice(5)).sort();
      assert.deepEqual(trainable.map(([n]) => key(n)).sort(), refGrads, `${c.name}: trainable parameters`);
      const globalMax = refGrads.reduce((m, n) => Math.max(m, scaleOf(toFloat32(ref.get(`grad.${n}`)!))), 0);
      const transposed = (model as unknown as { checkpointRules: { transposed?: RegExp[] } }).checkpointRules.transposed ?? [];
      for (const [name, p] of trainable) {
        const entry = ref.get(`grad.${key(name)}`)!;
        let expected = toFloat32(entry);
        if (!c.lora && transposed.some((re) => re.test(name))) {
          const [rows, cols] = entry.shape;
          const t = new Float32Array(expected.length);
          for (let a = 0; a < rows; a++) for (let b = 0; b < cols; b++) t[b * rows + a] = expected[a * cols + b];
          expected = t;
        }
        const got = p.grad!.toArray();
        const limit = TOL * Math.max(scaleOf(expected), 1e-3 * globalMax);
        assert.ok(worstDiff(got, expected) <= limit, `${c.name}: grad ${name}: max |diff| ${worstDiff(got, expected)} > ${limit}`);
      }
      model.dispose();
    }
  });
});

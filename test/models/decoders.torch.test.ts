// The decoder families added on rope-decoder.ts (Qwen3, Gemma 2, Gemma 3 text, Phi-3) and Mistral's /
// Qwen2's sliding window beyond the window, against an independent PyTorch re-implementation written from
// transformers' modeling files (torch_decoder2_reference.py; torch only): random models are saved with
// savePretrained (LoRA adapters with saveLoraAdapter), and logits, loss and every trainable parameter's
// gradient must agree to 1e-4 relative. Sequences (T=7) are longer than the sliding windows, Phi-3 runs
// both longrope factor sets, and every head is covered. Skips cleanly when no python3 with torch is available.

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
const SCRIPT = fileURLToPath(new URL('./torch_decoder2_reference.py', import.meta.url));
const TOL = 1e-4;

function findTorchPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120_000 }).status === 0) return py;
  }
  return null;
}

const BASE = { vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 6, pad_token_id: 0, num_labels: 3 };
const QWEN3 = { ...BASE, use_sliding_window: true, sliding_window: 3, max_window_layers: 1, rope_theta: 1000.0 };
const GEMMA = { ...BASE, head_dim: 8, query_pre_attn_scalar: 12, sliding_window: 3, attn_logit_softcapping: 2.0, final_logit_softcapping: 3.0 };
const GEMMA3 = { ...BASE, head_dim: 8, num_hidden_layers: 3, query_pre_attn_scalar: 8, sliding_window: 4, sliding_window_pattern: 2, rope_local_base_freq: 100.0, rope_scaling: { rope_type: 'linear', factor: 2.0 } };
const longrope = (orig: number) => ({
  max_position_embeddings: 32, original_max_position_embeddings: orig, partial_rotary_factor: 0.5,
  rope_scaling: { rope_type: 'longrope', short_factor: [1.0, 1.5], long_factor: [2.0, 5.0] },
});
const PHI3 = { ...BASE, head_dim: 8, num_attention_heads: 2, num_key_value_heads: 2, hidden_size: 16, sliding_window: 5, ...longrope(4) };

interface Case {
  name: string;
  type: ModelType;
  task: TaskName;
  fields: JsonObject;
  lora?: Partial<LoraConfig> & Pick<LoraConfig, 'target_modules'>;
}

const CASES: Case[] = [
  { name: 'qwen3 causal, q/k norm, sliding layer 1, tied', type: 'qwen3', task: 'text-generation', fields: { ...QWEN3, tie_word_embeddings: true } },
  { name: 'qwen3 seq-cls', type: 'qwen3', task: 'text-classification', fields: QWEN3 },
  { name: 'qwen3 token-cls', type: 'qwen3', task: 'token-classification', fields: { ...QWEN3, attention_bias: true } },
  { name: 'gemma2 causal, soft-caps, window', type: 'gemma2', task: 'text-generation', fields: GEMMA },
  { name: 'gemma2 seq-cls', type: 'gemma2', task: 'text-classification', fields: GEMMA },
  { name: 'gemma2 token-cls', type: 'gemma2', task: 'token-classification', fields: GEMMA },
  { name: 'gemma3 causal, local/global RoPE, linear scaling', type: 'gemma3_text', task: 'text-generation', fields: GEMMA3 },
  { name: 'gemma3 seq-cls untied', type: 'gemma3_text', task: 'text-classification', fields: { ...GEMMA3, tie_word_embeddings: false } },
  { name: 'phi3 causal, partial rotary, longrope long factors, window', type: 'phi3', task: 'text-generation', fields: PHI3 },
  { name: 'phi3 seq-cls, longrope short factors', type: 'phi3', task: 'text-classification', fields: { ...PHI3, ...longrope(8), sliding_window: null } },
  { name: 'phi3 token-cls plain rope', type: 'phi3', task: 'token-classification', fields: { ...BASE, head_dim: 8, num_attention_heads: 2, num_key_value_heads: 1 } },
  { name: 'mistral beyond its window', type: 'mistral', task: 'text-generation', fields: { ...BASE, sliding_window: 3 } },
  { name: 'qwen2 sliding from layer 1', type: 'qwen2', task: 'text-classification', fields: { ...BASE, use_sliding_window: true, sliding_window: 2, max_window_layers: 1 } },
  { name: 'LoRA phi3 fused projections', type: 'phi3', task: 'text-generation', fields: PHI3, lora: { r: 4, lora_alpha: 8, target_modules: ['qkv_proj', 'gate_up_proj', 'o_proj'], task_type: 'CAUSAL_LM' } },
  { name: 'LoRA gemma2 seq-cls + score', type: 'gemma2', task: 'text-classification', fields: GEMMA, lora: { r: 2, lora_alpha: 4, target_modules: 'all-linear', task_type: 'SEQ_CLS' } },
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
  const perToken = task === 'text-generation' || task === 'token-classification';
  const labels = task === 'text-generation'
    ? Int32Array.from(ids, (v, i) => (mask[i] ? v : -100))
    : task === 'token-classification' ? Int32Array.from(ids, (v, i) => (mask[i] ? v % 3 : -100)) : new Int32Array([2, 0, 1]);
  const lShape = perToken ? [B, T] : [B];
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
    assert.equal(r.status, 0, `torch_decoder2_reference.py failed:\n${r.stderr}${r.stdout}`);
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

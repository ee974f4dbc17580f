// The module tree is the one source of truth for submodules: after replaceChild (how LoRA, and later
// quantized or checkpointed layers, wrap a layer) every model of every family and task runs the
// wrapped module. Checked two ways for each: no field anywhere in the tree still holds a replaced
// module (staleFields), and applying LoRA to every linear layer with a non-zero update changes the
// logits and gives every adapter a gradient.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora, loraParameters } from '../../src/lora/inject.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import { createModel } from '../../src/models/pretrained.ts';
import type { ModelBatch, TaskName } from '../../src/models/types.ts';
import { Linear, Module } from '../../src/nn/module.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const ENC = { vocab_size: 30, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 24, num_labels: 3 };
const DEC = { vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, pad_token_id: 0, num_labels: 3 };
const FAMILIES: [Parameters<typeof makeHfConfig>[0], JsonObject, TaskName[]][] = [
  ['bert', ENC, ['text-classification', 'token-classification', 'question-answering', 'fill-mask']],
  ['roberta', { ...ENC, type_vocab_size: 1 }, ['text-classification', 'token-classification', 'question-answering', 'fill-mask']],
  ['distilbert', { vocab_size: 30, dim: 8, n_layers: 2, n_heads: 2, hidden_dim: 12, max_position_embeddings: 24, num_labels: 3 }, ['text-classification', 'token-classification', 'question-answering', 'fill-mask']],
  ['gpt2', { vocab_size: 30, n_embd: 8, n_layer: 2, n_head: 2, n_positions: 24, num_labels: 3, pad_token_id: 0 }, ['text-generation', 'text-classification']],
  ['llama', { vocab_size: 30, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, tie_word_embeddings: false, pad_token_id: 0, num_labels: 3 }, ['text-generation', 'text-classification']],
  ['qwen3', { ...DEC, head_dim: 4, tie_word_embeddings: false }, ['text-generation', 'text-classification', 'token-classification']],
  ['gemma2', { ...DEC, head_dim: 4, sliding_window: 4 }, ['text-generation', 'text-classification', 'token-classification']],
  ['gemma3_text', { ...DEC, head_dim: 4, sliding_window: 4, sliding_window_pattern: 2 }, ['text-generation', 'text-classification']],
  ['phi3', { ...DEC, partial_rotary_factor: 0.5 }, ['text-generation', 'text-classification', 'token-classification']],
  ['deberta-v2', { ...ENC, relative_attention: true, position_buckets: 4, share_att_key: true, pos_att_type: 'p2c|c2p', norm_rel_ebd: 'layer_norm', position_biased_input: false, type_vocab_size: 0 }, ['text-classification', 'token-classification', 'question-answering', 'fill-mask']],
  ['deberta-v2', { ...ENC, relative_attention: true, max_relative_positions: 4, pos_att_type: ['c2p', 'p2c'], embedding_size: 6 }, ['text-classification', 'fill-mask']],
  ['deberta-v2', { ...ENC, relative_attention: true, position_buckets: 4, pos_att_type: 'p2c|c2p', legacy: false }, ['fill-mask']],
  ['modernbert', { ...ENC, pad_token_id: 0, local_attention: 2, global_attn_every_n_layers: 2 }, ['text-classification', 'token-classification', 'question-answering', 'fill-mask']],
];

const withLabels = (fields: JsonObject, task: TaskName) => (task === 'question-answering' ? { ...fields, num_labels: 2 } : fields);
const ids = [2, 5, 7, 1, 9, 4];
const batch = (): ModelBatch => ({
  inputIds: Tensor.from(Int32Array.from(ids), [1, ids.length], 'int32'),
  attentionMask: Tensor.from(Int32Array.from(ids.map(() => 1)), [1, ids.length], 'int32'),
});
const logits = (m: PretrainedTaskModel): number[] => F.tidy(() => F.noGrad(() => m.forward(batch()).logits.toArray()));

/** A module that wraps a Linear and adds 1 to its output: a stand-in for any wrapper. */
class PlusOne extends Module {
  readonly inner: Linear;
  constructor(inner: Linear) {
    super();
    this.inner = this.child('inner', inner);
  }
  forward(x: Tensor): Tensor {
    return F.addScalar(this.inner.forward(x), 1);
  }
}

describe('every model runs the submodule registered in its tree', () => {
  for (const [type, fields, tasks] of FAMILIES) {
    for (const task of tasks) {
      it(`${type} ${task}: a replaced child is the one that runs`, () => {
        const model = createModel(makeHfConfig(type, withLabels(fields, task)), task, { seed: 3 });
        model.eval();
        assert.deepEqual(model.staleFields(), [], 'fields equal registered children before');
        const before = logits(model);
        for (const [path, m] of model.namedModules()) {
          if (!(m instanceof Linear) || path === '') continue;
          const cut = path.lastIndexOf('.');
          const parent = model.namedModules().find(([p]) => p === (cut < 0 ? '' : path.slice(0, cut)))![1];
          parent.replaceChild(path.slice(cut + 1), new PlusOne(m));
        }
        assert.deepEqual(model.staleFields(), [], 'no field holds a replaced module');
        const after = logits(model);
        assert.ok(after.some((v, i) => Math.abs(v - before[i]) > 1e-6), 'wrapping every linear layer changes the logits');
      });

      it(`${type} ${task}: LoRA on every linear layer changes logits and trains every adapter`, () => {
        const model = createModel(makeHfConfig(type, withLabels(fields, task)), task, { seed: 4 });
        model.eval();
        const before = logits(model);
        applyLora(model, loraConfig({ r: 2, lora_alpha: 4, target_modules: 'all-linear', lora_dropout: 0 }));
        for (const [name, p] of loraParameters(model)) {
          if (name.endsWith('lora_B.weight')) (p.data as Float32Array).fill(0.05);
        }
        const after = logits(model);
        assert.ok(after.some((v, i) => Math.abs(v - before[i]) > 1e-6), 'a non-zero adapter changes the logits');
        F.tidy(() => {
          const out = model.forward(batch());
          F.sum(out.logits).backward();
        });
        const without = loraParameters(model).filter(([, p]) => p.grad === null).map(([n]) => n);
        assert.deepEqual(without, [], 'every adapter has a gradient');
      });
    }
  }
});

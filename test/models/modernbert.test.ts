// ModernBERT beyond the numbers (those are in encoders.torch.test.ts): parameter names equal the keys of
// answerdotai/ModernBERT-base checkpoints (no biases, no norm before layer 0's attention), save → load
// round trip, the masked-LM head (keys, tied decoder, round trip, sparse_prediction's loss), v5
// rope_parameters, and a clear error for an unknown classifier_pooling.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ConfigError } from '../../src/errors.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { makeHfConfig, type ModernBertConfig } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { modernBertRopeBases } from '../../src/models/modernbert.ts';
import { createModel, fromPretrained, mapCheckpointKeys, savePretrained, stateDictForSave } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const MB: JsonObject = { vocab_size: 40, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, pad_token_id: 0, local_attention: 2, num_labels: 2 };
const tmp: string[] = [];
after(async () => {
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

describe('ModernBERT', () => {
  it('parameter names equal ModernBERT-base checkpoint keys (+ head and classifier)', () => {
    const names = [...stateDictForSave(createModel(makeHfConfig('modernbert', MB), 'text-classification', { seed: 1 })).keys()].sort();
    const layer = (i: number) => [...(i > 0 ? ['attn_norm'] : []), 'attn.Wqkv', 'attn.Wo', 'mlp_norm', 'mlp.Wi', 'mlp.Wo'].map((m) => `model.layers.${i}.${m}.weight`);
    assert.deepEqual(names, [
      'model.embeddings.tok_embeddings.weight', 'model.embeddings.norm.weight', ...layer(0), ...layer(1), 'model.final_norm.weight',
      'head.dense.weight', 'head.norm.weight', 'classifier.weight', 'classifier.bias',
    ].sort());
  });

  it('save → load gives the same logits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-modernbert-'));
    tmp.push(dir);
    const model = createModel(makeHfConfig('modernbert', { ...MB, classifier_pooling: 'mean' }), 'text-classification', { seed: 2 });
    model.eval();
    await savePretrained(model, dir);
    const back = await fromPretrained(dir, { warn: () => {} });
    back.eval();
    const batch = { inputIds: intTensor([1, 5, 6, 7, 2, 0], [1, 6]), attentionMask: intTensor([1, 1, 1, 1, 1, 0], [1, 6]) };
    assert.deepEqual(F.noGrad(() => back.forward(batch).logits.toArray()), F.noGrad(() => model.forward(batch).logits.toArray()));
  });

  it('RoPE bases from v5 rope_parameters or the flat fields', () => {
    const flat = makeHfConfig('modernbert', { local_rope_theta: null }) as ModernBertConfig;
    assert.deepEqual(modernBertRopeBases(flat), { global: 160000, local: 160000 });
    const v5 = makeHfConfig('modernbert', { rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 80000.0 }, sliding_attention: { rope_type: 'default', rope_theta: 500.0 } } }) as ModernBertConfig;
    assert.deepEqual(modernBertRopeBases(v5), { global: 80000, local: 500 });
  });

  it('an unknown classifier_pooling is a ConfigError naming the field', () => {
    assert.throws(() => createModel(makeHfConfig('modernbert', { ...MB, classifier_pooling: 'max' }), 'text-classification'), (e: unknown) => e instanceof ConfigError && /classifier_pooling/.test(e.message));
  });

  it('masked LM: head + decoder keys as ModernBERT-base ships them, tied decoder not saved', () => {
    const heads = (extra: JsonObject) => [...stateDictForSave(createModel(makeHfConfig('modernbert', { ...MB, ...extra }), 'fill-mask', { seed: 1 })).keys()].filter((k) => !k.startsWith('model.')).sort();
    assert.deepEqual(heads({}), ['decoder.bias', 'head.dense.weight', 'head.norm.weight']);
    assert.deepEqual(heads({ tie_word_embeddings: false, decoder_bias: false }), ['decoder.weight', 'head.dense.weight', 'head.norm.weight']);
    // A checkpoint that also stores the tied decoder.weight (as some exports do) loads with nothing unexpected.
    const m = createModel(makeHfConfig('modernbert', MB), 'fill-mask', { seed: 1 });
    const mapped = mapCheckpointKeys(m, [...stateDictForSave(m).keys(), 'decoder.weight']);
    assert.deepEqual([mapped.unexpected, mapped.missing], [[], []]);
  });

  it('masked LM save → load gives the same logits', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-modernbert-mlm-'));
    tmp.push(dir);
    const model = createModel(makeHfConfig('modernbert', MB), 'fill-mask', { seed: 4 });
    model.eval();
    await savePretrained(model, dir);
    const back = await fromPretrained(dir, { warn: (m) => assert.fail(`unexpected warning: ${m}`) });
    back.eval();
    assert.equal(back.architecture, 'ModernBertForMaskedLM');
    const batch = { inputIds: intTensor([1, 5, 6, 7, 2, 0], [1, 6]), attentionMask: intTensor([1, 1, 1, 1, 1, 0], [1, 6]) };
    const a = F.noGrad(() => back.forward(batch).logits);
    assert.deepEqual(a.shape, [1, 6, 40]);
    assert.deepEqual(a.toArray(), F.noGrad(() => model.forward(batch).logits.toArray()));
  });

  it('masked LM with sparse_prediction: the loss over labels other than sparse_pred_ignore_index, as transformers', () => {
    const ids = intTensor([1, 5, 6, 7, 2, 3], [1, 6]);
    const loss = (extra: JsonObject, labels: number[]) => {
      const m = createModel(makeHfConfig('modernbert', { ...MB, ...extra }), 'fill-mask', { seed: 5 });
      m.eval();
      return F.noGrad(() => m.forward({ inputIds: ids, labels: Tensor.from(Int32Array.from(labels), [1, 6], 'int32') }).loss!.item());
    };
    const dense = loss({}, [-100, 5, -100, 9, -100, -100]);
    assert.equal(loss({ sparse_prediction: true }, [-100, 5, -100, 9, -100, -100]), dense);
    assert.equal(loss({ sparse_prediction: true, sparse_pred_ignore_index: 0 }, [0, 5, 0, 9, -100, 0]), dense);
  });
});

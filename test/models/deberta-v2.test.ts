// DeBERTa-v2/v3 beyond the numbers (those are in encoders.torch.test.ts): parameter names equal the keys of
// microsoft/deberta-v3-base checkpoints, make_log_bucket_position values from torch, a save → load round
// trip (config.json's pos_att_type kept verbatim), the masked-LM heads' key layouts ("legacy" true: cls.predictions,
// false: lm_predictions.lm_head) and their round trips, and the refusals (ConvLayer, legacy false with embed_proj).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { logBucketPosition } from '../../src/models/deberta-v2.ts';
import { createModel, fromPretrained, mapCheckpointKeys, savePretrained, stateDictForSave } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const V3: JsonObject = {
  vocab_size: 40, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16,
  relative_attention: true, position_buckets: 4, share_att_key: true, pos_att_type: ['p2c', 'c2p'], norm_rel_ebd: 'layer_norm',
  position_biased_input: false, type_vocab_size: 0, num_labels: 3,
};
const tmp: string[] = [];
after(async () => {
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

describe('DeBERTa-v2', () => {
  it('parameter names equal deberta-v3-base checkpoint keys (+ the classification head)', () => {
    const wb = (p: string) => [`${p}.weight`, `${p}.bias`];
    const names = [...stateDictForSave(createModel(makeHfConfig('deberta-v2', V3), 'text-classification', { seed: 1 })).keys()].sort();
    const l = 'deberta.encoder.layer.0.';
    assert.deepEqual(names, [
      'deberta.embeddings.word_embeddings.weight', ...wb('deberta.embeddings.LayerNorm'),
      'deberta.encoder.rel_embeddings.weight', ...wb('deberta.encoder.LayerNorm'),
      ...['attention.self.query_proj', 'attention.self.key_proj', 'attention.self.value_proj', 'attention.output.dense', 'attention.output.LayerNorm',
        'intermediate.dense', 'output.dense', 'output.LayerNorm'].flatMap((m) => wb(l + m)),
      ...wb('pooler.dense'), ...wb('classifier'),
    ].sort());
  });

  it('make_log_bucket_position as torch computes it (bucket 256, max 512)', () => {
    const rel = [-511, -300, -200, -129, -128, -127, -5, 0, 1, 127, 128, 129, 130, 200, 255, 300, 511, 1000];
    const torch = [-255, -207, -169, -129, -128, -127, -5, 0, 1, 127, 128, 129, 130, 169, 192, 207, 255, 317];
    assert.deepEqual(rel.map((r) => logBucketPosition(r, 256, 512)), torch);
  });

  it('save → load gives the same logits and keeps pos_att_type', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-deberta-'));
    tmp.push(dir);
    const model = createModel(makeHfConfig('deberta-v2', V3), 'token-classification', { seed: 2 });
    model.eval();
    await savePretrained(model, dir);
    const back = await fromPretrained(dir, { warn: () => {} });
    back.eval();
    assert.equal(back.architecture, 'DebertaV2ForTokenClassification');
    const batch = { inputIds: intTensor([1, 5, 6, 7, 2, 0], [1, 6]), attentionMask: intTensor([1, 1, 1, 1, 1, 0], [1, 6]) };
    assert.deepEqual(F.noGrad(() => back.forward(batch).logits.toArray()), F.noGrad(() => model.forward(batch).logits.toArray()));
    const json = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as JsonObject;
    assert.deepEqual(json['pos_att_type'], ['p2c', 'c2p']);
    assert.equal(json['type_vocab_size'], 0);
  });

  it('refuses what it does not implement, naming the setting', () => {
    assert.throws(() => createModel(makeHfConfig('deberta-v2', { ...V3, conv_kernel_size: 3 }), 'text-classification'), (e: unknown) => e instanceof ModelError && /conv_kernel_size/.test(e.message));
    assert.throws(() => createModel(makeHfConfig('deberta-v2', { ...V3, legacy: false, embedding_size: 6 }), 'fill-mask'), (e: unknown) => e instanceof ConfigError && /legacy/.test(e.message));
    assert.throws(() => createModel(makeHfConfig('deberta-v2', { ...V3, pos_att_type: 'c2p|x' }), 'text-classification'), (e: unknown) => e instanceof ConfigError && /pos_att_type/.test(e.message));
  });

  it('masked-LM heads: the key layouts of transformers, tied decoder not saved, mask_predictions ignored', () => {
    const head = (legacy: boolean, extra: JsonObject = {}) => {
      const m = createModel(makeHfConfig('deberta-v2', { ...V3, legacy, ...extra }), 'fill-mask', { seed: 1 });
      return { m, keys: [...stateDictForSave(m).keys()].filter((k) => !k.startsWith('deberta.')).sort() };
    };
    const legacy = head(true);
    assert.equal(legacy.m.architecture, 'DebertaV2ForMaskedLM');
    assert.deepEqual(legacy.keys, ['cls.predictions.bias', 'cls.predictions.transform.LayerNorm.bias', 'cls.predictions.transform.LayerNorm.weight',
      'cls.predictions.transform.dense.bias', 'cls.predictions.transform.dense.weight']);
    assert.deepEqual(head(true, { tie_word_embeddings: false }).keys, [...legacy.keys, 'cls.predictions.decoder.weight'].sort());
    const v3 = head(false);
    assert.deepEqual(v3.keys, ['lm_predictions.lm_head.LayerNorm.bias', 'lm_predictions.lm_head.LayerNorm.weight', 'lm_predictions.lm_head.bias',
      'lm_predictions.lm_head.dense.bias', 'lm_predictions.lm_head.dense.weight']);
    // microsoft/deberta-v3-base also ships the RTD discriminator's mask_predictions.*: ignored, as transformers does.
    const all = [...stateDictForSave(v3.m).keys(), 'mask_predictions.dense.weight', 'mask_predictions.classifier.bias'];
    const mapped = mapCheckpointKeys(v3.m, all);
    assert.deepEqual([mapped.unexpected, mapped.missing], [[], []]);
    // A checkpoint with the decoder saved under its tied aliases still loads (bias from cls.predictions.decoder.bias).
    const aliases = [...stateDictForSave(legacy.m).keys()].map((k) => (k === 'cls.predictions.bias' ? 'cls.predictions.decoder.bias' : k));
    const m2 = mapCheckpointKeys(legacy.m, [...aliases, 'cls.predictions.decoder.weight']);
    assert.deepEqual([m2.unexpected, m2.missing], [[], []]);
    assert.equal(m2.assignments.get('cls.predictions.bias'), 'cls.predictions.decoder.bias');
  });

  for (const legacy of [true, false]) {
    it(`masked LM (legacy ${legacy}) save → load gives the same logits`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'finetune-deberta-mlm-'));
      tmp.push(dir);
      const model = createModel(makeHfConfig('deberta-v2', { ...V3, legacy }), 'fill-mask', { seed: 3 });
      model.eval();
      await savePretrained(model, dir);
      const back = await fromPretrained(dir, { warn: (m) => assert.fail(`unexpected warning: ${m}`) });
      back.eval();
      assert.equal(back.task, 'fill-mask');
      const batch = { inputIds: intTensor([1, 5, 6, 7, 2, 0], [1, 6]), attentionMask: intTensor([1, 1, 1, 1, 1, 0], [1, 6]) };
      const a = F.noGrad(() => back.forward(batch).logits);
      assert.deepEqual(a.shape, [1, 6, 40]);
      assert.deepEqual(a.toArray(), F.noGrad(() => model.forward(batch).logits.toArray()));
    });
  }
});

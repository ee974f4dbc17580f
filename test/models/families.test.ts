// Structure of the DistilBERT and RoBERTa task models against the key names of real transformers
// checkpoints (distilbert-base-uncased(-finetuned-sst-2-english), roberta-base, deepset/roberta-base-squad2,
// xlm-roberta-base), RoBERTa's position ids (transformers' create_position_ids_from_input_ids example),
// DistilBERT's sinusoidal table, activations by name, and the family registry's errors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { activation } from '../../src/models/common.ts';
import { sinusoidalTable } from '../../src/models/distilbert.ts';
import { createModel, familyFor, stateDictForSave } from '../../src/models/pretrained.ts';
import { robertaPositionIds } from '../../src/models/roberta.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const wb = (p: string) => [`${p}.weight`, `${p}.bias`];
const layers = (n: number, f: (i: number) => string[]) => Array.from({ length: n }, (_, i) => f(i)).flat();

/** DistilBERT keys as in distilbert-base-uncased (per transformer block). */
const distilBase = (n: number) => [
  'distilbert.embeddings.word_embeddings.weight', 'distilbert.embeddings.position_embeddings.weight', ...wb('distilbert.embeddings.LayerNorm'),
  ...layers(n, (i) => ['q_lin', 'k_lin', 'v_lin', 'out_lin'].flatMap((m) => wb(`distilbert.transformer.layer.${i}.attention.${m}`)).concat(
    ...['sa_layer_norm', 'ffn.lin1', 'ffn.lin2', 'output_layer_norm'].map((m) => wb(`distilbert.transformer.layer.${i}.${m}`)),
  )),
];

/** RoBERTa keys as in roberta-base (BERT's encoder under "roberta."). */
const robertaBase = (n: number, prefix = 'roberta') => [
  ...['word_embeddings', 'position_embeddings', 'token_type_embeddings'].map((e) => `${prefix}.embeddings.${e}.weight`), ...wb(`${prefix}.embeddings.LayerNorm`),
  ...layers(n, (i) => ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'attention.output.LayerNorm', 'intermediate.dense', 'output.dense', 'output.LayerNorm']
    .flatMap((m) => wb(`${prefix}.encoder.layer.${i}.${m}`))),
];

const DISTIL = { vocab_size: 30, dim: 8, n_layers: 2, n_heads: 2, hidden_dim: 12, max_position_embeddings: 16 };
const ROBERTA = { vocab_size: 30, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 18, type_vocab_size: 1 };

function savedNames(modelType: 'distilbert' | 'roberta' | 'xlm-roberta', fields: object, task: Parameters<typeof createModel>[1]): string[] {
  return [...stateDictForSave(createModel(makeHfConfig(modelType, { ...fields }), task, { seed: 9 })).keys()].sort();
}

describe('parameter names equal transformers checkpoint keys', () => {
  it('DistilBERT: sequence classification, token classification, QA, masked LM', () => {
    assert.deepEqual(savedNames('distilbert', DISTIL, 'text-classification'), [...distilBase(2), ...wb('pre_classifier'), ...wb('classifier')].sort());
    assert.deepEqual(savedNames('distilbert', DISTIL, 'token-classification'), [...distilBase(2), ...wb('classifier')].sort());
    assert.deepEqual(savedNames('distilbert', DISTIL, 'question-answering'), [...distilBase(2), ...wb('qa_outputs')].sort());
    // vocab_projector.weight is tied to the word embeddings and saved once (under the embeddings' name).
    assert.deepEqual(savedNames('distilbert', DISTIL, 'fill-mask'), [...distilBase(2), ...wb('vocab_transform'), ...wb('vocab_layer_norm'), 'vocab_projector.bias'].sort());
    assert.deepEqual(savedNames('distilbert', DISTIL, 'feature-extraction'), distilBase(2).map((k) => k.slice('distilbert.'.length)).sort());
  });

  it('RoBERTa / XLM-RoBERTa: classification head, LM head, QA, token classification', () => {
    assert.deepEqual(savedNames('roberta', ROBERTA, 'text-classification'), [...robertaBase(2), ...wb('classifier.dense'), ...wb('classifier.out_proj')].sort());
    assert.deepEqual(savedNames('roberta', ROBERTA, 'fill-mask'), [...robertaBase(2), ...wb('lm_head.dense'), ...wb('lm_head.layer_norm'), 'lm_head.bias'].sort());
    assert.deepEqual(savedNames('roberta', ROBERTA, 'question-answering'), [...robertaBase(2), ...wb('qa_outputs')].sort());
    assert.deepEqual(savedNames('xlm-roberta', ROBERTA, 'token-classification'), [...robertaBase(2), ...wb('classifier')].sort());
    assert.deepEqual(savedNames('roberta', ROBERTA, 'feature-extraction'), [...robertaBase(2, 'r').map((k) => k.slice(2)), ...wb('pooler.dense')].sort());
  });

  it('uses transformers class names, and shapes of roberta-base', () => {
    const arch = (t: 'roberta' | 'xlm-roberta' | 'distilbert', task: Parameters<typeof createModel>[1]) => createModel(makeHfConfig(t, t === 'distilbert' ? DISTIL : ROBERTA), task).architecture;
    assert.equal(arch('roberta', 'text-classification'), 'RobertaForSequenceClassification');
    assert.equal(arch('xlm-roberta', 'fill-mask'), 'XLMRobertaForMaskedLM');
    assert.equal(arch('xlm-roberta', 'feature-extraction'), 'XLMRobertaModel');
    assert.equal(arch('distilbert', 'question-answering'), 'DistilBertForQuestionAnswering');
    // roberta-base: vocab 50265, 514 positions, one token type, padding row 1 zero at init.
    const m = createModel(makeHfConfig('roberta', { vocab_size: 50265, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, max_position_embeddings: 514, type_vocab_size: 1 }), 'fill-mask');
    const p = new Map(m.namedParameters());
    assert.deepEqual(p.get('roberta.embeddings.position_embeddings.weight')!.shape, [514, 8]);
    assert.deepEqual(p.get('roberta.embeddings.token_type_embeddings.weight')!.shape, [1, 8]);
    assert.deepEqual(p.get('lm_head.bias')!.shape, [50265]);
    assert.ok(Array.from(p.get('roberta.embeddings.position_embeddings.weight')!.floatData.subarray(8, 16)).every((v) => v === 0), 'padding_idx row zero');
  });
});

describe('position ids and fixed tables', () => {
  it('RoBERTa numbers real tokens from padding_idx + 1 and gives padding padding_idx', () => {
    // transformers' test_create_position_ids_respects_padding_index: [[12, 31, 13, pad]] → [[pad+1, pad+2, pad+3, pad]]
    const ids = Tensor.from(new Int32Array([12, 31, 13, 1, 0, 5, 1, 1]), [2, 4], 'int32');
    assert.deepEqual(robertaPositionIds(ids, 1).toArray(), [2, 3, 4, 1, 2, 3, 1, 1]);
  });

  it('DistilBERT sinusoidal positions follow create_sinusoidal_embeddings and are frozen', () => {
    const t = sinusoidalTable(3, 4);
    // row 2: [sin(2), cos(2), sin(2/100), cos(2/100)] (10000^(2*1/4) = 100)
    const expected = [Math.sin(2), Math.cos(2), Math.sin(0.02), Math.cos(0.02)];
    expected.forEach((v, j) => assert.ok(Math.abs(t[8 + j] - v) < 1e-6));
    const m = createModel(makeHfConfig('distilbert', { ...DISTIL, sinusoidal_pos_embds: true }), 'feature-extraction');
    const pos = new Map(m.namedParameters()).get('embeddings.position_embeddings.weight')!;
    assert.equal(pos.requiresGrad, false);
    assert.ok(!m.trainableParameters().some(([n]) => n === 'embeddings.position_embeddings.weight'));
  });
});

describe('activations and registry', () => {
  it('maps config activation names to the right functions', () => {
    const x = Tensor.from([-1, 0.5, 2], [3], 'float32');
    const val = (name: string) => activation(name, 'hidden_act')(x).toArray();
    const erfGelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const tanhGelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
    val('gelu').forEach((y, i) => assert.ok(Math.abs(y - erfGelu([-1, 0.5, 2][i])) < 1e-6));
    for (const n of ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast']) val(n).forEach((y, i) => assert.ok(Math.abs(y - tanhGelu([-1, 0.5, 2][i])) < 1e-6, n));
    assert.deepEqual(val('relu'), [0, 0.5, 2]);
    assert.throws(() => activation('mish2', 'hidden_act'), (e: unknown) => e instanceof ConfigError && /hidden_act/.test(e.message));
  });

  it('names the supported types for an unregistered model_type, and refuses tasks a family lacks', () => {
    assert.throws(() => familyFor('t5', 'x/config.json'), (e: unknown) => e instanceof ModelError && e.message.includes('x/config.json') && e.message.includes('bert'));
    assert.throws(() => createModel(makeHfConfig('distilbert', DISTIL), 'text-generation'), (e: unknown) => e instanceof ConfigError && /text-generation/.test(e.message));
  });
});

/** erf by its Taylor series (|x| <= 2 here, error far below 1e-9). */
function erf(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

// Tests for config.json reading/writing: the goldens written by Python transformers must round-trip
// byte for byte, defaults must equal transformers' (values from its configuration_*.py files), and
// labels follow PreTrainedConfig's rules.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, FileFormatError, ModelError } from '../../src/errors.ts';
import {
  attentionProjectionBias, configDtype, effectiveSlidingWindow, hfConfigToString, labelNames, makeHfConfig,
  parseHfConfig, parseHfConfigText, readHfConfig, readModelFolderConfigs, setLabels, SUPPORTED_MODEL_TYPES, writeHfConfig,
} from '../../src/models/hf-config.ts';

const GOLDENS = fileURLToPath(new URL('../../../shared/goldens/', import.meta.url));
const TINYLLAMA = fileURLToPath(new URL('../../../shared/data/tinyllamas-stories260K/hf/', import.meta.url));
const skipGoldens = existsSync(GOLDENS) ? false : `goldens not found at ${GOLDENS}`;
const skipLlama = existsSync(TINYLLAMA) ? false : `stories260K not found at ${TINYLLAMA}`;

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cfg-test-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('config.json written by transformers', { skip: skipGoldens }, () => {
  for (const name of ['bert-seqcls', 'bert-tokcls', 'gpt2-clm']) {
    test(`${name}: reads and writes back byte for byte`, async () => {
      const cfg = await readHfConfig(join(GOLDENS, name));
      const original = await readFile(join(GOLDENS, name, 'config.json'), 'utf8');
      assert.equal(hfConfigToString(cfg), original);
    });
  }

  test('typed fields and labels of the BERT goldens', async () => {
    const cfg = await readHfConfig(join(GOLDENS, 'bert-seqcls'));
    assert.equal(cfg.model_type, 'bert');
    if (cfg.model_type !== 'bert') return;
    assert.equal(cfg.hidden_size, 32);
    assert.equal(cfg.num_hidden_layers, 2);
    assert.equal(cfg.num_attention_heads, 4);
    assert.equal(cfg.layer_norm_eps, 1e-12);
    assert.equal(cfg.position_embedding_type, 'absolute'); // absent from the file: default
    assert.equal(cfg.num_labels, 3);
    assert.deepEqual(labelNames(cfg), ['LABEL_0', 'LABEL_1', 'LABEL_2']);
    assert.equal(cfg.id2label[2], 'LABEL_2');
    assert.deepEqual(cfg.architectures, ['BertForSequenceClassification']);
    assert.equal(configDtype(cfg), 'float32');
    const tok = await readHfConfig(join(GOLDENS, 'bert-tokcls'));
    assert.equal(tok.num_labels, 5);
  });

  test('GPT-2 golden: no id2label in the file means 2 default labels', async () => {
    const { config, generationConfig, tokenizerConfig, specialTokensMap } = await readModelFolderConfigs(join(GOLDENS, 'gpt2-clm'));
    assert.equal(config.model_type, 'gpt2');
    if (config.model_type !== 'gpt2') return;
    assert.equal(config.num_labels, 2);
    assert.deepEqual(config.label2id, { LABEL_0: 0, LABEL_1: 1 });
    assert.equal(config.n_embd, 32);
    assert.equal(config.n_inner, null);
    assert.equal(config.activation_function, 'gelu_new');
    assert.equal(config.tie_word_embeddings, true);
    assert.equal(generationConfig?.bos_token_id, 0);
    assert.equal(tokenizerConfig, null);
    assert.equal(specialTokensMap, null);
  });
});

describe('stories260K llama config', { skip: skipLlama }, () => {
  test('reads the Llama fields; writes a config that reads back equal', async () => {
    const cfg = await readHfConfig(TINYLLAMA);
    assert.equal(cfg.model_type, 'llama');
    if (cfg.model_type !== 'llama') return;
    assert.equal(cfg.hidden_size, 64);
    assert.equal(cfg.num_key_value_heads, 4);
    assert.equal(cfg.head_dim, 8);
    assert.equal(cfg.rms_norm_eps, 1e-5);
    assert.equal(cfg.rope_theta, 10000);
    assert.equal(cfg.tie_word_embeddings, true);
    assert.equal(cfg.pad_token_id, null);
    assert.equal(cfg.pretraining_tp, 1); // default
    assert.deepEqual(attentionProjectionBias(cfg), { qkv: false, o: false });
    const text = hfConfigToString(cfg);
    assert.match(text, /"rope_theta": 10000\.0,/);
    assert.match(text, /"rms_norm_eps": 1e-05,/);
    assert.match(text, /"torch_dtype": "float32",/); // unknown field kept
    assert.match(text, /"transformers_version": "/); // filled in
    const again = parseHfConfigText(text, 'again.json');
    assert.deepEqual({ ...again, source: null }, { ...cfg, source: null, extra: { ...cfg.extra, transformers_version: again.extra['transformers_version'] ?? null } });
  });
});

describe('defaults equal transformers defaults', () => {
  test('BERT (configuration_bert.py)', () => {
    const c = makeHfConfig('bert');
    assert.equal(c.model_type, 'bert');
    if (c.model_type !== 'bert') return;
    assert.deepEqual(
      [c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size, c.hidden_act,
        c.hidden_dropout_prob, c.attention_probs_dropout_prob, c.max_position_embeddings, c.type_vocab_size,
        c.initializer_range, c.layer_norm_eps, c.pad_token_id, c.classifier_dropout, c.num_labels],
      [30522, 768, 12, 12, 3072, 'gelu', 0.1, 0.1, 512, 2, 0.02, 1e-12, 0, null, 2],
    );
  });
  test('RoBERTa and XLM-RoBERTa special ids', () => {
    for (const t of ['roberta', 'xlm-roberta'] as const) {
      const c = makeHfConfig(t);
      assert.deepEqual([c.pad_token_id, c.bos_token_id, c.eos_token_id], [1, 0, 2], t);
    }
  });
  test('DistilBERT, with attribute_map aliases', () => {
    const c = makeHfConfig('distilbert', { hidden_size: 64, num_attention_heads: 4 });
    assert.equal(c.model_type, 'distilbert');
    if (c.model_type !== 'distilbert') return;
    assert.deepEqual([c.dim, c.n_heads, c.n_layers, c.hidden_dim, c.seq_classif_dropout, c.qa_dropout, c.activation], [64, 4, 6, 3072, 0.2, 0.1, 'gelu']);
    assert.match(hfConfigToString(c), /"dim": 64/);
    assert.doesNotMatch(hfConfigToString(c), /"hidden_size"/);
    assert.throws(() => makeHfConfig('distilbert', { dim: 64, hidden_size: 32 }), ConfigError);
  });
  test('GPT-2 (configuration_gpt2.py)', () => {
    const c = makeHfConfig('gpt2', { hidden_size: 128, num_attention_heads: 4 });
    if (c.model_type !== 'gpt2') throw new Error('wrong type');
    assert.deepEqual([c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head, c.layer_norm_epsilon, c.bos_token_id, c.eos_token_id], [50257, 1024, 128, 12, 4, 1e-5, 50256, 50256]);
  });
  test('Llama, Mistral and Qwen2 on the Llama shape', () => {
    const l = makeHfConfig('llama');
    const m = makeHfConfig('mistral');
    const q = makeHfConfig('qwen2');
    if (l.model_type !== 'llama' || m.model_type !== 'mistral' || q.model_type !== 'qwen2') throw new Error('wrong type');
    assert.deepEqual([l.vocab_size, l.intermediate_size, l.num_key_value_heads, l.head_dim, l.max_position_embeddings, l.rms_norm_eps, l.tie_word_embeddings], [32000, 11008, 32, 128, 2048, 1e-6, false]);
    assert.deepEqual([m.intermediate_size, m.num_key_value_heads, m.max_position_embeddings, effectiveSlidingWindow(m)], [14336, 8, 131072, 4096]);
    assert.deepEqual([q.vocab_size, q.intermediate_size, q.num_key_value_heads, q.bos_token_id, effectiveSlidingWindow(q)], [151936, 22016, 32, null, null]);
    assert.deepEqual(attentionProjectionBias(q), { qkv: true, o: false });
    assert.deepEqual(attentionProjectionBias(makeHfConfig('llama', { attention_bias: true }) as typeof l), { qkv: true, o: true });
  });
  test('v5-style rope_parameters supply rope_theta and scaling', () => {
    const c = makeHfConfig('llama', { rope_parameters: { rope_type: 'llama3', rope_theta: 500000.0, factor: 8.0 } });
    if (c.model_type !== 'llama') throw new Error('wrong type');
    assert.equal(c.rope_theta, 500000);
    assert.equal(c.rope_scaling?.['factor'], 8);
    const old = makeHfConfig('llama', { rope_scaling: { type: 'linear', factor: 2.0 } });
    if (old.model_type !== 'llama') throw new Error('wrong type');
    assert.equal(old.rope_scaling?.['rope_type'], 'linear');
  });
});

describe('labels and problem_type', () => {
  test('id2label keys are strings in JSON, numbers here; label2id derived when absent', () => {
    const c = parseHfConfigText('{"model_type": "bert", "id2label": {"0": "neg", "1": "neu", "2": "pos"}}', 'c.json');
    assert.deepEqual(c.id2label, { 0: 'neg', 1: 'neu', 2: 'pos' });
    assert.deepEqual(c.label2id, { neg: 0, neu: 1, pos: 2 });
    assert.equal(c.num_labels, 3);
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "id2label": {"a": "x"}}', 'c.json'), /c\.json: key "a" is not a class index/);
  });
  test('num_labels without id2label makes LABEL_i; changing num_labels resets them as transformers does', () => {
    const c = parseHfConfigText('{"model_type": "bert", "num_labels": 4}', 'c.json');
    assert.deepEqual(labelNames(c), ['LABEL_0', 'LABEL_1', 'LABEL_2', 'LABEL_3']);
    c.num_labels = 3;
    const back = parseHfConfigText(hfConfigToString(c), 'w.json');
    assert.deepEqual(labelNames(back), ['LABEL_0', 'LABEL_1', 'LABEL_2']);
    assert.doesNotMatch(hfConfigToString(c), /"num_labels"/); // transformers never writes it
  });
  test('setLabels; 12 labels are written in Python order ("2" before "10")', () => {
    const c = setLabels(makeHfConfig('bert'), Array.from({ length: 12 }, (_, i) => `c${i}`));
    const text = hfConfigToString(c);
    assert.ok(text.indexOf('"2": "c2"') < text.indexOf('"10": "c10"'));
    assert.ok(text.indexOf('"c10": 10') < text.indexOf('"c2": 2')); // label2id keys are strings
    const back = parseHfConfigText(text, 'w.json');
    assert.deepEqual(labelNames(back), labelNames(c));
    assert.deepEqual(back.label2id, c.label2id);
    assert.throws(() => setLabels(c, ['a', 'a']), ConfigError);
  });
  test('problem_type is checked', () => {
    const ok = parseHfConfigText('{"model_type": "roberta", "problem_type": "multi_label_classification"}', 'c.json');
    assert.equal(ok.problem_type, 'multi_label_classification');
    assert.match(hfConfigToString(ok), /"problem_type": "multi_label_classification"/);
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "problem_type": "ranking"}', 'c.json'), ConfigError);
    assert.throws(
      () => parseHfConfigText('{"model_type": "bert", "problem_type": "single_label_classification", "id2label": {"0": "x"}}', 'c.json'),
      /needs num_labels > 1/,
    );
  });
});

describe('errors and preservation', () => {
  test('unknown or missing model_type names the file and the supported types', () => {
    assert.throws(() => parseHfConfigText('{"model_type": "t5"}', '/m/config.json'), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.match(e.message, /\/m\/config\.json: model_type "t5" is not supported/);
      for (const t of SUPPORTED_MODEL_TYPES) assert.ok(e.message.includes(t), t);
      return true;
    });
    assert.throws(() => parseHfConfigText('{"hidden_size": 3}', '/m/config.json'), /no "model_type"/);
  });
  test('wrong types and impossible shapes are ConfigErrors naming key and file', () => {
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "hidden_size": "big"}', 'c.json'), (e: unknown) => e instanceof ConfigError && e.key === 'hidden_size' && /c\.json/.test(e.message));
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "hidden_size": 30}', 'c.json'), /not a multiple of num_attention_heads/);
    assert.throws(() => parseHfConfigText('{"model_type": "llama", "num_key_value_heads": 5}', 'c.json'), /not a multiple of num_key_value_heads/);
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "hidden_dropout_prob": 1.5}', 'c.json'), /probability/);
    assert.throws(() => parseHfConfigText('{"model_type": "bert", "model_type": "gpt2"}', 'c.json'), FileFormatError);
  });
  test('unknown fields and float spelling survive a write', async () => {
    const text = '{"model_type": "gpt2", "my_scale": 2.0, "my_count": 2, "nested": {"f": 1.0, "l": [1, 2.0]}, "n_layer": 3}';
    const c = parseHfConfigText(text, 'c.json');
    const dir = await tmp();
    await writeHfConfig(dir, c);
    const out = await readFile(join(dir, 'config.json'), 'utf8');
    assert.match(out, /"my_scale": 2\.0,/);
    assert.match(out, /"my_count": 2,/);
    assert.match(out, /"f": 1\.0,/);
    assert.match(out, /"l": \[\n {6}1,\n {6}2\.0\n {4}\]/);
    assert.match(out, /"n_layer": 3,/);
    assert.match(out, /"architectures": \[\n {4}"GPT2LMHeadModel"\n {2}\]/);
    assert.ok(out.endsWith('}\n'));
  });
  test('float fields set in code are written as Python floats', () => {
    const c = makeHfConfig('bert', { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 });
    const text = hfConfigToString(c);
    assert.match(text, /"hidden_dropout_prob": 0\.0,/);
    assert.match(text, /"attention_probs_dropout_prob": 0\.0,/);
    assert.match(text, /"architectures": \[\n {4}"BertModel"/);
  });
  test('optional tokenizer and generation files are read and loosely checked', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'config.json'), '{"model_type": "bert"}');
    await writeFile(join(dir, 'tokenizer_config.json'), '{"do_lower_case": true, "model_max_length": 512, "tokenizer_class": "BertTokenizer", "extra": [1]}');
    await writeFile(join(dir, 'special_tokens_map.json'), '{"cls_token": "[CLS]", "sep_token": {"content": "[SEP]"}}');
    const r = await readModelFolderConfigs(dir);
    assert.equal(r.tokenizerConfig?.model_max_length, 512);
    assert.equal(r.specialTokensMap?.['cls_token'], '[CLS]');
    assert.equal(r.generationConfig, null);
    await writeFile(join(dir, 'generation_config.json'), '{"eos_token_id": "two"}');
    await assert.rejects(readModelFolderConfigs(dir), /generation_config\.json: field "eos_token_id"/);
    await assert.rejects(readHfConfig(join(dir, 'nothing')), ModelError);
  });
});

describe('values that would load garbage or allocate without end are refused, naming config.json and the field', () => {
  const bert = (fields: Record<string, unknown>) => parseHfConfig({ model_type: 'bert', hidden_size: 32, num_attention_heads: 4, vocab_size: 100, ...fields } as never, 'x/config.json');
  const refuses = (fields: Record<string, unknown>, key: string, re: RegExp) =>
    assert.throws(() => bert(fields), (e: Error) => e instanceof ConfigError && e.key === key && /x\/config\.json/.test(e.message) && re.test(e.message), JSON.stringify(fields));
  test('epsilons, sizes, pad id, labels', () => {
    refuses({ layer_norm_eps: -1 }, 'layer_norm_eps', /small positive number/);
    refuses({ layer_norm_eps: Infinity }, 'layer_norm_eps', /small positive number/);
    refuses({ layer_norm_eps: 0 }, 'layer_norm_eps', /small positive number/);
    refuses({ hidden_size: 1e9, num_attention_heads: 1 }, 'hidden_size', /far beyond any real model/);
    refuses({ vocab_size: 2 ** 40 }, 'vocab_size', /far beyond/);
    refuses({ num_hidden_layers: 100000 }, 'num_hidden_layers', /far beyond/);
    refuses({ pad_token_id: 100 }, 'pad_token_id', /not a token id/);
    refuses({ id2label: { 0: 'a', 1: 'a' } }, 'id2label', /label "a" is given to classes 0 and 1/);
    refuses({ id2label: { 0: 'a', 2: 'b' } }, 'id2label', /0\.\.1 without gaps/);
    assert.equal(bert({ pad_token_id: -1, layer_norm_eps: 1e-5 }).num_labels, 2);
  });
});

// from_pretrained / save_pretrained: bit-exact round trips (single file and shards), names exactly as
// transformers saved them (the golden checkpoints), base_model_prefix in both directions, legacy
// gamma/beta names and buffers, tied MLM weights, transformers' warnings, and every bad input of the
// issue (unknown model_type, corrupt or pickle weights, label counts and vocabularies that do not fit).

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ConfigError, DataError, FileFormatError, ModelError } from '../../src/errors.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';
import {
  AutoModel, AutoModelForSequenceClassification, createModel, fromPretrained, loadPretrained, mapCheckpointKeys, savePretrained,
} from '../../src/models/pretrained.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { fixturePath } from './helpers.ts';

F.setDefaultBackend(referenceBackend);
const SEQCLS = fixturePath('goldens/bert-seqcls');
const TOKCLS = fixturePath('goldens/bert-tokcls');
const TINY_TOKENIZER = fixturePath('tiny-bert-seqcls');
const tmpDirs: string[] = [];
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'finetune-models-'));
  tmpDirs.push(d);
  return d;
}

const quiet = { warn: () => undefined };

function paramBits(model: PretrainedTaskModel): Map<string, Uint8Array> {
  return new Map(model.namedParameters().map(([n, p]) => {
    const d = p.floatData;
    return [n, new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength))];
  }));
}

async function checkpointFolder(entries: Record<string, TensorToWrite>, config: string): Promise<string> {
  const dir = await tmp();
  await writeFile(join(dir, 'config.json'), config);
  await writeSafetensors(join(dir, 'model.safetensors'), entries, { format: 'pt' });
  return dir;
}

async function goldenEntries(dir: string): Promise<Record<string, TensorToWrite>> {
  const out: Record<string, TensorToWrite> = {};
  for (const [k, e] of (await readSafetensors(join(dir, 'model.safetensors'))).tensors) out[k] = { dtype: e.dtype, shape: e.shape, data: e.data };
  return out;
}

const TINY = { vocab_size: 60, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32 };

describe('savePretrained → fromPretrained', () => {
  it('round-trips a trained model bit-exactly, with transformers names, labels and tokenizer files', async () => {
    const model = await AutoModelForSequenceClassification.fromPretrained(SEQCLS, { id2label: ['neg', 'neu', 'pos'], ...quiet });
    // Move every weight off the golden values so the check sees what was saved, not what was read.
    F.noGrad(() => model.namedParameters().forEach(([, p], i) => p.floatData.forEach((v, j, a) => (a[j] = v + 1e-3 * Math.sin(i + j)))));
    const tokenizer = await loadTokenizer(TINY_TOKENIZER);
    const out = await tmp();
    await savePretrained(model, out, { tokenizer });
    const files = (await readdir(out)).sort();
    for (const f of ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) assert.ok(files.includes(f), `${f} written`);
    assert.ok(!files.some((f) => f.endsWith('.tmp')), 'no temp files left');

    const saved = await readSafetensors(join(out, 'model.safetensors'));
    const golden = await readSafetensors(join(SEQCLS, 'model.safetensors'));
    assert.deepEqual([...saved.tensors.keys()].sort(), [...golden.tensors.keys()].sort(), 'the names transformers saved');
    assert.deepEqual(saved.metadata, { format: 'pt' });
    assert.ok([...saved.tensors.values()].every((e) => e.dtype === 'F32'));

    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config['architectures'], ['BertForSequenceClassification']);
    assert.deepEqual(config['id2label'], { 0: 'neg', 1: 'neu', 2: 'pos' });
    assert.deepEqual(config['label2id'], { neg: 0, neu: 1, pos: 2 });
    const original = JSON.parse(await readFile(join(SEQCLS, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual({ ...config, id2label: null, label2id: null }, { ...original, id2label: null, label2id: null }, 'every other field as transformers wrote it');

    const warnings: string[] = [];
    const back = await fromPretrained(out, { warn: (m) => warnings.push(m) });
    assert.deepEqual(warnings, []);
    assert.equal(back.architecture, 'BertForSequenceClassification', 'task taken from config.json architectures');
    assert.deepEqual(back.hfConfig.id2label, { 0: 'neg', 1: 'neu', 2: 'pos' });
    assert.deepEqual(paramBits(back), paramBits(model));
    const tokBack = await loadTokenizer(out);
    assert.deepEqual(tokBack.encode('hello world').ids, tokenizer.encode('hello world').ids);
  });

  it('round-trips fresh DistilBERT, RoBERTa and XLM-RoBERTa models (tied heads included) with no warnings', async () => {
    const distil = { vocab_size: 40, dim: 8, n_layers: 1, n_heads: 2, hidden_dim: 12, max_position_embeddings: 16 };
    const roberta = { vocab_size: 40, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 18, type_vocab_size: 1 };
    const cases = [
      createModel(makeHfConfig('distilbert', distil), 'fill-mask', { seed: 11 }),
      createModel(makeHfConfig('distilbert', { ...distil, sinusoidal_pos_embds: true, num_labels: 3 }), 'text-classification', { seed: 12 }),
      createModel(makeHfConfig('roberta', { ...roberta, num_labels: 3 }), 'text-classification', { seed: 13 }),
      createModel(makeHfConfig('xlm-roberta', roberta), 'fill-mask', { seed: 14 }),
      createModel(makeHfConfig('roberta', roberta), 'question-answering', { seed: 15 }),
    ];
    for (const model of cases) {
      const out = await tmp();
      await savePretrained(model, out);
      const warnings: string[] = [];
      const back = await fromPretrained(out, { warn: (m) => warnings.push(m) });
      assert.equal(back.architecture, model.architecture);
      assert.deepEqual(warnings, [], model.architecture);
      assert.deepEqual(paramBits(back), paramBits(model), model.architecture);
    }
  });

  it('writes shards with an index when over maxShardSize, and replaces them on a later single-file save', async () => {
    const model = await fromPretrained(TOKCLS, { task: 'token-classification', ...quiet });
    const out = await tmp();
    await savePretrained(model, out, { maxShardSize: 100_000 });
    const files = (await readdir(out)).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    assert.ok(shards.length >= 2, `several shards: ${files.join(', ')}`);
    assert.ok(!files.includes('model.safetensors'));
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
    assert.equal(Object.keys(index.weight_map).length, model.namedParameters().length);
    assert.equal(index.metadata.total_size, model.namedParameters().reduce((n, [, p]) => n + 4 * p.size, 0));
    const back = await fromPretrained(out, quiet);
    assert.deepEqual(paramBits(back), paramBits(model));
    await savePretrained(model, out);
    const after2 = await readdir(out);
    assert.ok(after2.includes('model.safetensors') && !after2.some((f) => f.startsWith('model-') || f.endsWith('.index.json')), after2.join(', '));
  });
});

describe('base_model_prefix, legacy names, buffers and tied weights', () => {
  it('loads a task checkpoint into the bare model (prefix stripped) and reports the head as unused', async () => {
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(SEQCLS, { task: 'feature-extraction', warn: (m) => warnings.push(m) });
    assert.equal(model.architecture, 'BertModel');
    assert.ok(model.namedParameters().every(([n]) => !n.startsWith('bert.')));
    assert.deepEqual(info.unexpectedKeys, ['classifier.bias', 'classifier.weight']);
    assert.deepEqual(info.missingKeys, []);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^Some weights of the model checkpoint at .* were not used when initializing BertModel: \['classifier\.bias', 'classifier\.weight'\]/);
    const ckpt = (await readSafetensors(join(SEQCLS, 'model.safetensors'))).tensors;
    const p = new Map(model.namedParameters());
    assert.deepEqual(Array.from(p.get('pooler.dense.weight')!.floatData), Array.from(toFloat32(ckpt.get('bert.pooler.dense.weight')!)));
  });

  it('loads a bare-model checkpoint into a task model and initialises the new head as transformers does', async () => {
    const bare = await AutoModel.fromPretrained(SEQCLS, quiet);
    const out = await tmp();
    await savePretrained(bare, out);
    const keys = [...(await readSafetensors(join(out, 'model.safetensors'))).tensors.keys()];
    assert.ok(keys.includes('embeddings.word_embeddings.weight') && !keys.some((k) => k.startsWith('bert.')), 'BertModel keys have no prefix');
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(out, { task: 'text-classification', numLabels: 4, warn: (m) => warnings.push(m) });
    assert.deepEqual(info.missingKeys, ['classifier.weight', 'classifier.bias']);
    assert.deepEqual(info.unexpectedKeys, []);
    assert.equal(warnings.length, 1);
    assert.ok(warnings[0].startsWith(`Some weights of BertForSequenceClassification were not initialized from the model checkpoint at ${out} and are newly initialized: ['classifier.weight', 'classifier.bias']\nYou should probably TRAIN this model`));
    const p = new Map(model.namedParameters());
    assert.ok(p.get('classifier.bias')!.floatData.every((v) => v === 0), 'zero bias');
    const w = Array.from(p.get('classifier.weight')!.floatData);
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(std > 0.015 && std < 0.025, `normal(0, initializer_range = 0.02): std ${std}`);
    assert.deepEqual(model.hfConfig.id2label, { 0: 'LABEL_0', 1: 'LABEL_1', 2: 'LABEL_2', 3: 'LABEL_3' });
    assert.deepEqual(paramBits(bare).get('pooler.dense.weight'), paramBits(model).get('bert.pooler.dense.weight'));
  });

  it('accepts TF-era LayerNorm gamma/beta names and ignores position_ids buffers', async () => {
    const entries = await goldenEntries(SEQCLS);
    const renamed: Record<string, TensorToWrite> = {};
    for (const [k, v] of Object.entries(entries)) renamed[k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta')] = v;
    renamed['bert.embeddings.position_ids'] = { dtype: 'I64', shape: [1, 64], data: Int32Array.from({ length: 64 }, (_, i) => i) };
    assert.ok(Object.keys(renamed).some((k) => k.endsWith('.gamma')));
    const dir = await checkpointFolder(renamed, await readFile(join(SEQCLS, 'config.json'), 'utf8'));
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(dir, { warn: (m) => warnings.push(m) });
    assert.deepEqual([info.missingKeys, info.unexpectedKeys, warnings], [[], [], []]);
    const reference = await fromPretrained(SEQCLS, quiet);
    assert.deepEqual(paramBits(model), paramBits(reference));
  });

  it('ties the MLM decoder to the word embeddings and saves it once, as transformers does', async () => {
    const model = createModel(makeHfConfig('bert', TINY), 'fill-mask', { seed: 1 });
    const names = model.namedParameters().map(([n]) => n);
    assert.ok(names.includes('cls.predictions.bias') && !names.some((n) => n.startsWith('cls.predictions.decoder')));
    const out = await tmp();
    await savePretrained(model, out);
    const saved = await readSafetensors(join(out, 'model.safetensors'));
    assert.ok(!saved.tensors.has('cls.predictions.decoder.weight') && !saved.tensors.has('cls.predictions.decoder.bias'));
    // A checkpoint that also carries the tied aliases (older transformers) loads without warnings.
    const entries = await goldenEntries(out);
    entries['cls.predictions.decoder.weight'] = entries['bert.embeddings.word_embeddings.weight'];
    entries['cls.predictions.decoder.bias'] = entries['cls.predictions.bias'];
    const dir = await checkpointFolder(entries, await readFile(join(out, 'config.json'), 'utf8'));
    const warnings: string[] = [];
    const { model: back, info } = await loadPretrained(dir, { warn: (m) => warnings.push(m) });
    assert.equal(back.architecture, 'BertForMaskedLM');
    assert.deepEqual([info.missingKeys, info.unexpectedKeys, warnings], [[], [], []]);
    assert.deepEqual(paramBits(back), paramBits(model));
    // Untied: the decoder weight is its own parameter and is saved.
    const untied = createModel(makeHfConfig('bert', { ...TINY, tie_word_embeddings: false }), 'fill-mask', { seed: 1 });
    assert.ok(untied.namedParameters().some(([n]) => n === 'cls.predictions.decoder.weight'));
  });

  it('maps names the way transformers does for each prefix case', () => {
    const model = createModel(makeHfConfig('bert', { ...TINY, num_labels: 2 }), 'token-classification', { seed: 2 });
    const m = mapCheckpointKeys(model, ['embeddings.word_embeddings.weight', 'classifier.weight', 'pooler.dense.weight', 'cls.seq_relationship.weight']);
    assert.equal(m.assignments.get('bert.embeddings.word_embeddings.weight'), 'embeddings.word_embeddings.weight');
    assert.equal(m.assignments.get('classifier.weight'), 'classifier.weight');
    assert.deepEqual(m.unexpected, ['cls.seq_relationship.weight'], 'pooler is in BertForTokenClassification\'s ignore list');
  });
});

describe('bad input', () => {
  it('refuses an unknown model_type, naming config.json', async () => {
    const dir = await checkpointFolder(await goldenEntries(SEQCLS), JSON.stringify({ model_type: 'bart', vocab_size: 10 }));
    await assert.rejects(fromPretrained(dir, quiet), (e: unknown) => e instanceof ModelError && e.message.includes(join(dir, 'config.json')) && e.message.includes('"bart"'));
  });

  it('refuses a folder without config.json, and one with only pytorch_model.bin', async () => {
    const empty = await tmp();
    await assert.rejects(fromPretrained(empty, quiet), (e: unknown) => e instanceof ModelError && /no config\.json/.test(e.message));
    const pickle = await tmp();
    await copyFile(join(SEQCLS, 'config.json'), join(pickle, 'config.json'));
    await writeFile(join(pickle, 'pytorch_model.bin'), 'not really a pickle');
    await assert.rejects(fromPretrained(pickle, quiet), (e: unknown) => e instanceof ModelError && /pytorch_model\.bin/.test(e.message) && /safetensors/.test(e.message));
  });

  it('refuses a truncated checkpoint and one whose header points past the end, naming the file', async () => {
    const bytes = await readFile(join(SEQCLS, 'model.safetensors'));
    const truncated = await tmp();
    await copyFile(join(SEQCLS, 'config.json'), join(truncated, 'config.json'));
    await writeFile(join(truncated, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    await assert.rejects(fromPretrained(truncated, quiet), (e: unknown) => e instanceof FileFormatError && e.message.includes(join(truncated, 'model.safetensors')));
    const pastEnd = await tmp();
    await copyFile(join(SEQCLS, 'config.json'), join(pastEnd, 'config.json'));
    const header = Buffer.from(JSON.stringify({ 'bert.pooler.dense.bias': { dtype: 'F32', shape: [32], data_offsets: [0, 4096] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    await writeFile(join(pastEnd, 'model.safetensors'), Buffer.concat([len, header, Buffer.alloc(128)]));
    await assert.rejects(fromPretrained(pastEnd, quiet), (e: unknown) => e instanceof FileFormatError && e.message.includes(join(pastEnd, 'model.safetensors')));
  });

  it('refuses a label count that does not fit the checkpoint head, unless told to re-initialise it', async () => {
    await assert.rejects(
      fromPretrained(SEQCLS, { numLabels: 5, ...quiet }),
      (e: unknown) => e instanceof ModelError && e.message.includes('classifier.weight') && e.message.includes('[3, 32]') && e.message.includes('[5, 32]') &&
        e.message.includes(join(SEQCLS, 'model.safetensors')) && /numLabels/.test(e.message),
    );
    const warnings: string[] = [];
    const { model, info } = await loadPretrained(SEQCLS, { numLabels: 5, ignoreMismatchedSizes: true, warn: (m) => warnings.push(m) });
    assert.deepEqual(info.mismatchedKeys.map((m) => m.key).sort(), ['classifier.bias', 'classifier.weight']);
    assert.ok(warnings.some((w) => w.includes('newly initialized because the shapes did not match') && w.includes('- classifier.weight: found shape [3, 32] in the checkpoint and [5, 32] in the model instantiated')));
    assert.deepEqual(new Map(model.namedParameters()).get('classifier.weight')!.shape, [5, 32]);
    await assert.rejects(fromPretrained(SEQCLS, { id2label: ['a', 'b'], numLabels: 3, ...quiet }), ConfigError);
    await assert.rejects(fromPretrained(SEQCLS, { task: 'question-answering', ...quiet }), (e: unknown) => e instanceof ConfigError && /num_labels must be 2/.test(e.message));
  });

  it('refuses a config whose vocab_size does not match the embedding matrix, and a tokenizer too big for it', async () => {
    await assert.rejects(
      fromPretrained(SEQCLS, { config: { vocab_size: 1400 }, ...quiet }),
      (e: unknown) => e instanceof ModelError && e.message.includes('bert.embeddings.word_embeddings.weight') && e.message.includes('[1500, 32]'),
    );
    const tokenizer = await loadTokenizer(TINY_TOKENIZER);
    await assert.rejects(
      fromPretrained(SEQCLS, { tokenizer, config: { vocab_size: 1000 }, ...quiet }),
      (e: unknown) => e instanceof ModelError && e.message.includes(join(SEQCLS, 'config.json')) && /ids up to 1499/.test(e.message),
    );
    const ok = await fromPretrained(SEQCLS, { tokenizer, ...quiet });
    assert.equal(ok.architecture, 'BertForSequenceClassification');
  });

  it('refuses labels outside the head with a DataError', async () => {
    const model = await fromPretrained(SEQCLS, quiet);
    const ids = Tensor.from(new Int32Array([5, 6, 7, 8]), [2, 2], 'int32');
    F.tidy(() => {
      assert.throws(() => model.forward({ inputIds: ids, labels: Tensor.from(new Int32Array([0, 3]), [2], 'int32') }), (e: unknown) => e instanceof DataError && /label 3/.test(e.message));
    });
  });
});

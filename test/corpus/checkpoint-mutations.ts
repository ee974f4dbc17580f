// The corrupt-checkpoint corpus: named mutations of a tiny model folder (config.json values, tokenizer files,
// safetensors headers, dtypes, shapes, truncation, files replaced by folders), generated on the fly from
// test/fixtures/tiny-bert-seqcls so the corpus lives in code and grows by adding lines here.
// Not here: running them (checkpoint-runner.ts) or judging the outcome (corrupt-checkpoints.test.ts).

import { cpSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURE = new URL('../fixtures/tiny-bert-seqcls/', import.meta.url).pathname;

/** What a mutation may end as: 'refuse' = must be refused with a typed error; 'either' = refused, or loads with the original's outputs. */
export type Expect = 'refuse' | 'either';

export interface Mutation {
  name: string;
  expect: Expect;
  apply(dir: string): void;
}

function editJson(dir: string, file: string, edit: (v: Record<string, unknown>) => void, raw?: (text: string) => string): void {
  const p = join(dir, file);
  const v = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  edit(v);
  const text = JSON.stringify(v, null, 2);
  writeFileSync(p, raw ? raw(text) : text);
}

function safetensorsParts(dir: string): { buf: Buffer; headerLen: number; header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> } {
  const buf = readFileSync(join(dir, 'model.safetensors'));
  const headerLen = Number(buf.readBigUInt64LE(0));
  return { buf, headerLen, header: JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as never };
}

function writeHeader(dir: string, header: object, data: Buffer): void {
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (h.length % 8)) % 8;
  h = Buffer.concat([h, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(join(dir, 'model.safetensors'), Buffer.concat([len, h, data]));
}

function editHeader(edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>) => void): (dir: string) => void {
  return (dir) => {
    const { buf, headerLen, header } = safetensorsParts(dir);
    edit(header);
    writeHeader(dir, header, buf.subarray(8 + headerLen));
  };
}

const CONFIG_BAD: [string, unknown[]][] = [
  ['hidden_size', [0, -32, 1e9, 2 ** 40, 31.5, 'x', null, 48]],
  ['vocab_size', [0, -1, 2 ** 40, 1e9, 1499, 1501]],
  ['num_hidden_layers', [0, -1, 100000, 1e9, 3]],
  ['num_attention_heads', [0, -4, 3, 1e9]],
  ['intermediate_size', [0, -1, 1e9, 2 ** 40, 65]],
  ['max_position_embeddings', [0, -1, 1e9, 100000, 65]],
  ['type_vocab_size', [0, -1, 1e9, 3]],
  ['layer_norm_eps', [-1, 0, 'x', 1e10]],
  ['pad_token_id', [1e9, 2 ** 40, 1500]],
  ['hidden_act', ['nope', 7]],
  ['model_type', ['gpt2', 'llama', 'nope', 7, null]],
];

/** Every mutation of the corpus, in a stable order. */
export function mutations(): Mutation[] {
  const out: Mutation[] = [];
  for (const [field, values] of CONFIG_BAD) {
    for (const v of values) out.push({ name: `config ${field}=${JSON.stringify(v)}`, expect: 'refuse', apply: (d) => editJson(d, 'config.json', (c) => void (c[field] = v)) });
  }
  out.push({ name: 'config pad_token_id=-1 (PyTorch padding_idx counts from the end)', expect: 'either', apply: (d) => editJson(d, 'config.json', (c) => void (c.pad_token_id = -1)) });
  out.push({ name: 'config layer_norm_eps=1e400', expect: 'refuse', apply: (d) => editJson(d, 'config.json', () => undefined, (t) => t.replace('"layer_norm_eps": 1e-12', '"layer_norm_eps": 1e400')) });
  out.push({ name: 'config id2label duplicate labels', expect: 'refuse', apply: (d) => editJson(d, 'config.json', (c) => void (c.id2label = { 0: 'A', 1: 'A', 2: 'B' }, delete c.label2id)) });
  out.push({ name: 'config id2label gap', expect: 'refuse', apply: (d) => editJson(d, 'config.json', (c) => void (c.id2label = { 0: 'A', 1: 'B', 5: 'C' }, delete c.label2id)) });
  out.push({ name: 'config not an object', expect: 'refuse', apply: (d) => writeFileSync(join(d, 'config.json'), '[1,2]') });
  out.push({ name: 'config truncated', expect: 'refuse', apply: (d) => writeFileSync(join(d, 'config.json'), readFileSync(join(d, 'config.json'), 'utf8').slice(0, 100)) });
  out.push({ name: 'config.json is a folder', expect: 'refuse', apply: (d) => (rmSync(join(d, 'config.json')), mkdirSync(join(d, 'config.json'))) });
  out.push({ name: 'tokenizer.json is a folder', expect: 'refuse', apply: (d) => (rmSync(join(d, 'tokenizer.json')), rmSync(join(d, 'vocab.txt')), mkdirSync(join(d, 'tokenizer.json'))) });
  out.push({ name: 'model.safetensors is a folder', expect: 'refuse', apply: (d) => (rmSync(join(d, 'model.safetensors')), mkdirSync(join(d, 'model.safetensors'))) });
  out.push({ name: 'tokenizer all ids equal', expect: 'refuse', apply: (d) => editJson(d, 'tokenizer.json', (t) => { const m = t.model as { vocab: Record<string, number> }; for (const k of Object.keys(m.vocab)) m.vocab[k] = 5; }) });
  for (const v of [0, -1, 'x']) out.push({ name: `tokenizer max_input_chars_per_word=${v}`, expect: 'refuse', apply: (d) => editJson(d, 'tokenizer.json', (t) => void ((t.model as Record<string, unknown>).max_input_chars_per_word = v)) });
  out.push({ name: 'tokenizer vocab id beyond vocab_size', expect: 'refuse', apply: (d) => editJson(d, 'tokenizer.json', (t) => void ((t.model as { vocab: Record<string, number> }).vocab['the'] = 99999)) });
  out.push({ name: 'tokenizer type_id 7', expect: 'refuse', apply: (d) => editJson(d, 'tokenizer.json', () => undefined, (s) => s.replace(/"type_id": 1/g, '"type_id": 7').replace(/"type_id": 0/g, '"type_id": 7')) });
  for (const v of [-1, 0, 'x']) out.push({ name: `tokenizer_config model_max_length=${v}`, expect: 'refuse', apply: (d) => editJson(d, 'tokenizer_config.json', (t) => void (t.model_max_length = v)) });
  // safetensors: truncation, header bytes, dtypes, shapes
  const size = readFileSync(join(FIXTURE, 'model.safetensors')).length;
  const hl = Number(readFileSync(join(FIXTURE, 'model.safetensors')).readBigUInt64LE(0));
  for (const at of [0, 4, 8, 9, 8 + Math.floor(hl / 2), 8 + hl, 8 + hl + 100, size - 4, size - 1]) {
    out.push({ name: `safetensors truncated at ${at}`, expect: 'refuse', apply: (d) => truncateSync(join(d, 'model.safetensors'), at) });
  }
  out.push({ name: 'safetensors header length huge', expect: 'refuse', apply: (d) => { const b = readFileSync(join(d, 'model.safetensors')); b.writeBigUInt64LE(2n ** 62n, 0); writeFileSync(join(d, 'model.safetensors'), b); } });
  for (let i = 0; i < 24; i++) {
    const pos = 8 + Math.floor(((i * 7919) % 997) / 997 * hl);
    out.push({
      name: `safetensors header byte ${pos} flipped`,
      expect: 'either',
      apply: (d) => { const b = readFileSync(join(d, 'model.safetensors')); b[pos] = b[pos] ^ 0x01; writeFileSync(join(d, 'model.safetensors'), b); },
    });
  }
  for (const dt of ['I32', 'U32', 'I64', 'F16', 'BF16', 'F64', 'BOOL', 'U8', 'XX']) {
    out.push({ name: `safetensors classifier.weight dtype ${dt}`, expect: 'refuse', apply: editHeader((h) => void (h['classifier.weight'].dtype = dt)) });
  }
  out.push({ name: 'safetensors classifier.weight shape transposed', expect: 'refuse', apply: editHeader((h) => void (h['classifier.weight'].shape = [...h['classifier.weight'].shape].reverse())) });
  out.push({ name: 'safetensors classifier.weight shape wrong size', expect: 'refuse', apply: editHeader((h) => void (h['classifier.weight'].shape = [2, 32])) });
  out.push({ name: 'safetensors offsets overlap', expect: 'refuse', apply: editHeader((h) => { const w = h['classifier.weight']; w.data_offsets = [w.data_offsets[0] - 4, w.data_offsets[1] - 4]; }) });
  out.push({ name: 'safetensors offsets beyond the file', expect: 'refuse', apply: editHeader((h) => { const w = h['classifier.weight']; w.data_offsets = [w.data_offsets[0] + 1e9, w.data_offsets[1] + 1e9]; }) });
  return out;
}

/** Copies the fixture into `dir` and applies mutation `m`. */
export function materialise(m: Mutation, dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  cpSync(FIXTURE, dir, { recursive: true });
  rmSync(join(dir, 'reference.safetensors'), { force: true });
  m.apply(dir);
}

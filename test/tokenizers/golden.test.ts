// Acceptance: every case of the HF tokenizer goldens (tokenizers 0.23.2) must match exactly —
// ids, tokens, type ids and offsets — through tokenizer.json and through the legacy vocab files.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Tokenizer, byteLevelBpeJson, configFrom, loadTokenizer, parseMergesTxt, parseVocabTxt, wordPieceJsonFromVocab } from '../../src/tokenizers/index.ts';
import type { JsonObject } from '../../src/tokenizers/json.ts';
import { readSharedJson, sharedPath, skipUnless } from './shared.ts';

interface Golden {
  single: Array<{ text: string; ids: number[]; tokens: string[]; type_ids: number[]; offsets: Array<[number, number]> }>;
  pair: Array<{ a: string; b: string; ids: number[]; type_ids: number[] }>;
  truncated: Array<{ text: string; max_length: number; ids: number[] }>;
}

function checkGolden(tok: Tokenizer, g: Golden, addSpecialTokens: boolean): void {
  for (const c of g.single) {
    const e = tok.encode(c.text, null, { addSpecialTokens });
    assert.deepEqual(e.ids, c.ids, `ids of ${JSON.stringify(c.text)}`);
    assert.deepEqual(e.tokens, c.tokens, `tokens of ${JSON.stringify(c.text)}`);
    assert.deepEqual(e.typeIds, c.type_ids, `type ids of ${JSON.stringify(c.text)}`);
    assert.deepEqual(e.offsets, c.offsets, `offsets of ${JSON.stringify(c.text)}`);
  }
  for (const c of g.pair) {
    const e = tok.encode(c.a, c.b, { addSpecialTokens });
    assert.deepEqual(e.ids, c.ids, `ids of pair ${JSON.stringify([c.a, c.b])}`);
    assert.deepEqual(e.typeIds, c.type_ids, `type ids of pair ${JSON.stringify([c.a, c.b])}`);
  }
  for (const c of g.truncated) {
    const e = tok.encode(c.text, null, { addSpecialTokens, truncation: true, maxLength: c.max_length });
    assert.deepEqual(e.ids, c.ids, `truncated ids of ${JSON.stringify(c.text)}`);
  }
}

const WP = 'goldens/tokenizers/wordpiece-uncased';
const BPE = 'goldens/tokenizers/bpe-gpt2';

describe('wordpiece-uncased goldens', { skip: skipUnless(WP) }, () => {
  it('tokenizer.json: all 45 cases exact', async () => {
    const g = readSharedJson<Golden>(`${WP}/golden_tokenization.json`);
    assert.equal(g.single.length + g.pair.length + g.truncated.length, 45);
    checkGolden(await loadTokenizer(sharedPath(WP)), g, true);
  });
  it('vocab.txt (BertTokenizer semantics): same ids, tokens, type ids, offsets', () => {
    const g = readSharedJson<Golden>(`${WP}/golden_tokenization.json`);
    const config = readSharedJson<JsonObject>(`${WP}/tokenizer_config.json`);
    const json = wordPieceJsonFromVocab(parseVocabTxt(readFileSync(sharedPath(`${WP}/vocab.txt`), 'utf8')), config);
    // The goldens' tokenizer adds no [CLS]/[SEP]; BertTokenizer does, so compare without them.
    checkGolden(new Tokenizer(json, configFrom(config, {}, json)), g, false);
  });
});

describe('bpe-gpt2 goldens', { skip: skipUnless(BPE) }, () => {
  it('tokenizer.json: all 45 cases exact', async () => {
    checkGolden(await loadTokenizer(sharedPath(BPE)), readSharedJson<Golden>(`${BPE}/golden_tokenization.json`), true);
  });
  it('vocab.json + merges.txt (GPT2Tokenizer semantics): same results', () => {
    const vocab = readSharedJson<JsonObject>(`${BPE}/vocab.json`);
    const merges = parseMergesTxt(readFileSync(sharedPath(`${BPE}/merges.txt`), 'utf8'));
    const json = byteLevelBpeJson(vocab, merges);
    checkGolden(new Tokenizer(json, configFrom({}, {}, json)), readSharedJson<Golden>(`${BPE}/golden_tokenization.json`), true);
  });
  it('decode(ids) gives back every golden text (byte-level BPE is lossless)', async () => {
    const tok = await loadTokenizer(sharedPath(BPE));
    for (const c of readSharedJson<Golden>(`${BPE}/golden_tokenization.json`).single) assert.equal(tok.decode(c.ids), c.text);
  });
});

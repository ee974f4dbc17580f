// The real bert-base-uncased tokenizer (../shared/data): the ids its README documents, through
// tokenizer.json and through vocab.txt; special ids; save → vocab.txt byte-identical to the original.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer, configFrom, loadTokenizer, parseVocabTxt, wordPieceJsonFromVocab } from '../../src/tokenizers/index.ts';
import type { JsonObject } from '../../src/tokenizers/json.ts';
import { readSharedJson, sharedPath, skipUnless } from './shared.ts';

const DIR = 'data/bert-base-uncased-tokenizer';
// From the folder's README (checked there with an independent implementation).
const EXPECTED: Array<[string, number[]]> = [
  ['hello world', [101, 7592, 2088, 102]],
  ['i like strawberries', [101, 1045, 2066, 13137, 20968, 102]],
  ['Héllo, World! unaffable', [101, 7592, 1010, 2088, 999, 14477, 20961, 3468, 102]],
];

function fromVocabTxt(): Tokenizer {
  const config = readSharedJson<JsonObject>(`${DIR}/tokenizer_config.json`);
  const json = wordPieceJsonFromVocab(parseVocabTxt(readFileSync(sharedPath(`${DIR}/vocab.txt`), 'utf8')), config);
  return new Tokenizer(json, configFrom(config, {}, json));
}

describe('bert-base-uncased', { skip: skipUnless(DIR) }, () => {
  it('tokenizer.json gives the README ids', async () => {
    const tok = await loadTokenizer(sharedPath(DIR));
    for (const [text, ids] of EXPECTED) assert.deepEqual(tok.encode(text).ids, ids, text);
    assert.deepEqual(tok.encode('i like strawberries').tokens, ['[CLS]', 'i', 'like', 'straw', '##berries', '[SEP]']);
  });

  it('vocab.txt gives the README ids', () => {
    const tok = fromVocabTxt();
    for (const [text, ids] of EXPECTED) assert.deepEqual(tok.encode(text).ids, ids, text);
  });

  it('special tokens, vocabulary size and model_max_length match the README', async () => {
    for (const tok of [await loadTokenizer(sharedPath(DIR)), fromVocabTxt()]) {
      assert.equal(tok.vocabSize, 30522);
      assert.equal(tok.padTokenId, 0);
      assert.equal(tok.unkTokenId, 100);
      assert.equal(tok.clsTokenId, 101);
      assert.equal(tok.sepTokenId, 102);
      assert.equal(tok.maskTokenId, 103);
      assert.equal(tok.tokenToId('the'), 1996);
      assert.equal(tok.idToToken(1), '[unused0]');
      assert.equal(tok.config.modelMaxLength, 512);
    }
  });

  it('pair template: [CLS] A [SEP] B [SEP] with type ids 0…0 1…1', async () => {
    const tok = await loadTokenizer(sharedPath(DIR));
    const e = tok.encode('hello world', 'i like strawberries');
    assert.deepEqual(e.ids, [101, 7592, 2088, 102, 1045, 2066, 13137, 20968, 102]);
    assert.deepEqual(e.typeIds, [0, 0, 0, 0, 1, 1, 1, 1, 1]);
    assert.deepEqual(e.sequenceIds, [null, 0, 0, null, 1, 1, 1, 1, null]);
    assert.deepEqual(e.specialTokensMask, [1, 0, 0, 1, 0, 0, 0, 0, 1]);
  });

  it('decodes back to normalized text', async () => {
    const tok = await loadTokenizer(sharedPath(DIR));
    assert.equal(tok.decode(EXPECTED[2]![1], { skipSpecialTokens: true }), 'hello, world! unaffable');
    assert.equal(tok.decode(EXPECTED[1]![1]), '[CLS] i like strawberries [SEP]');
  });

  it('save() writes a vocab.txt byte-identical to the original, and reloads identically', async () => {
    const tok = await loadTokenizer(sharedPath(DIR));
    const out = mkdtempSync(join(tmpdir(), 'ft-tok-'));
    try {
      await tok.save(out);
      assert.ok(readFileSync(join(out, 'vocab.txt')).equals(readFileSync(sharedPath(`${DIR}/vocab.txt`))));
      const cfg = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')) as JsonObject;
      assert.equal(cfg.do_lower_case, true);
      assert.equal(cfg.model_max_length, 512);
      assert.equal(cfg.cls_token, '[CLS]');
      const again = await loadTokenizer(out);
      for (const [text, ids] of EXPECTED) assert.deepEqual(again.encode(text).ids, ids);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('do_lower_case=false in tokenizer_config.json turns lowercasing off (as BertTokenizerFast)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ft-tok-'));
    try {
      copyFileSync(sharedPath(`${DIR}/tokenizer.json`), join(dir, 'tokenizer.json'));
      writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, model_max_length: 512 }));
      const tok = await loadTokenizer(dir);
      // "Hello" is not in the uncased vocabulary: without lowercasing it no longer maps to 7592.
      assert.notDeepEqual(tok.encode('Hello').ids, [101, 7592, 102]);
      assert.deepEqual(tok.encode('hello').ids, [101, 7592, 102]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

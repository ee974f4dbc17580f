// SentencePiece tokenizer.model → tokenizer.json (Llama / llama2.c stories260K): the conversion
// must reproduce the model's documented greedy output both ways (decode and encode); word/char
// models are refused. Unigram models against sentencepiece itself: unigram.test.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ModelError } from '../../src/errors.ts';
import { charSlice, loadTokenizer } from '../../src/tokenizers/index.ts';
import { mergesFromScores } from '../../src/tokenizers/sentencepiece.ts';
import { readSharedJson, sharedPath, skipUnless } from './shared.ts';

const HF = 'data/tinyllamas-stories260K/hf';
interface Golden {
  bos_id: number;
  greedy_ids: number[];
  greedy_text: string;
}

describe('stories260K tokenizer.model', { skip: skipUnless(HF) }, () => {
  it('decode(greedy_ids) is the documented greedy text', async () => {
    const tok = await loadTokenizer(sharedPath(HF));
    const g = readSharedJson<Golden>('data/tinyllamas-stories260K/golden.json');
    assert.equal(tok.decode(g.greedy_ids), g.greedy_text);
  });

  it('encode(greedy text) gives back [BOS] + greedy_ids (byte fallback for newlines included)', async () => {
    const tok = await loadTokenizer(sharedPath(HF));
    const g = readSharedJson<Golden>('data/tinyllamas-stories260K/golden.json');
    assert.ok(g.greedy_ids.includes(13), 'the text has a newline, encoded as the byte token <0x0A>');
    const e = tok.encode(g.greedy_text);
    assert.deepEqual(e.ids, [g.bos_id, ...g.greedy_ids]);
    // Every token's offsets cover the text it stands for (▁ stands for a space; the first one is added).
    e.ids.forEach((id, i) => {
      if (i === 0 || id === 13) return;
      const piece = tok.idToToken(id)!.replaceAll('\u2581', ' ');
      const [s, t] = e.offsets[i]!;
      assert.equal(charSlice(g.greedy_text, s, t), i === 1 ? piece.trimStart() : piece);
    });
  });

  it('special tokens and vocabulary', async () => {
    const tok = await loadTokenizer(sharedPath(HF));
    assert.equal(tok.vocabSize, 512);
    assert.deepEqual([tok.unkTokenId, tok.bosTokenId, tok.eosTokenId, tok.padTokenId], [0, 1, 2, null]);
    assert.equal(tok.decode([1, 403, 2], { skipSpecialTokens: true }), 'Once');
  });
});

describe('mergesFromScores (transformers SentencePieceExtractor order)', () => {
  it('orders merges by merged-piece score, then longer left part', () => {
    const vocab: Array<[string, number]> = [['a', 0], ['b', 0], ['c', 0], ['ab', -1], ['abc', -0.5], ['bc', -2]];
    // abc (score -0.5) splits as ab+c (left length 2) before a+bc (left length 1); then ab; then bc.
    assert.deepEqual(mergesFromScores(vocab), [['ab', 'c'], ['a', 'bc'], ['a', 'b'], ['b', 'c']]);
  });
});

/** A minimal SentencePiece ModelProto: pieces + trainer_spec.model_type. */
function spModel(modelType: number): Uint8Array {
  const enc = new TextEncoder();
  const piece = (s: string, type: number): number[] => {
    const b = [...enc.encode(s)];
    const body = [0x0a, b.length, ...b, 0x15, 0, 0, 0, 0, 0x18, type];
    return [0x0a, body.length, ...body];
  };
  const trainer = [0x18, modelType];
  return new Uint8Array([...piece('<unk>', 2), ...piece('<s>', 3), ...piece('</s>', 3), ...piece('a', 1), 0x12, trainer.length, ...trainer]);
}

describe('SentencePiece models by type', () => {
  it('Unigram converts (generic SpmConverter), BPE converts (Llama), word/char models are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ft-sp-'));
    try {
      writeFileSync(join(dir, 'tokenizer.model'), spModel(3));
      await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof ModelError && /model type 3/.test(e.message) && /Unigram \(1\) and BPE \(2\)/.test(e.message));
      writeFileSync(join(dir, 'tokenizer.model'), spModel(1));
      const uni = await loadTokenizer(dir);
      assert.equal(uni.model.type, 'Unigram');
      // "▁" is not a piece: an unknown (id 0, its text kept as the token, as HF's Unigram does), then "a".
      assert.deepEqual(uni.encode('a').ids, [0, 3]);
      assert.deepEqual(uni.encode('a').tokens, ['\u2581', 'a']);
      writeFileSync(join(dir, 'tokenizer.model'), spModel(2));
      const tok = await loadTokenizer(dir);
      // A BPE model converts: the prepended ▁ is not in this toy vocabulary (no byte fallback) → <unk>.
      assert.deepEqual(tok.encode('a').tokens, ['<s>', '<unk>', 'a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// WordPiece training: a hand-computed merge sequence (HF's BPE-with-"##" algorithm), the fast word
// splitter against the offset-tracking pipeline, and the 5,000-e-mail demo (time, size, save/load).

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { bertWords, loadTokenizer, trainWordPieceTokenizer } from '../../src/tokenizers/index.ts';
import { sharedPath, skipUnless } from './shared.ts';

function corpus(): string[] {
  const counts: Array<[string, number]> = [['hug', 10], ['pug', 5], ['pun', 12], ['bun', 4], ['hugs', 5]];
  return counts.flatMap(([w, n]) => Array.from({ length: n }, () => w));
}

describe('trainWordPieceTokenizer', () => {
  it('learns the merges of the hug/pug/pun/bun/hugs example in HF order', () => {
    // Pairs (count): ##u ##g 20 → ##ug; ##u ##n 16 → ##un; h ##ug 15 → hug; p ##un 12 → pun;
    // then p ##ug 5 and hug ##s 5 tie: the smaller pair (p=9, ##ug=16) first → pug; hugs; bun (4).
    const tok = trainWordPieceTokenizer(corpus(), { vocabSize: 23, minFrequency: 2 });
    const vocab = [...tok.model.vocab.entries()].sort((a, b) => a[1] - b[1]).map(([t]) => t);
    assert.deepEqual(vocab, [
      '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
      'b', 'g', 'h', 'n', 'p', 's', 'u',
      '##u', '##n', '##g', '##s',
      '##ug', '##un', 'hug', 'pun', 'pug', 'hugs', 'bun',
    ]);
    assert.deepEqual(tok.encode('Hugs pun bug').tokens, ['[CLS]', 'hugs', 'pun', 'b', '##ug', '[SEP]']);
  });

  it('stops at minFrequency and at vocabSize', () => {
    assert.equal(trainWordPieceTokenizer(corpus(), { vocabSize: 100, minFrequency: 5 }).vocabSize, 22);
    assert.equal(trainWordPieceTokenizer(corpus(), { vocabSize: 18 }).vocabSize, 18);
  });

  it('bertWords (fast twin) equals BertNormalizer + BertPreTokenizer word by word', { skip: skipUnless('data/spam-assassin-compact') }, async () => {
    const tok = trainWordPieceTokenizer(corpus(), { vocabSize: 30 });
    const tricky = ['Héllo, Wörld!\tÅngström — “x” ﬁ ²', '微调是机器学习 😀 ΟΔΟΣ İstanbul', 'a\u0000b\ufffdc\u200bd e\u00a0f\r\ng', ''];
    const lines = readFileSync(sharedPath('data/spam-assassin-compact/spam_assassin_compact.jsonl'), 'utf8').split('\n').slice(0, 300);
    const texts = [...tricky, ...lines.filter(Boolean).map((l) => (JSON.parse(l) as { body: string }).body)];
    for (const text of texts) {
      const p = tok.added.extractAndNormalize(text, tok.normalizer);
      tok.preTokenizer!.preTokenize(p);
      const slow = p.splits.map((s) => s.normalized.text);
      assert.deepEqual(bertWords(text, true), slow, JSON.stringify(text.slice(0, 60)));
    }
  });

  it('the offline demo: 5,000 e-mails, vocab 8,000, well under 20 s; saves as a BERT folder', { skip: skipUnless('data/spam-assassin-compact') }, async () => {
    const lines = readFileSync(sharedPath('data/spam-assassin-compact/spam_assassin_compact.jsonl'), 'utf8').split('\n').filter(Boolean);
    const texts = lines.slice(0, 5000).map((l) => {
      const o = JSON.parse(l) as { subject: string; body: string };
      return `${o.subject}\n${o.body}`;
    });
    const t0 = performance.now();
    const tok = trainWordPieceTokenizer(texts, { vocabSize: 8000 });
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(seconds < 20, `training took ${seconds.toFixed(1)} s`);
    assert.equal(tok.vocabSize, 8000);
    assert.deepEqual([tok.padTokenId, tok.unkTokenId, tok.clsTokenId, tok.sepTokenId, tok.maskTokenId], [0, 1, 2, 3, 4]);
    for (const w of ['the', 'free', 'email', 'click']) assert.deepEqual(tok.encode(w, null, { addSpecialTokens: false }).tokens, [w]);
    const dir = mkdtempSync(join(tmpdir(), 'ft-wp-'));
    try {
      await tok.save(dir);
      const vocabLines = readFileSync(join(dir, 'vocab.txt'), 'utf8').split('\n');
      assert.equal(vocabLines.length, 8001, '8000 lines and a final newline');
      assert.equal(vocabLines[2], '[CLS]');
      const fromJson = await loadTokenizer(dir);
      rmSync(join(dir, 'tokenizer.json'));
      const fromVocab = await loadTokenizer(dir);
      for (const t of texts.slice(0, 50)) {
        const want = tok.encode(t, null, { truncation: true, maxLength: 128 });
        assert.deepEqual(fromJson.encode(t, null, { truncation: true, maxLength: 128 }), want);
        assert.deepEqual(fromVocab.encode(t, null, { truncation: true, maxLength: 128 }).ids, want.ids);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

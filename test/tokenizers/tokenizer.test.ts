// Tokenizer behaviour beyond the goldens: stride/overflow windows, pair truncation, padding into
// Int32Array rows, word ids and label alignment, byte-fallback BPE, chat templates, clear errors,
// and agreement with @huggingface/tokenizers (an independent JS implementation) on random text.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as hf from '@huggingface/tokenizers';
import { ModelError } from '../../src/errors.ts';
import { Encoding } from '../../src/tokenizers/encoding.ts';
import { Tokenizer, alignWordLabels, charSlice, configFrom, loadTokenizer } from '../../src/tokenizers/index.ts';
import type { JsonObject } from '../../src/tokenizers/json.ts';
import { sharedPath, skipUnless } from './shared.ts';

const BERT = 'data/bert-base-uncased-tokenizer';
const GPT2 = 'goldens/tokenizers/bpe-gpt2';
const WP = 'goldens/tokenizers/wordpiece-uncased';

describe('Encoding.truncate (HF encoding.rs test truncate_overflow_with_stride)', () => {
  it('keeps max_len tokens and puts the rest in windows overlapping by stride', () => {
    const e = new Encoding();
    e.ids = [1, 2, 3, 4, 5];
    e.typeIds = [0, 0, 0, 0, 0];
    e.tokens = ['42', 'is', 'the', 'answer', '!'];
    e.words = [0, 1, 2, 3, 4];
    e.offsets = [[0, 2], [2, 4], [4, 7], [7, 13], [13, 14]];
    e.specialTokensMask = [0, 0, 0, 0, 0];
    e.attentionMask = [1, 1, 1, 1, 1];
    e.truncate(4, 2, 'right');
    assert.deepEqual(e.ids, [1, 2, 3, 4]);
    assert.deepEqual(e.offsets, [[0, 2], [2, 4], [4, 7], [7, 13]]);
    assert.equal(e.overflowing.length, 1);
    assert.deepEqual(e.overflowing[0]!.ids, [3, 4, 5]);
    assert.deepEqual(e.overflowing[0]!.words, [2, 3, 4]);
    assert.deepEqual(e.overflowing[0]!.offsets, [[4, 7], [7, 13], [13, 14]]);
  });
});

describe('bert-base-uncased behaviour', { skip: skipUnless(BERT) }, () => {
  it('question answering windows: only_second + stride', async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    const question = 'who wrote it?';
    const context = 'the quick brown fox jumps over the lazy dog while the farmer sleeps under a tall tree near the river bank';
    const e = tok.encode(question, context, { truncation: 'only_second', maxLength: 20, stride: 4 });
    const windows = [e, ...(e.overflowing ?? [])];
    assert.equal(windows.length, 2, '21 context tokens, 13 per window, step 9');
    const q = tok.encode(question, null, { addSpecialTokens: false }).ids;
    const ctxIds = tok.encode(context, null, { addSpecialTokens: false }).ids;
    const seen: number[][] = [];
    for (const w of windows) {
      assert.ok(w.ids.length <= 20);
      assert.deepEqual(w.ids.slice(0, q.length + 2), [101, ...q, 102]);
      assert.equal(w.ids[w.ids.length - 1], 102);
      const part = w.ids.filter((_, i) => w.sequenceIds[i] === 1);
      seen.push(part);
      // Offsets of context tokens point into the context string.
      w.ids.forEach((_, i) => {
        if (w.sequenceIds[i] !== 1) return;
        const [s, t] = w.offsets[i]!;
        assert.equal(charSlice(context, s, t), w.tokens[i]!.replace(/^##/, ''));
      });
    }
    for (let k = 1; k < seen.length; k++) assert.deepEqual(seen[k]!.slice(0, 4), seen[k - 1]!.slice(-4), 'windows share stride=4 tokens');
    const joined = seen[0]!.concat(...seen.slice(1).map((s) => s.slice(4)));
    assert.deepEqual(joined, ctxIds, 'windows cover the whole context, in order');
  });

  it("longest_first trims the longer sequence first (HF truncation.rs rule)", async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    const e = tok.encode('a a a a a a a a a a', 'b b b', { truncation: 'longest_first', maxLength: 11 });
    assert.deepEqual(e.tokens, ['[CLS]', 'a', 'a', 'a', 'a', 'a', '[SEP]', 'b', 'b', 'b', '[SEP]']);
    const both = tok.encode('a a a a a a a a a a', 'b b b b b b b b b', { truncation: true, maxLength: 11 });
    assert.deepEqual(both.tokens.filter((t) => t === 'a').length, 4);
    assert.deepEqual(both.tokens.filter((t) => t === 'b').length, 4);
  });

  it('pads batches into Int32Array rows (longest, max_length, multiple of, left side)', async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    const b = tok.encodeBatch(['hello world', 'i like strawberries'], null, { padding: 'longest' });
    assert.ok(b.inputIds[0] instanceof Int32Array);
    assert.deepEqual([...b.inputIds[0]!], [101, 7592, 2088, 102, 0, 0]);
    assert.deepEqual([...b.attentionMask[0]!], [1, 1, 1, 1, 0, 0]);
    assert.deepEqual([...b.inputIds[1]!], [101, 1045, 2066, 13137, 20968, 102]);
    const m = tok.encodeBatch(['hello world'], null, { padding: 'max_length', maxLength: 8 });
    assert.equal(m.inputIds[0]!.length, 8);
    const k = tok.encodeBatch(['hello world', 'i like strawberries'], null, { padding: 'longest', padToMultipleOf: 8 });
    assert.equal(k.inputIds[1]!.length, 8);
    const l = tok.encodeBatch(['hello world', 'i like strawberries'], null, { padding: true, paddingSide: 'left' });
    assert.deepEqual([...l.inputIds[0]!], [0, 0, 101, 7592, 2088, 102]);
    assert.deepEqual([...l.attentionMask[0]!], [0, 0, 1, 1, 1, 1]);
    const p = tok.encodeBatch(['hello world'], ['i like strawberries'], { padding: 'max_length', maxLength: 12 });
    assert.deepEqual([...p.tokenTypeIds[0]!], [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
  });

  it('flattens overflowing windows into rows with overflowToSampleMapping', async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    const b = tok.encodeBatch(['q?', 'r?'], ['a b c d e f g h', 'a b'], { truncation: 'only_second', maxLength: 8, stride: 1, padding: 'longest', returnOverflowingTokens: true });
    assert.deepEqual(b.overflowToSampleMapping, [0, 0, 0, 0, 1]);
    assert.deepEqual(b.encodings.map((r) => r.tokens.join(' ')).slice(0, 2), ['[CLS] q ? [SEP] a b c [SEP]', '[CLS] q ? [SEP] c d e [SEP]']);
    for (const row of b.inputIds) assert.equal(row.length, 8);
  });

  it('word ids: pre-split words, raw text, and label alignment', async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    const e = tok.encode(['Hello', 'strawberries', '!']);
    assert.deepEqual(e.tokens, ['[CLS]', 'hello', 'straw', '##berries', '!', '[SEP]']);
    assert.deepEqual(e.wordIds, [null, 0, 1, 1, 2, null]);
    assert.deepEqual(e.offsets, [[0, 0], [0, 5], [0, 5], [5, 12], [0, 1], [0, 0]], 'offsets are within each word');
    assert.deepEqual(alignWordLabels(e.wordIds, [3, 1, 0]), [-100, 3, 1, -100, 0, -100]);
    assert.deepEqual(alignWordLabels(e.wordIds, [3, 1, 0], { labelAllTokens: true }), [-100, 3, 1, 1, 0, -100]);
    assert.deepEqual(tok.encode('hello strawberries!').wordIds, [null, 0, 1, 1, 2, null]);
  });

  it('lowercases Σ to σ char by char, as Rust does (no final-sigma rule)', async () => {
    const tok = await loadTokenizer(sharedPath(BERT));
    assert.deepEqual(tok.encode('ΟΔΟΣ', null, { addSpecialTokens: false }).tokens.join(''), 'οδοσ'.split('').map((c, i) => (i ? '##' + c : c)).join(''));
  });
});

describe('agreement with @huggingface/tokenizers on random text', () => {
  // Σ is left out on purpose: that library lowercases whole strings (final sigma → ς) where HF's
  // Rust lowercases char by char (σ); the test above pins the Rust behaviour.
  const pool = Array.from('abcXYZ  \t\n.,!?\'"-_0123456789éÉàçñÅøß\u0301\u0308ﬁ²½微调是机器学习😀👍©™ΐİŉǅẞⅫ①\u00a0\u200b\u3000\u2028ÿĀ');
  for (const dir of [WP, GPT2, BERT]) {
    it(dir, { skip: skipUnless(dir) }, async () => {
      const tj = JSON.parse(readFileSync(sharedPath(`${dir}/tokenizer.json`), 'utf8')) as object;
      let tc: object = {};
      try {
        tc = JSON.parse(readFileSync(sharedPath(`${dir}/tokenizer_config.json`), 'utf8')) as object;
      } catch {
        tc = {};
      }
      type LibTok = { encode(t: string, o: { add_special_tokens: boolean }): { ids: number[] } };
      const Lib = (hf as unknown as { Tokenizer: new (j: object, c: object) => LibTok }).Tokenizer;
      const lib = new Lib(tj, tc);
      const ours = await loadTokenizer(sharedPath(dir));
      let seed = 12345;
      const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      for (let k = 0; k < 1500; k++) {
        let s = '';
        const len = Math.floor(rnd() * 25);
        for (let i = 0; i < len; i++) s += pool[Math.floor(rnd() * pool.length)];
        assert.deepEqual(ours.encode(s, null, { addSpecialTokens: false }).ids, lib.encode(s, { add_special_tokens: false }).ids, JSON.stringify(s));
      }
    });
  }
});

describe('byte-fallback BPE (Llama style), hand-derived expectations', () => {
  const vocab: JsonObject = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  Object.assign(vocab, { '\u2581': 259, h: 260, i: 261, hi: 262, '\u2581hi': 263 });
  const json: JsonObject = {
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ['<unk>', '<s>', '</s>'][id]!, special: true, normalized: false })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', unk_token: '<unk>', fuse_unk: true, byte_fallback: true, vocab, merges: ['h i', '\u2581 hi'] },
  };
  const tok = new Tokenizer(json, configFrom({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }, {}, json));

  it('merges by rank, falls back to bytes, maps every byte token to its whole char', () => {
    const e = tok.encode('hi €');
    assert.deepEqual(e.ids, [1, 263, 259, 3 + 0xe2, 3 + 0x82, 3 + 0xac]);
    assert.deepEqual(e.offsets, [[0, 0], [0, 2], [2, 3], [3, 4], [3, 4], [3, 4]]);
  });

  it('decodes bytes back to text and strips the prepended space', () => {
    assert.equal(tok.decode([1, 263, 259, 3 + 0xe2, 3 + 0x82, 3 + 0xac], { skipSpecialTokens: true }), 'hi €');
    assert.equal(tok.decode([3 + 0xe2, 3 + 0x82]), '\ufffd\ufffd', 'an incomplete UTF-8 sequence gives one U+FFFD per byte');
  });
});

describe('chat templates, errors', () => {
  it('renders a chat template with special tokens', { skip: skipUnless(GPT2) }, async () => {
    const tok = await loadTokenizer(sharedPath(GPT2));
    const text = tok.applyChatTemplate([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }], {
      addGenerationPrompt: true,
      chatTemplate: '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}',
    });
    assert.equal(text, '<|user|>Hi<|endoftext|><|assistant|>Hello<|endoftext|><|assistant|>');
    assert.throws(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }]), /chat_template/);
  });

  it('GPT-2 has no pad token: padding asks for padId', { skip: skipUnless(GPT2) }, async () => {
    const tok = await loadTokenizer(sharedPath(GPT2));
    assert.equal(tok.padTokenId, null);
    assert.equal(tok.eosTokenId, 0);
    assert.throws(() => tok.encodeBatch(['a', 'b c'], null, { padding: true }), /padId/);
    const b = tok.encodeBatch(['a', 'b c'], null, { padding: true, padId: tok.eosTokenId! });
    assert.equal(b.inputIds[0]!.length, b.inputIds[1]!.length);
  });

  it('a missing folder is a ModelError naming it', async () => {
    await assert.rejects(loadTokenizer('/nonexistent/tok'), (e: unknown) => e instanceof ModelError && e.message.includes('/nonexistent/tok'));
  });
});

// Unigram + Precompiled + Metaspace against SentencePiece itself: trains tiny Unigram and BPE models
// with Debian's spm_train on generated text (CJK, accents, emoji, ligatures, whitespace runs, digits),
// converts the .model as transformers would, and compares ids, tokens and offsets with the
// python3-sentencepiece module. Skips when spm_train or the python module is absent.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileFormatError, ModelError } from '../../src/errors.ts';
import { loadTokenizer, saveTokenizer } from '../../src/tokenizers/index.ts';
import type { Tokenizer } from '../../src/tokenizers/index.ts';
import { NormalizedString } from '../../src/tokenizers/normalized.ts';
import { codePoints } from '../../src/tokenizers/unicode.ts';
import { Unigram } from '../../src/tokenizers/unigram.ts';

const PY = '/usr/bin/python3';
function skipReason(): string | false {
  if (spawnSync('spm_train', ['--help']).error) return 'spm_train not installed (apt-get install sentencepiece)';
  if (spawnSync(PY, ['-c', 'import sentencepiece']).status !== 0) return 'python3-sentencepiece not installed';
  return false;
}
const SKIP = skipReason();

/** Deterministic corpus: syllable words, CJK runs, accents, emoji, ligatures, numbers. */
function corpus(): string {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const syl = ['ka', 'to', 'ri', 'mu', 'se', 'lo', 'an', 'ber', 'qui', 'zé', 'ça', 'über', 'naïve', 'the', 'ing'];
  const lines: string[] = [];
  for (let i = 0; i < 500; i++) {
    const words: string[] = [];
    const n = 3 + Math.floor(rnd() * 10);
    for (let j = 0; j < n; j++) {
      const k = rnd();
      if (k < 0.1) words.push(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick([...'東京大学日本語中文字'])).join(''));
      else if (k < 0.15) words.push(String(Math.floor(rnd() * 99999)));
      else if (k < 0.18) words.push(pick(['😀', '👍🏽', 'ﬁne', '①', 'Ａｂｃ']));
      else words.push(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(syl)).join(''));
    }
    lines.push(words.join(' ') + pick(['.', '!', ' ?', '']));
  }
  return lines.join('\n') + '\n';
}

const SENTENCES = [
  'kato rimu sezé ça über naïve',
  'theing anberqui  loka 12 345',
  ' mutose ri ka ',
  '  leading   and trailing spaces   ',
  'Hello wörld, ☃☃ unknown snowmen ä ß',
  '東京大学 日本語 中文 字 ①② Ａｂｃ ﬁne',
  'emoji 😀👍🏽 and 🦄 unicorn',
  'tabs\tand\nnewlines\r\n 123 4567 89',
  'qqq xxx zzz', // letters absent from the corpus: fused unknowns
  'e\u0301 combining, cafe\u0301 vs café',
  '',
];

/** Random strings over controls, odd spaces, CJK, emoji, full-width and ligatures (no combining marks). */
const FUZZ = (() => {
  const pool = Array.from('abcXYZkatoriseber  \t\n\r.,!?\'"-_0123456789éÉàçñÅøßﬁ²½東京大学日本語😀👍🏽©™ΐİŉǅẞⅫ①\u00a0\u200b\u3000\u2028ÿĀＡｂ\u0001\u007f\ufeff');
  let seed = 99;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: 500 }, () => Array.from({ length: Math.floor(rnd() * 20) }, () => pool[Math.floor(rnd() * pool.length)]).join(''));
})();
const ALBERT_TEXTS = ['Kato RIMU sezé ça über naïve', 'Hello wörld ﬁne', 'theing  anberqui'];
const ALBERT_PLAIN = ALBERT_TEXTS.map((t) => t.normalize('NFKD').replace(/\p{Mn}/gu, '').toLowerCase());
const LOWER = SENTENCES.map((t) => t.toLowerCase());

interface Ref {
  ids: number[];
  pieces: string[];
  begin: number[];
  end: number[];
  decoded: string;
}

const REF_SCRIPT = `
import json, sys, sentencepiece as spm
out = []
for model, texts in json.load(sys.stdin):
    sp = spm.SentencePieceProcessor(model_file=model)
    refs = []
    for t in texts:
        p = sp.encode_as_immutable_proto(t)
        refs.append({"ids": [x.id for x in p.pieces], "pieces": [x.piece for x in p.pieces],
                     "begin": [x.begin for x in p.pieces], "end": [x.end for x in p.pieces],
                     "decoded": sp.decode([x.id for x in p.pieces])})
    out.append(refs)
print(json.dumps(out))`;

const refCache = new Map<string, Ref[]>();
const refKey = (model: string, texts: string[]): string => `${model}\0${JSON.stringify(texts)}`;

/** SentencePiece's own encodings of several (model, texts) jobs in one Python process (cached). */
function prefetch(jobs: Array<[string, string[]]>): void {
  const res = execFileSync(PY, ['-c', REF_SCRIPT], { input: JSON.stringify(jobs), encoding: 'utf8', maxBuffer: 1 << 28 });
  (JSON.parse(res) as Ref[][]).forEach((refs, i) => refCache.set(refKey(...jobs[i]!), refs));
}

/** SentencePiece's own encoding (pieces' begin/end are code-point offsets in the Python module). */
function reference(model: string, texts: string[]): Ref[] {
  if (!refCache.has(refKey(model, texts))) prefetch([[model, texts]]);
  return refCache.get(refKey(model, texts))!;
}

function train(dir: string, prefix: string, extra: string[]): string {
  execFileSync('spm_train', [`--input=${join(dir, 'corpus.txt')}`, `--model_prefix=${join(dir, prefix)}`, '--minloglevel=2', '--character_coverage=0.995', ...extra], {
    stdio: 'ignore',
  });
  return join(dir, `${prefix}.model`);
}

async function folder(dir: string, name: string, model: string, fileName: string, config: object | null): Promise<Tokenizer> {
  const f = join(dir, name);
  mkdirSync(f);
  copyFileSync(model, join(f, fileName));
  if (config) writeFileSync(join(f, 'tokenizer_config.json'), JSON.stringify(config));
  return loadTokenizer(f);
}

/**
 * Offsets: where SentencePiece's surface is the token's own text they must be equal. Where its
 * normalizer changed the text (collapsed whitespace, composed "e\u0301", expanded "ﬁ"), spm reports
 * the whole changed span or an empty one, while HF aligns each normalized char to one original
 * char (the last of a collapsed run, the first of a composition) and keeps a leading space on the
 * ▁ it became: ours must then lie inside spm's span widened left over whitespace (an empty spm
 * span: ours must contain that point).
 */
function checkOffsets(text: string, ours: Array<[number, number]>, ref: Ref, where: string): void {
  const cps = [...text];
  ours.forEach(([s, e], i) => {
    const b = ref.begin[i]!;
    const en = ref.end[i]!;
    const surface = cps.slice(b, en).join('');
    const piece = ref.pieces[i]!.replaceAll('\u2581', ' ');
    const msg = `${where}: token ${i} ${JSON.stringify(ref.pieces[i])} ours [${s},${e}] spm [${b},${en}] in ${JSON.stringify(text)}`;
    if (surface === piece) assert.deepEqual([s, e], [b, en], msg);
    else if (b === en) assert.ok(s <= b && b <= e, msg);
    else {
      // spm leaves out of a surface the whitespace its normalizer dropped; HF keeps it on the ▁ it became.
      let bb = b;
      while (bb > 0 && /\s/u.test(cps[bb - 1]!)) bb--;
      assert.ok(bb <= s && s < e && e <= en, msg);
    }
  });
}

describe('Unigram model (HF tokenizers semantics)', () => {
  const ctx = { file: 'tokenizer.json' };
  const pieces: Array<[string, number]> = [['<unk>', 0], ['a', 0], ['b', 0], ['c', 0], ['d', 0], ['cd', 1], ['ab', 2], ['abc', 5], ['abcd', 10]];
  const tok = (m: Unigram, s: string): Array<[string, number, number, number]> => m.tokenize(codePoints(s)).map((t) => [t.value, t.id, ...t.offsets]);

  it('Viterbi picks the best-scoring path; consecutive unknowns fuse into one token keeping their text', () => {
    // The example of HF's Unigram::encode documentation.
    const m = new Unigram(pieces, 0, false, ctx);
    assert.deepEqual(tok(m, 'abcdacdxx'), [['abcd', 8, 0, 4], ['a', 1, 4, 5], ['cd', 5, 5, 7], ['xx', 0, 7, 9]]);
    assert.deepEqual(tok(m, 'xaé'), [['x', 0, 0, 1], ['a', 1, 1, 2], ['é', 0, 2, 3]]);
    assert.deepEqual(tok(m, ''), []);
  });

  it('byte fallback: an unknown run becomes its UTF-8 bytes, each covering the whole run', () => {
    const withBytes: Array<[string, number]> = [...pieces, ...Array.from({ length: 256 }, (_, b): [string, number] => [`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, 0])];
    const m = new Unigram(withBytes, 0, true, ctx);
    assert.deepEqual(tok(m, 'aé'), [['a', 1, 0, 1], ['<0xC3>', 9 + 0xc3, 1, 2], ['<0xA9>', 9 + 0xa9, 1, 2]]);
    assert.deepEqual(tok(m, 'x😀'), [['<0x78>', 9 + 0x78, 0, 2], ['<0xF0>', 9 + 0xf0, 0, 2], ['<0x9F>', 9 + 0x9f, 0, 2], ['<0x98>', 9 + 0x98, 0, 2], ['<0x80>', 9 + 0x80, 0, 2]]);
  });

  it('an unknown char without unk_id is an error; unk_id outside the vocabulary is refused', () => {
    const m = new Unigram(pieces.slice(1), null, false, ctx);
    assert.throws(() => m.tokenize(['z']), (e: unknown) => e instanceof FileFormatError && /"z" is not in the vocabulary and the model has no unk_id/.test(e.message));
    assert.throws(() => new Unigram(pieces, 99, false, ctx), /unk_id 99 is outside the vocabulary \(size 9\)/);
  });
});

describe('SentencePiece models converted like transformers, checked against sentencepiece', { skip: SKIP }, () => {
  let dir = '';
  let uni = '';
  let uniBytes = '';
  let bpe = '';
  let uniRefs: Ref[] = [];
  let deb = '';
  let alb = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ft-unigram-'));
    writeFileSync(join(dir, 'corpus.txt'), corpus());
    uni = train(dir, 'uni', ['--model_type=unigram', '--vocab_size=300']);
    uniBytes = train(dir, 'unib', ['--model_type=unigram', '--vocab_size=600', '--byte_fallback=true']);
    bpe = train(dir, 'bpe', ['--model_type=bpe', '--vocab_size=300']);
    deb = train(dir, 'deb', ['--model_type=unigram', '--vocab_size=300', '--pad_id=0', '--bos_id=1', '--eos_id=2', '--unk_id=3', '--pad_piece=[PAD]', '--bos_piece=[CLS]', '--eos_piece=[SEP]', '--unk_piece=[UNK]']);
    alb = train(dir, 'alb', ['--model_type=unigram', '--vocab_size=300', '--control_symbols=[CLS],[SEP],[MASK]', '--pad_id=0', '--unk_id=1', '--bos_id=-1', '--eos_id=-1']);
    prefetch([[uni, SENTENCES], [uni, FUZZ], [uni, ['①\u0301']], [uniBytes, SENTENCES], [bpe, SENTENCES], [bpe, FUZZ], [deb, LOWER], [alb, ALBERT_PLAIN]]);
    uniRefs = reference(uni, SENTENCES);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('Unigram (nmt_nfkc charsmap, unknowns fused): ids, tokens and offsets', async () => {
    const tok = await folder(dir, 'uni', uni, 'spm.model', null);
    assert.equal(tok.model.type, 'Unigram');
    const refs = uniRefs;
    SENTENCES.forEach((t, k) => {
      const e = tok.encode(t, null, { addSpecialTokens: false });
      assert.deepEqual(e.ids, refs[k]!.ids, `ids of ${JSON.stringify(t)}`);
      assert.deepEqual(e.tokens, refs[k]!.pieces, `tokens of ${JSON.stringify(t)}`);
      checkOffsets(t, e.offsets, refs[k]!, 'unigram');
    });
    assert.ok(refs.some((r) => r.ids.includes(0)), 'the sentences exercise the unknown token');
    // Decoding (Metaspace decoder) gives sentencepiece's decoding where nothing was unknown.
    let checked = 0;
    refs.forEach((r, k) => {
      if (r.ids.includes(0)) return;
      assert.equal(tok.decode(r.ids), r.decoded, `decode of ${JSON.stringify(SENTENCES[k])}`);
      checked++;
    });
    assert.ok(checked >= 3, `decoded ${checked} sentences`);
  });

  it('500 random strings (controls, odd spaces, CJK, emoji, full-width, ligatures): same ids as sentencepiece, Unigram and BPE', async () => {
    // Combining marks are left out of the pool: see the next test for the one place HF differs.
    const texts = FUZZ;
    for (const [name, model] of [['fuzz-uni', uni], ['fuzz-bpe', bpe]] as const) {
      const tok = await folder(dir, name, model, 'spm.model', null);
      const refs = reference(model, texts);
      texts.forEach((t, k) => assert.deepEqual(tok.encode(t, null, { addSpecialTokens: false }).ids, refs[k]!.ids, `${name}: ${JSON.stringify(t)}`));
    }
  });

  it('a grapheme whose first char the charsmap maps is replaced whole, as HF does (sentencepiece maps char by char)', async () => {
    const tok = await folder(dir, 'graph', uni, 'spm.model', null);
    // "①\u0301" is one grapheme: HF's Precompiled replaces all of it by the mapping of its shortest
    // matching prefix "①" → "1", dropping the accent; sentencepiece keeps the accent as an unknown.
    const e = tok.encode('①\u0301', null, { addSpecialTokens: false });
    const [ref] = reference(uni, ['①\u0301']);
    assert.deepEqual(e.ids, ref!.ids.filter((id) => id !== 0));
    assert.ok(ref!.ids.includes(0));
    assert.deepEqual(e.offsets.at(-1), [0, 1], 'aligned to the first char of the replaced grapheme, as HF transforms');
  });

  it('Precompiled alignments follow HF exactly: expansion then removal ("™\\x1eg" → "TMg", HF precompiled.rs test)', async () => {
    const tok = await folder(dir, 'norm', uni, 'spm.model', null);
    const n = NormalizedString.from('™\x1eg');
    tok.normalizer!.normalize(n);
    assert.equal(n.text, 'TMg');
    // HF: "TM" replaces "™" (M an insertion), then the removed \x1e folds into M's change: M takes \x1e's place.
    assert.deepEqual(n.align, [0, 1, 1, 2, 2, 3]);
  });

  it('Unigram with byte fallback: unknown chars become <0xNN> pieces', async () => {
    const tok = await folder(dir, 'unib', uniBytes, 'spm.model', null);
    const refs = reference(uniBytes, SENTENCES);
    SENTENCES.forEach((t, k) => {
      const e = tok.encode(t, null, { addSpecialTokens: false });
      assert.deepEqual(e.ids, refs[k]!.ids, `ids of ${JSON.stringify(t)}`);
      assert.deepEqual(e.tokens, refs[k]!.pieces, `tokens of ${JSON.stringify(t)}`);
    });
    assert.ok(refs.some((r) => r.pieces.some((p) => /^<0x[0-9A-F]{2}>$/.test(p))), 'the sentences exercise byte fallback');
    const e = tok.encode('🦄', null, { addSpecialTokens: false });
    assert.equal(tok.decode(e.ids), '🦄');
  });

  it('BPE .model (merges from scores): ids and tokens', async () => {
    const tok = await folder(dir, 'bpe', bpe, 'spm.model', null);
    assert.equal(tok.model.type, 'BPE');
    const refs = reference(bpe, SENTENCES);
    SENTENCES.forEach((t, k) => {
      const e = tok.encode(t, null, { addSpecialTokens: false });
      assert.deepEqual(e.ids, refs[k]!.ids, `ids of ${JSON.stringify(t)}`);
      checkOffsets(t, e.offsets, refs[k]!, 'bpe');
    });
    // Named tokenizer.model with no class, a charsmap BPE is not Llama's: same generic conversion.
    const asLlamaName = await folder(dir, 'bpe-tm', bpe, 'tokenizer.model', null);
    SENTENCES.forEach((t, k) => assert.deepEqual(asLlamaName.encode(t, null, { addSpecialTokens: false }).ids, refs[k]!.ids));
  });

  it('XLM-R converter: fairseq ids (+1 shift), <s> A </s> template, <mask> last', async () => {
    const tok = await folder(dir, 'xlmr', uni, 'sentencepiece.bpe.model', { tokenizer_class: 'XLMRobertaTokenizer' });
    const refs = uniRefs;
    const fairseq = (id: number): number => (id === 0 ? 3 : id === 1 ? 0 : id === 2 ? 2 : id + 1);
    SENTENCES.forEach((t, k) => {
      assert.deepEqual(tok.encode(t).ids, [0, ...refs[k]!.ids.map(fairseq), 2]);
    });
    assert.deepEqual(tok.encode('ka', 'to').ids.filter((i) => i <= 2), [0, 2, 2, 2]);
    assert.deepEqual([tok.padTokenId, tok.unkTokenId, tok.maskTokenId, tok.clsTokenId, tok.sepTokenId], [1, 3, 301, 0, 2]);
    assert.equal(tok.vocabSize, 302);
  });

  it('DeBERTa-v2 converter: [CLS] A [SEP] template, [MASK] appended, lower-casing from tokenizer_config', async () => {
    // DeBERTa-v3's spm.model has [PAD] [CLS] [SEP] [UNK] as pieces 0-3; train one the same way.
    const model = deb;
    const tok = await folder(dir, 'deb', model, 'spm.model', { tokenizer_class: 'DebertaV2Tokenizer', do_lower_case: true });
    const refs = reference(model, LOWER);
    SENTENCES.forEach((t, k) => {
      if (t.trim() === '') return;
      const e = tok.encode(t.trim());
      assert.deepEqual(e.ids, [1, ...refs[k]!.ids, 2], `ids of ${JSON.stringify(t)}`);
    });
    const a = tok.encode('ka', null, { addSpecialTokens: false }).ids.length;
    const b = tok.encode('to', null, { addSpecialTokens: false }).ids.length;
    const pair = tok.encode('ka', 'to');
    assert.deepEqual(pair.typeIds, [...Array<number>(a + 2).fill(0), ...Array<number>(b + 1).fill(1)]);
    assert.deepEqual([pair.ids[0], pair.ids[a + 1], pair.ids.at(-1)], [1, 2, 2]);
    assert.deepEqual([tok.padTokenId, tok.clsTokenId, tok.sepTokenId, tok.unkTokenId, tok.maskTokenId], [0, 1, 2, 3, 300]);
    assert.equal(tok.encode('ka [MASK] to').ids.includes(300), true);
  });

  it('T5 converter: $A </s>, <extra_id_N> appended in reverse as special tokens', async () => {
    const tok = await folder(dir, 't5', uni, 'spiece.model', { tokenizer_class: 'T5Tokenizer', extra_ids: 3 });
    const refs = uniRefs;
    SENTENCES.forEach((t, k) => assert.deepEqual(tok.encode(t).ids, [...refs[k]!.ids, 2]));
    assert.deepEqual(['<extra_id_2>', '<extra_id_1>', '<extra_id_0>'].map((t) => tok.tokenToId(t)), [300, 301, 302]);
    assert.deepEqual(tok.encode('ka <extra_id_0> to', null, { addSpecialTokens: false }).ids.includes(302), true);
    assert.deepEqual([tok.eosTokenId, tok.unkTokenId], [2, 0]);
  });

  it('ALBERT converter: lower-cases and strips accents before the charsmap, [CLS] A [SEP]', async () => {
    const model = alb;
    const tok = await folder(dir, 'alb', model, 'spiece.model', { tokenizer_class: 'AlbertTokenizer' });
    const texts = ALBERT_TEXTS;
    const refs = reference(model, ALBERT_PLAIN);
    const [cls, sep] = [tok.tokenToId('[CLS]')!, tok.tokenToId('[SEP]')!];
    texts.forEach((t, k) => assert.deepEqual(tok.encode(t).ids, [cls, ...refs[k]!.ids, sep], `ids of ${JSON.stringify(t)}`));
    assert.deepEqual([tok.clsTokenId, tok.sepTokenId, tok.maskTokenId, tok.unkTokenId, tok.padTokenId], [cls, sep, tok.tokenToId('[MASK]'), 1, 0]);
  });

  it('classes whose converter is not reproduced (CamemBERT, mBART, XLNet...) are refused with the Python recipe', async () => {
    for (const [name, cfg] of [['camembert', { tokenizer_class: 'CamembertTokenizer' }], ['xlnet', { tokenizer_class: 'XLNetTokenizerFast' }]] as const) {
      await assert.rejects(folder(dir, name, uni, 'sentencepiece.bpe.model', cfg), (e: unknown) => e instanceof ModelError && /does not reproduce/.test(e.message) && /save_pretrained/.test(e.message));
    }
    const f = join(dir, 'mbart');
    mkdirSync(f);
    copyFileSync(uni, join(f, 'sentencepiece.bpe.model'));
    writeFileSync(join(f, 'config.json'), JSON.stringify({ model_type: 'mbart' }));
    await assert.rejects(loadTokenizer(f), /does not reproduce/);
  });

  it('a converted Unigram tokenizer saves as tokenizer.json and reloads identically', async () => {
    const tok = await folder(dir, 'rt', uni, 'spm.model', { tokenizer_class: 'XLMRobertaTokenizer' });
    const out = join(dir, 'saved');
    await saveTokenizer(tok, out);
    const again = await loadTokenizer(out);
    for (const t of SENTENCES) assert.deepEqual(again.encode(t).ids, tok.encode(t).ids);
    assert.equal(again.decode(again.encode(SENTENCES[0]!).ids, { skipSpecialTokens: true }), SENTENCES[0]);
  });
});

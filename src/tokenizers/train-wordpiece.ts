// Trains a BERT-style WordPiece vocabulary from raw text the way HF `tokenizers` does: BERT
// normalization + pre-tokenization, word counts, an alphabet (limit 1000), then BPE merges over
// words whose non-initial symbols carry the "##" prefix; the merged vocabulary is the WordPiece
// vocabulary. Not here: byte-level BPE or Unigram training.

import { ConfigError, DataError } from '../errors.ts';
import type { JsonObject } from './json.ts';
import { configFrom, wordPieceJsonFromVocab } from './load.ts';
import { Tokenizer } from './tokenizer.ts';

export interface WordPieceTrainOptions {
  /** Target vocabulary size, specials included (default 30000). */
  vocabSize?: number;
  /** Lowercase (and strip accents) like bert-base-uncased (default true). */
  lowercase?: boolean;
  /** Merges seen fewer times than this stop training (default 2). */
  minFrequency?: number;
  /** Placed first, in order (default [PAD], [UNK], [CLS], [SEP], [MASK]: ids 0–4). */
  specialTokens?: string[];
  /** Keep at most this many distinct initial chars, the most frequent (default 1000). */
  limitAlphabet?: number;
  /** Written as model_max_length (default 512). */
  modelMaxLength?: number;
}

const CLEAN_RE = /[\0\ufffd]|(?![\t\n\r])\p{C}/gu;
const WS_RE = /[\t\n\r\p{White_Space}]/gu;
const CJK_RE = /([\u4e00-\u9fff\u3400-\u4dbf\u{20000}-\u{2a6df}\u{2a700}-\u{2b73f}\u{2b740}-\u{2b81f}\u{2b920}-\u{2ceaf}\uf900-\ufaff\u{2f800}-\u{2fa1f}])/gu;
const MN_RE = /\p{Mn}/gu;
const WORD_RE = /[!-/:-@[-`{-~\p{P}]|[^\s!-/:-@[-`{-~\p{P}]+/gu;

/**
 * The words BertNormalizer + BertPreTokenizer produce for `text`, by whole-string operations
 * (the fast twin of the offset-tracking pipeline; a test keeps the two equal).
 */
export function bertWords(text: string, lowercase: boolean, stripAccents: boolean = lowercase): string[] {
  let s = text.replace(CLEAN_RE, '').replace(WS_RE, ' ');
  s = s.replace(CJK_RE, ' $1 ');
  if (stripAccents) s = s.normalize('NFD').replace(MN_RE, '');
  // Rust lowercases char by char; JS's only context-dependent rule is the final sigma.
  if (lowercase) s = s.replaceAll('Σ', 'σ').toLowerCase();
  return s.match(WORD_RE) ?? [];
}

/** Max-heap of [count, pairKey]; ties go to the smaller pair, as HF's trainer. */
class PairHeap {
  private a: Array<[number, number]> = [];
  get size(): number {
    return this.a.length;
  }
  private before(x: [number, number], y: [number, number]): boolean {
    return x[0] !== y[0] ? x[0] > y[0] : x[1] < y[1];
  }
  push(x: [number, number]): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): [number, number] | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.before(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

const K = 4194304; // pair key = a * K + b

/**
 * Trains an uncased (by default) BERT WordPiece tokenizer; it saves as a standard BERT folder.
 * @example
 * const tok = trainWordPieceTokenizer(emails, { vocabSize: 8000 });
 * await tok.save('out/tokenizer'); // tokenizer.json, vocab.txt, tokenizer_config.json, ...
 */
export function trainWordPieceTokenizer(texts: Iterable<string>, opts: WordPieceTrainOptions = {}): Tokenizer {
  const vocabSize = opts.vocabSize ?? 30000;
  const lowercase = opts.lowercase ?? true;
  const minFrequency = opts.minFrequency ?? 2;
  const specials = opts.specialTokens ?? ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const limitAlphabet = opts.limitAlphabet ?? 1000;
  if (!Number.isInteger(vocabSize) || vocabSize < specials.length) {
    throw new ConfigError('vocabSize', `must be an integer ≥ the ${specials.length} special tokens, got ${vocabSize}`);
  }
  if (!specials.includes('[UNK]')) throw new ConfigError('specialTokens', 'must include "[UNK]" (the WordPiece unknown token)');

  // 1. Word counts.
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const w of bertWords(text, lowercase)) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  if (counts.size === 0) throw new DataError('trainWordPieceTokenizer: the texts contain no words');

  // 2. Vocabulary: specials, then the alphabet (most frequent chars, sorted by code point).
  const idToWord: string[] = [];
  const wordToId = new Map<string, number>();
  const addWord = (w: string): number => {
    let id = wordToId.get(w);
    if (id === undefined) {
      id = idToWord.length;
      idToWord.push(w);
      wordToId.set(w, id);
    }
    return id;
  };
  for (const s of specials) addWord(s);
  const charCounts = new Map<string, number>();
  for (const [w, c] of counts) for (const ch of w) charCounts.set(ch, (charCounts.get(ch) ?? 0) + c);
  let alphabet = [...charCounts.entries()];
  if (alphabet.length > limitAlphabet) {
    alphabet.sort((x, y) => y[1] - x[1] || cmpCodePoint(x[0], y[0]));
    alphabet = alphabet.slice(0, limitAlphabet);
  }
  alphabet.sort((x, y) => cmpCodePoint(x[0], y[0]));
  for (const [ch] of alphabet) addWord(ch);

  // 3. Words as symbol ids ("##" on non-initial chars; chars outside the alphabet are dropped).
  const words: number[][] = [];
  const freq: number[] = [];
  const sortedWords = [...counts.keys()].sort();
  for (const w of sortedWords) {
    const syms: number[] = [];
    let first = true;
    for (const ch of w) {
      if (!wordToId.has(ch)) {
        first = false;
        continue;
      }
      syms.push(addWord(first ? ch : '##' + ch));
      first = false;
    }
    words.push(syms);
    freq.push(counts.get(w)!);
  }

  // 4. Pair counts and where each pair occurs.
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const note = (key: number, delta: number, wi: number): void => {
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + delta);
    if (delta > 0) {
      let set = pairWords.get(key);
      if (!set) pairWords.set(key, (set = new Set()));
      set.add(wi);
    }
  };
  words.forEach((syms, wi) => {
    for (let i = 0; i + 1 < syms.length; i++) note(syms[i]! * K + syms[i + 1]!, freq[wi]!, wi);
  });
  const heap = new PairHeap();
  for (const [key, c] of pairCounts) if (c > 0) heap.push([c, key]);

  // 5. Merge the most frequent pair until the vocabulary is full.
  while (idToWord.length < vocabSize) {
    const top = heap.pop();
    if (!top) break;
    const [count, key] = top;
    const current = pairCounts.get(key) ?? 0;
    if (count !== current) {
      if (current > 0) heap.push([current, key]);
      continue;
    }
    if (count < 1 || count < minFrequency) break;
    const a = Math.floor(key / K);
    const b = key - a * K;
    const partB = idToWord[b]!;
    const newId = addWord(idToWord[a]! + (partB.startsWith('##') ? partB.slice(2) : partB));
    const touched = new Set<number>();
    for (const wi of pairWords.get(key) ?? []) {
      const syms = words[wi]!;
      const f = freq[wi]!;
      for (let i = 0; i + 1 < syms.length; i++) {
        if (syms[i] !== a || syms[i + 1] !== b) continue;
        if (i > 0) {
          note(syms[i - 1]! * K + a, -f, wi);
          note(syms[i - 1]! * K + newId, f, wi);
          touched.add(syms[i - 1]! * K + newId);
        }
        syms.splice(i, 2, newId);
        if (i + 1 < syms.length) {
          note(b * K + syms[i + 1]!, -f, wi);
          note(newId * K + syms[i + 1]!, f, wi);
          touched.add(newId * K + syms[i + 1]!);
        }
      }
    }
    pairCounts.set(key, 0);
    pairWords.delete(key);
    for (const t of touched) {
      const c = pairCounts.get(t) ?? 0;
      if (c > 0) heap.push([c, t]);
    }
  }

  const vocab = new Map<string, number>();
  idToWord.forEach((w, i) => vocab.set(w, i));
  const config: JsonObject = {
    do_lower_case: lowercase,
    model_max_length: opts.modelMaxLength ?? 512,
    tokenizer_class: 'BertTokenizerFast',
  };
  const pick = (t: string): string | undefined => (specials.includes(t) ? t : undefined);
  for (const [k, t] of [['pad_token', '[PAD]'], ['unk_token', '[UNK]'], ['cls_token', '[CLS]'], ['sep_token', '[SEP]'], ['mask_token', '[MASK]']] as const) {
    const v = pick(t);
    if (v) config[k] = v;
  }
  const json = wordPieceJsonFromVocab(vocab, config);
  // Every special token is an added token (ids from the vocabulary), as HF's trainer returns them.
  json.added_tokens = specials.map((s) => ({ id: vocab.get(s)!, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return new Tokenizer(json, configFrom(config, {}, json), { file: 'trainWordPieceTokenizer' });
}

function cmpCodePoint(x: string, y: string): number {
  return (x.codePointAt(0) ?? 0) - (y.codePointAt(0) ?? 0);
}

// Tokenizer models of the HF tokenizer.json format: WordPiece (greedy longest match with "##"),
// BPE (ranked merges, byte fallback, unk fusing, ignore_merges) and WordLevel. Each turns one
// pre-tokenized word into tokens with char offsets inside that word. Not here: Unigram (unigram.ts),
// BPE dropout (ignored: it is a training-time regulariser), training (train-wordpiece.ts).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type Json, type JsonObject, getBool, getNumber, getOptString, getString, isObject } from './json.ts';
import type { Token } from './normalized.ts';
import { buildUnigram } from './unigram.ts';

/** A model tokenizes one word (as code points) into tokens with offsets in those code points. */
export interface Model {
  readonly type: 'WordPiece' | 'BPE' | 'WordLevel' | 'Unigram';
  /** token → id (model vocabulary only). */
  readonly vocab: ReadonlyMap<string, number>;
  /** The returned tokens may be shared with a cache: callers must not mutate them. */
  tokenize(chars: readonly string[]): readonly Token[];
  idToToken(id: number): string | undefined;
}

const CACHE_LIMIT = 20000;

/** Reads a `{token: id}` vocabulary object into a Map and its inverse. */
function readVocab(v: Json | undefined, ctx: Ctx, where: string): { vocab: Map<string, number>; inverse: Map<number, string> } {
  if (!isObject(v)) throw new FileFormatError(ctx.file, `${where}: "vocab" must be an object of token → id`);
  const vocab = new Map<string, number>();
  const inverse = new Map<number, string>();
  for (const [tok, id] of Object.entries(v)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new FileFormatError(ctx.file, `${where}: vocab entry ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, expected a non-negative integer`);
    }
    vocab.set(tok, id);
    inverse.set(id, tok);
  }
  return { vocab, inverse };
}

/** Per-word results cache (the models are pure functions of the word). */
class WordCache {
  private map = new Map<string, Token[]>();
  get(k: string): Token[] | undefined {
    return this.map.get(k);
  }
  set(k: string, v: Token[]): void {
    if (this.map.size >= CACHE_LIMIT) this.map.clear();
    this.map.set(k, v);
  }
}


/** BERT's WordPiece: greedy longest-match-first with a continuation prefix. */
export class WordPiece implements Model {
  readonly type = 'WordPiece';
  private cache = new WordCache();
  readonly unkId: number;
  constructor(
    readonly vocab: Map<string, number>,
    private readonly inverse: Map<number, string>,
    readonly unkToken: string,
    readonly prefix: string,
    readonly maxInputCharsPerWord: number,
    ctx: Ctx,
  ) {
    const unkId = vocab.get(unkToken);
    if (unkId === undefined) throw new FileFormatError(ctx.file, `WordPiece model: unk_token ${JSON.stringify(unkToken)} is not in the vocabulary`);
    this.unkId = unkId;
  }

  idToToken(id: number): string | undefined {
    return this.inverse.get(id);
  }

  tokenize(chars: readonly string[]): readonly Token[] {
    const word = chars.join('');
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = this.tokenizeUncached(chars, word);
    this.cache.set(word, out);
    return out;
  }

  private tokenizeUncached(chars: readonly string[], word: string): Token[] {
    const n = chars.length;
    const unk: Token[] = [{ id: this.unkId, value: this.unkToken, offsets: [0, n] }];
    if (n > this.maxInputCharsPerWord) return unk;
    // UTF-16 position of each code point, so substrings are plain slices.
    const pos = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) pos[i + 1] = pos[i]! + chars[i]!.length;
    const out: Token[] = [];
    let start = 0;
    while (start < n) {
      let end = n;
      let found: Token | null = null;
      while (start < end) {
        let sub = word.slice(pos[start], pos[end]);
        if (start > 0) sub = this.prefix + sub;
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = { id, value: sub, offsets: [start, end] };
          break;
        }
        end--;
      }
      if (!found) return unk;
      out.push(found);
      start = end;
    }
    return out;
  }
}

/** One symbol of a word being merged: token id and its [start, end) chars in the word. */
interface Sym {
  id: number;
  start: number;
  end: number;
  prev: number;
  next: number;
  alive: boolean;
}

/** A min-heap of pending merges ordered by (rank, position), as HF's BPE word merge. */
class MergeHeap {
  private items: Array<[number, number, number]> = []; // rank, pos, newId
  get size(): number {
    return this.items.length;
  }
  push(x: [number, number, number]): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): [number, number, number] | undefined {
    const a = this.items;
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
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: [number, number, number], y: [number, number, number]): boolean {
  return x[0] !== y[0] ? x[0] < y[0] : x[1] < y[1];
}

const PAIR = 4194304; // 2^22: pair key = a * PAIR + b (ids stay far below 2^31)

/** Byte-pair encoding with ranked merges (GPT-2, RoBERTa, Llama...). */
export class BPE implements Model {
  readonly type = 'BPE';
  private cache = new WordCache();
  /** pair key → [rank, new id]. */
  readonly merges = new Map<number, [number, number]>();
  constructor(
    readonly vocab: Map<string, number>,
    private readonly inverse: Map<number, string>,
    mergeList: Array<[string, string]>,
    readonly unkToken: string | null,
    readonly prefix: string | null,
    readonly suffix: string | null,
    readonly fuseUnk: boolean,
    readonly byteFallback: boolean,
    readonly ignoreMerges: boolean,
    ctx: Ctx,
  ) {
    const plen = prefix?.length ?? 0;
    mergeList.forEach(([a, b], rank) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const merged = a + b.slice(plen);
      const id = vocab.get(merged);
      if (ia === undefined || ib === undefined || id === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : merged;
        throw new FileFormatError(ctx.file, `BPE merge #${rank + 1} "${a} ${b}": token ${JSON.stringify(missing)} is not in the vocabulary`);
      }
      this.merges.set(ia * PAIR + ib, [rank, id]);
    });
  }

  idToToken(id: number): string | undefined {
    return this.inverse.get(id);
  }

  tokenize(chars: readonly string[]): readonly Token[] {
    if (chars.length === 0) return [];
    const word = chars.join('');
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) return [{ id, value: word, offsets: [0, chars.length] }];
    }
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = this.mergeWord(chars);
    this.cache.set(word, out);
    return out;
  }

  private mergeWord(chars: readonly string[]): Token[] {
    const syms: Sym[] = [];
    const add = (id: number, start: number, end: number): void => {
      syms.push({ id, start, end, prev: syms.length - 1, next: syms.length + 1, alive: true });
    };
    let unk: Sym | null = null;
    const n = chars.length;
    for (let i = 0; i < n; i++) {
      let s = chars[i]!;
      if (i > 0 && this.prefix !== null) s = this.prefix + s;
      if (i === n - 1 && this.suffix !== null) s = s + this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (unk) add(unk.id, unk.start, unk.end);
        unk = null;
        add(id, i, i + 1);
        continue;
      }
      if (this.byteFallback) {
        const bytes = new TextEncoder().encode(s);
        const ids: number[] = [];
        for (const b of bytes) {
          const bid = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
          if (bid === undefined) break;
          ids.push(bid);
        }
        if (ids.length === bytes.length) {
          // Every byte token covers the whole char it came from (HF maps byte spans back to chars).
          for (const bid of ids) add(bid, i, i + 1);
          continue;
        }
      }
      if (this.unkToken !== null) {
        const unkId = this.vocab.get(this.unkToken);
        if (unkId === undefined) throw new FileFormatError('tokenizer.json', `BPE model: unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`);
        if (unk && this.fuseUnk) unk.end = i + 1;
        else {
          if (unk) add(unk.id, unk.start, unk.end);
          unk = { id: unkId, start: i, end: i + 1, prev: 0, next: 0, alive: true };
        }
      }
    }
    if (unk) add(unk.id, unk.start, unk.end);
    if (syms.length > 0) syms[syms.length - 1]!.next = -1;
    this.mergeAll(syms);
    const out: Token[] = [];
    for (const s of syms) if (s.alive) out.push({ id: s.id, value: this.inverse.get(s.id) ?? '', offsets: [s.start, s.end] });
    return out;
  }

  private mergeAll(syms: Sym[]): void {
    const heap = new MergeHeap();
    for (let i = 0; i + 1 < syms.length; i++) {
      const m = this.merges.get(syms[i]!.id * PAIR + syms[i + 1]!.id);
      if (m) heap.push([m[0], i, m[1]]);
    }
    for (let top = heap.pop(); top; top = heap.pop()) {
      const [, pos, newId] = top;
      const cur = syms[pos]!;
      if (!cur.alive || cur.next === -1) continue;
      const right = syms[cur.next]!;
      const check = this.merges.get(cur.id * PAIR + right.id);
      if (!check || check[1] !== newId) continue;
      cur.id = newId;
      cur.end = right.end;
      cur.next = right.next;
      right.alive = false;
      if (right.next > -1 && right.next < syms.length) syms[right.next]!.prev = pos;
      if (cur.prev >= 0) {
        const m = this.merges.get(syms[cur.prev]!.id * PAIR + cur.id);
        if (m) heap.push([m[0], cur.prev, m[1]]);
      }
      if (cur.next > -1 && cur.next < syms.length) {
        const m = this.merges.get(cur.id * PAIR + syms[cur.next]!.id);
        if (m) heap.push([m[0], pos, m[1]]);
      }
    }
  }
}

/** Whole-word lookup with an unknown token. */
export class WordLevel implements Model {
  readonly type = 'WordLevel';
  constructor(
    readonly vocab: Map<string, number>,
    private readonly inverse: Map<number, string>,
    readonly unkToken: string,
  ) {}
  idToToken(id: number): string | undefined {
    return this.inverse.get(id);
  }
  tokenize(chars: readonly string[]): readonly Token[] {
    const word = chars.join('');
    const id = this.vocab.get(word);
    if (id !== undefined) return [{ id, value: word, offsets: [0, chars.length] }];
    const unk = this.vocab.get(this.unkToken);
    if (unk === undefined) throw new FileFormatError('tokenizer.json', `WordLevel model: unk_token ${JSON.stringify(this.unkToken)} is not in the vocabulary`);
    return [{ id: unk, value: this.unkToken, offsets: [0, chars.length] }];
  }
}

/** Reads BPE merges in either tokenizer.json form: ["a b", ...] or [["a", "b"], ...]. */
export function readMerges(v: Json | undefined, ctx: Ctx): Array<[string, string]> {
  if (!Array.isArray(v)) throw new FileFormatError(ctx.file, 'BPE model: "merges" must be an array');
  return v.map((m, i) => {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) throw new FileFormatError(ctx.file, `BPE model: merge #${i + 1} ${JSON.stringify(m)} must be two tokens separated by one space`);
      return [parts[0]!, parts[1]!];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new FileFormatError(ctx.file, `BPE model: merge #${i + 1} must be "a b" or ["a", "b"]`);
  });
}

/** Builds the model from tokenizer.json's "model" object. Old files omit "type" (inferred). */
export function buildModel(j: Json | undefined, ctx: Ctx): Model {
  if (!isObject(j)) throw new FileFormatError(ctx.file, 'field "model" must be an object');
  const type = inferModelType(j, ctx);
  if (type === 'Unigram') return buildUnigram(j, ctx);
  const where = `model ${type}`;
  const { vocab, inverse } = readVocab(j.vocab, ctx, where);
  switch (type) {
    case 'WordPiece':
      return new WordPiece(
        vocab,
        inverse,
        getString(j, 'unk_token', ctx, where, '[UNK]'),
        getString(j, 'continuing_subword_prefix', ctx, where, '##'),
        getNumber(j, 'max_input_chars_per_word', ctx, where, 100),
        ctx,
      );
    case 'BPE':
      return new BPE(
        vocab,
        inverse,
        readMerges(j.merges, ctx),
        getOptString(j, 'unk_token', ctx, where),
        getOptString(j, 'continuing_subword_prefix', ctx, where),
        getOptString(j, 'end_of_word_suffix', ctx, where),
        getBool(j, 'fuse_unk', ctx, where, false),
        getBool(j, 'byte_fallback', ctx, where, false),
        getBool(j, 'ignore_merges', ctx, where, false),
        ctx,
      );
    case 'WordLevel':
      return new WordLevel(vocab, inverse, getString(j, 'unk_token', ctx, where, '<unk>'));
  }
}

function inferModelType(j: JsonObject, ctx: Ctx): 'WordPiece' | 'BPE' | 'WordLevel' | 'Unigram' {
  const t = j.type;
  if (t === 'WordPiece' || t === 'BPE' || t === 'WordLevel' || t === 'Unigram') return t;
  if (t === undefined && Array.isArray(j.vocab)) return 'Unigram';
  if (t !== undefined) throw new FileFormatError(ctx.file, `model type ${JSON.stringify(t)} is not supported (supported: WordPiece, BPE, WordLevel, Unigram)`);
  if ('merges' in j) return 'BPE';
  if ('continuing_subword_prefix' in j || 'max_input_chars_per_word' in j) return 'WordPiece';
  return 'WordLevel';
}

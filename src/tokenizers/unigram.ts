// The Unigram model of tokenizer.json (SentencePiece's unigram LM, as HF `tokenizers` runs it):
// Viterbi over a trie of every piece, scores are log-probabilities, an unknown char costs
// (lowest score − 10), consecutive unknowns fuse into one <unk>, and with byte_fallback an unknown
// run becomes its UTF-8 <0xNN> pieces. Not here: training, sampling/n-best (encode is deterministic).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type JsonObject, getBool } from './json.ts';
import type { Token } from './normalized.ts';

/** HF `K_UNK_PENALTY`: how far below the lowest piece score an unknown char scores. */
const UNK_PENALTY = 10;
const CACHE_LIMIT = 20000;

interface TrieNode {
  next: Map<string, TrieNode>;
  id: number; // -1: no piece ends here
}

/** Unigram language-model tokenizer (T5, XLM-R, ALBERT, DeBERTa-v3, mBART...). */
export class Unigram {
  readonly type = 'Unigram';
  readonly vocab = new Map<string, number>();
  readonly pieces: string[];
  readonly scores: Float64Array;
  private readonly root: TrieNode = { next: new Map(), id: -1 };
  private readonly unkScore: number;
  private cache = new Map<string, Token[]>();

  constructor(
    vocab: ReadonlyArray<[string, number]>,
    readonly unkId: number | null,
    readonly byteFallback: boolean,
    ctx: Ctx,
  ) {
    this.pieces = vocab.map(([p]) => p);
    this.scores = Float64Array.from(vocab, ([, s]) => s);
    if (unkId !== null && (unkId < 0 || unkId >= vocab.length)) {
      throw new FileFormatError(ctx.file, `Unigram model: unk_id ${unkId} is outside the vocabulary (size ${vocab.length})`);
    }
    let min = Infinity;
    vocab.forEach(([piece, score], id) => {
      // A duplicated piece resolves to its last id everywhere, as HF's HashMap does.
      this.vocab.set(piece, id);
      if (score < min) min = score;
      let node = this.root;
      for (const c of piece) {
        let nx = node.next.get(c);
        if (!nx) {
          nx = { next: new Map(), id: -1 };
          node.next.set(c, nx);
        }
        node = nx;
      }
      node.id = id;
    });
    this.unkScore = min - UNK_PENALTY;
  }

  idToToken(id: number): string | undefined {
    return this.pieces[id];
  }

  tokenize(chars: readonly string[]): readonly Token[] {
    if (chars.length === 0) return [];
    const word = chars.join('');
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = this.toTokens(chars, this.viterbi(chars));
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(word, out);
    return out;
  }

  /** Best segmentation as [start, end, id] spans in code points, unknown runs fused (HF `encode_optimized`). */
  private viterbi(chars: readonly string[]): Array<[number, number, number]> {
    const n = chars.length;
    const score = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1).fill(-1);
    for (let start = 0; start < n; start++) {
      const base = score[start]!;
      let node: TrieNode | undefined = this.root;
      let single = false;
      for (let k = start; k < n; k++) {
        node = node.next.get(chars[k]!);
        if (!node) break;
        if (node.id < 0) continue;
        const end = k + 1;
        const cand = base + this.scores[node.id]!;
        if (from[end] === -1 || cand > score[end]!) {
          score[end] = cand;
          from[end] = start;
          ids[end] = node.id;
        }
        if (end === start + 1) single = true;
      }
      if (!single) {
        if (this.unkId === null) {
          throw new FileFormatError('tokenizer.json', `Unigram model: ${JSON.stringify(chars[start])} is not in the vocabulary and the model has no unk_id`);
        }
        const end = start + 1;
        const cand = base + this.unkScore;
        if (from[end] === -1 || cand > score[end]!) {
          score[end] = cand;
          from[end] = start;
          ids[end] = this.unkId;
        }
      }
    }
    const spans: Array<[number, number, number]> = [];
    for (let end = n; end > 0; ) {
      const start = from[end]!;
      const id = ids[end]!;
      const last = spans[spans.length - 1];
      if (id === this.unkId && last && last[2] === this.unkId) last[0] = start; // fuse unknowns
      else spans.push([start, end, id]);
      end = start;
    }
    return spans.reverse();
  }

  private toTokens(chars: readonly string[], spans: Array<[number, number, number]>): Token[] {
    const out: Token[] = [];
    for (const [s, e, id] of spans) {
      const text = chars.slice(s, e).join('');
      if (id === this.unkId) {
        // HF looks the run up again: a fused run can itself be a piece.
        const known = this.vocab.get(text);
        if (known !== undefined) {
          out.push({ id: known, value: text, offsets: [s, e] });
          continue;
        }
      }
      if (id === this.unkId && this.byteFallback) {
        const bytes = new TextEncoder().encode(text);
        const byteIds: number[] = [];
        for (const b of bytes) {
          const bid = this.vocab.get(byteToken(b));
          if (bid === undefined) break;
          byteIds.push(bid);
        }
        if (byteIds.length === bytes.length) {
          // Every byte piece covers the whole unknown run (HF gives them all the run's offsets).
          byteIds.forEach((bid, i) => out.push({ id: bid, value: byteToken(bytes[i]!), offsets: [s, e] }));
          continue;
        }
      }
      // An unknown keeps its text as the token string, as HF's Unigram does.
      out.push({ id, value: text, offsets: [s, e] });
    }
    return out;
  }
}

function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Builds a Unigram model from tokenizer.json's `{"type": "Unigram", "unk_id", "vocab": [[piece, score]...]}`. */
export function buildUnigram(j: JsonObject, ctx: Ctx): Unigram {
  const where = 'model Unigram';
  if (!Array.isArray(j.vocab)) throw new FileFormatError(ctx.file, `${where}: "vocab" must be an array of [piece, score]`);
  const vocab: Array<[string, number]> = j.vocab.map((e, i) => {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'number') {
      throw new FileFormatError(ctx.file, `${where}: vocab[${i}] must be [piece, score], got ${JSON.stringify(e)}`);
    }
    return [e[0], e[1]];
  });
  const u = j.unk_id;
  if (u !== undefined && u !== null && (typeof u !== 'number' || !Number.isInteger(u))) {
    throw new FileFormatError(ctx.file, `${where}: "unk_id" must be an integer or null, got ${JSON.stringify(u)}`);
  }
  return new Unigram(vocab, typeof u === 'number' ? u : null, getBool(j, 'byte_fallback', ctx, where, false), ctx);
}

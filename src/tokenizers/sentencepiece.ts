// SentencePiece `tokenizer.model` → tokenizer.json, for BPE models with byte fallback (Llama,
// llama2.c's stories*): reads the ModelProto protobuf and builds what transformers 5's
// LlamaTokenizer builds (Metaspace "first", merges from piece scores, ByteFallback decoder, BOS
// template); also the ModelProto reader shared with sentencepiece-convert.ts, which converts
// Unigram models and charsmap-normalized BPE models. Not here: choosing the converter (load.ts).

import { ModelError } from '../errors.ts';
import type { Json, JsonObject } from './json.ts';

export interface Piece {
  piece: string;
  score: number;
  type: number; // 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte
}

export interface SpModel {
  pieces: Piece[];
  modelType: number; // 1 unigram, 2 bpe, 3 word, 4 char
  byteFallback: boolean;
  unkId: number;
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  normalizerName: string;
  hasCharsmap: boolean;
  charsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** Minimal protobuf reader: yields [field, wireType, value] for one message. */
function* fields(buf: Uint8Array, start: number, end: number, file: string): Generator<[number, number, number | Uint8Array]> {
  let p = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new ModelError(`${file}: truncated protobuf (not a SentencePiece model?)`);
      const b = buf[p++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (p < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wt = key & 7;
    if (wt === 0) yield [field, wt, varint()];
    else if (wt === 1) {
      p += 8;
      yield [field, wt, 0];
    } else if (wt === 2) {
      const len = varint();
      if (p + len > end) throw new ModelError(`${file}: truncated protobuf field ${field} (not a SentencePiece model?)`);
      yield [field, wt, buf.subarray(p, p + len)];
      p += len;
    } else if (wt === 5) {
      const v = view.getFloat32(p, true);
      p += 4;
      yield [field, wt, v];
    } else throw new ModelError(`${file}: unsupported protobuf wire type ${wt} (not a SentencePiece model?)`);
  }
}

const text = new TextDecoder('utf-8', { fatal: true });

/** Parses the fields of a SentencePiece ModelProto that tokenization needs. */
export function parseSentencePieceModel(bytes: Uint8Array, file = 'tokenizer.model'): SpModel {
  const m: SpModel = {
    pieces: [],
    modelType: 1,
    byteFallback: false,
    unkId: 0,
    unkPiece: '<unk>',
    bosPiece: '<s>',
    eosPiece: '</s>',
    normalizerName: '',
    hasCharsmap: false,
    charsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  for (const [f, , v] of fields(bytes, 0, bytes.length, file)) {
    if (!(v instanceof Uint8Array)) continue;
    if (f === 1) {
      const piece: Piece = { piece: '', score: 0, type: 1 };
      for (const [g, , w] of fields(v, 0, v.length, file)) {
        if (g === 1 && w instanceof Uint8Array) piece.piece = text.decode(w);
        else if (g === 2 && typeof w === 'number') piece.score = w;
        else if (g === 3 && typeof w === 'number') piece.type = w;
      }
      m.pieces.push(piece);
    } else if (f === 2) {
      for (const [g, , w] of fields(v, 0, v.length, file)) {
        if (g === 3 && typeof w === 'number') m.modelType = w;
        else if (g === 35 && typeof w === 'number') m.byteFallback = w !== 0;
        else if (g === 40 && typeof w === 'number') m.unkId = w;
        else if (g === 45 && w instanceof Uint8Array) m.unkPiece = text.decode(w);
        else if (g === 46 && w instanceof Uint8Array) m.bosPiece = text.decode(w);
        else if (g === 47 && w instanceof Uint8Array) m.eosPiece = text.decode(w);
      }
    } else if (f === 3) {
      for (const [g, , w] of fields(v, 0, v.length, file)) {
        if (g === 1 && w instanceof Uint8Array) m.normalizerName = text.decode(w);
        else if (g === 2 && w instanceof Uint8Array) {
          m.hasCharsmap = w.length > 0;
          m.charsmap = w;
        }
        else if (g === 3 && typeof w === 'number') m.addDummyPrefix = w !== 0;
        else if (g === 4 && typeof w === 'number') m.removeExtraWhitespaces = w !== 0;
        else if (g === 5 && typeof w === 'number') m.escapeWhitespaces = w !== 0;
      }
    }
  }
  if (m.pieces.length === 0) throw new ModelError(`${file}: no vocabulary pieces found (not a SentencePiece model?)`);
  return m;
}

/**
 * Merges implied by a BPE vocabulary, as transformers' SentencePieceExtractor: every split of a
 * piece into two pieces, ordered by the merged piece's score (high first), then longer left
 * piece, then longer right piece; ties keep vocabulary order.
 */
export function mergesFromScores(vocab: Array<[string, number]>): Array<[string, string]> {
  const ids = new Map<string, number>();
  vocab.forEach(([p], i) => {
    if (!ids.has(p)) ids.set(p, i);
  });
  const all: Array<{ l: string; r: string; score: number; ll: number; lr: number }> = [];
  for (const [piece, score] of vocab) {
    const chars = Array.from(piece);
    const local: Array<{ l: string; r: string; score: number; ll: number; lr: number }> = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join('');
      const r = chars.slice(k).join('');
      if (ids.has(l) && ids.has(r)) local.push({ l, r, score, ll: k, lr: chars.length - k });
    }
    local.sort((a, b) => ids.get(a.l)! - ids.get(b.l)! || ids.get(a.r)! - ids.get(b.r)!);
    all.push(...local);
  }
  all.sort((a, b) => b.score - a.score || b.ll - a.ll || b.lr - a.lr);
  return all.map((x) => [x.l, x.r]);
}

/** Builds the tokenizer.json transformers 5 derives from a SentencePiece BPE tokenizer.model. */
export function sentencePieceToTokenizerJson(bytes: Uint8Array, file: string): JsonObject {
  const dir = file.replace(/[\\/][^\\/]*$/, '') || '.';
  const recipe =
    `Create tokenizer.json once with Python: python -c "from transformers import AutoTokenizer; ` +
    `AutoTokenizer.from_pretrained('${dir}').save_pretrained('${dir}')" (needs transformers, tokenizers and sentencepiece).`;
  const sp = parseSentencePieceModel(bytes, file);
  if (sp.modelType !== 2) {
    throw new ModelError(`${file}: SentencePiece model type ${sp.modelType === 1 ? 'Unigram' : sp.modelType} is not supported here (only BPE). ${recipe}`);
  }
  if (sp.hasCharsmap && sp.normalizerName !== 'identity') {
    throw new ModelError(`${file}: SentencePiece normalization "${sp.normalizerName}" (a charsmap) is not supported here. ${recipe}`);
  }
  // Like transformers, remove_extra_whitespaces is not applied (llama2.c models are trained without it).
  if (!sp.addDummyPrefix) throw new ModelError(`${file}: SentencePiece add_dummy_prefix=false is not supported here. ${recipe}`);
  const vocabScores: Array<[string, number]> = sp.pieces.map((p, i) => [p.piece, i < 3 ? 0 : p.score]);
  const vocab: JsonObject = {};
  vocabScores.forEach(([p], i) => {
    if (!(p in vocab)) vocab[p] = i;
  });
  const merges = mergesFromScores(vocabScores);
  const added: Json[] = sp.pieces.flatMap((p, i) =>
    p.type === 2 || p.type === 3 || p.type === 4
      ? [{ id: i, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special: p.type !== 4 }]
      : [],
  );
  const bos = sp.bosPiece;
  const bosId = vocab[bos];
  const template: Json =
    typeof bosId === 'number'
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
        }
      : null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
    post_processor: template,
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: sp.unkPiece,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: sp.byteFallback,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}

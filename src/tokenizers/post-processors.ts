// Post-processors of the HF tokenizer.json format: TemplateProcessing ("[CLS] $A [SEP] $B:1 [SEP]"),
// BertProcessing, RobertaProcessing, ByteLevel (offset trimming) and Sequence. They add special
// tokens, set type ids and sequence ids. Not here: truncation and padding (tokenizer.ts, encoding.ts).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type Json, type JsonObject, asObject, getArray, getBool, getNumber, getString, isObject } from './json.ts';
import { BYTES_CHAR } from './bytes.ts';
import { Encoding } from './encoding.ts';
import { isWhitespace } from './unicode.ts';

/** A post-processor turns the encoded sequence(s) into the final list to merge. */
export interface PostProcessor {
  /** How many special tokens it adds (used to shrink max_length before truncating). */
  addedTokens(isPair: boolean): number;
  processEncodings(encodings: Encoding[], addSpecialTokens: boolean): Encoding[];
}

type Piece = { kind: 'seq'; seq: 0 | 1; typeId: number } | { kind: 'special'; id: string; typeId: number };

class TemplateProcessing implements PostProcessor {
  constructor(
    readonly single: Piece[],
    readonly pair: Piece[],
    readonly specials: Map<string, { ids: number[]; tokens: string[] }>,
  ) {}

  private count(t: Piece[]): number {
    return t.reduce((n, p) => n + (p.kind === 'special' ? (this.specials.get(p.id)?.ids.length ?? 0) : 0), 0);
  }

  addedTokens(isPair: boolean): number {
    return this.count(isPair ? this.pair : this.single);
  }

  processEncodings(encodings: Encoding[], addSpecialTokens: boolean): Encoding[] {
    const template = encodings.length === 2 ? this.pair : this.single;
    const out: Encoding[] = [];
    for (const p of template) {
      if (p.kind === 'seq') {
        const e = encodings[p.seq];
        if (!e) continue;
        e.typeIds = e.ids.map(() => p.typeId);
        for (const o of e.overflowing) o.typeIds = o.ids.map(() => p.typeId);
        e.setSequenceId(p.seq);
        out.push(e.clone());
      } else if (addSpecialTokens) {
        const sp = this.specials.get(p.id)!;
        out.push(Encoding.special(sp.ids, sp.tokens, p.typeId));
      }
    }
    return out;
  }
}

/** `[CLS] A [SEP]` / `B [SEP]` (Bert) or `<s> A </s>` / `</s> B </s>` (Roberta). */
class PairProcessing implements PostProcessor {
  constructor(
    readonly cls: [string, number],
    readonly sep: [string, number],
    readonly roberta: boolean,
    readonly trimOffsets: boolean,
    readonly addPrefixSpace: boolean,
  ) {}

  addedTokens(isPair: boolean): number {
    return isPair ? (this.roberta ? 4 : 3) : 2;
  }

  processEncodings(encodings: Encoding[], addSpecialTokens: boolean): Encoding[] {
    if (this.roberta) {
      if (this.trimOffsets) for (const e of encodings) trimAll(e, this.addPrefixSpace);
      for (const e of encodings) {
        e.typeIds = e.ids.map(() => 0);
        for (const o of e.overflowing) o.typeIds = o.ids.map(() => 0);
      }
    }
    if (!addSpecialTokens) return encodings;
    return encodings.map((e, i) => {
      const wrap = (x: Encoding): Encoding => {
        const first = i === 0 || !this.roberta ? (i === 0 ? this.cls : null) : this.sep;
        const typeId = i === 0 || this.roberta ? 0 : 1;
        const parts: Encoding[] = [];
        if (first) parts.push(Encoding.special([first[1]], [first[0]], typeId));
        const body = x.clone();
        body.overflowing = [];
        body.sequenceRanges = new Map();
        parts.push(body);
        parts.push(Encoding.special([this.sep[1]], [this.sep[0]], typeId));
        const out = Encoding.merge(parts, false);
        out.sequenceRanges = new Map([[i, [first ? 1 : 0, out.length - 1]]]);
        return out;
      };
      const main = wrap(e);
      main.overflowing = e.overflowing.map(wrap);
      return main;
    });
  }
}

class ByteLevelProcessing implements PostProcessor {
  constructor(
    readonly trimOffsets: boolean,
    readonly addPrefixSpace: boolean,
  ) {}
  addedTokens(): number {
    return 0;
  }
  processEncodings(encodings: Encoding[]): Encoding[] {
    if (this.trimOffsets) for (const e of encodings) trimAll(e, this.addPrefixSpace);
    encodings.forEach((e, i) => e.setSequenceId(i));
    return encodings;
  }
}

class SequenceProcessing implements PostProcessor {
  constructor(readonly processors: PostProcessor[]) {}
  addedTokens(isPair: boolean): number {
    return this.processors.reduce((n, p) => n + p.addedTokens(isPair), 0);
  }
  processEncodings(encodings: Encoding[], addSpecialTokens: boolean): Encoding[] {
    let e = encodings;
    for (const p of this.processors) e = p.processEncodings(e, addSpecialTokens);
    return e;
  }
}

const SPACE_CHAR = BYTES_CHAR[32]!;

function trimAll(e: Encoding, addPrefixSpace: boolean): void {
  trimOffsets(e, addPrefixSpace);
  for (const o of e.overflowing) trimOffsets(o, addPrefixSpace);
}

/** Removes leading/trailing (byte-level) spaces from offsets, HF `process_offsets`. */
function trimOffsets(e: Encoding, addPrefixSpace: boolean): void {
  e.tokens.forEach((token, i) => {
    const chars = Array.from(token);
    const isSpace = (c: string): boolean => c === SPACE_CHAR || isWhitespace(c);
    let lead = 0;
    while (lead < chars.length && isSpace(chars[lead]!)) lead++;
    let trail = 0;
    while (trail < chars.length && isSpace(chars[chars.length - 1 - trail]!)) trail++;
    if (lead === 0 && trail === 0) return;
    const o = e.offsets[i]!;
    if (lead > 0) {
      const isFirst = i === 0 || o[0] === 0;
      if (isFirst && addPrefixSpace && lead === 1) lead = 0;
      o[0] = Math.min(o[0] + lead, o[1]);
    }
    if (trail > 0 && o[1] >= trail) o[1] = Math.max(o[1] - trail, o[0]);
  });
}

function readTemplate(v: Json | undefined, ctx: Ctx, which: string): Piece[] {
  const where = `post_processor TemplateProcessing.${which}`;
  if (!Array.isArray(v)) throw new FileFormatError(ctx.file, `${where} must be an array of pieces`);
  return v.map((p): Piece => {
    if (isObject(p) && isObject(p.Sequence)) {
      const id = getString(p.Sequence, 'id', ctx, where);
      if (id !== 'A' && id !== 'B') throw new FileFormatError(ctx.file, `${where}: sequence id must be "A" or "B", got "${id}"`);
      return { kind: 'seq', seq: id === 'A' ? 0 : 1, typeId: getNumber(p.Sequence, 'type_id', ctx, where, 0) };
    }
    if (isObject(p) && isObject(p.SpecialToken)) {
      return { kind: 'special', id: getString(p.SpecialToken, 'id', ctx, where), typeId: getNumber(p.SpecialToken, 'type_id', ctx, where, 0) };
    }
    throw new FileFormatError(ctx.file, `${where}: each piece must be {"Sequence": ...} or {"SpecialToken": ...}`);
  });
}

function tokenPair(j: JsonObject, key: string, ctx: Ctx, where: string): [string, number] {
  const v = j[key];
  if (!Array.isArray(v) || typeof v[0] !== 'string' || typeof v[1] !== 'number') {
    throw new FileFormatError(ctx.file, `${where}: "${key}" must be ["token", id]`);
  }
  return [v[0], v[1]];
}

/** Builds a post-processor from its tokenizer.json object (null → none). */
export function buildPostProcessor(j: Json | undefined, ctx: Ctx): PostProcessor | null {
  if (j === null || j === undefined) return null;
  const o = asObject(j, ctx, 'post_processor');
  const type = getString(o, 'type', ctx, 'post_processor');
  const where = `post_processor ${type}`;
  switch (type) {
    case 'TemplateProcessing': {
      const specials = new Map<string, { ids: number[]; tokens: string[] }>();
      const sp = o.special_tokens;
      if (isObject(sp)) {
        for (const [k, v] of Object.entries(sp)) {
          const t = asObject(v, ctx, `${where}.special_tokens.${k}`);
          const ids = getArray(t, 'ids', ctx, where).map((x) => {
            if (typeof x !== 'number') throw new FileFormatError(ctx.file, `${where}: special token "${k}" ids must be numbers`);
            return x;
          });
          const tokens = getArray(t, 'tokens', ctx, where).map((x) => String(x));
          specials.set(getString(t, 'id', ctx, where, k), { ids, tokens });
        }
      }
      const single = readTemplate(o.single, ctx, 'single');
      const pair = readTemplate(o.pair, ctx, 'pair');
      for (const p of [...single, ...pair]) {
        if (p.kind === 'special' && !specials.has(p.id)) {
          throw new FileFormatError(ctx.file, `${where}: template uses special token "${p.id}" missing from "special_tokens"`);
        }
      }
      return new TemplateProcessing(single, pair, specials);
    }
    case 'BertProcessing':
      return new PairProcessing(tokenPair(o, 'cls', ctx, where), tokenPair(o, 'sep', ctx, where), false, false, false);
    case 'RobertaProcessing':
      return new PairProcessing(
        tokenPair(o, 'cls', ctx, where),
        tokenPair(o, 'sep', ctx, where),
        true,
        getBool(o, 'trim_offsets', ctx, where, true),
        getBool(o, 'add_prefix_space', ctx, where, true),
      );
    case 'ByteLevel':
      return new ByteLevelProcessing(getBool(o, 'trim_offsets', ctx, where, true), getBool(o, 'add_prefix_space', ctx, where, true));
    case 'Sequence':
      return new SequenceProcessing(
        getArray(o, 'processors', ctx, where).flatMap((x) => {
          const b = buildPostProcessor(x, ctx);
          return b ? [b] : [];
        }),
      );
    default:
      throw new FileFormatError(
        ctx.file,
        `post_processor type "${type}" is not supported (supported: TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)`,
      );
  }
}

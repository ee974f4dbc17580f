// Normalizers of the HF tokenizer.json format (BertNormalizer, Lowercase, NFD/NFKD/NFC/NFKC,
// StripAccents, Strip, Replace, Prepend, ByteLevel, Precompiled, Sequence), applied to a
// NormalizedString so offsets stay exact. Not here: Nmt, which is refused; the charsmap itself
// (precompiled.ts).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type Json, compilePattern, getArray, getBool, getString, isObject } from './json.ts';
import type { NormalizedString, Pattern } from './normalized.ts';
import { BYTES_CHAR } from './bytes.ts';
import { PrecompiledCharsmap, base64Bytes } from './precompiled.ts';
import {
  type Change,
  composeChanges,
  decomposeChanges,
  isChineseChar,
  isCombiningMark,
  isMarkNonspacing,
  isOther,
  isWhitespace,
  lowercaseChanges,
} from './unicode.ts';

/** A normalizer edits a NormalizedString in place. */
export interface Normalizer {
  normalize(n: NormalizedString): void;
}

/** BERT's cleanup: drop control chars, map whitespace to ' ', space out CJK, strip accents, lowercase. */
export class BertNormalizer implements Normalizer {
  constructor(
    readonly cleanText: boolean,
    readonly handleChineseChars: boolean,
    readonly stripAccents: boolean | null,
    readonly lowercase: boolean,
  ) {}

  normalize(n: NormalizedString): void {
    if (this.cleanText) {
      n.filter((c) => !(c === '\0' || c === '\ufffd' || (c !== '\t' && c !== '\n' && c !== '\r' && isOther(c))));
      n.map((c) => (c === '\t' || c === '\n' || c === '\r' || isWhitespace(c) ? ' ' : c));
    }
    if (this.handleChineseChars && n.chars.some(isChineseChar)) {
      const dest: Change[] = [];
      for (const c of n.chars) {
        if (isChineseChar(c)) dest.push([' ', 0], [c, 1], [' ', 1]);
        else dest.push([c, 0]);
      }
      n.transform(dest);
    }
    if (this.stripAccents ?? this.lowercase) {
      nfd(n, false);
      n.filter((c) => !isMarkNonspacing(c));
    }
    if (this.lowercase) lowercase(n);
  }
}

/** Per-char lowercase; a 1:1 map when no char expands (the common case). */
function lowercase(n: NormalizedString): void {
  for (const c of n.chars) {
    if (c.charCodeAt(0) >= 128 && c.toLowerCase().length !== c.length) {
      n.transform(lowercaseChanges(n.chars));
      return;
    }
  }
  n.map((c) => {
    const code = c.charCodeAt(0);
    if (code < 128) return code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : c;
    return c.toLowerCase();
  });
}

function nfd(n: NormalizedString, compat: boolean): void {
  n.transform(decomposeChanges(n.chars, compat));
}

function nfc(n: NormalizedString, compat: boolean): void {
  n.transform(composeChanges(n.chars, compat));
}

class FnNormalizer implements Normalizer {
  constructor(readonly normalize: (n: NormalizedString) => void) {}
}

class SequenceNormalizer implements Normalizer {
  constructor(readonly normalizers: Normalizer[]) {}
  normalize(n: NormalizedString): void {
    for (const x of this.normalizers) x.normalize(n);
  }
}

/** Builds a normalizer from its tokenizer.json object (null → no normalizer). */
export function buildNormalizer(j: Json | undefined, ctx: Ctx): Normalizer | null {
  if (j === null || j === undefined) return null;
  if (!isObject(j)) throw new FileFormatError(ctx.file, 'field "normalizer" must be an object or null');
  const type = getString(j, 'type', ctx, 'normalizer');
  const where = `normalizer ${type}`;
  switch (type) {
    case 'BertNormalizer': {
      const sa = j.strip_accents;
      return new BertNormalizer(
        getBool(j, 'clean_text', ctx, where, true),
        getBool(j, 'handle_chinese_chars', ctx, where, true),
        typeof sa === 'boolean' ? sa : null,
        getBool(j, 'lowercase', ctx, where, true),
      );
    }
    case 'Lowercase':
      return new FnNormalizer(lowercase);
    case 'NFD':
      return new FnNormalizer((n) => nfd(n, false));
    case 'NFKD':
      return new FnNormalizer((n) => nfd(n, true));
    case 'NFC':
      return new FnNormalizer((n) => nfc(n, false));
    case 'NFKC':
      return new FnNormalizer((n) => nfc(n, true));
    case 'StripAccents':
      return new FnNormalizer((n) => n.filter((c) => !isCombiningMark(c)));
    case 'Strip': {
      const left = getBool(j, 'strip_left', ctx, where, true);
      const right = getBool(j, 'strip_right', ctx, where, true);
      return new FnNormalizer((n) => n.strip(left, right, isWhitespace));
    }
    case 'Replace': {
      const pattern: Pattern = compilePattern(j.pattern, ctx, where);
      const content = getString(j, 'content', ctx, where);
      return new FnNormalizer((n) => n.replace(pattern, content));
    }
    case 'Prepend': {
      const prepend = getString(j, 'prepend', ctx, where);
      return new FnNormalizer((n) => {
        if (n.length > 0) n.prepend(prepend);
      });
    }
    case 'ByteLevel':
      return new FnNormalizer((n) => {
        if (n.length > 0) n.transform(byteLevelChanges(n.chars));
      });
    case 'Precompiled': {
      const cm = j.precompiled_charsmap;
      if (cm === null || cm === undefined || cm === '') return new FnNormalizer(() => undefined);
      if (typeof cm !== 'string') throw new FileFormatError(ctx.file, `${where}: "precompiled_charsmap" must be a base64 string`);
      const map = new PrecompiledCharsmap(base64Bytes(cm), ctx.file);
      return new FnNormalizer((n) => map.normalize(n));
    }
    case 'Sequence':
      return new SequenceNormalizer(
        getArray(j, 'normalizers', ctx, where).flatMap((x) => {
          const b = buildNormalizer(x, ctx);
          return b ? [b] : [];
        }),
      );
    default:
      throw new FileFormatError(
        ctx.file,
        `normalizer type "${type}" is not supported (supported: BertNormalizer, Lowercase, NFD, NFKD, NFC, NFKC, StripAccents, Strip, Replace, Prepend, ByteLevel, Precompiled, Sequence)`,
      );
  }
}

const encoder = new TextEncoder();

/** Each char → its UTF-8 bytes as GPT-2 byte chars (continuation bytes are insertions). */
export function byteLevelChanges(chars: readonly string[]): Change[] {
  const out: Change[] = [];
  for (const c of chars) {
    const code = c.charCodeAt(0);
    if (code < 128) {
      out.push([BYTES_CHAR[code]!, 0]);
      continue;
    }
    const bytes = encoder.encode(c);
    for (let i = 0; i < bytes.length; i++) out.push([BYTES_CHAR[bytes[i]!]!, i > 0 ? 1 : 0]);
  }
  return out;
}

// Decoders of the HF tokenizer.json format (WordPiece, ByteLevel, Metaspace, BPEDecoder, Replace,
// ByteFallback, Fuse, Strip, Sequence): token strings → text, ported from tokenizers/src/decoders.
// Not here: skipping special tokens or id lookup (tokenizer.ts).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type Json, compilePattern, getArray, getBool, getNumber, getString, isObject } from './json.ts';
import { findMatches } from './normalized.ts';
import { CHAR_BYTES } from './bytes.ts';
import { metaspaceSettings } from './pre-tokenizers.ts';

/** A decoder maps a list of token strings to a (usually shorter) list; the result is joined. */
export interface Decoder {
  decodeChain(tokens: string[]): string[];
}

/** HF WordPiece decoder's cleanup of tokenization artifacts. */
export function wordPieceCleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

class FnDecoder implements Decoder {
  constructor(readonly decodeChain: (tokens: string[]) => string[]) {}
}

/** Builds a decoder from its tokenizer.json object (null → none: tokens joined by spaces). */
export function buildDecoder(j: Json | undefined, ctx: Ctx): Decoder | null {
  if (j === null || j === undefined) return null;
  if (!isObject(j)) throw new FileFormatError(ctx.file, 'field "decoder" must be an object or null');
  const type = getString(j, 'type', ctx, 'decoder');
  const where = `decoder ${type}`;
  switch (type) {
    case 'WordPiece': {
      const prefix = getString(j, 'prefix', ctx, where, '##');
      const cleanup = getBool(j, 'cleanup', ctx, where, true);
      return new FnDecoder((tokens) =>
        tokens.map((t, i) => {
          let s = t;
          if (i !== 0) s = s.startsWith(prefix) ? s.slice(prefix.length) : ' ' + s;
          return cleanup ? wordPieceCleanup(s) : s;
        }),
      );
    }
    case 'ByteLevel':
      return new FnDecoder((tokens) => {
        const bytes: number[] = [];
        for (const t of tokens) {
          const mine: number[] = [];
          let ok = true;
          for (const c of t) {
            const b = CHAR_BYTES.get(c);
            if (b === undefined) {
              ok = false;
              break;
            }
            mine.push(b);
          }
          if (ok) bytes.push(...mine);
          else bytes.push(...new TextEncoder().encode(t));
        }
        return [utf8.decode(new Uint8Array(bytes))];
      });
    case 'Metaspace': {
      const { replacement, prependScheme } = metaspaceSettings(j, ctx, where);
      return new FnDecoder((tokens) =>
        tokens.map((t, i) => {
          let s = '';
          for (const c of t) {
            if (c === replacement) {
              if (!(i === 0 && prependScheme !== 'never')) s += ' ';
            } else s += c;
          }
          return s;
        }),
      );
    }
    case 'BPEDecoder': {
      const suffix = getString(j, 'suffix', ctx, where, '</w>');
      return new FnDecoder((tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' ')));
    }
    case 'Replace': {
      const pattern = compilePattern(j.pattern, ctx, where);
      const content = getString(j, 'content', ctx, where);
      return new FnDecoder((tokens) =>
        tokens.map((t) => {
          const chars = Array.from(t);
          return findMatches(pattern, chars)
            .map(([s, e, m]) => (m ? content : chars.slice(s, e).join('')))
            .join('');
        }),
      );
    }
    case 'ByteFallback':
      return new FnDecoder(byteFallback);
    case 'Fuse':
      return new FnDecoder((tokens) => [tokens.join('')]);
    case 'Strip': {
      const content = getString(j, 'content', ctx, where, ' ');
      const start = getNumber(j, 'start', ctx, where, 0);
      const stop = getNumber(j, 'stop', ctx, where, 0);
      return new FnDecoder((tokens) =>
        tokens.map((t) => {
          const chars = Array.from(t);
          let a = 0;
          for (let i = 0; i < Math.min(start, chars.length); i++) {
            if (chars[i] === content) a = i + 1;
            else break;
          }
          let b = chars.length;
          for (let i = 0; i < stop; i++) {
            const idx = chars.length - i - 1;
            if (idx >= 0 && chars[idx] === content) b = idx;
            else break;
          }
          return chars.slice(a, Math.max(a, b)).join('');
        }),
      );
    }
    case 'Sequence': {
      const list = getArray(j, 'decoders', ctx, where).flatMap((x) => {
        const d = buildDecoder(x, ctx);
        return d ? [d] : [];
      });
      return new FnDecoder((tokens) => list.reduce((t, d) => d.decodeChain(t), tokens));
    }
    default:
      throw new FileFormatError(
        ctx.file,
        `decoder type "${type}" is not supported (supported: WordPiece, ByteLevel, Metaspace, BPEDecoder, Replace, ByteFallback, Fuse, Strip, Sequence)`,
      );
  }
}

/** `<0xNN>` tokens → the UTF-8 text they spell (one U+FFFD per byte when invalid). */
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    try {
      out.push(utf8Strict.decode(new Uint8Array(pending)));
    } catch {
      for (let i = 0; i < pending.length; i++) out.push('\ufffd');
    }
    pending = [];
  };
  for (const t of tokens) {
    const m = t.length === 6 && /^<0x[0-9A-Fa-f]{2}>$/.test(t) ? parseInt(t.slice(3, 5), 16) : null;
    if (m !== null) pending.push(m);
    else {
      flush();
      out.push(t);
    }
  }
  flush();
  return out;
}

// Pre-tokenizers of the HF tokenizer.json format (BertPreTokenizer, ByteLevel, Whitespace,
// WhitespaceSplit, Metaspace, Split, Punctuation, Digits, CharDelimiterSplit, Sequence): they cut a
// PreTokenizedString into words while keeping offsets. Not here: UnicodeScripts, FixedLength (refused).

import { FileFormatError } from '../errors.ts';
import { type Ctx, type Json, compilePattern, getArray, getBool, getString, isObject } from './json.ts';
import type { PreTokenizedString, SplitBehavior } from './normalized.ts';
import { byteLevelChanges } from './normalizers.ts';
import { isBertPunctuation, isNumeric, isWhitespace } from './unicode.ts';

/** A pre-tokenizer re-splits the untokenized pieces of a PreTokenizedString. */
export interface PreTokenizer {
  preTokenize(p: PreTokenizedString): void;
}

/** GPT-2's split regex (Oniguruma `\s` is Unicode White_Space). */
export const GPT2_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\p{White_Space}\p{L}\p{N}]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

const W = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}';
const WHITESPACE_PATTERN = new RegExp(`[${W}]+|[^${W}\\p{White_Space}]+`, 'gu');

/** Split behaviours as spelled in tokenizer.json. */
const BEHAVIORS: readonly SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

function behavior(j: { [k: string]: Json }, ctx: Ctx, where: string, dflt: SplitBehavior): SplitBehavior {
  const v = getString(j, 'behavior', ctx, where, dflt);
  const found = BEHAVIORS.find((b) => b.toLowerCase() === v.toLowerCase());
  if (!found) throw new FileFormatError(ctx.file, `${where}: unknown behavior "${v}" (expected one of ${BEHAVIORS.join(', ')})`);
  return found;
}

class FnPreTokenizer implements PreTokenizer {
  constructor(readonly preTokenize: (p: PreTokenizedString) => void) {}
}

/** ByteLevel pre-tokenizer: optional prefix space, GPT-2 regex split, bytes → printable chars. */
export function byteLevelPreTokenize(p: PreTokenizedString, addPrefixSpace: boolean, useRegex: boolean): void {
  p.split((_, n) => {
    if (addPrefixSpace && n.chars[0] !== ' ') n.prepend(' ');
    return useRegex ? n.split(GPT2_PATTERN, 'Isolated') : [n];
  });
  p.normalize((n) => n.transform(byteLevelChanges(n.chars)));
}

export type PrependScheme = 'always' | 'never' | 'first';

/** Reads Metaspace settings (shared by the pre-tokenizer and the decoder). */
export function metaspaceSettings(j: { [k: string]: Json }, ctx: Ctx, where: string): { replacement: string; prependScheme: PrependScheme; split: boolean } {
  const replacement = getString(j, 'replacement', ctx, where, '\u2581');
  let scheme = getString(j, 'prepend_scheme', ctx, where, 'always').toLowerCase();
  if (scheme !== 'always' && scheme !== 'never' && scheme !== 'first') {
    throw new FileFormatError(ctx.file, `${where}: prepend_scheme must be "always", "never" or "first", got "${scheme}"`);
  }
  if (j.add_prefix_space === false) scheme = 'never';
  return { replacement, prependScheme: scheme as PrependScheme, split: getBool(j, 'split', ctx, where, true) };
}

/** Builds a pre-tokenizer from its tokenizer.json object (null → none). */
export function buildPreTokenizer(j: Json | undefined, ctx: Ctx): PreTokenizer | null {
  if (j === null || j === undefined) return null;
  if (!isObject(j)) throw new FileFormatError(ctx.file, 'field "pre_tokenizer" must be an object or null');
  const type = getString(j, 'type', ctx, 'pre_tokenizer');
  const where = `pre_tokenizer ${type}`;
  switch (type) {
    case 'BertPreTokenizer':
      return new FnPreTokenizer((p) => {
        p.split((_, n) => n.split(isWhitespace, 'Removed'));
        p.split((_, n) => n.split(isBertPunctuation, 'Isolated'));
      });
    case 'ByteLevel': {
      const addPrefixSpace = getBool(j, 'add_prefix_space', ctx, where, true);
      const useRegex = getBool(j, 'use_regex', ctx, where, true);
      return new FnPreTokenizer((p) => byteLevelPreTokenize(p, addPrefixSpace, useRegex));
    }
    case 'Whitespace':
      return new FnPreTokenizer((p) => p.split((_, n) => n.split({ invert: WHITESPACE_PATTERN }, 'Removed')));
    case 'WhitespaceSplit':
      return new FnPreTokenizer((p) => p.split((_, n) => n.split(isWhitespace, 'Removed')));
    case 'Metaspace': {
      const { replacement, prependScheme, split } = metaspaceSettings(j, ctx, where);
      const isRep = (c: string): boolean => c === replacement;
      return new FnPreTokenizer((p) =>
        p.split((_, n) => {
          n.replace((c: string) => c === ' ', replacement);
          if (n.chars[0] !== replacement) {
            if (prependScheme === 'always' || (prependScheme === 'first' && n.originalShift === 0)) n.prepend(replacement);
          }
          return split ? n.split(isRep, 'MergedWithNext') : [n];
        }),
      );
    }
    case 'Split': {
      const pattern = compilePattern(j.pattern, ctx, where);
      const b = behavior(j, ctx, where, 'Isolated');
      const invert = getBool(j, 'invert', ctx, where, false);
      return new FnPreTokenizer((p) => p.split((_, n) => n.split(invert ? { invert: pattern } : pattern, b)));
    }
    case 'Punctuation': {
      const b = behavior(j, ctx, where, 'Isolated');
      return new FnPreTokenizer((p) => p.split((_, n) => n.split(isBertPunctuation, b)));
    }
    case 'Digits': {
      const individual = getBool(j, 'individual_digits', ctx, where, false);
      return new FnPreTokenizer((p) => p.split((_, n) => n.split(isNumeric, individual ? 'Isolated' : 'Contiguous')));
    }
    case 'CharDelimiterSplit': {
      const delimiter = getString(j, 'delimiter', ctx, where);
      return new FnPreTokenizer((p) => p.split((_, n) => n.split((c: string) => c === delimiter, 'Removed')));
    }
    case 'Sequence': {
      const list = getArray(j, 'pretokenizers', ctx, where).flatMap((x) => {
        const b = buildPreTokenizer(x, ctx);
        return b ? [b] : [];
      });
      return new FnPreTokenizer((p) => {
        for (const x of list) x.preTokenize(p);
      });
    }
    default:
      throw new FileFormatError(
        ctx.file,
        `pre_tokenizer type "${type}" is not supported (supported: BertPreTokenizer, ByteLevel, Whitespace, WhitespaceSplit, Metaspace, Split, Punctuation, Digits, CharDelimiterSplit, Sequence)`,
      );
  }
}

// Added tokens ([CLS], <|endoftext|>, <mask>...): found in the raw text (or the normalized text,
// for `normalized: true` tokens) before pre-tokenization, with HF's lstrip / rstrip / single_word
// rules and leftmost-longest matching (tokenizer/added_vocabulary.rs). Not here: the model vocab.

import { NormalizedString, PreTokenizedString, type Split } from './normalized.ts';
import type { Normalizer } from './normalizers.ts';
import { isWhitespace, isWordChar } from './unicode.ts';

/** An added token as stored in tokenizer.json's "added_tokens". */
export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Leftmost-longest matcher over code points. */
class Matcher {
  private byFirst = new Map<string, Array<{ chars: string[]; id: number }>>();
  readonly empty: boolean;
  constructor(patterns: Array<{ text: string; id: number }>) {
    for (const p of patterns) {
      const chars = Array.from(p.text);
      if (chars.length === 0) continue;
      const list = this.byFirst.get(chars[0]!) ?? [];
      list.push({ chars, id: p.id });
      this.byFirst.set(chars[0]!, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.chars.length - a.chars.length);
    this.empty = this.byFirst.size === 0;
  }

  /** Longest pattern starting at `i`, or null. */
  matchAt(chars: readonly string[], i: number): { len: number; id: number } | null {
    const list = this.byFirst.get(chars[i]!);
    if (!list) return null;
    outer: for (const p of list) {
      if (i + p.chars.length > chars.length) continue;
      for (let k = 1; k < p.chars.length; k++) if (chars[i + k] !== p.chars[k]) continue outer;
      return { len: p.chars.length, id: p.id };
    }
    return null;
  }
}

/** The added tokens of a tokenizer and the logic that splits text on them. */
export class AddedVocabulary {
  readonly byId = new Map<number, AddedToken>();
  readonly byContent = new Map<string, AddedToken>();
  private raw: Matcher;
  private norm: Matcher;

  constructor(
    readonly tokens: AddedToken[],
    normalizer: Normalizer | null,
  ) {
    for (const t of tokens) {
      this.byId.set(t.id, t);
      this.byContent.set(t.content, t);
    }
    const raw: Array<{ text: string; id: number }> = [];
    const norm: Array<{ text: string; id: number }> = [];
    for (const t of tokens) {
      if (t.normalized) {
        let text = t.content;
        if (normalizer) {
          const n = NormalizedString.from(t.content);
          normalizer.normalize(n);
          text = n.text;
        }
        norm.push({ text, id: t.id });
      } else raw.push({ text: t.content, id: t.id });
    }
    this.raw = new Matcher(raw);
    this.norm = new Matcher(norm);
  }

  isSpecial(token: string): boolean {
    return this.byContent.get(token)?.special === true;
  }

  /** Splits on added tokens, normalizes the rest, splits again on normalized added tokens. */
  extractAndNormalize(text: string, normalizer: Normalizer | null): PreTokenizedString {
    const p = PreTokenizedString.from(NormalizedString.from(text));
    p.split((_, n) => this.splitOn(n, this.raw));
    p.split((_, n) => {
      normalizer?.normalize(n);
      return this.splitOn(n, this.norm);
    });
    return p;
  }

  private splitOn(n: NormalizedString, m: Matcher): Split[] {
    if (m.empty || n.length === 0) return [{ normalized: n, tokens: null }];
    const chars = n.chars;
    const found: Array<[number | null, number, number]> = [];
    let startOffset = 0;
    let i = 0;
    while (i < chars.length) {
      const hit = m.matchAt(chars, i);
      if (!hit) {
        i++;
        continue;
      }
      let start = i;
      let stop = i + hit.len;
      const tok = this.byId.get(hit.id)!;
      if (tok.singleWord) {
        const startSpace = start === 0 || !isWordChar(chars[start - 1]!);
        const stopSpace = stop === chars.length || !isWordChar(chars[stop]!);
        if (!startSpace || !stopSpace) {
          i += hit.len; // the automaton resumes after a rejected match, as HF's does
          continue;
        }
      }
      if (tok.lstrip) {
        let s = start;
        while (s > 0 && isWhitespace(chars[s - 1]!)) s--;
        start = Math.max(s, startOffset);
      }
      if (tok.rstrip) while (stop < chars.length && isWhitespace(chars[stop]!)) stop++;
      if (startOffset < start) found.push([null, startOffset, start]);
      found.push([hit.id, start, stop]);
      startOffset = stop;
      i = i + hit.len;
    }
    if (startOffset !== chars.length) found.push([null, startOffset, chars.length]);
    return found.map(([id, s, e]) => {
      const slice = n.slice(s, e);
      if (id === null) return { normalized: slice, tokens: null };
      return { normalized: slice, tokens: [{ id, value: slice.text, offsets: [0, slice.length] }] };
    });
  }
}

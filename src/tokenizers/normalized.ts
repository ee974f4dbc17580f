// NormalizedString and PreTokenizedString: the text being tokenized plus, for every normalized
// char, the span of original chars it came from — a port of HF `tokenizers`' alignment tracking
// (tokenizer/normalizer.rs, pattern.rs, pre_tokenizer.rs), counted in code points instead of bytes.
// Not here: the normalizers and pre-tokenizers that use it (normalizers.ts, pre-tokenizers.ts).

import { type Change, codePoints, utf16ToCodePointIndex } from './unicode.ts';

/** [start, end) character (code point) offsets. */
export type Offsets = [number, number];

/** How a split keeps the delimiters it matched (HF `SplitDelimiterBehavior`). */
export type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous';

/** A pattern's view of a string: consecutive [start, end, isMatch] pieces covering it. */
export type Matches = Array<[number, number, boolean]>;

/** Anything that can find matches in a string (char predicate, regex, literal). */
export type Pattern = ((c: string) => boolean) | RegExp | { literal: string } | { invert: Pattern };

/** Finds pattern matches in `chars` (code points), as HF `Pattern::find_matches`. */
export function findMatches(pattern: Pattern, chars: readonly string[]): Matches {
  if (typeof pattern === 'function') return findCharMatches(pattern, chars);
  if (pattern instanceof RegExp) return findRegexMatches(pattern, chars);
  if ('literal' in pattern) {
    if (pattern.literal === '') return [[0, chars.length, false]];
    return findRegexMatches(new RegExp(escapeRegExp(pattern.literal), 'gu'), chars);
  }
  return findMatches(pattern.invert, chars).map(([s, e, m]) => [s, e, !m]);
}

function findCharMatches(pred: (c: string) => boolean, chars: readonly string[]): Matches {
  if (chars.length === 0) return [[0, 0, false]];
  const out: Matches = [];
  let last = 0;
  for (let i = 0; i < chars.length; i++) {
    if (pred(chars[i]!)) {
      if (last < i) out.push([last, i, false]);
      out.push([i, i + 1, true]);
      last = i + 1;
    }
  }
  if (chars.length > last) out.push([last, chars.length, false]);
  return out;
}

function findRegexMatches(re: RegExp, chars: readonly string[]): Matches {
  if (chars.length === 0) return [[0, 0, false]];
  const text = chars.join('');
  const map = utf16ToCodePointIndex(text);
  const global = re.global ? re : new RegExp(re.source, re.flags + 'g');
  global.lastIndex = 0;
  const out: Matches = [];
  let prev = 0;
  for (const m of text.matchAll(global)) {
    const start = map[m.index]!;
    const end = map[m.index + m[0].length]!;
    if (prev !== start) out.push([prev, start, false]);
    out.push([start, end, true]);
    prev = end;
  }
  if (prev !== chars.length) out.push([prev, chars.length, false]);
  return out;
}

/** Escapes a literal for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * A string under normalization: `chars` (normalized code points) with `align[2i], align[2i+1]` the
 * original span of chars[i], relative to `originalShift` (where this piece starts in the input).
 */
export class NormalizedString {
  constructor(
    public chars: string[],
    public align: number[],
    public originalLength: number,
    public originalShift: number,
  ) {}

  /** A fresh, unnormalized string: each char aligned to itself. */
  static from(text: string): NormalizedString {
    const chars = codePoints(text);
    const align = new Array<number>(chars.length * 2);
    for (let i = 0; i < chars.length; i++) {
      align[2 * i] = i;
      align[2 * i + 1] = i + 1;
    }
    return new NormalizedString(chars, align, chars.length, 0);
  }

  get length(): number {
    return this.chars.length;
  }

  /** The normalized text. */
  get text(): string {
    return this.chars.join('');
  }

  /** [start, end) of this piece in the original input. */
  offsetsOriginal(): Offsets {
    return [this.originalShift, this.originalShift + this.originalLength];
  }

  /** Original span (relative) of normalized chars [start, end), HF `convert_offsets(Normalized)`. */
  normalizedToOriginal(start: number, end: number): Offsets | null {
    if (start === end) return [start, end];
    if (start > end) return null;
    if (this.chars.length === 0 && start === 0 && end === 0) return [0, this.originalLength];
    if (end > this.chars.length || start >= this.chars.length) return null;
    return [this.align[2 * start]!, this.align[2 * (end - 1) + 1]!];
  }

  /** Normalized chars [start, end) as a new NormalizedString (HF `slice(Range::Normalized)`). */
  slice(start: number, end: number): NormalizedString {
    const orig = this.normalizedToOriginal(start, end) ?? [0, 0];
    const shift = orig[0];
    const align = this.align.slice(2 * start, 2 * end);
    for (let i = 0; i < align.length; i++) align[i] = align[i]! - shift;
    return new NormalizedString(this.chars.slice(start, end), align, orig[1] - orig[0], this.originalShift + shift);
  }

  /**
   * Replaces normalized chars [start, end) by `dest` (HF `transform_range`): change 0 replaces one
   * char, +1 inserts (aligned to the previous char), -n replaces one and removes the n after it;
   * `initialOffset` chars at the start of the range are removed first.
   */
  transformRange(start: number, end: number, dest: readonly Change[], initialOffset: number): void {
    let offset = start + initialOffset;
    const newChars: string[] = [];
    const newAlign: number[] = [];
    const old = this.align;
    for (const [c, change] of dest) {
      let a0: number;
      let a1: number;
      if (change > 0) {
        if (offset < 1) {
          a0 = 0;
          a1 = 0;
        } else {
          a0 = old[2 * (offset - 1)]!;
          a1 = old[2 * (offset - 1) + 1]!;
        }
      } else {
        a0 = old[2 * offset]!;
        a1 = old[2 * offset + 1]!;
        offset += 1;
      }
      if (change < 0) offset += -change;
      newChars.push(c);
      newAlign.push(a0, a1);
    }
    this.chars.splice(start, end - start, ...newChars);
    this.align.splice(2 * start, 2 * (end - start), ...newAlign);
  }

  /** Applies an edit stream to the whole string. */
  transform(dest: readonly Change[], initialOffset = 0): void {
    if (this.chars.length === 0 && dest.length === 0) return;
    const old = this.align;
    const newChars: string[] = new Array<string>(dest.length);
    const newAlign: number[] = new Array<number>(dest.length * 2);
    let offset = initialOffset;
    for (let k = 0; k < dest.length; k++) {
      const [c, change] = dest[k]!;
      if (change > 0) {
        newAlign[2 * k] = offset < 1 ? 0 : old[2 * (offset - 1)]!;
        newAlign[2 * k + 1] = offset < 1 ? 0 : old[2 * (offset - 1) + 1]!;
      } else {
        newAlign[2 * k] = old[2 * offset]!;
        newAlign[2 * k + 1] = old[2 * offset + 1]!;
        offset += 1 - (change < 0 ? change : 0);
      }
      newChars[k] = c;
    }
    this.chars = newChars;
    this.align = newAlign;
  }

  /** Keeps only chars for which `keep` is true (HF `filter`). */
  filter(keep: (c: string) => boolean): void {
    let allKept = true;
    for (const c of this.chars) {
      if (!keep(c)) {
        allKept = false;
        break;
      }
    }
    if (allKept) return;
    const chars: string[] = [];
    const align: number[] = [];
    for (let i = 0; i < this.chars.length; i++) {
      if (keep(this.chars[i]!)) {
        chars.push(this.chars[i]!);
        align.push(this.align[2 * i]!, this.align[2 * i + 1]!);
      }
    }
    this.chars = chars;
    this.align = align;
  }

  /** Maps each char to one char (HF `map`). */
  map(f: (c: string) => string): void {
    for (let i = 0; i < this.chars.length; i++) this.chars[i] = f(this.chars[i]!);
  }

  /** Prepends `s` (HF `prepend`: the first new char takes the first char's alignment). */
  prepend(s: string): void {
    if (this.chars.length === 0) return;
    const dest: Change[] = codePoints(s).map((c, i) => [c, i === 0 ? 0 : 1]);
    dest.push([this.chars[0]!, 1]);
    this.transformRange(0, 1, dest, 0);
  }

  /** Appends `s` (new chars take the last char's alignment). */
  append(s: string): void {
    const n = this.chars.length;
    if (n === 0) {
      this.transformRange(0, 0, codePoints(s).map((c) => [c, 1]), 0);
      return;
    }
    const dest: Change[] = [[this.chars[n - 1]!, 0]];
    for (const c of codePoints(s)) dest.push([c, 1]);
    this.transformRange(n - 1, n, dest, 0);
  }

  /** Replaces every match of `pattern` by `content` (HF `replace`). */
  replace(pattern: Pattern, content: string): void {
    const contentChars = codePoints(content);
    const chars: string[] = [];
    const align: number[] = [];
    let lastEnd = 0;
    for (const [start, end, isMatch] of findMatches(pattern, this.chars)) {
      if (!isMatch) continue;
      for (let i = lastEnd; i < start; i++) {
        chars.push(this.chars[i]!);
        align.push(this.align[2 * i]!, this.align[2 * i + 1]!);
      }
      // Every content char is an insertion aligned to the last replaced char.
      const idx = end;
      const a0 = idx < 1 ? 0 : this.align[2 * (idx - 1)]!;
      const a1 = idx < 1 ? 0 : this.align[2 * (idx - 1) + 1]!;
      for (const c of contentChars) {
        chars.push(c);
        align.push(a0, a1);
      }
      lastEnd = end;
    }
    for (let i = lastEnd; i < this.chars.length; i++) {
      chars.push(this.chars[i]!);
      align.push(this.align[2 * i]!, this.align[2 * i + 1]!);
    }
    this.chars = chars;
    this.align = align;
  }

  /** Strips Unicode whitespace on the left and/or right (HF `lrstrip`). */
  strip(left: boolean, right: boolean, isWs: (c: string) => boolean): void {
    let lead = 0;
    if (left) while (lead < this.chars.length && isWs(this.chars[lead]!)) lead++;
    let trail = 0;
    if (right) while (trail < this.chars.length - lead && isWs(this.chars[this.chars.length - 1 - trail]!)) trail++;
    if (lead === 0 && trail === 0) return;
    const end = this.chars.length - trail;
    this.chars = this.chars.slice(lead, end);
    this.align = this.align.slice(2 * lead, 2 * end);
  }

  /** Splits on `pattern` matches with the given delimiter behaviour (HF `split`). */
  split(pattern: Pattern, behavior: SplitBehavior): NormalizedString[] {
    const matches = findMatches(pattern, this.chars);
    let splits: Array<[number, number, boolean]>; // [start, end, remove]
    switch (behavior) {
      case 'Isolated':
        splits = matches.map(([s, e]) => [s, e, false]);
        break;
      case 'Removed':
        splits = matches;
        break;
      case 'Contiguous': {
        splits = [];
        let prev = false;
        for (const [s, e, m] of matches) {
          const last = splits[splits.length - 1];
          if (m === prev && last) last[1] = e;
          else splits.push([s, e, false]);
          prev = m;
        }
        break;
      }
      case 'MergedWithPrevious': {
        splits = [];
        let prev = false;
        for (const [s, e, m] of matches) {
          const last = splits[splits.length - 1];
          if (m && !prev && last) last[1] = e;
          else splits.push([s, e, false]);
          prev = m;
        }
        break;
      }
      case 'MergedWithNext': {
        splits = [];
        let prev = false;
        for (let i = matches.length - 1; i >= 0; i--) {
          const [s, e, m] = matches[i]!;
          const last = splits[splits.length - 1];
          if (m && !prev && last) last[0] = s;
          else splits.push([s, e, false]);
          prev = m;
        }
        splits.reverse();
        break;
      }
    }
    const out: NormalizedString[] = [];
    for (const [s, e, remove] of splits) if (!remove) out.push(this.slice(s, e));
    return out;
  }
}

/** A token produced by a model: id, string, and [start, end) in the normalized split's chars. */
export interface Token {
  id: number;
  value: string;
  offsets: Offsets;
}

/** One piece of a PreTokenizedString; `tokens` is set once it is tokenized (or is an added token). */
export interface Split {
  normalized: NormalizedString;
  tokens: Token[] | null;
}

/** The input cut into pieces by added tokens and the pre-tokenizer (HF `PreTokenizedString`). */
export class PreTokenizedString {
  constructor(public splits: Split[]) {}

  static from(normalized: NormalizedString): PreTokenizedString {
    return new PreTokenizedString([{ normalized, tokens: null }]);
  }

  /** Re-splits every untokenized piece with `fn`; empty pieces are dropped. */
  split(fn: (index: number, s: NormalizedString) => Array<NormalizedString | Split>): void {
    const out: Split[] = [];
    this.splits.forEach((sp, i) => {
      if (sp.tokens !== null) {
        out.push(sp);
        return;
      }
      for (const piece of fn(i, sp.normalized)) {
        const split: Split = piece instanceof NormalizedString ? { normalized: piece, tokens: null } : piece;
        if (split.normalized.length > 0) out.push(split);
      }
    });
    this.splits = out;
  }

  /** Normalizes every untokenized piece in place. */
  normalize(fn: (s: NormalizedString) => void): void {
    for (const sp of this.splits) if (sp.tokens === null) fn(sp.normalized);
  }
}

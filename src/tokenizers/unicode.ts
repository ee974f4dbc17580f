// Unicode helpers for the tokenizer pipeline: character classes with the exact Rust meanings HF
// `tokenizers` uses (char::is_whitespace, is_punctuation, is_other...), and NFD/NFC/NFKD/NFKC and
// lowercase expressed as (char, change) edit streams, so NormalizedString can keep offsets aligned.
// Not here: the alignment bookkeeping itself (normalized.ts) or any tokenizer component.

/** One edit for NormalizedString.transform: the new char and how it relates to the old ones
 *  (0 = replaces one char, 1 = inserted, -n = replaces one char and removes the n after it). */
export type Change = [string, number];

const RE_WHITE_SPACE = /^\p{White_Space}$/u;
const RE_PUNCT = /^\p{P}$/u;
const RE_OTHER = /^\p{C}$/u;
const RE_MN = /^\p{Mn}$/u;
const RE_MARK = /^\p{M}$/u;
const RE_NUMERIC = /^\p{N}$/u;
// Rust regex `\w`: Alphabetic, M, Nd, Pc, Join_Control.
const RE_WORD = /^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$/u;

/** Rust `char::is_whitespace` (Unicode White_Space). */
export function isWhitespace(c: string): boolean {
  const cp = c.charCodeAt(0);
  if (cp < 128) return cp === 32 || (cp >= 9 && cp <= 13);
  return RE_WHITE_SPACE.test(c);
}

/** `char::is_ascii_punctuation(c) || c.is_punctuation()` — BERT's punctuation test. */
export function isBertPunctuation(c: string): boolean {
  const cp = c.charCodeAt(0);
  if (cp < 128) {
    return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  }
  return RE_PUNCT.test(c);
}

/** unicode_categories `is_other`: general category C (Cc, Cf, Cs, Co, Cn). */
export function isOther(c: string): boolean {
  const cp = c.charCodeAt(0);
  if (cp < 128) return cp < 32 || cp === 127;
  return RE_OTHER.test(c);
}

/** General category Mn (what BERT's accent stripping removes after NFD). */
export function isMarkNonspacing(c: string): boolean {
  return c.charCodeAt(0) >= 0x300 && RE_MN.test(c);
}

/** General category M (what the StripAccents normalizer removes). */
export function isCombiningMark(c: string): boolean {
  return c.charCodeAt(0) >= 0x300 && RE_MARK.test(c);
}

/** Rust `char::is_numeric` (categories Nd, Nl, No). */
export function isNumeric(c: string): boolean {
  const cp = c.charCodeAt(0);
  if (cp < 128) return cp >= 48 && cp <= 57;
  return RE_NUMERIC.test(c);
}

/** Rust regex `\w` for one char. */
export function isWordChar(c: string): boolean {
  const cp = c.charCodeAt(0);
  if (cp < 128) return (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 95;
  return RE_WORD.test(c);
}

/** The CJK ideograph blocks BERT surrounds with spaces. */
export function isChineseChar(c: string): boolean {
  const cp = c.codePointAt(0) ?? 0;
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Splits a string into code points (one array entry per Unicode scalar). */
export function codePoints(s: string): string[] {
  return Array.from(s);
}

/**
 * Slices `text` by code-point offsets, the unit of every `offsets` pair finetune returns (as in
 * Python). JS `slice` counts UTF-16 units, which differs once astral chars (emoji) appear.
 * @example charSlice('😀 ok', 2, 4) // 'ok'
 */
export function charSlice(text: string, start: number, end: number): string {
  return Array.from(text).slice(start, end).join('');
}

/** Map from UTF-16 index to code-point index for `s` (length s.length + 1). */
export function utf16ToCodePointIndex(s: string): Int32Array {
  const map = new Int32Array(s.length + 1);
  let cp = 0;
  for (let i = 0; i < s.length; i++) {
    map[i] = cp;
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        map[i + 1] = cp;
        i++;
      }
    }
    cp++;
  }
  map[s.length] = cp;
  return map;
}

/** Per-char lowercase as an edit stream (Rust `char::to_lowercase`; may expand, e.g. İ → i̇). */
export function lowercaseChanges(chars: readonly string[]): Change[] {
  const out: Change[] = [];
  for (const c of chars) {
    const cp = c.charCodeAt(0);
    if (cp < 128) {
      out.push([cp >= 65 && cp <= 90 ? String.fromCharCode(cp + 32) : c, 0]);
      continue;
    }
    const lower = Array.from(c.toLowerCase());
    lower.forEach((l, i) => out.push([l, i > 0 ? 1 : 0]));
  }
  return out;
}

/**
 * Canonical or compatibility decomposition as an edit stream, reproducing
 * unicode-normalization-alignments: each source char decomposes into its chars (first 0, rest +1),
 * then combining marks are stably reordered by class; the flags travel with the chars.
 */
export function decomposeChanges(chars: readonly string[], compat: boolean): Change[] {
  const form = compat ? 'NFKD' : 'NFD';
  const out: Change[] = [];
  // Nothing below U+00C0 has a canonical decomposition, nothing below U+00A0 a compatibility one.
  const plain = compat ? 0xa0 : 0xc0;
  let ascii = true;
  for (const c of chars) {
    if (c.charCodeAt(0) < plain) {
      out.push([c, 0]);
      continue;
    }
    ascii = false;
    const d = Array.from(c.normalize(form));
    d.forEach((x, i) => out.push([x, i > 0 ? 1 : 0]));
  }
  if (ascii) return out;
  const concat = out.map((x) => x[0]).join('');
  const target = concat.normalize(form);
  if (target === concat) return out;
  // Canonical reordering moved some marks: match each output char to the earliest unused source
  // element with the same char (a stable sort keeps equal chars in order, so this is exact).
  return matchElements(out, Array.from(target));
}

function matchElements(source: Change[], target: string[]): Change[] {
  const used = new Uint8Array(source.length);
  let first = 0;
  const out: Change[] = [];
  for (const t of target) {
    while (first < source.length && used[first]) first++;
    let j = first;
    while (j < source.length && (used[j] || source[j]![0] !== t)) j++;
    if (j >= source.length) throw new Error(`unicode: cannot align normalized char U+${t.codePointAt(0)?.toString(16)}`);
    used[j] = 1;
    out.push([t, source[j]![1]]);
  }
  return out;
}

/**
 * NFC / NFKC as an edit stream: decompose (as above) then recompose; a char composed from n
 * decomposed elements gets change = sum(element changes) − (n − 1), as the Rust crate computes.
 */
export function composeChanges(chars: readonly string[], compat: boolean): Change[] {
  const decomposed = decomposeChanges(chars, compat);
  const text = decomposed.map((x) => x[0]).join('');
  const composed = Array.from(text.normalize('NFC'));
  if (composed.length === decomposed.length) {
    let same = true;
    for (let i = 0; i < composed.length; i++) {
      if (composed[i] !== decomposed[i]![0]) {
        same = false;
        break;
      }
    }
    if (same) return decomposed;
  }
  const used = new Uint8Array(decomposed.length);
  let first = 0;
  const out: Change[] = [];
  for (const o of composed) {
    const parts = Array.from(o.normalize('NFD'));
    let sum = 0;
    for (const p of parts) {
      while (first < decomposed.length && used[first]) first++;
      let j = first;
      while (j < decomposed.length && (used[j] || decomposed[j]![0] !== p)) j++;
      if (j >= decomposed.length) throw new Error(`unicode: cannot align composed char U+${o.codePointAt(0)?.toString(16)}`);
      used[j] = 1;
      sum += decomposed[j]![1];
    }
    out.push([o, sum - (parts.length - 1)]);
  }
  return out;
}

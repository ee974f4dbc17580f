// The `Precompiled` normalizer: SentencePiece's precompiled charsmap (a darts-clone double-array
// trie over UTF-8 bytes + a blob of NUL-terminated replacement strings), applied per grapheme
// cluster then per char exactly as HF `tokenizers` (spm_precompiled crate) does, with alignments
// kept for offsets. Not here: building charsmaps (that is spm_train's job).

import { FileFormatError } from '../errors.ts';
import type { NormalizedString } from './normalized.ts';
import type { Change } from './unicode.ts';

const utf8 = new TextEncoder();
const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Decodes standard base64 (tokenizer.json stores the charsmap that way). */
export function base64Bytes(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class PrecompiledCharsmap {
  private readonly units: Uint32Array;
  private readonly normalized: Uint8Array;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private readonly cache = new Map<string, string | null>();

  /** @param blob the raw charsmap: u32 LE trie byte size, the trie's u32 units, the strings blob. */
  constructor(blob: Uint8Array, file: string) {
    if (blob.length < 4) throw new FileFormatError(file, 'Precompiled normalizer: precompiled_charsmap is too short');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes % 4 !== 0 || 4 + trieBytes > blob.length) {
      throw new FileFormatError(file, `Precompiled normalizer: precompiled_charsmap trie size ${trieBytes} does not fit its ${blob.length} bytes`);
    }
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.normalized = blob.subarray(4 + trieBytes);
    if (this.units.length === 0) throw new FileFormatError(file, 'Precompiled normalizer: empty trie');
  }

  /** darts-clone commonPrefixSearch: values of every key that is a prefix of `key`, shortest first. */
  private prefixValues(key: Uint8Array): number[] {
    const u = this.units;
    const out: number[] = [];
    let pos = 0;
    let unit = u[pos]!;
    pos ^= offset(unit);
    for (const c of key) {
      if (c === 0) break;
      pos ^= c;
      unit = u[pos] ?? 0;
      if (pos >= u.length || (unit & 0x800000ff) >>> 0 !== c) return out;
      pos ^= offset(unit);
      if ((unit >>> 8) & 1) out.push((u[pos] ?? 0) & 0x7fffffff);
    }
    return out;
  }

  /** The replacement for `chunk` (its shortest matching prefix, as spm_precompiled), or null. Cached. */
  transform(chunk: string): string | null {
    const hit = this.cache.get(chunk);
    if (hit !== undefined) return hit;
    const out = this.lookup(chunk);
    if (this.cache.size >= 50000) this.cache.clear();
    this.cache.set(chunk, out);
    return out;
  }

  private lookup(chunk: string): string | null {
    const hits = this.prefixValues(utf8.encode(chunk));
    if (hits.length === 0) return null;
    const start = hits[0]!;
    let end = start;
    while (end < this.normalized.length && this.normalized[end] !== 0) end++;
    return this.decoder.decode(this.normalized.subarray(start, end));
  }

  /** Normalizes in place, per grapheme (< 6 UTF-8 bytes) else per char, keeping alignments. */
  normalize(n: NormalizedString): void {
    const changes: Change[] = [];
    let modified = false;
    for (const segment of graphemes(n.text)) {
      if (utf8Length(segment) < 6) {
        const norm = this.transform(segment);
        if (norm !== null) {
          modified = true;
          replace(changes, segment, norm);
          continue;
        }
      }
      for (const c of segment) {
        const norm = this.transform(c);
        if (norm !== null) {
          modified = true;
          replace(changes, c, norm);
        } else changes.push([c, 0]);
      }
    }
    if (modified) n.transform(changes);
  }
}

/** Below U+0300 no char extends a grapheme cluster: every char is one, except CR LF. */
const SIMPLE = /^[\u0000-\u02ff]*$/;

/** Extended grapheme clusters (Intl.Segmenter), with a fast path for text below U+0300. */
function* graphemes(text: string): Generator<string> {
  if (!SIMPLE.test(text)) {
    for (const { segment } of segmenter.segment(text)) yield segment;
    return;
  }
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) === 13 && text.charCodeAt(i + 1) === 10) {
      yield '\r\n';
      i++;
    } else yield text[i]!;
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** darts-clone unit offset. */
function offset(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

/** HF's `replace`: new chars replace old ones; extra new chars are insertions, missing ones a removal on the last. */
function replace(changes: Change[], oldPart: string, newPart: string): void {
  const oldCount = [...oldPart].length;
  const newChars = [...newPart];
  const diff = newChars.length - oldCount;
  for (const c of newChars) changes.push([c, 0]);
  if (diff > 0) {
    for (let i = changes.length - diff; i < changes.length; i++) changes[i]![1] = 1;
  } else if (diff < 0 && changes.length > 0) {
    changes[changes.length - 1]![1] += diff;
  }
}

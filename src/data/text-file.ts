// Turning a data file's bytes into a string, strictly: UTF-8 by default (a UTF-8 or UTF-16 byte-order
// mark is honoured), and a byte sequence that is not valid UTF-8 is an error naming the line and column
// instead of silently becoming U+FFFD. Also line splitting that a user's editor would agree with.
// Not here: parsing CSV/JSON (csv.ts, read.ts).

import { FileFormatError } from '../errors.ts';

/**
 * Byte offset of the first invalid UTF-8 sequence in `bytes`, or -1 when all of it is valid.
 * Follows the Unicode well-formedness table: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
export function findInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      need = 2;
      if (b0 === 0xe0) lo = 0xa0; // no overlong 3-byte forms
      if (b0 === 0xed) hi = 0x9f; // no surrogates
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      need = 3;
      if (b0 === 0xf0) lo = 0x90; // no overlong 4-byte forms
      if (b0 === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    if (i + need >= n) return i; // truncated at end of file
    const b1 = bytes[i + 1] as number;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= need; k++) {
      const bk = bytes[i + k] as number;
      if (bk < 0x80 || bk > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** 1-based line and byte column of a byte offset (lines end at LF, CRLF or a lone CR). */
function lineAndColumnOfOffset(bytes: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const b = bytes[i];
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Decode a data file. `encoding` is any WHATWG label ('utf-8', 'latin1', 'windows-1252', 'utf-16le'...);
 * by default UTF-8, or UTF-16 when the file starts with a UTF-16 byte-order mark. A leading BOM is dropped.
 *
 * @example
 * const text = decodeTextFile(readFileSync(path), path);
 */
export function decodeTextFile(bytes: Uint8Array, file: string, encoding?: string): string {
  let label = encoding ?? 'utf-8';
  if (encoding === undefined && bytes.length >= 2) {
    if (bytes[0] === 0xff && bytes[1] === 0xfe) label = 'utf-16le';
    else if (bytes[0] === 0xfe && bytes[1] === 0xff) label = 'utf-16be';
  }
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label, { fatal: true });
  } catch {
    throw new FileFormatError(file, `unknown text encoding "${label}"; use a label such as utf-8, latin1 or utf-16le`);
  }
  try {
    return decoder.decode(bytes);
  } catch (err) {
    if (decoder.encoding === 'utf-8') {
      const at = findInvalidUtf8(bytes);
      const where = at >= 0 ? lineAndColumnOfOffset(bytes, at) : { line: 1, column: 1 };
      const byte = at >= 0 ? `0x${(bytes[at] as number).toString(16).toUpperCase().padStart(2, '0')}` : 'a byte';
      throw new FileFormatError(
        file,
        `not valid UTF-8: byte ${byte} at column ${where.column} (byte ${at + 1} of the file). ` +
          `Re-save the file as UTF-8, or pass the file's real encoding (e.g. encoding: "latin1" or "windows-1252").`,
        where.line,
        { cause: err },
      );
    }
    throw new FileFormatError(file, `cannot be decoded as ${decoder.encoding}`, undefined, { cause: err });
  }
}

/**
 * Split text into lines at LF, CRLF or a lone CR — and nowhere else (not at U+0085 NEL or U+2028,
 * which Python's `str.splitlines` also treats as breaks). A final line terminator does not start an
 * extra empty line. Line i of the result is line i+1 in an editor.
 */
export function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

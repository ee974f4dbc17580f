// Strict JSON reading and Python-compatible JSON writing for Hugging Face files.
// The parser rejects duplicate keys (JSON.parse silently keeps the last one), reports line and column,
// and remembers which numbers were written as floats (`1.0` vs `1`) so a config can be written back as
// Python wrote it. The writer reproduces `json.dumps(obj, indent=2, sort_keys=True)` byte for byte.
// Not here: schemas (see hf-config.ts, safetensors.ts) or file I/O beyond `readJsonFile`.

import { readFile } from 'node:fs/promises';
import { FileFormatError } from '../errors.ts';

/** Any JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
/** A JSON object (string keys, JSON values). */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Result of {@link parseJson}: the value, and the JSON pointers of numbers written with `.` or an exponent. */
export interface ParsedJson {
  value: JsonValue;
  /** JSON pointers (RFC 6901, e.g. `/rope_scaling/factor`) of number literals that were floats in the text. */
  floatPaths: Set<string>;
}

/** A JSON syntax error (or duplicate key); `detail` is the message without the file and line. */
export class JsonSyntaxError extends FileFormatError {
  constructor(
    file: string,
    readonly detail: string,
    line: number,
  ) {
    super(file, detail, line);
  }
}

const MAX_DEPTH = 512;
const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Escapes one JSON-pointer segment (`~` → `~0`, `/` → `~1`). */
export function pointerSegment(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * Parses JSON text strictly: standard JSON only, no duplicate keys, depth ≤ 512.
 * Errors are FileFormatError naming `file`, the line and the column.
 *
 * @example
 * const { value, floatPaths } = parseJson('{"a": 1.0, "b": 2}', 'x.json');
 * // value = { a: 1, b: 2 }, floatPaths = Set { '/a' }
 */
export function parseJson(text: string, file: string): ParsedJson {
  const p = new Parser(text, file);
  p.skipWs();
  const value = p.parseValue(0);
  p.skipWs();
  if (p.pos < text.length) p.fail('unexpected text after the JSON value');
  return { value, floatPaths: p.floatPaths };
}

/** Reads and strictly parses a JSON file (UTF-8, optional BOM). */
export async function readJsonFile(path: string): Promise<ParsedJson> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new FileFormatError(path, `cannot read file: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return parseJson(text, path);
}

class Parser {
  pos = 0;
  readonly floatPaths = new Set<string>();
  private readonly path: string[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  fail(detail: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new JsonSyntaxError(this.file, `invalid JSON: ${detail} (line ${line}, column ${at - lineStart + 1})`, line);
  }

  skipWs(): void {
    const t = this.text;
    let i = this.pos;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.pos = i;
  }

  parseValue(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.text.charCodeAt(this.pos);
    if (c === 123) return this.parseObject(depth);
    if (c === 91) return this.parseArray(depth);
    if (c === 34) return this.parseString();
    if (c === 45 || (c >= 48 && c <= 57)) return this.parseNumber();
    if (this.text.startsWith('true', this.pos)) return this.word(4, true);
    if (this.text.startsWith('false', this.pos)) return this.word(5, false);
    if (this.text.startsWith('null', this.pos)) return this.word(4, null);
    if (this.pos >= this.text.length) this.fail('unexpected end of input');
    this.fail(`unexpected character ${JSON.stringify(this.text[this.pos])}`);
  }

  private word<T>(n: number, v: T): T {
    this.pos += n;
    return v;
  }

  private parseObject(depth: number): JsonObject {
    const obj: JsonObject = {};
    this.pos++; // {
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 125) {
      this.pos++;
      return obj;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 34) this.fail('expected a string key');
      const keyAt = this.pos;
      const key = this.parseString();
      if (Object.prototype.hasOwnProperty.call(obj, key)) {
        this.fail(`duplicate key ${JSON.stringify(key)}`, keyAt);
      }
      this.skipWs();
      if (this.text.charCodeAt(this.pos) !== 58) this.fail('expected ":" after key');
      this.pos++;
      this.skipWs();
      this.path.push(pointerSegment(key));
      const v = this.parseValue(depth + 1);
      this.path.pop();
      // "__proto__" must become an own property, not the prototype.
      if (key === '__proto__') {
        Object.defineProperty(obj, key, { value: v, writable: true, enumerable: true, configurable: true });
      } else {
        obj[key] = v;
      }
      this.skipWs();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        this.skipWs();
      } else if (c === 125) {
        this.pos++;
        return obj;
      } else {
        this.fail('expected "," or "}" in object');
      }
    }
  }

  private parseArray(depth: number): JsonValue[] {
    const arr: JsonValue[] = [];
    this.pos++; // [
    this.skipWs();
    if (this.text.charCodeAt(this.pos) === 93) {
      this.pos++;
      return arr;
    }
    for (;;) {
      this.path.push(String(arr.length));
      arr.push(this.parseValue(depth + 1));
      this.path.pop();
      this.skipWs();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        this.skipWs();
      } else if (c === 93) {
        this.pos++;
        return arr;
      } else {
        this.fail('expected "," or "]" in array');
      }
    }
  }

  private parseString(): string {
    const t = this.text;
    const start = ++this.pos; // after the opening quote
    let i = start;
    // Fast path: no escapes.
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 34) {
        this.pos = i + 1;
        return t.slice(start, i);
      }
      if (c === 92) break;
      if (c < 32 || Number.isNaN(c)) {
        if (Number.isNaN(c)) this.fail('unterminated string', start - 1);
        this.fail('control character in string', i);
      }
      i++;
    }
    let out = t.slice(start, i);
    for (;;) {
      const c = t.charCodeAt(i);
      if (Number.isNaN(c)) this.fail('unterminated string', start - 1);
      if (c === 34) {
        this.pos = i + 1;
        return out;
      }
      if (c < 32) this.fail('control character in string', i);
      if (c !== 92) {
        out += t[i];
        i++;
        continue;
      }
      const e = t[i + 1];
      i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hex = t.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('bad \\u escape', i - 2);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
          break;
        }
        default:
          this.fail(`bad escape \\${e ?? ''}`, i - 2);
      }
    }
  }

  private parseNumber(): number {
    NUMBER_RE.lastIndex = this.pos;
    const m = NUMBER_RE.exec(this.text);
    if (m === null) this.fail('malformed number');
    this.pos += m[0].length;
    if (m[1] !== undefined || m[2] !== undefined) this.floatPaths.add('/' + this.path.join('/'));
    return Number(m[0]);
  }
}

// ---------------------------------------------------------------------------------------------
// Python-compatible writing

/** Options for {@link pythonJsonDumps}. */
export interface PythonDumpsOptions {
  /** Spaces per level; `undefined` writes compact `json.dumps` output (`", "` and `": "` separators). */
  indent?: number;
  /** Sort object keys by code point like Python's `sort_keys=True`. Default true. */
  sortKeys?: boolean;
  /** Escape non-ASCII as `\uXXXX` like Python's default `ensure_ascii=True`. Default true. */
  ensureAscii?: boolean;
  /** Whether the number at this JSON pointer is a Python float (written `1.0`, not `1`). */
  isFloat?: (pointer: string, value: number) => boolean;
  /**
   * JSON pointers of objects whose keys are ints in Python (e.g. `/id2label`): Python sorts those
   * numerically before turning them into strings, so `"2"` comes before `"10"`.
   */
  intKeyObjects?: ReadonlySet<string>;
}

/** Compares strings by Unicode code point, as Python (and Rust) order strings. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i) ?? 0;
    const y = b.codePointAt(i) ?? 0;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * `repr(float(x))` as Python prints it: shortest round-trip digits, fixed notation for
 * 1e-4 ≤ |x| < 1e16 (with `.0` when integral), otherwise `d.ddde-XX`.
 *
 * @example pythonFloatRepr(1e-5) === '1e-05'; pythonFloatRepr(10000) === '10000.0'
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expStr] = x.toExponential().split('e') as [string, string];
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

function pythonString(s: string, ensureAscii: boolean): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34) out += '\\"';
    else if (c === 92) out += '\\\\';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c < 32 || (ensureAscii && c > 126)) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += s[i];
  }
  return out + '"';
}

/**
 * Serialises like Python's `json.dumps(value, indent=..., sort_keys=True)`; `transformers` writes
 * config.json with exactly this plus a trailing newline.
 *
 * @example pythonJsonDumps({ b: 1, a: [0.5] }, { indent: 2 }) === '{\n  "a": [\n    0.5\n  ],\n  "b": 1\n}'
 */
export function pythonJsonDumps(value: JsonValue, options: PythonDumpsOptions = {}): string {
  const { indent, sortKeys = true, ensureAscii = true, isFloat, intKeyObjects } = options;
  const nl = indent === undefined ? '' : '\n';
  const itemSep = indent === undefined ? ', ' : ',';
  const write = (v: JsonValue, pointer: string, level: number): string => {
    if (v === null) return 'null';
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (typeof v === 'number') {
      if (Number.isInteger(v) && !(isFloat?.(pointer, v) ?? false)) return BigInt(v).toString();
      return pythonFloatRepr(v);
    }
    if (typeof v === 'string') return pythonString(v, ensureAscii);
    const pad = indent === undefined ? '' : ' '.repeat(indent * (level + 1));
    const padEnd = indent === undefined ? '' : ' '.repeat(indent * level);
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      const items = v.map((x, i) => pad + write(x, `${pointer}/${i}`, level + 1));
      return `[${nl}${items.join(itemSep + nl)}${nl}${padEnd}]`;
    }
    const keys = Object.keys(v);
    if (keys.length === 0) return '{}';
    if (sortKeys) {
      if (intKeyObjects?.has(pointer) === true && keys.every((k) => /^-?[0-9]+$/.test(k))) {
        keys.sort((a, b) => Number(a) - Number(b));
      } else {
        keys.sort(compareCodePoints);
      }
    }
    const items = keys.map((k) => {
      const child = v[k] as JsonValue;
      return `${pad}${pythonString(k, ensureAscii)}: ${write(child, `${pointer}/${pointerSegment(k)}`, level + 1)}`;
    });
    return `{${nl}${items.join(itemSep + nl)}${nl}${padEnd}}`;
  };
  return write(value, '', 0);
}

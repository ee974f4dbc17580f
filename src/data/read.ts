// Reading a dataset file into a table of rows: CSV, TSV, JSON Lines, JSON arrays and Parquet, with the
// format taken from an option, the extension, or (for files such as `SMSSpamCollection` or `.txt`) a
// look at the content. Every row remembers where it came from (line, or record number) so later errors
// can point at it.
// Not here: what the columns mean (columns.ts), cleaning (preprocess.ts), splitting (split.ts).

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { FileFormatError } from '../errors.ts';
import { DEFAULT_MAX_RECORD_SIZE, parseDelimited, recordTooLong } from './csv.ts';
import { readParquetRows } from './parquet.ts';
import { decodeTextFile, splitLines } from './text-file.ts';

/** Supported file formats. */
export type TableFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'parquet';

/** A cell value as it came out of the file (CSV cells are always strings). */
export type CellValue = string | number | boolean | null | CellValue[] | { [key: string]: CellValue };

/** A row: column name → value. */
export type Row = Record<string, CellValue>;

/** Options for {@link readTable}. Everything is optional; defaults follow the format. */
export interface ReadOptions {
  /** Force a format instead of guessing from the extension/content. */
  format?: TableFormat;
  /** CSV/TSV field separator (default ',' for csv, '\t' for tsv). */
  delimiter?: string;
  /** CSV/TSV quote handling: 'csv' (RFC 4180; default for csv) or 'none' (default for tsv). */
  quoting?: 'csv' | 'none';
  /** With quoting 'none': split each line at 'every' delimiter (default), only the 'first', or the 'last'. */
  split?: 'every' | 'first' | 'last';
  /** CSV/TSV: the first row is a header. Default true, or false when `columnNames` is given. */
  hasHeader?: boolean;
  /** CSV/TSV: names for the columns of a header-less file (or to rename a header's columns). */
  columnNames?: string[];
  /** Text encoding label (default utf-8; UTF-16 with a byte-order mark is detected). */
  encoding?: string;
  /** JSON: key of the array of records when the file is an object such as {"data": [...]}. */
  jsonField?: string;
  /** CSV/TSV/JSON Lines: longest record accepted, in characters (default 1 MiB; see DEFAULT_MAX_RECORD_SIZE). */
  maxRecordSize?: number;
}

/** Where rows came from: 'line' = 1-based line in a text file; 'record' = 1-based record number. */
export type OriginKind = 'line' | 'record';

/** A file read into rows. `origins[i]` locates row i in the file (see `originKind`). */
export interface Table {
  file: string;
  format: TableFormat;
  columns: string[];
  rows: Row[];
  origins: number[];
  originKind: OriginKind;
}

/** "line 12" or "record 12": how to name a row's origin in a message. */
export function describeOrigin(kind: OriginKind, origin: number): string {
  return `${kind} ${origin}`;
}

/** "lines 3, 9, 20" / "record 4": a short list of origins for a message (at most `max` shown). */
export function describeOrigins(kind: OriginKind, origins: readonly number[], max = 5): string {
  const shown = origins.slice(0, max).join(', ');
  const more = origins.length > max ? ', ...' : '';
  return `${kind}${origins.length === 1 ? '' : 's'} ${shown}${more}`;
}

const EXTENSIONS: Record<string, TableFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
  '.pq': 'parquet',
};

function startsWithParquetMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 && bytes[3] === 0x31;
}

/** Guess the format of a text file from its first characters (for `.json`, `.txt` and no extension). */
function sniffTextFormat(text: string, file: string, ext: string): TableFormat {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) return 'json';
  if (trimmed.startsWith('{')) {
    // One JSON document holding the records ({"data": [...]}) or JSON Lines (HF `to_json` writes
    // JSON Lines with a .json extension)?
    if (ext === '.json') {
      try {
        JSON.parse(text);
        return 'json';
      } catch {
        return 'jsonl';
      }
    }
    return 'jsonl';
  }
  const firstLine = splitLines(trimmed)[0] ?? '';
  if (firstLine.includes('\t')) return 'tsv';
  if (firstLine.includes(',')) return 'csv';
  throw new FileFormatError(
    file,
    'cannot tell the format from the extension or the first line (no tab, comma, "{" or "["); pass --format csv, tsv, jsonl, json or parquet',
    1,
  );
}

/** Decide the format of `file` from options, extension and content. */
export function detectFormat(file: string, bytes: Uint8Array, text: string | undefined, options: ReadOptions): TableFormat {
  if (options.format !== undefined) return options.format;
  if (startsWithParquetMagic(bytes)) return 'parquet';
  const ext = extname(file).toLowerCase();
  const byExt = EXTENSIONS[ext];
  if (byExt !== undefined) return byExt;
  return sniffTextFormat(text ?? '', file, ext);
}

function parseJsonLines(text: string, file: string, maxRecordSize: number): { rows: Row[]; origins: number[] } {
  const lines = splitLines(text);
  const rows: Row[] = [];
  const origins: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if ((lines[i] as string).length > maxRecordSize) throw recordTooLong(file, i + 1, maxRecordSize, 'this line');
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const preview = line.length > 60 ? `${line.slice(0, 60)}...` : line;
      throw new FileFormatError(
        file,
        `not valid JSON (${why}): ${preview}. Each line of a JSON Lines file must be one complete JSON object.`,
        i + 1,
        { cause: err },
      );
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new FileFormatError(file, `expected a JSON object ({...}) on each line, found ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`, i + 1);
    }
    rows.push(value as Row);
    origins.push(i + 1);
  }
  return { rows, origins };
}

function parseJsonArray(text: string, file: string, field: string | undefined): { rows: Row[]; origins: number[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new FileFormatError(file, `not valid JSON (${why})`, undefined, { cause: err });
  }
  let records: unknown = doc;
  if (!Array.isArray(doc) && doc !== null && typeof doc === 'object') {
    const obj = doc as Record<string, unknown>;
    const arrayKeys = Object.keys(obj).filter((k) => Array.isArray(obj[k]));
    const key = field ?? (arrayKeys.length === 1 ? arrayKeys[0] : undefined);
    if (key === undefined || !Array.isArray(obj[key])) {
      throw new FileFormatError(
        file,
        `is a JSON object, not an array of records; pass jsonField with the key that holds the records` +
          (arrayKeys.length > 0 ? ` (array-valued keys: ${arrayKeys.join(', ')})` : ''),
      );
    }
    records = obj[key];
  }
  if (!Array.isArray(records)) throw new FileFormatError(file, 'expected a JSON array of objects');
  const rows: Row[] = [];
  const origins: number[] = [];
  records.forEach((r: unknown, i: number) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      throw new FileFormatError(file, `record ${i + 1} is not a JSON object: ${JSON.stringify(r)?.slice(0, 60)}`);
    }
    rows.push(r as Row);
    origins.push(i + 1);
  });
  return { rows, origins };
}

/** Column names in order of first appearance across object rows. */
function unionColumns(rows: Row[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  return [...seen];
}

/**
 * Parse a text-format table already in memory (csv, tsv, jsonl, json). `file` names it in errors.
 *
 * @example
 * const t = parseTableText('{"text":"hi","label":1}\n', 'mem.jsonl', { format: 'jsonl' });
 */
export function parseTableText(text: string, file: string, format: Exclude<TableFormat, 'parquet'>, options: ReadOptions = {}): Table {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') {
    throw new FileFormatError(file, 'the file is empty. Check the path, or that the data was exported.');
  }
  if (format === 'csv' || format === 'tsv') {
    const hasHeader = options.hasHeader ?? options.columnNames === undefined;
    const raw = parseDelimited(text, file, {
      delimiter: options.delimiter ?? (format === 'csv' ? ',' : '\t'),
      quoting: options.quoting ?? (format === 'csv' ? 'csv' : 'none'),
      split: options.split ?? 'every',
      hasHeader,
      ...(options.columnNames !== undefined ? { columnNames: options.columnNames } : {}),
      ...(options.maxRecordSize !== undefined ? { maxRecordSize: options.maxRecordSize } : {}),
    });
    const rows: Row[] = raw.rows.map((cells) => {
      const row: Row = {};
      raw.columns.forEach((c, i) => {
        row[c] = cells[i] as string;
      });
      return row;
    });
    return { file, format, columns: raw.columns, rows, origins: raw.lines, originKind: 'line' };
  }
  const { rows, origins } = format === 'jsonl' ? parseJsonLines(text, file, options.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE) : parseJsonArray(text, file, options.jsonField);
  if (rows.length === 0) throw new FileFormatError(file, 'contains no records');
  return {
    file,
    format,
    columns: unionColumns(rows),
    rows,
    origins,
    originKind: format === 'jsonl' ? 'line' : 'record',
  };
}

/**
 * Read a dataset file into a {@link Table}.
 *
 * @example
 * // The SMS Spam Collection: tab-separated `label<TAB>text`, no header, no extension.
 * const t = await readTable('SMSSpamCollection', { format: 'tsv', columnNames: ['label', 'text'], split: 'first' });
 */
export async function readTable(file: string, options: ReadOptions = {}): Promise<Table> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : String(err);
    throw new FileFormatError(file, `cannot read: ${why}`, undefined, { cause: err });
  }
  if (bytes.length === 0) {
    throw new FileFormatError(file, 'the file is empty (0 bytes). Check the path, or that the data was exported.');
  }
  if (options.format === 'parquet' || (options.format === undefined && startsWithParquetMagic(bytes))) {
    const { columns, rows } = await readParquetRows(file, bytes);
    return { file, format: 'parquet', columns, rows, origins: rows.map((_, i) => i + 1), originKind: 'record' };
  }
  const ext = extname(file).toLowerCase();
  if (options.format === undefined && EXTENSIONS[ext] === 'parquet') {
    throw new FileFormatError(file, 'has a .parquet extension but does not start with the Parquet magic bytes "PAR1"');
  }
  const text = decodeTextFile(bytes, file, options.encoding);
  const format = detectFormat(file, bytes, text, options);
  if (format === 'parquet') throw new FileFormatError(file, 'is not a Parquet file (no "PAR1" magic bytes)');
  return parseTableText(text, file, format, options);
}

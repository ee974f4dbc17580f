// CSV/TSV text → header + string rows, each row tagged with the 1-based line it starts on. Quoted CSV
// goes through csv-parse (RFC 4180 quoting, "" escapes, quotes inside unquoted fields kept as text like
// Python's csv); `quoting: 'none'` splits plain lines at the delimiter (TSV as IANA defines it, and files
// whose text holds stray quotes), optionally only at the first or last delimiter of each line.
// Not here: decoding bytes (text-file.ts), choosing the format (read.ts), label or column meaning.

import { parse } from 'csv-parse/sync';
import { FileFormatError } from '../errors.ts';
import { splitLines } from './text-file.ts';

/** How to cut lines into fields. */
export interface DelimitedOptions {
  /** Field separator, one character: ',' for CSV, '\t' for TSV. */
  delimiter: string;
  /** 'csv': double quotes group fields (RFC 4180). 'none': quotes are ordinary characters. */
  quoting: 'csv' | 'none';
  /**
   * With quoting 'none': 'every' splits at each delimiter; 'first' splits at the first N-1 delimiters
   * (the last column keeps any further ones, e.g. `label<TAB>text`), 'last' at the last N-1 (e.g.
   * `sentence<TAB>label`), where N is the number of columns.
   */
  split: 'every' | 'first' | 'last';
  /** The first row names the columns. */
  hasHeader: boolean;
  /** Column names for a file without a header (or to rename a header's columns). */
  columnNames?: string[];
  /** Longest record (row) accepted, in characters (default DEFAULT_MAX_RECORD_SIZE); longer is an error naming the line. */
  maxRecordSize?: number;
}

/**
 * Default bound on one record (a CSV row, a JSON Lines line), in characters: 8x Python csv's default
 * field limit (128 KiB), far beyond any text a model reads (max_length tokens), and small enough that a
 * broken file (one 100 MB line) fails in milliseconds instead of eating gigabytes. Raise it with
 * --max-record-size.
 */
export const DEFAULT_MAX_RECORD_SIZE = 1 << 20;

/** The error for a record longer than the bound. */
export function recordTooLong(file: string, line: number | undefined, limit: number, what: string): FileFormatError {
  return new FileFormatError(
    file,
    `${what} is longer than ${limit} characters (the --max-record-size limit). If the file is meant to hold such long texts, ` +
      `raise it (e.g. --max-record-size ${limit * 8}); otherwise the file is probably broken here (an unclosed quote, or binary data)`,
    line,
  );
}

/** Parsed delimited text: all cells are strings. `lines[i]` is the 1-based line where row i starts. */
export interface RawTable {
  columns: string[];
  rows: string[][];
  lines: number[];
}

interface CsvParseInfo {
  lines: number;
}

interface CsvRecordWithInfo {
  record: string[];
  raw: string;
  info: CsvParseInfo;
}

interface CsvParseError extends Error {
  code?: string;
  lines?: number;
}

function isCsvParseError(err: unknown): err is CsvParseError {
  return err instanceof Error && typeof (err as CsvParseError).code === 'string';
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

/** Records of quoted CSV with the line each starts on. Newlines must already be '\n'. */
function parseQuoted(text: string, file: string, delimiter: string, maxRecordSize: number): { records: string[][]; lines: number[] } {
  let lastEndLine = 0;
  let parsed: CsvRecordWithInfo[];
  try {
    parsed = parse(text, {
      delimiter,
      max_record_size: maxRecordSize,
      record_delimiter: '\n',
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      info: true,
      raw: true,
      on_record: (record: string[], context: CsvParseInfo) => {
        lastEndLine = context.lines;
        return record;
      },
    }) as unknown as CsvRecordWithInfo[];
  } catch (err) {
    if (isCsvParseError(err)) {
      if (err.code === 'CSV_QUOTE_NOT_CLOSED') {
        // Find the first non-blank line after the last good record: that is where the open quote starts.
        const all = text.split('\n');
        let start = lastEndLine + 1;
        while (start <= all.length && (all[start - 1] ?? '').trim() === '') start++;
        throw new FileFormatError(
          file,
          `a quoted field opened on this line is never closed (the file ends inside quotes). ` +
            `Close the quote, double any quote inside a quoted field (""), or read the file with quoting: "none".`,
          start,
          { cause: err },
        );
      }
      if (err.code === 'CSV_MAX_RECORD_SIZE') throw recordTooLong(file, lastEndLine + 1, maxRecordSize, 'the row starting on this line');
      const detail = err.message.replace(/^[A-Za-z ]+: /, '');
      throw new FileFormatError(file, `CSV syntax error: ${detail}`, err.lines, { cause: err });
    }
    throw err;
  }
  const records: string[][] = [];
  const lines: number[] = [];
  for (const { record, raw, info } of parsed) {
    let body = raw.replace(/^\n+/, '');
    if (body.endsWith('\n')) body = body.slice(0, -1);
    records.push(record);
    lines.push(info.lines - countNewlines(body));
  }
  return { records, lines };
}

/** Split one line at a delimiter into exactly `n` fields where possible (see DelimitedOptions.split). */
function splitUnquoted(line: string, delimiter: string, mode: 'every' | 'first' | 'last', n: number): string[] {
  const all = line.split(delimiter);
  if (mode === 'every' || all.length <= n) return all;
  if (mode === 'first') return [...all.slice(0, n - 1), all.slice(n - 1).join(delimiter)];
  const keep = all.length - (n - 1);
  return [all.slice(0, keep).join(delimiter), ...all.slice(keep)];
}

function checkColumnNames(names: string[], file: string, line: number | undefined): string[] {
  const out = names.map((n, i) => {
    const t = n.trim();
    return t === '' ? `column_${i + 1}` : t;
  });
  const seen = new Set<string>();
  for (const name of out) {
    if (seen.has(name)) {
      throw new FileFormatError(
        file,
        `column name "${name}" appears twice in the header (${out.join(', ')}); rename one of them`,
        line,
      );
    }
    seen.add(name);
  }
  return out;
}

/**
 * Parse CSV/TSV text into a header and rows of strings. Blank lines are skipped; a row whose field
 * count differs from the header's is an error naming its line.
 *
 * @example
 * const t = parseDelimited('text,label\n"a, b",1\n', 'x.csv',
 *   { delimiter: ',', quoting: 'csv', split: 'every', hasHeader: true });
 * // t.columns = ['text', 'label'], t.rows = [['a, b', '1']], t.lines = [2]
 */
export function parseDelimited(text: string, file: string, opts: DelimitedOptions): RawTable {
  if ([...opts.delimiter].length !== 1) {
    throw new FileFormatError(file, `delimiter must be one character, got ${JSON.stringify(opts.delimiter)}`);
  }
  if (opts.quoting === 'csv' && opts.split !== 'every') {
    throw new FileFormatError(file, `split: "${opts.split}" needs quoting: "none" (quoted CSV fields can hold delimiters)`);
  }
  const normalised = text.replace(/\r\n?/g, '\n');
  const maxRecordSize = opts.maxRecordSize ?? DEFAULT_MAX_RECORD_SIZE;
  if (!(maxRecordSize >= 1)) throw new FileFormatError(file, `--max-record-size must be at least 1, got ${maxRecordSize}`);
  let records: string[][];
  let lines: number[];
  const nameCount = opts.columnNames?.length;
  if (opts.quoting === 'csv') {
    ({ records, lines } = parseQuoted(normalised, file, opts.delimiter, maxRecordSize));
  } else {
    records = [];
    lines = [];
    const all = splitLines(normalised);
    let width = nameCount;
    for (let i = 0; i < all.length; i++) {
      const line = all[i] as string;
      if (line.length > maxRecordSize) throw recordTooLong(file, i + 1, maxRecordSize, 'this line');
      if (line.trim() === '') continue;
      if (width === undefined) {
        // The header (or the first row of a header-less file) fixes the width: split it at every delimiter.
        const fields = line.split(opts.delimiter);
        width = fields.length;
        records.push(fields);
      } else {
        records.push(splitUnquoted(line, opts.delimiter, opts.split, width));
      }
      lines.push(i + 1);
    }
  }
  // A whitespace-only line is blank too (csv-parse keeps it as one field).
  const keep = records.map((r) => !(r.length === 1 && (r[0] as string).trim() === ''));
  records = records.filter((_, i) => keep[i]);
  lines = lines.filter((_, i) => keep[i]);

  if (records.length === 0) {
    throw new FileFormatError(file, 'the file is empty (no rows). Check the path, or that the data was exported.');
  }
  let columns: string[];
  let firstData = 0;
  if (opts.hasHeader) {
    const header = records[0] as string[];
    firstData = 1;
    if (opts.columnNames !== undefined) {
      if (opts.columnNames.length !== header.length) {
        throw new FileFormatError(
          file,
          `the header has ${header.length} columns (${header.join(', ')}) but ${opts.columnNames.length} column names were given (${opts.columnNames.join(', ')})`,
          lines[0],
        );
      }
      columns = checkColumnNames(opts.columnNames, file, undefined);
    } else {
      columns = checkColumnNames(header, file, lines[0]);
    }
    if (records.length === 1) {
      throw new FileFormatError(
        file,
        `has a header (${columns.join(', ')}) but no data rows. If this line is data, pass --no-header --column-names a,b (config: has_header: false, column_names).`,
        lines[0],
      );
    }
  } else {
    const width = nameCount ?? (records[0] as string[]).length;
    columns = checkColumnNames(
      opts.columnNames ?? Array.from({ length: width }, (_, i) => `column_${i + 1}`),
      file,
      undefined,
    );
  }

  const rows = records.slice(firstData);
  const rowLines = lines.slice(firstData);
  const ragged: number[] = [];
  let firstRaggedWidth = 0;
  for (let i = 0; i < rows.length; i++) {
    if ((rows[i] as string[]).length !== columns.length) {
      if (ragged.length === 0) firstRaggedWidth = (rows[i] as string[]).length;
      ragged.push(rowLines[i] as number);
    }
  }
  if (ragged.length > 0) {
    const where = opts.hasHeader ? 'the header has' : 'there are';
    const more = ragged.length > 1 ? ` ${ragged.length} rows are like this (lines ${ragged.slice(0, 5).join(', ')}${ragged.length > 5 ? ', ...' : ''}).` : '';
    const hint =
      opts.quoting === 'csv'
        ? ` If a text contains the delimiter, wrap it in double quotes.`
        : ` If a text contains the delimiter, use split: "first" or "last" so only one delimiter per line counts.`;
    throw new FileFormatError(
      file,
      `this row has ${firstRaggedWidth} fields but ${where} ${columns.length} (${columns.join(', ')}).${more}${hint}`,
      ragged[0],
    );
  }
  return { columns, rows, lines: rowLines };
}

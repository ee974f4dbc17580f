// Parquet → rows of plain JSON-like values, through hyparquet (with hyparquet-compressors for the
// gzip/zstd/brotli/lz4 codecs that Hub datasets may use). Lists become arrays and structs objects (a
// SQuAD `answers` struct arrives as {text: [...], answer_start: [...]}); 64-bit integers become numbers
// when they fit exactly, dates become ISO strings, binary cells become null.
// Not here: choosing the format (read.ts) or column meaning (columns.ts).

import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { FileFormatError } from '../errors.ts';
import type { CellValue, Row } from './read.ts';

function toCell(value: unknown): CellValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return null;
  if (Array.isArray(value)) return value.map(toCell);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>, (v) => toCell(v));
  if (typeof value === 'object') {
    const out: { [key: string]: CellValue } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = toCell(v);
    return out;
  }
  return String(value);
}

/**
 * Read all rows of a Parquet file held in memory.
 *
 * @example
 * const { columns, rows } = await readParquetRows('train.parquet', readFileSync('train.parquet'));
 */
export async function readParquetRows(file: string, bytes: Uint8Array): Promise<{ columns: string[]; rows: Row[] }> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let columns: string[];
  let raw: Record<string, unknown>[];
  try {
    const metadata = parquetMetadata(buffer);
    columns = parquetSchema(metadata).children.map((c) => c.element.name);
    raw = await parquetReadObjects({ file: buffer, metadata, compressors });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new FileFormatError(file, `cannot read as Parquet: ${why}`, undefined, { cause: err });
  }
  if (raw.length === 0) throw new FileFormatError(file, 'the Parquet file has no rows');
  const rows = raw.map((r) => {
    const row: Row = {};
    for (const c of columns) row[c] = toCell(r[c]);
    return row;
  });
  return { columns, rows };
}

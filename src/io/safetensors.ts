// Reader and writer for the safetensors format (8-byte little-endian header length N, N bytes of JSON
// header, then the tensor bytes), validated as strictly as the reference Rust library and written byte
// for byte as it writes (tensors sorted by dtype alignment then name, header padded with spaces to 8).
// Entries are raw little-endian bytes; toFloat32/toInt32 convert. Not here: sharded checkpoints and
// model folders (checkpoint.ts), tensors or autograd (src/tensor).

import { constants as bufferConstants } from 'node:buffer';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { DTypeError, FileFormatError } from '../errors.ts';
import { writeAll, writeWithAtomicFile } from './atomic.ts';
import { bf16ToFloat32, f16ToFloat32, float32ToBf16, float32ToF16 } from './half.ts';
import { compareCodePoints, isJsonObject, JsonSyntaxError, parseJson, type JsonValue } from './json.ts';

/** Element types this module reads and writes. */
export type SafetensorsDtype =
  | 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'F16' | 'BF16' | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/** Bytes per element, and rank in the reference writer's ordering (its `Dtype` enum order). */
const DTYPES: Record<SafetensorsDtype, { size: number; rank: number }> = {
  BOOL: { size: 1, rank: 0 }, U8: { size: 1, rank: 4 }, I8: { size: 1, rank: 5 },
  I16: { size: 2, rank: 11 }, U16: { size: 2, rank: 12 }, F16: { size: 2, rank: 13 }, BF16: { size: 2, rank: 14 },
  I32: { size: 4, rank: 15 }, U32: { size: 4, rank: 16 }, F32: { size: 4, rank: 17 },
  F64: { size: 8, rank: 19 }, I64: { size: 8, rank: 20 }, U64: { size: 8, rank: 21 },
};
/** Dtypes the format defines that we recognise but cannot convert (FP8/FP4/complex). */
const KNOWN_UNSUPPORTED = new Set(['F4', 'F6_E2M3', 'F6_E3M2', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'C64']);

/** The reference implementation refuses headers above 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;
const IS_LE = endianness() === 'LE';

/** One tensor of a safetensors file: its raw little-endian bytes, never converted. */
export interface SafetensorsEntry {
  /** Tensor name (the checkpoint key). */
  name: string;
  /** The file it came from, for error messages. */
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Raw bytes (a view into the file's buffer; no copy). */
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  file: string;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
  /** Tensors in file order (by data offset). */
  tensors: Map<string, SafetensorsEntry>;
}

/** True if `s` names a dtype this module supports. */
export function isSafetensorsDtype(s: string): s is SafetensorsDtype {
  return Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** Bytes per element of a dtype. */
export function dtypeSize(dtype: SafetensorsDtype): number {
  return DTYPES[dtype].size;
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkEndianness(file: string): void {
  if (!IS_LE) throw new FileFormatError(file, 'safetensors I/O needs a little-endian host');
}

/** Parses and validates the JSON header; `dataLength` is the byte count after the header. */
function parseHeader(
  headerBytes: Uint8Array,
  dataLength: number,
  file: string,
): { metadata: Record<string, string>; entries: HeaderEntry[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new FileFormatError(file, 'safetensors header is not valid UTF-8 (corrupt or not a safetensors file)');
  }
  let header: JsonValue;
  try {
    header = parseJson(text, file).value;
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    throw new FileFormatError(file, `safetensors header: ${err.detail}`, undefined, { cause: err });
  }
  if (!isJsonObject(header)) throw new FileFormatError(file, 'safetensors header is not a JSON object');
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isJsonObject(info)) throw new FileFormatError(file, '"__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') {
          throw new FileFormatError(file, `"__metadata__" value for "${k}" must be a string, got ${JSON.stringify(v)}`);
        }
        metadata[k] = v;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (!isJsonObject(info)) throw new FileFormatError(file, `${where}: header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string') throw new FileFormatError(file, `${where}: missing "dtype"`);
    if (!isSafetensorsDtype(dtype)) {
      const why = KNOWN_UNSUPPORTED.has(dtype) ? 'is not supported here' : 'is not a safetensors dtype';
      throw new FileFormatError(file, `${where}: dtype "${dtype}" ${why} (supported: ${Object.keys(DTYPES).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw new FileFormatError(file, `${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new FileFormatError(file, `${where}: "data_offsets" must be [begin, end] integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new FileFormatError(file, `${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      throw new FileFormatError(
        file,
        `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes); the file is truncated or corrupt`,
      );
    }
    const dims = shape as number[];
    const expected = numel(dims) * DTYPES[dtype].size;
    if (end - begin !== expected) {
      throw new FileFormatError(
        file,
        `${where}: ${dtype} shape [${dims.join(', ')}] needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: dims, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin < pos) {
      throw new FileFormatError(file, `tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${pos})`);
    }
    if (e.begin > pos) {
      throw new FileFormatError(file, `tensor "${e.name}": gap of ${e.begin - pos} bytes before its data (offset ${pos} to ${e.begin}); tensors must be contiguous`);
    }
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw new FileFormatError(file, `the data section is ${dataLength} bytes but the tensors cover ${pos}; the file has trailing bytes or is corrupt`);
  }
  return { metadata, entries };
}

function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new FileFormatError(file, `file is ${fileSize} bytes, too short for a safetensors header length (8 bytes)`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FileFormatError(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file, or corrupt`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new FileFormatError(file, `header length ${len} runs past the end of the file (${fileSize} bytes); the file is truncated or not safetensors`);
  }
  return len;
}

/**
 * Parses a safetensors file already in memory. Tensor data are views into `bytes` (no copies).
 *
 * @example
 * const st = parseSafetensors(new Uint8Array(await readFile('model.safetensors')), 'model.safetensors');
 * st.tensors.get('bert.pooler.dense.bias')?.shape; // [768]
 */
export function parseSafetensors(bytes: Uint8Array, fileName: string): SafetensorsFile {
  checkEndianness(fileName);
  const n = readHeaderLength(bytes, bytes.byteLength, fileName);
  const dataStart = 8 + n;
  const { metadata, entries } = parseHeader(bytes.subarray(8, dataStart), bytes.byteLength - dataStart, fileName);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const e of entries) {
    tensors.set(e.name, {
      name: e.name, file: fileName, dtype: e.dtype, shape: e.shape,
      data: bytes.subarray(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { file: fileName, metadata, tensors };
}

/**
 * Reads and validates a safetensors file. The header is read and checked first; then the data
 * section is read in one go into a buffer of its own (8-aligned, so F32/F64/I64 tensors written by
 * the reference writer can be viewed without copying). Data sections above 4 GiB use one buffer per tensor.
 *
 * @example
 * const st = await readSafetensors('/models/bert/model.safetensors');
 * const w = toFloat32(st.tensors.get('bert.embeddings.word_embeddings.weight')!);
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  checkEndianness(path);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new FileFormatError(path, `cannot open: ${(err as Error).message}`, undefined, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    await readExactly(fh, prefix, 0, path);
    const n = readHeaderLength(prefix, size, path);
    const headerBytes = new Uint8Array(n);
    await readExactly(fh, headerBytes, 8, path);
    const dataStart = 8 + n;
    const dataLength = size - dataStart;
    const { metadata, entries } = parseHeader(headerBytes, dataLength, path);
    const tensors = new Map<string, SafetensorsEntry>();
    if (dataLength <= bufferConstants.MAX_LENGTH) {
      const data = new Uint8Array(dataLength);
      await readExactly(fh, data, dataStart, path);
      for (const e of entries) {
        tensors.set(e.name, { name: e.name, file: path, dtype: e.dtype, shape: e.shape, data: data.subarray(e.begin, e.end) });
      }
    } else {
      for (const e of entries) {
        const data = new Uint8Array(e.end - e.begin);
        await readExactly(fh, data, dataStart + e.begin, path);
        tensors.set(e.name, { name: e.name, file: path, dtype: e.dtype, shape: e.shape, data });
      }
    }
    return { file: path, metadata, tensors };
  } finally {
    await fh.close();
  }
}

/**
 * Reads only the header of a safetensors file: each entry's `data` is read from disk (synchronously)
 * every time it is accessed, so a loader holds one tensor's bytes at a time. Read `data` once per tensor.
 * @example const st = await readSafetensorsLazy('model.safetensors'); const bytes = st.tensors.get('w')!.data;
 */
export async function readSafetensorsLazy(path: string): Promise<SafetensorsFile> {
  checkEndianness(path);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new FileFormatError(path, `cannot open: ${(err as Error).message}`, undefined, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    await readExactly(fh, prefix, 0, path);
    const n = readHeaderLength(prefix, size, path);
    const headerBytes = new Uint8Array(n);
    await readExactly(fh, headerBytes, 8, path);
    const dataStart = 8 + n;
    const { metadata, entries } = parseHeader(headerBytes, size - dataStart, path);
    const tensors = new Map<string, SafetensorsEntry>();
    for (const e of entries) {
      const readBytes = (): Uint8Array => {
        const out = new Uint8Array(e.end - e.begin);
        const fd = openSync(path, 'r');
        try {
          let off = 0;
          while (off < out.length) {
            const got = readSync(fd, out, off, out.length - off, dataStart + e.begin + off);
            if (got === 0) throw new FileFormatError(path, `unexpected end of file reading tensor "${e.name}"`);
            off += got;
          }
        } finally {
          closeSync(fd);
        }
        return out;
      };
      tensors.set(e.name, { name: e.name, file: path, dtype: e.dtype, shape: e.shape, get data() { return readBytes(); } });
    }
    return { file: path, metadata, tensors };
  } finally {
    await fh.close();
  }
}

async function readExactly(
  fh: Awaited<ReturnType<typeof open>>,
  into: Uint8Array,
  position: number,
  file: string,
): Promise<void> {
  const CHUNK = 1 << 30;
  let off = 0;
  while (off < into.byteLength) {
    const len = Math.min(CHUNK, into.byteLength - off);
    const { bytesRead } = await fh.read(into, off, len, position + off);
    if (bytesRead === 0) throw new FileFormatError(file, `unexpected end of file at byte ${position + off}`);
    off += bytesRead;
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions

type NumericArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

/** Typed view of an entry's bytes when aligned, else an aligned copy. */
function typedView<T>(
  e: SafetensorsEntry,
  Ctor: { new (b: ArrayBufferLike, off: number, len: number): T; new (len: number): T; BYTES_PER_ELEMENT: number },
): T {
  const n = e.data.byteLength / Ctor.BYTES_PER_ELEMENT;
  if (e.data.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(e.data.buffer, e.data.byteOffset, n);
  const copy = new Uint8Array(e.data.byteLength);
  copy.set(e.data);
  return new Ctor(copy.buffer, 0, n);
}

function numericView(e: SafetensorsEntry): NumericArray | BigInt64Array | BigUint64Array {
  switch (e.dtype) {
    case 'F32': return typedView(e, Float32Array);
    case 'F64': return typedView(e, Float64Array);
    case 'I8': return typedView(e, Int8Array);
    case 'U8': case 'BOOL': return e.data;
    case 'I16': return typedView(e, Int16Array);
    case 'U16': case 'F16': case 'BF16': return typedView(e, Uint16Array);
    case 'I32': return typedView(e, Int32Array);
    case 'U32': return typedView(e, Uint32Array);
    case 'I64': return typedView(e, BigInt64Array);
    case 'U64': return typedView(e, BigUint64Array);
  }
}

/**
 * The tensor as float32. F32 data come back as a view sharing the file's buffer when aligned
 * (pass `{ copy: true }` for an independent array); other dtypes are converted (F64 rounds, F16/BF16 widen).
 *
 * @example const w = toFloat32(st.tensors.get('lm_head.weight')!); // Float32Array of numel(shape)
 */
export function toFloat32(e: SafetensorsEntry, options: { copy?: boolean } = {}): Float32Array {
  if (e.dtype === 'F32') {
    const v = typedView(e, Float32Array);
    return options.copy === true && v.buffer === e.data.buffer ? v.slice() : v;
  }
  if (e.dtype === 'F16') return f16ToFloat32(typedView(e, Uint16Array));
  if (e.dtype === 'BF16') return bf16ToFloat32(typedView(e, Uint16Array));
  const src = numericView(e);
  const out = new Float32Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(src);
  }
  return out;
}

/**
 * The tensor as float64 (always a new array). Useful for the reference backend.
 *
 * @example const w64 = toFloat64(entry);
 */
export function toFloat64(e: SafetensorsEntry): Float64Array {
  if (e.dtype === 'F64') return typedView(e, Float64Array).slice();
  if (e.dtype === 'F32' || e.dtype === 'F16' || e.dtype === 'BF16') return Float64Array.from(toFloat32(e));
  const src = numericView(e);
  const out = new Float64Array(src.length);
  if (src instanceof BigInt64Array || src instanceof BigUint64Array) {
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  } else {
    out.set(src);
  }
  return out;
}

/**
 * An integer tensor (I64, I32, I16, I8, U8, U16, U32, U64, BOOL) as Int32Array; values outside the
 * int32 range throw a DTypeError naming the tensor, the file, the index and the value.
 *
 * @example const ids = toInt32(inputs.tensors.get('input_ids')!); // I64 ids → Int32Array
 */
export function toInt32(e: SafetensorsEntry): Int32Array {
  if (e.dtype === 'I32') return typedView(e, Int32Array);
  if (e.dtype === 'F32' || e.dtype === 'F64' || e.dtype === 'F16' || e.dtype === 'BF16') {
    throw new DTypeError(`${e.file}: tensor "${e.name}" is ${e.dtype}, not an integer tensor; toInt32 needs an integer dtype`);
  }
  const src = numericView(e);
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i] as number | bigint);
    if (v < -2147483648 || v > 2147483647) {
      throw new DTypeError(`${e.file}: tensor "${e.name}" (${e.dtype}) value ${String(src[i])} at flat index ${i} does not fit in int32`);
    }
    out[i] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Data accepted by {@link writeSafetensors}; see its doc for which array goes with which dtype. */
export type TensorData =
  | Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** One tensor to write. */
export interface TensorToWrite {
  dtype: SafetensorsDtype;
  shape: readonly number[];
  data: TensorData;
}

/** Converts `data` to the little-endian bytes of `dtype`, or throws a DTypeError naming the tensor. */
function encode(name: string, t: TensorToWrite): Uint8Array {
  const { dtype, data } = t;
  const n = numel(t.shape);
  const bytesOf = (a: TensorData) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let out: Uint8Array | undefined;
  if (data instanceof Uint8Array && data.byteLength === n * DTYPES[dtype].size) {
    out = data; // raw bytes for any dtype (or U8/BOOL values)
  } else if (data instanceof Float32Array) {
    if (dtype === 'F32') out = bytesOf(data);
    else if (dtype === 'F16') out = bytesOf(float32ToF16(data));
    else if (dtype === 'BF16') out = bytesOf(float32ToBf16(data));
    else if (dtype === 'F64') out = bytesOf(Float64Array.from(data));
  } else if (data instanceof Float64Array) {
    if (dtype === 'F64') out = bytesOf(data);
    else if (dtype === 'F32') out = bytesOf(Float32Array.from(data));
    else if (dtype === 'F16') out = bytesOf(float32ToF16(data));
    else if (dtype === 'BF16') out = bytesOf(float32ToBf16(data));
  } else if (data instanceof Int32Array) {
    if (dtype === 'I32') out = bytesOf(data);
    else if (dtype === 'I64') out = bytesOf(BigInt64Array.from(data, (v) => BigInt(v)));
  } else if (data instanceof BigInt64Array) {
    if (dtype === 'I64') out = bytesOf(data);
  } else if (data instanceof BigUint64Array) {
    if (dtype === 'U64') out = bytesOf(data);
  } else if (data instanceof Uint16Array) {
    if (dtype === 'F16' || dtype === 'BF16' || dtype === 'U16') out = bytesOf(data); // raw bit patterns
  } else if (data instanceof Int16Array) {
    if (dtype === 'I16') out = bytesOf(data);
  } else if (data instanceof Int8Array) {
    if (dtype === 'I8') out = bytesOf(data);
  } else if (data instanceof Uint32Array) {
    if (dtype === 'U32') out = bytesOf(data);
  }
  if (out === undefined) {
    throw new DTypeError(`tensor "${name}": cannot write a ${data.constructor.name} as ${dtype}`);
  }
  if (out.byteLength !== n * DTYPES[dtype].size) {
    throw new DTypeError(
      `tensor "${name}": ${dtype} shape [${t.shape.join(', ')}] needs ${n} elements but the data has ${out.byteLength / DTYPES[dtype].size}`,
    );
  }
  return out;
}

/**
 * Builds the padded header and the ordered tensor bytes exactly as the reference writer does.
 * Exposed for tests and in-memory use; {@link writeSafetensors} writes it to disk.
 */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): { header: Uint8Array; chunks: Uint8Array[] } {
  const items = Object.entries(tensors).map(([name, t]) => {
    if (name === '__metadata__') throw new DTypeError('a tensor cannot be named "__metadata__"');
    if (!isSafetensorsDtype(t.dtype)) throw new DTypeError(`tensor "${name}": unknown dtype "${String(t.dtype)}"`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new DTypeError(`tensor "${name}": shape [${t.shape.join(', ')}] must hold non-negative integers`);
    }
    return { name, dtype: t.dtype, shape: [...t.shape], bytes: encode(name, t) };
  });
  // Descending dtype alignment, then name: every tensor is then naturally aligned in the file.
  items.sort((a, b) => DTYPES[b.dtype].rank - DTYPES[a.dtype].rank || compareCodePoints(a.name, b.name));
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareCodePoints);
    const m = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== 'string') throw new DTypeError(`metadata "${k}" must be a string`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${m.join(',')}}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.byteLength;
    parts.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`); // UTF-8; TextEncoder (not Buffer) so browsers can serialize too
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new DTypeError(`safetensors header would be ${padded} bytes, over the ${MAX_HEADER_BYTES}-byte limit`);
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.byteLength);
  return { header, chunks: items.map((it) => it.bytes) };
}

/**
 * Writes tensors to a safetensors file atomically (temp file beside it, fsync, rename).
 * Data per dtype: F32 ← Float32Array; F16/BF16 ← Float32Array/Float64Array (rounded to nearest even)
 * or Uint16Array bit patterns; F64 ← Float64Array/Float32Array; I64 ← BigInt64Array or Int32Array;
 * I32 ← Int32Array; I16/U16/I8/U32/U64 ← their typed arrays; U8/BOOL ← Uint8Array; any dtype ← Uint8Array
 * of its exact raw bytes.
 *
 * @example
 * await writeSafetensors('out/model.safetensors', {
 *   'classifier.weight': { dtype: 'F32', shape: [2, 768], data: w },
 * }, { format: 'pt' });
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Promise<void> {
  checkEndianness(path);
  const { header, chunks } = serializeSafetensors(tensors, metadata);
  await writeWithAtomicFile(path, async (fh) => {
    await writeAll(fh, header);
    for (const c of chunks) await writeAll(fh, c);
  });
}

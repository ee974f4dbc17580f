// Weights-only reader of PyTorch `torch.save` files (pytorch_model.bin): the zip format
// (<name>/data.pkl + <name>/data/<key> storages, stored uncompressed) and the legacy format (magic,
// protocol and sys_info pickles, the main pickle, the storage keys, then the raw storages). Accepts
// only what `torch.load(weights_only=True)` accepts and refuses any other global by name; nothing
// is ever executed. Returns safetensors-like entries (zero-copy views when contiguous). Not here:
// the pickle machine (pickle.ts), mapping keys onto models (src/models).

import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { FileFormatError, ModelError } from '../errors.ts';
import { isJsonObject, readJsonFile } from './json.ts';
import { PDict, PGlobal, PObject, PTuple, type PValue, describe, unpickle } from './pickle.ts';
import type { SafetensorsDtype, SafetensorsEntry } from './safetensors.ts';

/** Storage classes → dtype and element size (torch._storage_classes that hold plain numbers). */
const STORAGES: Record<string, [SafetensorsDtype, number]> = {
  FloatStorage: ['F32', 4], HalfStorage: ['F16', 2], BFloat16Storage: ['BF16', 2], DoubleStorage: ['F64', 8],
  LongStorage: ['I64', 8], IntStorage: ['I32', 4], ShortStorage: ['I16', 2], CharStorage: ['I8', 1],
  ByteStorage: ['U8', 1], BoolStorage: ['BOOL', 1],
};
/** Globals torch's weights_only unpickler allows besides the storages (torch 1.13 allow-list, + bf16/bool). */
const ALLOWED = new Set([
  'collections.OrderedDict', 'torch.nn.parameter.Parameter', 'torch.serialization._get_layout', 'torch.Size', 'torch.Tensor',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_sparse_tensor', 'torch._utils._rebuild_meta_tensor_no_storage', 'torch._utils._rebuild_sparse_csr_tensor',
  ...['complex32', 'complex64', 'complex128', 'float16', 'bfloat16', 'float32', 'float64']
    .concat(['int8', 'int16', 'int32', 'int64', 'uint8', 'bool'])
    .map((d) => `torch.${d}`),
  ...['Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => `torch.${t}Tensor`),
  ...Object.keys(STORAGES).map((s) => `torch.${s}`),
]);

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** A storage named by a persistent id; its bytes are attached once the archive is read. */
class Storage extends PObject {
  bytes: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly dtype: SafetensorsDtype,
    readonly elementSize: number,
    readonly numel: number,
  ) {
    super();
  }
}

/** A tensor view: storage + offset + shape + strides (in elements). */
class TensorView extends PObject {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {
    super();
  }
}

function convertHint(file: string): string {
  const dir = dirname(file);
  return (
    `If you trust the file, convert it once with Python: python -c "from transformers import AutoModel; ` +
    `AutoModel.from_pretrained('${dir}').save_pretrained('${dir}', safe_serialization=True)"`
  );
}

function intList(v: PValue, what: string, fail: (m: string) => never): number[] {
  const items = v instanceof PTuple ? v.items : Array.isArray(v) ? v : null;
  if (items === null) fail(`${what} must be a tuple of ints, got ${describe(v)}`);
  return items!.map((x) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) fail(`${what} must hold non-negative ints, got ${describe(x)}`);
    return x as number;
  });
}

/** Parses one torch pickle into its value, resolving storages through `storages` (key → Storage). */
function readPickle(buf: Uint8Array, start: number, file: string, storages: Map<string, Storage>): { value: PValue; end: number } {
  const refuse = (at: number, msg: string): never => {
    throw new ModelError(
      `${file}: ${msg} (pickle byte ${at}): only tensors and state dicts can be loaded from a PyTorch file, ` +
        `nothing is executed. ${convertHint(file)}`,
    );
  };
  const isGlobal = (v: PValue, name: string): boolean => v instanceof PGlobal && v.fullName === name;
  const tensorFrom = (args: PValue, at: number, v2: boolean): TensorView => {
    const fail = (m: string): never => refuse(at, `torch._utils._rebuild_tensor${v2 ? '_v2' : ''}: ${m}`);
    if (!(args instanceof PTuple) || args.items.length < 4) return fail(`expects (storage, offset, size, stride, ...), got ${describe(args)}`);
    const [storage, offset, size, stride] = args.items;
    if (!(storage instanceof Storage)) return fail(`first argument must be a storage, got ${describe(storage ?? null)}`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      return fail(`storage offset must be a non-negative int, got ${describe(offset ?? null)}`);
    }
    const shape = intList(size ?? null, 'size', fail);
    const strides = intList(stride ?? null, 'stride', fail);
    if (shape.length !== strides.length) return fail(`size has ${shape.length} dims but stride has ${strides.length}`);
    let numel = 1;
    let last = offset;
    for (let i = 0; i < shape.length; i++) {
      numel *= shape[i]!;
      last += (shape[i]! - 1) * strides[i]!;
    }
    if (!Number.isSafeInteger(numel)) return fail(`size ${JSON.stringify(shape)} is too large`);
    if (numel > 0 && last >= storage.numel) {
      const view = `offset ${offset}, size ${JSON.stringify(shape)}, stride ${JSON.stringify(strides)}`;
      return fail(`view (${view}) reaches past its storage of ${storage.numel} elements`);
    }
    if (v2 && args.items[5] instanceof PDict && args.items[5].map.size > 0) return fail('backward hooks are not allowed');
    return new TensorView(storage, offset, shape, strides);
  };
  return unpickle(buf, start, file, {
    global(module, name, at) {
      const full = `${module}.${name}`;
      if (!ALLOWED.has(full)) refuse(at, `refused global ${full}`);
      return new PGlobal(module, name);
    },
    reduce(fn, args, at) {
      if (!(fn instanceof PGlobal)) return refuse(at, `REDUCE of ${describe(fn)}, which is not an allowed global`);
      switch (fn.fullName) {
        case 'collections.OrderedDict': {
          const d = new PDict(true);
          if (!(args instanceof PTuple) || args.items.length > 1) return refuse(at, `collections.OrderedDict called with ${describe(args)}`);
          const init = args.items[0];
          if (init !== undefined) {
            const pairs = Array.isArray(init) ? init : init instanceof PTuple ? init.items : refuse(at, `collections.OrderedDict called with ${describe(init)}`);
            for (const pr of pairs) {
              const kv = pr instanceof PTuple ? pr.items : Array.isArray(pr) ? pr : [];
              if (kv.length !== 2 || (kv[0] !== null && typeof kv[0] === 'object')) {
                return refuse(at, 'collections.OrderedDict items must be (key, value) pairs with string keys');
              }
              d.map.set(kv[0]!, kv[1]!);
            }
          }
          return d;
        }
        case 'torch._utils._rebuild_tensor_v2':
          return tensorFrom(args, at, true);
        case 'torch._utils._rebuild_tensor':
          return tensorFrom(args, at, false);
        case 'torch._utils._rebuild_parameter':
        case 'torch._utils._rebuild_parameter_with_state': {
          const data = args instanceof PTuple ? args.items[0] : undefined;
          if (!(data instanceof TensorView)) return refuse(at, `${fn.fullName} expects a tensor, got ${describe(data ?? null)}`);
          return data;
        }
        case 'torch.Size':
          if (args instanceof PTuple && args.items.length === 1 && args.items[0] instanceof PTuple) return args.items[0];
          return refuse(at, `torch.Size called with ${describe(args)}`);
        default:
          return refuse(at, `${fn.fullName} is allowed by torch but not supported here (only dense tensors)`);
      }
    },
    newobj(cls, args, at) {
      if (!isGlobal(cls, 'torch.nn.parameter.Parameter')) return refuse(at, `NEWOBJ of ${describe(cls)}: only torch.nn.Parameter may be instantiated`);
      const data = args instanceof PTuple ? args.items[0] : undefined;
      if (!(data instanceof TensorView)) return refuse(at, `torch.nn.Parameter expects a tensor, got ${describe(data ?? null)}`);
      return data;
    },
    build(inst, state, at) {
      // OrderedDict state is its __dict__ (e.g. state_dict()._metadata): attributes we do not need.
      if (inst instanceof PDict && inst.ordered && (state === null || state instanceof PDict)) return;
      const empty = (x: PValue): boolean => x === null || (x instanceof PDict && x.map.size === 0);
      if (inst instanceof TensorView && (empty(state) || (state instanceof PTuple && state.items.every(empty)))) return;
      refuse(at, `BUILD of ${describe(inst)} with ${describe(state)}: only OrderedDict attributes may be set`);
    },
    persistentLoad(pid, at) {
      if (!(pid instanceof PTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) {
        return refuse(at, `persistent id ${describe(pid)}: only ('storage', ...) ids are allowed`);
      }
      const [, cls, key, , numel, view] = pid.items;
      if (!(cls instanceof PGlobal) || cls.module !== 'torch' || !(cls.name in STORAGES)) {
        const kinds = 'float, half, bfloat16, double, long, int, short, char, byte, bool';
        return refuse(at, `storage type ${describe(cls ?? null)} is not supported (${kinds})`);
      }
      if (typeof key !== 'string' || key === '' || /[\\/]|\.\./.test(key)) return refuse(at, `storage key ${describe(key ?? null)} is not a plain name`);
      if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return refuse(at, `storage ${key} has size ${describe(numel ?? null)}`);
      if (view !== undefined && view !== null) return refuse(at, `storage ${key} is a legacy storage view, which is not supported`);
      const [dtype, size] = STORAGES[cls.name]!;
      const prev = storages.get(key);
      if (prev) {
        if (prev.dtype !== dtype || prev.numel !== numel) return refuse(at, `storage ${key} is named twice with different types or sizes`);
        return prev;
      }
      const s = new Storage(key, dtype, size, numel);
      storages.set(key, s);
      return s;
    },
  });
}

/** Zip central directory: entry name → [data offset, size] of stored (uncompressed) entries. */
function zipEntries(buf: Uint8Array, file: string): Map<string, { start: number; size: number; method: number }> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bad = (m: string): never => {
    throw new FileFormatError(file, `not a valid PyTorch zip archive: ${m}`);
  };
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) bad('no end-of-central-directory record');
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== 0x07064b50) bad('zip64 locator missing');
    const z64 = Number(view.getBigUint64(loc + 8, true));
    if (z64 + 56 > buf.length || view.getUint32(z64, true) !== 0x06064b50) bad('zip64 record missing');
    count = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const out = new Map<string, { start: number; size: number; method: number }>();
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > buf.length || view.getUint32(p, true) !== 0x02014b50) bad(`central directory entry ${k} is damaged`);
    const method = view.getUint16(p + 10, true);
    let size = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen > buf.length) bad('central directory is truncated');
    const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 0xffffffff fields follow in order (uncompressed, compressed, local offset).
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = Number(view.getBigUint64(q, true));
          q += 8;
        }
        if (view.getUint32(p + 24, true) === 0xffffffff) q += 8;
        if (local === 0xffffffff) local = Number(view.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    if (local + 30 > buf.length || view.getUint32(local, true) !== 0x04034b50) bad(`local header of ${name} is missing`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > buf.length) bad(`entry ${name} runs past the end of the file (truncated download?)`);
    out.set(name, { start, size, method });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** Copies a strided view into a contiguous little-endian buffer (or returns a zero-copy view). */
function materialize(t: TensorView): Uint8Array {
  const es = t.storage.elementSize;
  const bytes = t.storage.bytes!;
  const n = t.shape.reduce((a, b) => a * b, 1);
  let contiguous = true;
  for (let i = t.shape.length - 1, expect = 1; i >= 0; i--) {
    if (t.shape[i]! !== 1 && t.stride[i] !== expect) contiguous = false;
    expect *= t.shape[i]!;
  }
  if (contiguous || n === 0) return bytes.subarray(t.offset * es, (t.offset + n) * es);
  // Gather in words of 1, 2 or 4 bytes (8-byte elements as two words) from an aligned copy if needed.
  const word = es === 8 ? 4 : es;
  const per = es / word;
  const src = bytes.byteOffset % word === 0 ? bytes : bytes.slice();
  const words = (b: Uint8Array): Uint8Array | Uint16Array | Uint32Array =>
    word === 1 ? b : word === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const from = words(src);
  const out = new Uint8Array(n * es);
  const to = words(out);
  const nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  const inner = t.shape[nd - 1]!;
  const innerStride = t.stride[nd - 1]! * per;
  let k = 0;
  for (let done = 0; done < n; done += inner) {
    let base = t.offset;
    for (let d = 0; d < nd - 1; d++) base += idx[d]! * t.stride[d]!;
    let q = base * per;
    if (per === 1) {
      for (let j = 0; j < inner; j++, q += innerStride) to[k++] = from[q]!;
    } else {
      for (let j = 0; j < inner; j++, q += innerStride) {
        to[k++] = from[q]!;
        to[k++] = from[q + 1]!;
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d]! < t.shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** The state dict of the main pickle as entries. */
function entriesOf(value: PValue, file: string): Map<string, SafetensorsEntry> {
  if (!(value instanceof PDict)) throw new ModelError(`${file}: expected a state dict (a dict of tensors), found ${describe(value)}. ${convertHint(file)}`);
  const out = new Map<string, SafetensorsEntry>();
  for (const [k, v] of value.map) {
    if (typeof k !== 'string') throw new ModelError(`${file}: state dict key ${describe(k)} is not a string`);
    if (!(v instanceof TensorView)) throw new ModelError(`${file}: state dict entry "${k}" is ${describe(v)}, not a tensor`);
    out.set(k, { name: k, file, dtype: v.storage.dtype, shape: [...v.shape], data: materialize(v) });
  }
  return out;
}

/**
 * Reads a `torch.save` state dict (zip or legacy format) without executing anything.
 * @example const tensors = await readTorchBin('bert/pytorch_model.bin'); tensors.get('bert.pooler.dense.bias')?.shape
 */
export async function readTorchBin(file: string): Promise<Map<string, SafetensorsEntry>> {
  const b = await readFile(file);
  return parseTorchBin(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file);
}

/** {@link readTorchBin} on bytes already in memory. */
export function parseTorchBin(buf: Uint8Array, file: string): Map<string, SafetensorsEntry> {
  if (endianness() !== 'LE') throw new FileFormatError(file, 'reading PyTorch files needs a little-endian host');
  const storages = new Map<string, Storage>();
  if (buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04) {
    const entries = zipEntries(buf, file);
    const pkl = [...entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkl === undefined) throw new FileFormatError(file, 'zip archive without <name>/data.pkl: not a torch.save file');
    const prefix = pkl.slice(0, -'data.pkl'.length);
    const order = entries.get(`${prefix}byteorder`);
    if (order && new TextDecoder().decode(buf.subarray(order.start, order.start + order.size)) !== 'little') {
      throw new FileFormatError(file, 'big-endian PyTorch archives are not supported');
    }
    const pe = entries.get(pkl)!;
    if (pe.method !== 0) throw new FileFormatError(file, `${pkl} is compressed (method ${pe.method}); torch.save stores entries uncompressed`);
    const { value } = readPickle(buf.subarray(pe.start, pe.start + pe.size), 0, file, storages);
    for (const s of storages.values()) {
      const e = entries.get(`${prefix}data/${s.key}`);
      if (!e) throw new FileFormatError(file, `storage ${prefix}data/${s.key} is missing from the archive`);
      if (e.method !== 0) throw new FileFormatError(file, `storage ${s.key} is compressed (method ${e.method})`);
      if (e.size !== s.numel * s.elementSize) throw new FileFormatError(file, `storage ${s.key} has ${e.size} bytes, expected ${s.numel} × ${s.elementSize}`);
      s.bytes = buf.subarray(e.start, e.start + e.size);
    }
    return entriesOf(value, file);
  }
  if (buf.length < 2 || buf[0] !== 0x80) {
    throw new ModelError(`${file}: neither a zip archive nor a pickle, so not a torch.save file (a failed download?); download it again or use model.safetensors`);
  }
  // Legacy: magic number, protocol version, sys_info, main pickle, storage keys, raw storages.
  const none = new Map<string, Storage>();
  const magic = readPickle(buf, 0, file, none);
  if (magic.value !== LEGACY_MAGIC) throw new FileFormatError(file, 'a pickle but not a torch.save file (no legacy magic number)');
  const proto = readPickle(buf, magic.end, file, none);
  if (proto.value !== 1001) throw new FileFormatError(file, `legacy torch format version ${describe(proto.value)} is not supported (expected 1001)`);
  const sys = readPickle(buf, proto.end, file, none);
  if (sys.value instanceof PDict && sys.value.map.get('little_endian') === false) throw new FileFormatError(file, 'big-endian PyTorch files are not supported');
  const main = readPickle(buf, sys.end, file, storages);
  const keys = readPickle(buf, main.end, file, none);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new FileFormatError(file, 'legacy storage key list is malformed');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let p = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new FileFormatError(file, `storage ${key} is listed but never used`);
    if (p + 8 > buf.length) throw new FileFormatError(file, `storage ${key}: truncated before its size`);
    const n = view.getBigInt64(p, true);
    if (n !== BigInt(s.numel)) throw new FileFormatError(file, `storage ${key} holds ${n} elements, the pickle says ${s.numel}`);
    p += 8;
    const len = s.numel * s.elementSize;
    if (p + len > buf.length) throw new FileFormatError(file, `storage ${key}: truncated (needs ${len} bytes, ${buf.length - p} left)`);
    s.bytes = buf.subarray(p, p + len);
    p += len;
  }
  for (const s of storages.values()) if (!s.bytes) throw new FileFormatError(file, `storage ${s.key} is used but not in the file`);
  return entriesOf(main.value, file);
}

/**
 * Reads a sharded `pytorch_model.bin.index.json` (weight_map: tensor → shard) and its shards.
 * @example const { tensors, files } = await readTorchBinIndex('/models/big');
 */
export async function readTorchBinIndex(
  dir: string,
  indexName = 'pytorch_model.bin.index.json',
): Promise<{ tensors: Map<string, SafetensorsEntry>; files: string[] }> {
  const indexPath = join(dir, indexName);
  const { value } = await readJsonFile(indexPath);
  if (!isJsonObject(value) || !isJsonObject(value['weight_map'])) {
    throw new FileFormatError(indexPath, 'expected an object with a "weight_map" object (tensor name → shard file)');
  }
  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(value['weight_map'])) {
    if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || normalize(shard).startsWith('..')) {
      throw new FileFormatError(indexPath, `weight_map["${name}"] must be a shard file name inside the folder, got ${JSON.stringify(shard)}`);
    }
    shardOf.set(name, shard);
  }
  const tensors = new Map<string, SafetensorsEntry>();
  const files: string[] = [];
  for (const shard of new Set(shardOf.values())) {
    const path = join(dir, shard);
    files.push(path);
    for (const [k, e] of await readTorchBin(path)) {
      if (tensors.has(k)) throw new FileFormatError(path, `tensor "${k}" is also in ${basename(tensors.get(k)!.file)}`);
      tensors.set(k, e);
    }
  }
  for (const [name, shard] of shardOf) {
    const e = tensors.get(name);
    if (!e) throw new FileFormatError(indexPath, `tensor "${name}" is listed in weight_map (shard "${shard}") but no shard holds it`);
  }
  return { tensors, files };
}

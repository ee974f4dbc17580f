// A minimal protobuf writer for the ONNX schema (onnx.proto3): ModelProto, GraphProto, NodeProto,
// AttributeProto, TensorProto and ValueInfoProto, with the field numbers of the official schema.
// Messages are built as lists of byte chunks so multi-hundred-megabyte weights are never copied
// until the file is written. Not here: reading ONNX, the graph of any model (onnx-graph.ts, onnx-encoders.ts).

/** TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type OnnxDataTypeId = (typeof OnnxDataType)[keyof typeof OnnxDataType];

/** An initializer or constant: raw little-endian bytes of `dims` elements of `dataType`. */
export interface OnnxTensor {
  name: string;
  dataType: OnnxDataTypeId;
  dims: readonly number[];
  raw: Uint8Array;
}

/** A node attribute (AttributeProto), by kind. */
export type OnnxAttribute =
  | { name: string; kind: 'int'; value: number }
  | { name: string; kind: 'float'; value: number }
  | { name: string; kind: 'string'; value: string }
  | { name: string; kind: 'ints'; value: readonly number[] }
  | { name: string; kind: 'floats'; value: readonly number[] }
  | { name: string; kind: 'tensor'; value: OnnxTensor };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: readonly OnnxAttribute[];
}

/** A graph input or output: element type and shape; a string dim is a named dynamic axis. */
export interface OnnxValueInfo {
  name: string;
  elemType: OnnxDataTypeId;
  shape: ReadonlyArray<number | string>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  /** Version of the default ("ai.onnx") operator set. */
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: OnnxGraph;
  /** metadata_props (string → string). */
  metadata?: Record<string, string>;
}

// ---- wire format ---------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

/**
 * A protobuf message under construction: byte chunks plus their total length (wire format per the
 * protobuf encoding spec: varints, fixed32, length-delimited fields).
 * @example new ProtoWriter().int(1, 150).chunks // [08] [96 01]
 */
export class ProtoWriter {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    if (b.byteLength === 0) return;
    this.chunks.push(b);
    this.length += b.byteLength;
  }

  /** Unsigned or negative (two's complement, 10 bytes) varint, as int64 fields encode. */
  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      out.push(byte);
    } while (x !== 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf field ${field}: ${v} is not an integer`);
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.varint(b.byteLength);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    this.tag(field, WIRE_LEN);
    this.varint(m.length);
    for (const c of m.chunks) this.push(c);
    return this;
  }

  /** Packed repeated int64 (proto3 default for repeated scalars). */
  packedInts(field: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.varint(v);
    return this.message(field, inner);
  }

  /** The message as one byte array. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(4 * values.length);
    const dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setFloat32(4 * i, v, true));
    this.tag(field, WIRE_LEN);
    this.varint(b.byteLength);
    this.push(b);
    return this;
  }
}

// ---- ONNX messages (field numbers from onnx.proto3) ----------------------------------------------

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function tensorProtoWriter(t: OnnxTensor): ProtoWriter {
  // TensorProto: dims=1, data_type=2, name=8, raw_data=9
  const m = new ProtoWriter();
  for (const d of t.dims) m.int(1, d); // unpacked is also valid; keeps zero-dim scalars simple
  m.int(2, t.dataType).string(8, t.name).bytes(9, t.raw);
  return m;
}

function attributeProtoWriter(a: OnnxAttribute): ProtoWriter {
  // AttributeProto: name=1, f=2, i=3, s=4, t=5, floats=7, ints=8, type=20
  const m = new ProtoWriter().string(1, a.name);
  switch (a.kind) {
    case 'float': m.float(2, a.value); break;
    case 'int': m.int(3, a.value); break;
    case 'string': m.string(4, a.value); break;
    case 'tensor': m.message(5, tensorProtoWriter(a.value)); break;
    case 'floats': m.packedFloats(7, a.value); break;
    case 'ints': m.packedInts(8, a.value); break;
  }
  return m.int(20, ATTR_TYPE[a.kind]);
}

function nodeProtoWriter(n: OnnxNode): ProtoWriter {
  // NodeProto: input=1, output=2, name=3, op_type=4, attribute=5
  const m = new ProtoWriter();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.opType);
  for (const a of n.attributes) m.message(5, attributeProtoWriter(a));
  return m;
}

function valueInfoProtoWriter(v: OnnxValueInfo): ProtoWriter {
  // ValueInfoProto: name=1, type=2; TypeProto: tensor_type=1; Tensor: elem_type=1, shape=2;
  // TensorShapeProto: dim=1; Dimension: dim_value=1, dim_param=2
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, v.elemType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

function graphProtoWriter(g: OnnxGraph): ProtoWriter {
  // GraphProto: node=1, name=2, initializer=5, input=11, output=12
  const m = new ProtoWriter();
  for (const n of g.nodes) m.message(1, nodeProtoWriter(n));
  m.string(2, g.name);
  for (const t of g.initializers) m.message(5, tensorProtoWriter(t));
  for (const i of g.inputs) m.message(11, valueInfoProtoWriter(i));
  for (const o of g.outputs) m.message(12, valueInfoProtoWriter(o));
  return m;
}

/**
 * Serializes an ONNX model to protobuf bytes, as chunks (write them in order).
 *
 * @example
 * const { chunks, length } = encodeOnnxModel(model);
 * await writeWithAtomicFile('model.onnx', async (fh) => { for (const c of chunks) await writeAll(fh, c); });
 */
export function encodeOnnxModel(model: OnnxModel): { chunks: Uint8Array[]; length: number } {
  // ModelProto: ir_version=1, producer_name=2, producer_version=3, doc_string=6, graph=7,
  // opset_import=8 (OperatorSetIdProto: domain=1, version=2), metadata_props=14 (key=1, value=2)
  const m = new ProtoWriter().int(1, model.irVersion).string(2, model.producerName).string(3, model.producerVersion);
  if (model.docString) m.string(6, model.docString);
  m.message(7, graphProtoWriter(model.graph));
  m.message(8, new ProtoWriter().string(1, '').int(2, model.opsetVersion));
  for (const [k, v] of Object.entries(model.metadata ?? {})) m.message(14, new ProtoWriter().string(1, k).string(2, v));
  return { chunks: m.chunks, length: m.length };
}

/** The model as one byte array (convenient for small models and tests). */
export function encodeOnnxModelBytes(model: OnnxModel): Uint8Array {
  const { chunks, length } = encodeOnnxModel(model);
  const out = new Uint8Array(length);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

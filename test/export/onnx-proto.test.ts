// The protobuf writer against the encoding spec's own worked examples (varints, strings, negative
// int64, packed repeated fields, nested messages) and an ONNX model small enough to check byte-level
// structure; ONNX Runtime parsing real exports is tested in onnx.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtoWriter, encodeOnnxModelBytes } from '../../src/export/onnx-proto.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('varint field: the spec example "a = 150" encodes as 08 96 01', () => {
  assert.equal(hex(new ProtoWriter().int(1, 150).toBytes()), '089601');
});

test('string field: the spec example field 2 = "testing" encodes as 12 07 74 65 73 74 69 6e 67', () => {
  assert.equal(hex(new ProtoWriter().string(2, 'testing').toBytes()), '120774657374696e67');
});

test('negative int64 is a 10-byte two\'s-complement varint (int64 -1 → ff×9 01)', () => {
  assert.equal(hex(new ProtoWriter().int(1, -1).toBytes()), '08ffffffffffffffffff01');
  assert.equal(hex(new ProtoWriter().int(1, -2).toBytes()), '08feffffffffffffffff01');
});

test('packed repeated: the spec example field 4 = [3, 270, 86942] encodes as 22 06 03 8e 02 9e a7 05', () => {
  assert.equal(hex(new ProtoWriter().packedInts(4, [3, 270, 86942]).toBytes()), '2206038e029ea705');
});

test('nested message: the spec example "c { a: 150 }" encodes as 1a 03 08 96 01', () => {
  assert.equal(hex(new ProtoWriter().message(3, new ProtoWriter().int(1, 150)).toBytes()), '1a03089601');
});

test('float fields are fixed32 little-endian (wire type 5)', () => {
  assert.equal(hex(new ProtoWriter().float(2, 1).toBytes()), '150000803f');
});

test('an ONNX model starts with ir_version and names its producer and opset', () => {
  const bytes = encodeOnnxModelBytes({
    irVersion: 8,
    opsetVersion: 17,
    producerName: 'p',
    producerVersion: 'v',
    graph: { name: 'g', nodes: [], initializers: [], inputs: [], outputs: [] },
  });
  // ir_version=8 (08 08), producer_name "p" (12 01 70), producer_version "v" (1a 01 76),
  // graph { name "g" } (3a 03 12 01 67), opset_import { domain "", version 17 } (42 04 0a 00 10 11)
  assert.equal(hex(bytes), '08081201701a01763a031201674204' + '0a001011');
});

// An independent reader of TensorBoard event files for tests: TFRecord framing with both CRCs checked
// (CRC-32C computed bit by bit, not with the writer's table) and a generic protobuf decoder for the
// tensorflow.Event and Summary fields. Not a general TensorBoard reader (scalars only).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** CRC-32C bit by bit (no table). */
export function crcSlow(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}
const mask = (c: number): number => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;

interface Field {
  field: number;
  wire: number;
  value: bigint | number | Uint8Array;
}

function decode(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = 0;
  const varint = (): bigint => {
    let x = 0n;
    let shift = 0n;
    for (;;) {
      const b = buf[i++];
      x |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return x;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) (out.push({ field, wire, value: view.getFloat64(i, true) }), (i += 8));
    else if (wire === 5) (out.push({ field, wire, value: view.getFloat32(i, true) }), (i += 4));
    else if (wire === 2) {
      const n = Number(varint());
      out.push({ field, wire, value: buf.subarray(i, i + n) });
      i += n;
    } else assert.fail(`wire type ${wire}`);
  }
  return out;
}

/** Reads every record of an event file, checking both CRCs. */
function readRecords(file: string): Uint8Array[] {
  const buf = new Uint8Array(readFileSync(file));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: Uint8Array[] = [];
  let i = 0;
  while (i < buf.length) {
    const len = Number(view.getBigUint64(i, true));
    assert.equal(view.getUint32(i + 8, true), mask(crcSlow(buf.subarray(i, i + 8))), 'length CRC');
    const data = buf.subarray(i + 12, i + 12 + len);
    assert.equal(view.getUint32(i + 12 + len, true), mask(crcSlow(data)), 'data CRC');
    records.push(data);
    i += 16 + len;
  }
  assert.equal(i, buf.length, 'no trailing bytes');
  return records;
}

/** An Event as { wallTime, step, fileVersion, scalars }. */
export function readEvent(data: Uint8Array): { wallTime: number; step: number; fileVersion?: string; scalars: Record<string, number> } {
  const ev = { wallTime: NaN, step: 0, scalars: {} as Record<string, number> } as { wallTime: number; step: number; fileVersion?: string; scalars: Record<string, number> };
  for (const f of decode(data)) {
    if (f.field === 1 && f.wire === 1) ev.wallTime = f.value as number;
    else if (f.field === 2 && f.wire === 0) ev.step = Number(f.value);
    else if (f.field === 3 && f.wire === 2) ev.fileVersion = new TextDecoder().decode(f.value as Uint8Array);
    else if (f.field === 5 && f.wire === 2) {
      for (const v of decode(f.value as Uint8Array)) {
        assert.equal(v.field, 1, 'Summary.value');
        const parts = decode(v.value as Uint8Array);
        const tag = new TextDecoder().decode(parts.find((p) => p.field === 1)!.value as Uint8Array);
        ev.scalars[tag] = parts.find((p) => p.field === 2 && p.wire === 5)!.value as number;
      }
    } else assert.fail(`unexpected Event field ${f.field}`);
  }
  return ev;
}

/** Every event of the one event file in `folder`. */
export function readEventFile(folder: string): ReturnType<typeof readEvent>[] {
  const files = readdirSync(folder).filter((f) => f.startsWith('events.out.tfevents.'));
  assert.equal(files.length, 1, `one event file in ${folder}: ${files.join(', ')}`);
  return readRecords(join(folder, files[0])).map(readEvent);
}


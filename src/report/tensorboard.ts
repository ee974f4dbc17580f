// TensorBoard event files (what `--report-to tensorboard` writes beside report.html): TFRecord framing
// (uint64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes) around
// tensorflow.Event protocol buffers: a first event with file_version "brain.Event:2", then one event per
// logged step whose Summary holds scalar values named as transformers' TensorBoardCallback names them
// (train/loss, train/learning_rate, eval/accuracy, test/f1_macro...). Hand-encoded: three messages, no
// protobuf dependency. Not here: images, histograms, hparams, or reading event files back.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../errors.ts';

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; // Castagnoli, reflected
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of `bytes`; crc32c("123456789") = 0xe3069283. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC32C_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 bits and add a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

/** Protocol-buffer writer for the few field types an Event needs. */
class ProtoWriter {
  private parts: number[] = [];

  private varint(v: bigint | number): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // int64 negatives: two's complement in 10 bytes
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x !== 0n) byte |= 0x80;
      this.parts.push(byte);
    } while (x !== 0n);
  }

  private tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  double(field: number, v: number): this {
    this.tag(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.parts.push(...b);
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...b);
    return this;
  }

  int64(field: number, v: number): this {
    this.tag(field, 0);
    this.varint(v);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.varint(data.length);
    this.parts.push(...data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** An Event (event.proto: wall_time = 1, step = 2, file_version = 3, summary = 5) with scalar values. */
export function scalarEvent(wallTime: number, step: number, scalars: Record<string, number>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of Object.entries(scalars)) {
    // Summary.Value: tag = 1, simple_value = 2
    summary.bytes(1, new ProtoWriter().string(1, tag).float(2, value).finish());
  }
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish()).finish();
}

/** The first event of every file: its version. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, 'brain.Event:2').finish();
}

/**
 * TensorBoard names for a metrics.jsonl record, as transformers' TensorBoardCallback (rewrite_logs):
 * eval_x → eval/x, test_x → test/x, anything else → train/x. Bookkeeping keys are left out.
 */
export function tensorboardScalars(record: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || k === 'step' || k === 'time' || /(^|_)count$/.test(k)) continue;
    if (k.startsWith('eval_')) out[`eval/${k.slice(5)}`] = v;
    else if (k.startsWith('test_')) out[`test/${k.slice(5)}`] = v;
    else out[`train/${k}`] = v;
  }
  return out;
}

/**
 * Appends events to `<dir>/events.out.tfevents.<seconds>.<host>` (the name TensorBoard looks for); each
 * write goes straight to the file, so `tensorboard --logdir <dir>` sees the run while it trains.
 *
 * @example
 * const tb = TensorBoardWriter.open('out');
 * tb.scalars(10, { 'train/loss': 0.52, 'train/learning_rate': 4.5e-5 });
 * tb.close();
 */
export class TensorBoardWriter {
  private constructor(
    readonly path: string,
    private fd: number | null,
    private readonly clock: () => number,
  ) {}

  static open(dir: string, clock: () => number = () => Date.now() / 1000): TensorBoardWriter {
    mkdirSync(dir, { recursive: true });
    const now = clock();
    const path = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}`);
    const w = new TensorBoardWriter(path, openSync(path, 'w'), clock);
    w.write(fileVersionEvent(now));
    return w;
  }

  private write(event: Uint8Array): void {
    if (this.fd === null) throw new FileFormatError(this.path, 'the TensorBoard event file is closed');
    writeSync(this.fd, tfRecord(event));
  }

  /** One event at `step` with these scalars (nothing is written for an empty set). */
  scalars(step: number, values: Record<string, number>, wallTime = this.clock()): void {
    if (Object.keys(values).length === 0) return;
    this.write(scalarEvent(wallTime, step, values));
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

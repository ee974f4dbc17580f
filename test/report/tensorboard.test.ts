// TensorBoard event files checked against the documented formats, by an independent reader written here:
// TFRecord framing (uint64 length, masked CRC-32C of the length, data, masked CRC-32C of the data; the
// CRC computed bit by bit, not with the writer's table) and the tensorflow.Event / Summary protobuf
// fields (wall_time 1 double, step 2 varint, file_version 3, summary 5 → value 1 → tag 1, simple_value 2
// float). CRC-32C is checked on the standard check value and RFC 3720's vectors. (Debian's python3 has
// neither tensorboard nor tensorflow here, so no cross-check with TensorBoard itself.)

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { crc32c, TensorBoardWriter, tensorboardScalars } from '../../src/report/tensorboard.ts';
import { tempDir } from '../helpers/cli.ts';
import { crcSlow, readEventFile } from '../helpers/tfevents.ts';

const dir = tempDir('finetune-tb-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('CRC-32C', () => {
  it('matches the check value and RFC 3720 B.4 vectors', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    const r = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
    assert.equal(crc32c(r), crcSlow(r));
  });
});

describe('TensorBoardWriter', () => {
  it('writes a version event, then scalar events that read back exactly (float32)', () => {
    const out = join(dir, 'run');
    let t = 1_700_000_000.25;
    const tb = TensorBoardWriter.open(out, () => t);
    t += 1;
    tb.scalars(1, { 'train/loss': 0.6931, 'train/learning_rate': 5e-5 });
    tb.scalars(10, tensorboardScalars({ step: 10, epoch: 0.5, loss: 0.42, eval_accuracy: 0.9, eval_count: 20, test_f1_macro: 0.8 }), 1_700_000_100.5);
    tb.scalars(11, {}); // nothing
    tb.close();
    const events = readEventFile(out);
    assert.equal(events.length, 3);
    assert.equal(events[0].fileVersion, 'brain.Event:2');
    assert.equal(events[0].wallTime, 1_700_000_000.25);
    assert.equal(events[1].step, 1);
    assert.equal(events[1].wallTime, 1_700_000_001.25);
    assert.deepEqual(events[1].scalars, { 'train/loss': Math.fround(0.6931), 'train/learning_rate': Math.fround(5e-5) });
    assert.equal(events[2].step, 10);
    assert.equal(events[2].wallTime, 1_700_000_100.5);
    assert.deepEqual(events[2].scalars, { 'train/epoch': 0.5, 'train/loss': Math.fround(0.42), 'eval/accuracy': Math.fround(0.9), 'test/f1_macro': Math.fround(0.8) });
  });
  it('encodes steps beyond one varint byte', () => {
    const out = join(dir, 'big');
    const tb = TensorBoardWriter.open(out);
    tb.scalars(300_000, { x: 1 });
    tb.close();
    assert.equal(readEventFile(out)[1].step, 300_000);
  });
});

// Tests for the safetensors reader/writer against the Hugging Face goldens (written by the Python
// library), hand-assembled files built from the format spec, and corrupt files.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DTypeError, FileFormatError } from '../../src/errors.ts';
import { bf16BitsToNumber, f16BitsToNumber, numberToBf16Bits, numberToF16Bits } from '../../src/io/half.ts';
import {
  parseSafetensors, readSafetensors, serializeSafetensors, toFloat32, toFloat64, toInt32, writeSafetensors,
  type TensorToWrite,
} from '../../src/io/safetensors.ts';

const GOLDENS = fileURLToPath(new URL('../../../shared/goldens/', import.meta.url));
const TINYLLAMA = fileURLToPath(new URL('../../../shared/data/tinyllamas-stories260K/hf/', import.meta.url));
const haveGoldens = existsSync(GOLDENS);
const skipGoldens = haveGoldens ? false : `goldens not found at ${GOLDENS}`;
const GOLDEN_FILES = ['bert-seqcls', 'bert-tokcls', 'gpt2-clm'].flatMap((d) =>
  ['model', 'after_training', 'inputs', 'step0_outputs_and_grads'].map((f) => join(GOLDENS, d, `${f}.safetensors`)),
);

const tmpDirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'st-test-'));
  tmpDirs.push(d);
  return d;
}
after(async () => {
  for (const d of tmpDirs) await rm(d, { recursive: true, force: true });
});

/** Assembles a file by the spec: u64 LE header length, header bytes, data bytes. */
function assemble(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function expectFormatError(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => parseSafetensors(bytes, 'bad.safetensors'), (err: unknown) => {
    assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
    assert.match(err.message, /^bad\.safetensors: /);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('safetensors goldens (written by Python safetensors)', { skip: skipGoldens }, () => {
  test('every golden file reads, with the dtypes and shapes the configs imply', async () => {
    const bertCfg = JSON.parse(await readFile(join(GOLDENS, 'bert-seqcls/config.json'), 'utf8')) as Record<string, number>;
    const model = await readSafetensors(join(GOLDENS, 'bert-seqcls/model.safetensors'));
    assert.deepEqual(model.metadata, { format: 'pt' });
    const emb = model.tensors.get('bert.embeddings.word_embeddings.weight');
    assert.ok(emb);
    assert.equal(emb.dtype, 'F32');
    assert.deepEqual(emb.shape, [bertCfg['vocab_size'], bertCfg['hidden_size']]);
    assert.deepEqual(model.tensors.get('classifier.weight')?.shape, [3, bertCfg['hidden_size']]); // 3 labels
    const grads = await readSafetensors(join(GOLDENS, 'bert-seqcls/step0_outputs_and_grads.safetensors'));
    for (const [name, t] of model.tensors) {
      assert.deepEqual(grads.tensors.get(`grad.${name}`)?.shape, t.shape, `grad of ${name}`);
    }
    const inputs = await readSafetensors(join(GOLDENS, 'bert-seqcls/inputs.safetensors'));
    for (const name of ['input_ids', 'attention_mask', 'token_type_ids']) {
      assert.equal(inputs.tensors.get(name)?.dtype, 'I64');
      assert.deepEqual(inputs.tensors.get(name)?.shape, [6, 24]);
    }
    const ids = toInt32(inputs.tensors.get('input_ids')!);
    assert.ok(ids.every((v) => v >= 0 && v < bertCfg['vocab_size']!));
    assert.ok(toInt32(inputs.tensors.get('attention_mask')!).every((v) => v === 0 || v === 1));
    assert.ok(toInt32(inputs.tensors.get('labels')!).every((v) => v >= 0 && v < 3));
    for (const f of GOLDEN_FILES) {
      const st = await readSafetensors(f);
      assert.ok(st.tensors.size > 0, f);
      for (const t of st.tensors.values()) assert.ok(t.dtype === 'F32' || t.dtype === 'I64', `${f}: ${t.name} ${t.dtype}`);
    }
  });

  test('rewriting each golden reproduces the file byte for byte', async () => {
    const files = [...GOLDEN_FILES];
    if (existsSync(TINYLLAMA)) files.push(join(TINYLLAMA, 'model.safetensors'));
    const dir = await tmp();
    for (const f of files) {
      const st = await readSafetensors(f);
      const out: Record<string, TensorToWrite> = {};
      for (const [name, e] of st.tensors) {
        out[name] = e.dtype === 'F32'
          ? { dtype: 'F32', shape: e.shape, data: toFloat32(e) }
          : { dtype: 'I64', shape: e.shape, data: toInt32(e) };
      }
      const target = join(dir, 'rewrite.safetensors');
      await writeSafetensors(target, out, Object.keys(st.metadata).length > 0 ? st.metadata : undefined);
      assert.ok(Buffer.compare(await readFile(target), await readFile(f)) === 0, `${f} differs after rewrite`);
    }
    assert.deepEqual((await readdir(dir)).sort(), ['rewrite.safetensors'], 'no temp files left behind');
  });

  test('F32 tensors are views into one buffer, not copies', async () => {
    const st = await readSafetensors(join(GOLDENS, 'gpt2-clm/model.safetensors'));
    const buffers = new Set([...st.tensors.values()].map((t) => t.data.buffer));
    assert.equal(buffers.size, 1);
    const e = st.tensors.get('transformer.wte.weight')!;
    const v = toFloat32(e);
    assert.equal(v.buffer, e.data.buffer);
    const c = toFloat32(e, { copy: true });
    assert.notEqual(c.buffer, e.data.buffer);
    assert.deepEqual(c, v);
    assert.deepEqual(Array.from(toFloat64(e).subarray(0, 5)), Array.from(v.subarray(0, 5)));
  });
});

describe('safetensors format details', () => {
  test('parses the example file of the reference docs', () => {
    const data = new Uint8Array(16);
    new Int32Array(data.buffer).set([1, -2, 3, 2147483647]);
    const st = parseSafetensors(assemble('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', data), 'x');
    const t = st.tensors.get('test')!;
    assert.deepEqual(t.shape, [2, 2]);
    assert.deepEqual(Array.from(toInt32(t)), [1, -2, 3, 2147483647]);
    assert.deepEqual(Array.from(toFloat32(t)), [1, -2, 3, 2147483648]);
  });

  test('header is padded with spaces to 8 bytes and tensors sorted by dtype size, then name', () => {
    const { header } = serializeSafetensors({
      b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
      a: { dtype: 'F64', shape: [1], data: new Float64Array([0.5]) },
      c: { dtype: 'F32', shape: [], data: new Float32Array([2]) },
    }, { format: 'pt' });
    const n = Number(new DataView(header.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = Buffer.from(header.subarray(8)).toString('utf8');
    assert.equal(
      text.trimEnd(),
      '{"__metadata__":{"format":"pt"},"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
        '"c":{"dtype":"F32","shape":[],"data_offsets":[8,12]},"b":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}',
    );
    assert.match(text, / *$/);
  });

  test('F16 and BF16 decode known IEEE bit patterns', () => {
    const cases: [number, number][] = [[0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x0400, 2 ** -14], [0x7c00, Infinity], [0x8000, -0]];
    for (const [bits, v] of cases) assert.equal(f16BitsToNumber(bits), v, bits.toString(16));
    assert.ok(Number.isNaN(f16BitsToNumber(0x7e00)));
    assert.equal(bf16BitsToNumber(0x3f80), 1);
    assert.equal(bf16BitsToNumber(0x4049), 3.140625);
    assert.equal(bf16BitsToNumber(0xff80), -Infinity);
  });

  test('F16/BF16 encoding rounds to nearest even like torch', () => {
    assert.equal(numberToF16Bits(1), 0x3c00);
    assert.equal(numberToF16Bits(65504), 0x7bff);
    assert.equal(numberToF16Bits(65520), 0x7c00); // halfway to the next step: rounds to even = overflow
    assert.equal(numberToF16Bits(1 + 2 ** -11), 0x3c00); // tie → even mantissa
    assert.equal(numberToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
    assert.equal(numberToF16Bits(2 ** -24), 0x0001);
    assert.equal(numberToF16Bits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal → 0
    assert.equal(numberToF16Bits(3 * 2 ** -25), 0x0002);
    assert.equal(numberToF16Bits(-0), 0x8000);
    assert.equal(numberToF16Bits(NaN) & 0x7c00, 0x7c00);
    assert.equal(numberToBf16Bits(1), 0x3f80);
    assert.equal(numberToBf16Bits(Math.PI), 0x4049);
    assert.equal(numberToBf16Bits(1 + 2 ** -8), 0x3f80); // tie → even
    assert.equal(numberToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    // every F16 value survives decode → encode
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToNumber(h);
      if (!Number.isNaN(v)) assert.equal(numberToF16Bits(v), h);
    }
  });

  test('writer converts float32 to F16/BF16/F64 and int32 to I64; reader converts back', async () => {
    const dir = await tmp();
    const f = join(dir, 'mixed.safetensors');
    const vals = new Float32Array([0, 1, -2.5, 0.1, 65504]);
    await writeSafetensors(f, {
      h: { dtype: 'F16', shape: [5], data: vals },
      b: { dtype: 'BF16', shape: [5], data: vals },
      d: { dtype: 'F64', shape: [5], data: vals },
      i: { dtype: 'I64', shape: [2], data: new Int32Array([-7, 2147483647]) },
      flag: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
    });
    const st = await readSafetensors(f);
    assert.deepEqual(Array.from(toFloat32(st.tensors.get('h')!)), [0, 1, -2.5, f16BitsToNumber(numberToF16Bits(0.1)), 65504]);
    assert.deepEqual(Array.from(toFloat32(st.tensors.get('b')!)), [0, 1, -2.5, bf16BitsToNumber(numberToBf16Bits(0.1)), 65536]);
    assert.deepEqual(toFloat32(st.tensors.get('d')!), vals);
    assert.deepEqual(Array.from(toInt32(st.tensors.get('i')!)), [-7, 2147483647]);
    assert.deepEqual(Array.from(toInt32(st.tensors.get('flag')!)), [1, 0]);
  });

  test('toInt32 refuses I64 values outside int32 and float tensors', () => {
    const data = new Uint8Array(new BigInt64Array([1n, 2n ** 40n]).buffer);
    const st = parseSafetensors(assemble('{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', data), 'ids.safetensors');
    assert.throws(() => toInt32(st.tensors.get('ids')!), (e: unknown) => e instanceof DTypeError && /ids\.safetensors.*"ids".*1099511627776.*index 1/.test(e.message));
    const f = parseSafetensors(assemble('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), 'f');
    assert.throws(() => toInt32(f.tensors.get('x')!), DTypeError);
  });

  test('writer rejects data that does not match dtype and shape', async () => {
    assert.throws(() => serializeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }), /needs 3 elements/);
    assert.throws(() => serializeSafetensors({ w: { dtype: 'I32', shape: [1], data: new Float32Array(1) } }), /cannot write a Float32Array as I32/);
    assert.throws(() => serializeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), DTypeError);
  });
});

describe('corrupt safetensors files are refused with the file named', () => {
  const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  test('too short, header past the end, header over 100 MB', () => {
    expectFormatError(new Uint8Array(5), /too short/);
    const past = assemble(ok, new Uint8Array(8)).subarray(0, 20);
    expectFormatError(past, /runs past the end of the file/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
    expectFormatError(huge, /exceeds the 100000000-byte limit/);
  });
  test('truncated data, trailing bytes', () => {
    expectFormatError(assemble(ok, new Uint8Array(6)), /run past the end of the data.*truncated/);
    expectFormatError(assemble(ok, new Uint8Array(12)), /trailing bytes/);
  });
  test('bad JSON, duplicate names, non-object header', () => {
    expectFormatError(assemble('{"a":', new Uint8Array(0)), /invalid JSON/);
    expectFormatError(
      assemble('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
      /duplicate key "a"/,
    );
    expectFormatError(assemble('[1,2]'), /not a JSON object/);
    expectFormatError(assemble('{"a":1}'), /header entry must be an object/);
  });
  test('overlapping and gapped offsets', () => {
    expectFormatError(
      assemble('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
      /overlap/,
    );
    expectFormatError(
      assemble('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', new Uint8Array(12)),
      /gap of 4 bytes/,
    );
  });
  test('unknown dtype, dtype × shape ≠ bytes, bad shape, bad metadata', () => {
    expectFormatError(assemble('{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /"F33" is not a safetensors dtype/);
    expectFormatError(assemble('{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)), /not supported/);
    expectFormatError(assemble('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)), /needs 12 bytes/);
    expectFormatError(assemble('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', new Uint8Array(8)), /non-negative integers/);
    expectFormatError(assemble('{"__metadata__":{"k":1}}'), /must be a string/);
  });

  test('random damage to a real file never escapes as anything but FileFormatError', { skip: skipGoldens }, async () => {
    const good = new Uint8Array(await readFile(join(GOLDENS, 'gpt2-clm/inputs.safetensors')));
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const bad = good.slice(0, i % 3 === 0 ? rand(good.length) : good.length);
      if (i % 3 !== 0) for (let k = 0; k < 3; k++) bad[rand(Math.min(bad.length, 230))] = rand(256);
      try {
        parseSafetensors(bad, 'fuzz.safetensors');
      } catch (err) {
        assert.ok(err instanceof FileFormatError, `iteration ${i}: ${String(err)}`);
      }
    }
    // a file cut anywhere is always refused
    for (let cut = 0; cut < good.length; cut += 97) {
      assert.throws(() => parseSafetensors(good.subarray(0, cut), 'cut.safetensors'), FileFormatError);
    }
  });

  test('readSafetensors names the file for a truncated file on disk', async () => {
    const dir = await tmp();
    const f = join(dir, 'trunc.safetensors');
    await writeFile(f, assemble(ok, new Uint8Array(8)).subarray(0, 30));
    await assert.rejects(readSafetensors(f), (e: unknown) => e instanceof FileFormatError && e.message.startsWith(f));
  });
});

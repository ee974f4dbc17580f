// Tests for model-folder weight loading: single file, sharded index (built by splitting a golden
// checkpoint), broken indexes, and refusal of pickle weights.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FileFormatError, ModelError } from '../../src/errors.ts';
import { loadCheckpointTensors, readSafetensorsIndex } from '../../src/io/checkpoint.ts';
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';

const GOLDEN = fileURLToPath(new URL('../../../shared/goldens/bert-seqcls/', import.meta.url));
const skip = existsSync(GOLDEN) ? false : `goldens not found at ${GOLDEN}`;

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ckpt-test-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Splits the golden BERT checkpoint into two shards + index, as save_pretrained(max_shard_size=...) lays them out. */
async function makeSharded(dir: string, tamper?: (weightMap: Record<string, string>) => void): Promise<void> {
  const st = await readSafetensors(join(GOLDEN, 'model.safetensors'));
  const names = [...st.tensors.keys()];
  const shards: Record<string, TensorToWrite>[] = [{}, {}];
  const weightMap: Record<string, string> = {};
  names.forEach((n, i) => {
    const e = st.tensors.get(n)!;
    const k = i < names.length / 2 ? 0 : 1;
    shards[k]![n] = { dtype: 'F32', shape: e.shape, data: toFloat32(e) };
    weightMap[n] = `model-0000${k + 1}-of-00002.safetensors`;
  });
  await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), shards[0]!, { format: 'pt' });
  await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), shards[1]!, { format: 'pt' });
  tamper?.(weightMap);
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
}

describe('loadCheckpointTensors', { skip }, () => {
  test('single model.safetensors folder and file path', async () => {
    const a = await loadCheckpointTensors(GOLDEN);
    assert.deepEqual(a.files, [join(GOLDEN, 'model.safetensors')]);
    assert.equal(a.tensors.size, 41);
    const b = await loadCheckpointTensors(join(GOLDEN, 'model.safetensors'));
    assert.equal(b.tensors.size, 41);
  });

  test('a sharded checkpoint merges to exactly the single-file tensors', async () => {
    const dir = await tmp();
    await makeSharded(dir);
    const single = await readSafetensors(join(GOLDEN, 'model.safetensors'));
    const sharded = await loadCheckpointTensors(dir);
    assert.equal(sharded.files.length, 2);
    assert.deepEqual([...sharded.tensors.keys()].sort(), [...single.tensors.keys()].sort());
    for (const [n, e] of single.tensors) {
      const s = sharded.tensors.get(n)!;
      assert.deepEqual(s.shape, e.shape);
      assert.ok(Buffer.compare(s.data, e.data) === 0, n);
    }
  });

  test('broken indexes are refused', async () => {
    const missing = await tmp();
    await makeSharded(missing, (m) => {
      m['ghost.weight'] = 'model-00003-of-00003.safetensors';
    });
    await assert.rejects(readSafetensorsIndex(missing), (e: unknown) => e instanceof FileFormatError && /model-00003-of-00003.*missing/.test(e.message));
    const wrong = await tmp();
    await makeSharded(wrong, (m) => {
      m['classifier.bias'] = m['classifier.bias'] === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    });
    await assert.rejects(loadCheckpointTensors(wrong), /classifier\.bias.*listed in shard/);
    const unlisted = await tmp();
    await makeSharded(unlisted, (m) => {
      m['not.there'] = 'model-00001-of-00002.safetensors';
    });
    await assert.rejects(loadCheckpointTensors(unlisted), /"not\.there" is listed in weight_map.*no shard holds it/);
    const escape = await tmp();
    await makeSharded(escape, (m) => {
      m['classifier.bias'] = '../outside.safetensors';
    });
    await assert.rejects(loadCheckpointTensors(escape), /inside the folder/);
    const dup = await tmp();
    await makeSharded(dup);
    const st = await readSafetensors(join(dup, 'model-00001-of-00002.safetensors'));
    const first = [...st.tensors.values()][0]!;
    await writeSafetensors(join(dup, 'model-00002-of-00002.safetensors'), {
      [first.name]: { dtype: 'F32', shape: first.shape, data: toFloat32(first) },
    });
    await assert.rejects(loadCheckpointTensors(dup), /also in model-00001-of-00002/);
  });
});

describe('pickle weights other than pytorch_model.bin are refused, never read', () => {
  test('pytorch_model.bin goes to the weights-only reader (torch-bin.test.ts), which names a non-torch file', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'pytorch_model.bin'), 'not really a pickle');
    await assert.rejects(loadCheckpointTensors(dir), (e: unknown) => e instanceof ModelError && /pytorch_model\.bin: neither a zip archive nor a pickle/.test(e.message));
  });
  for (const name of ['model.pt', 'last.ckpt', 'weights.pth']) {
    test(name, async () => {
      const dir = await tmp();
      await writeFile(join(dir, 'config.json'), '{"model_type": "bert"}');
      await writeFile(join(dir, name), 'not really a pickle');
      await assert.rejects(loadCheckpointTensors(dir), (e: unknown) => {
        assert.ok(e instanceof ModelError);
        assert.match(e.message, new RegExp(name.replace('.', '\\.')));
        assert.match(e.message, /never unpickles/);
        assert.match(e.message, /from transformers import AutoModel; AutoModel\.from_pretrained\(.*\)\.save_pretrained\(.*safe_serialization=True\)/);
        return true;
      });
      await assert.rejects(loadCheckpointTensors(join(dir, name)), ModelError);
    });
  }

  test('a folder with no weights, or a missing folder', async () => {
    const dir = await tmp();
    await assert.rejects(loadCheckpointTensors(dir), /no model\.safetensors or model\.safetensors\.index\.json/);
    await mkdir(join(dir, 'x'));
    if (existsSync(GOLDEN)) await copyFile(join(GOLDEN, 'model.safetensors'), join(dir, 'x', 'weights.safetensors'));
    if (existsSync(GOLDEN)) await assert.rejects(loadCheckpointTensors(join(dir, 'x')), /weights\.safetensors: pass that file's path/);
    await assert.rejects(loadCheckpointTensors(join(dir, 'nope')), /no such file or folder/);
  });
});

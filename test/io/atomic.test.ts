// Tests for atomic writes: content lands whole, a failed write leaves the old file and no temp file.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { writeAll, writeFileAtomic, writeJsonAtomic, writeWithAtomicFile } from '../../src/io/atomic.ts';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'atomic-test-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

test('writes strings, bytes and JSON, creating folders', async () => {
  const dir = await tmp();
  await writeFileAtomic(join(dir, 'a', 'b', 'x.txt'), 'héllo\n');
  assert.equal(await readFile(join(dir, 'a', 'b', 'x.txt'), 'utf8'), 'héllo\n');
  await writeFileAtomic(join(dir, 'x.bin'), new Uint8Array([0, 255, 7]));
  assert.deepEqual([...(await readFile(join(dir, 'x.bin')))], [0, 255, 7]);
  await writeJsonAtomic(join(dir, 'm.json'), { accuracy: 0.5, labels: ['a'] });
  assert.equal(await readFile(join(dir, 'm.json'), 'utf8'), '{\n  "accuracy": 0.5,\n  "labels": [\n    "a"\n  ]\n}\n');
  assert.deepEqual((await readdir(dir)).sort(), ['a', 'm.json', 'x.bin']);
});

test('a failing writer leaves the previous file intact and no temp file', async () => {
  const dir = await tmp();
  const target = join(dir, 'model.safetensors');
  await writeFile(target, 'old content');
  await assert.rejects(
    writeWithAtomicFile(target, async (fh) => {
      await writeAll(fh, new Uint8Array(1000));
      throw new Error('disk on fire');
    }),
    /disk on fire/,
  );
  assert.equal(await readFile(target, 'utf8'), 'old content');
  assert.deepEqual(await readdir(dir), ['model.safetensors']);
  await writeFileAtomic(target, 'new content');
  assert.equal(await readFile(target, 'utf8'), 'new content');
  assert.deepEqual(await readdir(dir), ['model.safetensors']);
});

test('refuses values JSON cannot represent', async () => {
  const dir = await tmp();
  await assert.rejects(writeJsonAtomic(join(dir, 'u.json'), undefined), /not JSON-serialisable/);
});

describe('replaceModelFolder', () => {
  it('swaps in a whole new model, carries the run files over, drops old model files, leaves no side folders', async () => {
    const { mkdtempSync, mkdirSync: mk, readFileSync: rd, readdirSync: ls, writeFileSync: wr, existsSync: ex } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join: j } = await import('node:path');
    const { replaceModelFolder } = await import('../../src/io/atomic.ts');
    const root = mkdtempSync(j(tmpdir(), 'swap-'));
    const dir = j(root, 'model');
    mk(j(dir, 'checkpoint-3'), { recursive: true });
    wr(j(dir, 'config.json'), 'old config');
    wr(j(dir, 'model.safetensors'), 'old weights');
    wr(j(dir, 'vocab.txt'), 'old vocab');
    wr(j(dir, 'metrics.jsonl'), '{"step":1}\n');
    await replaceModelFolder(dir, async (tmp) => {
      wr(j(tmp, 'config.json'), 'new config');
      wr(j(tmp, 'model.safetensors'), 'new weights');
      assert.equal(rd(j(dir, 'config.json'), 'utf8'), 'old config', 'the old model stays whole while the new one is written');
    });
    assert.equal(rd(j(dir, 'config.json'), 'utf8'), 'new config');
    assert.equal(rd(j(dir, 'model.safetensors'), 'utf8'), 'new weights');
    assert.ok(!ex(j(dir, 'vocab.txt')), 'an old model file the new model lacks is not mixed in');
    assert.ok(ex(j(dir, 'checkpoint-3')) && ex(j(dir, 'metrics.jsonl')));
    assert.deepEqual(ls(root), ['model']);
    await assert.rejects(replaceModelFolder(dir, async () => { throw new Error('disk full'); }), /disk full/);
    assert.equal(rd(j(dir, 'config.json'), 'utf8'), 'new config');
    assert.deepEqual(ls(root), ['model'], 'a failed save leaves no temp folder');
  });
});

describe('recoverModelFolderSwap', () => {
  it('finishes a swap killed between its two renames (only for a process that is gone)', async () => {
    const { mkdtempSync, mkdirSync: mk, readFileSync: rd, readdirSync: ls, writeFileSync: wr } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join: j } = await import('node:path');
    const { recoverModelFolderSwap } = await import('../../src/io/atomic.ts');
    let dead = 4_000_000;
    for (;; dead--) {
      try {
        process.kill(dead, 0);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') break;
      }
    }
    const root = mkdtempSync(j(tmpdir(), 'recover-'));
    mk(j(root, `model.new-${dead}`));
    wr(j(root, `model.new-${dead}`, 'config.json'), 'new');
    mk(j(root, `model.old-${dead}`));
    mk(j(root, `model.new-${process.pid}`)); // a live process's swap in progress: not touched
    assert.equal(recoverModelFolderSwap(j(root, 'model')), true);
    assert.equal(rd(j(root, 'model', 'config.json'), 'utf8'), 'new');
    assert.deepEqual(ls(root).sort(), ['model', `model.new-${process.pid}`]);
    assert.equal(recoverModelFolderSwap(j(root, 'model')), false, 'nothing to do once the folder exists');
  });
});

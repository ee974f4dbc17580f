// Atomic file writes: write a temp file in the same folder, fsync it, rename it over the target,
// then fsync the folder. A reader sees the old file or the new one, never half of one, even if the
// process dies mid-write. Not here: locking between concurrent writers (last rename wins).

import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes all of `data` at the handle's current position, looping over short writes. */
export async function writeAll(fh: FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  // Node caps one write at 2 GiB; write in 1 GiB pieces.
  const CHUNK = 1 << 30;
  while (off < data.byteLength) {
    const len = Math.min(CHUNK, data.byteLength - off);
    const { bytesWritten } = await fh.write(data, off, len, null);
    off += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms and filesystems cannot fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/**
 * Creates `path` atomically by letting `fill` write into a temp file beside it.
 * The folder is created if missing. On any error the temp file is removed and the target is untouched.
 *
 * @example
 * await writeWithAtomicFile('out/model.bin', async (fh) => { await writeAll(fh, header); await writeAll(fh, body); });
 */
export async function writeWithAtomicFile(path: string, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  let ok = false;
  try {
    await fill(fh);
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  await fsyncDir(dir);
}

/**
 * Writes a string (as UTF-8) or bytes to `path` atomically.
 *
 * @example await writeFileAtomic('out/vocab.txt', '[PAD]\n[UNK]\n');
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  await writeWithAtomicFile(path, (fh) => writeAll(fh, bytes));
}

/**
 * Writes `value` as JSON (2-space indent, trailing newline) to `path` atomically.
 *
 * @example await writeJsonAtomic('out/metrics.json', { accuracy: 0.91 });
 */
export async function writeJsonAtomic(path: string, value: unknown, space = 2): Promise<void> {
  const text = JSON.stringify(value, null, space);
  if (text === undefined) throw new TypeError(`writeJsonAtomic(${path}): value is not JSON-serialisable`);
  await writeFileAtomic(path, text + '\n');
}

/**
 * Synchronous twin of writeFileAtomic for small files (logs rewritten on resume): temp file beside the
 * target, fsync, rename; the temp file is removed on any error.
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  let ok = false;
  try {
    let off = 0;
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(tmp);
      } catch {
        // never created
      }
    }
  }
}

/** Files that make up a model folder (replaced as a whole by replaceModelFolder; everything else is carried over). */
const MODEL_FILE = /^(config\.json|generation_config\.json|.*\.safetensors|model\.safetensors\.index\.json|tokenizer.*|vocab.*|merges\.txt|special_tokens_map\.json|added_tokens\.json|.*\.model|chat_template\.jinja|adapter_config\.json)$/;

/**
 * Saves a model folder so that a kill at any moment leaves either the old model or the new one whole at
 * `dir`, never new weights beside an old config: `fill` writes the new model into a folder beside `dir`;
 * the other entries of `dir` (checkpoints, metrics, reports, the run lock) are moved into it; then `dir` is
 * renamed aside, the new folder renamed in, and the old one removed. Between the two renames `dir` is absent
 * for an instant and both complete folders exist (`<dir>.old-<pid>`, `<dir>.new-<pid>`).
 *
 * @example await replaceModelFolder('runs/sms', (tmp) => savePretrained(model, tmp));
 */
export async function replaceModelFolder(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const { readdir, rm, mkdir: mk, rename: mv } = await import('node:fs/promises');
  const clean = dir.replace(/[\\/]+$/, '');
  const tmp = `${clean}.new-${process.pid}`;
  const old = `${clean}.old-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mk(tmp);
  try {
    await fill(tmp);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  let existing: string[] = [];
  try {
    existing = await readdir(clean);
  } catch {
    existing = [];
  }
  if (existing.length === 0) {
    await rm(clean, { recursive: true, force: true });
    await mv(tmp, clean);
    await fsyncDir(dirname(clean));
    return;
  }
  const written = new Set(await readdir(tmp));
  for (const name of existing) {
    if (written.has(name) || MODEL_FILE.test(name)) continue; // the old model's files go away with it
    await mv(join(clean, name), join(tmp, name));
  }
  await mv(clean, old);
  await mv(tmp, clean);
  await fsyncDir(dirname(clean));
  await rm(old, { recursive: true, force: true });
}

/**
 * Finishes a replaceModelFolder() that was killed between its two renames (`dir` absent, `<dir>.new-<pid>`
 * complete beside it): renames the new folder in and removes the old one. Returns whether it did anything.
 * Only folders of processes that are gone are touched.
 */
export function recoverModelFolderSwap(dir: string): boolean {
  const clean = dir.replace(/[\\/]+$/, '');
  const parent = dirname(clean);
  const base = basename(clean);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return false;
  }
  const dead = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  const side = (kind: 'new' | 'old') =>
    names.map((n) => new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.${kind}-(\\d+)$`).exec(n)).filter((m): m is RegExpExecArray => m !== null && dead(Number(m[1])));
  const fresh = side('new');
  if (existsSync(clean) || fresh.length === 0) return false;
  renameSync(join(parent, fresh[0]![0]), clean);
  for (const m of side('old')) rmSync(join(parent, m[0]), { recursive: true, force: true });
  return true;
}

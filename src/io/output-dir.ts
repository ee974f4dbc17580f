// Preparing a training run's output folder before anything is written into it: the path must be (or be
// creatable as) a writable folder, one run at a time holds it (a lock file naming the process, with
// stale-lock detection when that process is gone), and a folder holding another run's files is refused
// unless the user asks to overwrite it (or resumes it). Folders are created one level at a time, never
// with a recursive mkdir (which spins on ENOENT under /proc). Not here: what the run writes (train/).

import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { recoverModelFolderSwap, writeFileAtomicSync } from './atomic.ts';

export const LOCK_NAME = '.finetune.lock';

/** What a lock file records about the process holding the folder. */
export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  command: string;
}

/** Files and folders that mark a folder as holding a (finished or partial) run. */
const RUN_MARKERS = /^(checkpoint-\d+(\.tmp-\d+)?|metrics\.jsonl|trainer_state\.json|model\.safetensors|adapter_model\.safetensors|report\.html|config\.json)$/;

/** Folders this process has prepared and locked (re-entrant: the CLI prepares early, the pipeline again). */
const held = new Map<string, { count: number; created: boolean }>();

function flag(detail: string, key = 'output_dir'): ConfigError {
  return new ConfigError(key, detail);
}

/** Why an fs error happened, in words a user acts on (`option` is the flag that named the path). */
export function describeFsError(err: unknown, path: string, option = '--output-dir'): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `${path} is not writable (permission denied); choose another ${option} or fix its permissions`;
    case 'EROFS':
      return `${path} is on a read-only file system; choose another ${option}`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `no space left on the device holding ${path}; free some space or choose another ${option}`;
    case 'ENOTDIR':
      return `a part of ${path} is a file, not a folder; choose another ${option}`;
    case 'ENOENT':
      return `${path} cannot be created there (its parent refuses new folders, e.g. /proc or /sys); choose another ${option}`;
    default:
      return `cannot write to ${path} (${code ?? String(err)}); choose another ${option}`;
  }
}

/**
 * Creates `dir` and any missing parents one level at a time; typed errors (naming `option`, the flag that
 * gave the path, and config key `key`) instead of the recursive mkdir's endless ENOENT retries.
 */
export function makeDirs(dir: string, option = '--output-dir', key = 'output_dir'): void {
  const flag = (detail: string): ConfigError => new ConfigError(key, detail);
  const describe = (err: unknown, p: string): string => describeFsError(err, p, option);
  const abs = resolve(dir);
  const missing: string[] = [];
  let p = abs;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw flag(describe(err, p));
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
      continue;
    }
    if (!st.isDirectory()) throw flag(p === abs ? `${dir} is a file, not a folder; choose another ${option}` : `${p} (part of ${dir}) is a file, not a folder; choose another ${option}`);
    break;
  }
  for (const m of missing.reverse()) {
    try {
      mkdirSync(m);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw flag(describe(err, m));
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string') return null;
    return { pid: v.pid, host: v.host, started: String(v.started ?? '?'), command: String(v.command ?? '') };
  } catch {
    return null;
  }
}

/** The lock holder of `dir` when another live process holds it (null: free, stale or ours). */
export function otherLockHolder(dir: string): LockInfo | null {
  const info = readLock(join(dir, LOCK_NAME));
  if (!info) return null;
  if (info.host === hostname() && (info.pid === process.pid || !processAlive(info.pid))) return null;
  return info;
}

function lockedMessage(dir: string, l: LockInfo): string {
  return (
    `${dir} is in use by another finetune run (pid ${l.pid} on ${l.host}, started ${l.started}${l.command ? `: ${l.command}` : ''}). ` +
    `Wait for it to finish or stop it, or choose another --output-dir` +
    (l.host !== hostname() ? ` (if that run is gone, delete ${join(dir, LOCK_NAME)})` : '')
  );
}

function takeLock(dir: string): void {
  const path = join(dir, LOCK_NAME);
  const body = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), command: process.argv.slice(2).join(' ') } satisfies LockInfo) + '\n';
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw flag(describeFsError(err, dir));
      const other = otherLockHolder(dir);
      if (other) throw flag(lockedMessage(dir, other));
      // Stale (its process is gone) or unreadable: replace it.
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first; try again
      }
      continue;
    }
    try {
      writeSync(fd, body);
    } catch (err) {
      closeSync(fd);
      try {
        unlinkSync(path);
      } catch {
        // nothing to clean
      }
      throw flag(describeFsError(err, dir));
    }
    closeSync(fd);
    return;
  }
  throw flag(`could not take the lock ${path}; another run may be starting in ${dir}. Try again, or choose another --output-dir`);
}

function releaseLock(dir: string): void {
  const path = join(dir, LOCK_NAME);
  const info = readLock(path);
  if (info && info.pid === process.pid && info.host === hostname()) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

const atExit = (): void => {
  for (const dir of held.keys()) releaseLock(dir);
};
let exitHooked = false;

/** The entries of `dir` that belong to a run (checkpoints, metrics, model files). */
export function runArtifacts(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => RUN_MARKERS.test(n)).sort();
}

/** Settings that decide how an existing output folder is treated. */
export interface OutputDirOptions {
  /** Replace another run's files (checkpoints, metrics.jsonl) instead of refusing. */
  overwrite: boolean;
  /** The run continues from a checkpoint (resume keeps the folder as it is). */
  resume: boolean;
}

/**
 * Checks without writing anything that `dir` can become this run's output folder: not a file, its
 * nearest existing parent is a folder, no live run holds it, and it holds no other run's files unless
 * `overwrite` or `resume`. Throws a ConfigError naming --output-dir otherwise.
 */
export function checkOutputDir(dir: string, opts: OutputDirOptions): void {
  const abs = resolve(dir);
  if (held.has(abs)) return;
  let p = abs;
  for (;;) {
    try {
      const st = statSync(p);
      if (!st.isDirectory()) throw flag(p === abs ? `${dir} is a file, not a folder; choose another --output-dir` : `${p} (part of ${dir}) is a file, not a folder; choose another --output-dir`);
      break;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw flag(describeFsError(err, p));
      if (dirname(p) === p) break;
      p = dirname(p);
    }
  }
  if (p !== abs) return; // it does not exist yet: nothing to collide with
  const other = otherLockHolder(abs);
  if (other) throw flag(lockedMessage(dir, other));
  if (opts.resume || opts.overwrite) return;
  const found = runArtifacts(abs);
  if (found.length > 0) {
    throw flag(
      `${dir} already holds another run (${found.slice(0, 4).join(', ')}${found.length > 4 ? ', ...' : ''}). ` +
        `Pass --overwrite-output-dir to replace it, --resume-from-checkpoint latest to continue it, or choose another --output-dir`,
    );
  }
}

/**
 * Makes `dir` this run's output folder: checks it (checkOutputDir), creates it, takes the lock (released
 * by the returned function and at process exit) and, with `overwrite`, removes the earlier run's
 * checkpoints and metrics.jsonl so they cannot mix with this run's. Re-entrant within one process.
 *
 * @example
 * const release = prepareOutputDir('runs/sms', { overwrite: false, resume: false });
 * try { ... } finally { release(); }
 */
export function prepareOutputDir(dir: string, opts: OutputDirOptions): () => void {
  const abs = resolve(dir);
  const mine = held.get(abs);
  if (mine) {
    mine.count++;
    return once(() => release(abs));
  }
  if (recoverModelFolderSwap(abs)) process.stderr.write(`note: ${dir}: finished a model save that was interrupted between its two renames\n`);
  checkOutputDir(dir, opts);
  const created = !existsSync(abs);
  makeDirs(abs);
  takeLock(abs);
  held.set(abs, { count: 1, created });
  if (!exitHooked) {
    process.on('exit', atExit);
    exitHooked = true;
  }
  if (opts.overwrite && !opts.resume) {
    for (const n of runArtifacts(abs)) {
      if (/^checkpoint-\d+/.test(n) || n === 'metrics.jsonl' || n === 'trainer_state.json') rmSync(join(abs, n), { recursive: true, force: true });
    }
  }
  return once(() => release(abs));
}

function release(abs: string): void {
  const h = held.get(abs);
  if (!h) return;
  if (--h.count > 0) return;
  held.delete(abs);
  if (!existsSync(abs)) return;
  releaseLock(abs);
  if (h.created) {
    try {
      if (readdirSync(abs).length === 0) rmdirSync(abs); // a run that failed before writing leaves no empty folder
    } catch {
      // not empty or already gone
    }
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      f();
    }
  };
}

/**
 * Checks before any work that `file` (given by flag `option`) can be written: creates its missing parent
 * folders and refuses a folder, a read-only place or a parent that is a file, naming the flag.
 */
export function prepareOutputFile(file: string, option: string, key: string): void {
  makeDirs(dirname(resolve(file)), option, key);
  try {
    if (statSync(file).isDirectory()) throw new ConfigError(key, `${file} is a folder; give ${option} a file path such as ${join(file, 'results.json')}`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
  }
}

/** Writes `text` to `file` atomically (temp file + rename), with fs failures as errors naming `option`. */
export function writeOutputFile(file: string, text: string, option: string, key: string): void {
  prepareOutputFile(file, option, key);
  try {
    writeFileAtomicSync(file, text);
  } catch (err) {
    throw new ConfigError(key, describeFsError(err, file, option));
  }
}

// Output-folder preparation: a file, a read-only or unmakeable path, a live or stale lock, another run's
// files, and the re-entrant lock of one process; evaluate --output's file target.

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { LOCK_NAME, checkOutputDir, prepareOutputDir, prepareOutputFile, writeOutputFile } from '../../src/io/output-dir.ts';
import { tempDir } from '../helpers/cli.ts';

const fresh = { overwrite: false, resume: false };

function deadPid(): number {
  // A pid that is not running: probe upwards from a high number.
  for (let pid = 4_000_000; ; pid--) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}

describe('output folder', () => {
  it('refuses a file, a path under a file and a folder that cannot be created, without hanging', () => {
    const d = tempDir();
    writeFileSync(join(d, 'f'), 'x');
    assert.throws(() => prepareOutputDir(join(d, 'f'), fresh), (e: Error) => e instanceof ConfigError && /is a file, not a folder/.test(e.message) && /--output-dir/.test(e.message));
    assert.throws(() => prepareOutputDir(join(d, 'f', 'sub'), fresh), /is a file, not a folder/);
    const t0 = Date.now();
    assert.throws(() => prepareOutputDir('/proc/finetune-x/y', fresh), (e: Error) => e instanceof ConfigError && /cannot be created/.test(e.message));
    assert.ok(Date.now() - t0 < 2000);
  });

  it('refuses a read-only parent (unless running as root)', (t) => {
    if (process.getuid?.() === 0) return t.skip('root ignores permissions');
    const d = tempDir();
    mkdirSync(join(d, 'ro'));
    chmodSync(join(d, 'ro'), 0o555);
    assert.throws(() => prepareOutputDir(join(d, 'ro', 'out'), fresh), /not writable/);
  });

  it('creates missing parents, locks, is re-entrant, and removes the lock (and an unused new folder) on release', () => {
    const d = tempDir();
    const out = join(d, 'a', 'b');
    const r1 = prepareOutputDir(out, fresh);
    const lock = JSON.parse(readFileSync(join(out, LOCK_NAME), 'utf8')) as { pid: number; host: string; started: string };
    assert.equal(lock.pid, process.pid);
    assert.equal(lock.host, hostname());
    const r2 = prepareOutputDir(out, fresh);
    r2();
    assert.ok(existsSync(join(out, LOCK_NAME)), 'the inner release keeps the outer lock');
    r1();
    assert.ok(!existsSync(out), 'an empty folder this run created is removed');
  });

  it('names the process holding a live lock; replaces a stale one', () => {
    const d = tempDir();
    writeFileSync(join(d, LOCK_NAME), JSON.stringify({ pid: process.ppid, host: hostname(), started: '2026-01-01T00:00:00Z', command: 'train --x' }));
    assert.throws(() => checkOutputDir(d, fresh), (e: Error) => new RegExp(`pid ${process.ppid} on ${hostname()}, started 2026-01-01`).test(e.message));
    writeFileSync(join(d, LOCK_NAME), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'x', command: '' }));
    const release = prepareOutputDir(d, fresh);
    assert.equal((JSON.parse(readFileSync(join(d, LOCK_NAME), 'utf8')) as { pid: number }).pid, process.pid);
    release();
  });

  it('refuses another run unless --overwrite-output-dir (which clears its checkpoints and metrics) or resume', () => {
    const d = tempDir();
    mkdirSync(join(d, 'checkpoint-5'));
    writeFileSync(join(d, 'metrics.jsonl'), '{"step":1}\n');
    writeFileSync(join(d, 'notes.txt'), 'mine');
    assert.throws(() => prepareOutputDir(d, fresh), (e: Error) => /already holds another run \(checkpoint-5, metrics\.jsonl\)/.test(e.message) && /--overwrite-output-dir/.test(e.message));
    prepareOutputDir(d, { overwrite: false, resume: true })();
    assert.ok(existsSync(join(d, 'checkpoint-5')));
    prepareOutputDir(d, { overwrite: true, resume: false })();
    assert.ok(!existsSync(join(d, 'checkpoint-5')) && !existsSync(join(d, 'metrics.jsonl')));
    assert.ok(existsSync(join(d, 'notes.txt')), 'files that are not run artifacts stay');
  });

  it('evaluate --output: creates missing folders, refuses a folder target', () => {
    const d = tempDir();
    const file = join(d, 'new', 'deeper', 'metrics.json');
    writeOutputFile(file, '{"a":1}', '--output', 'output');
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}');
    assert.throws(() => prepareOutputFile(d, '--output', 'output'), /is a folder; give --output a file path/);
  });
});

// Runs the real `finetune` command in a child process (as a user would) and builds small synthetic
// datasets for end-to-end tests.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/finetune.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `finetune ...args` to completion. */
export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `finetune ...args` without waiting (for kill tests). */
export function startCli(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export function tempDir(prefix = 'finetune-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const POS = ['great', 'wonderful', 'excellent', 'loved', 'fantastic', 'superb', 'happy', 'delightful'];
const NEG = ['awful', 'terrible', 'hated', 'boring', 'horrible', 'poor', 'sad', 'dreadful'];
const FILL = ['the', 'movie', 'was', 'really', 'and', 'plot', 'acting', 'quite', 'story', 'very'];

/** A deterministic two-class sentiment CSV (text,label) with n rows; returns its path. */
export function writeSentimentCsv(dir: string, n: number, name = 'train.csv'): string {
  const rows = ['text,label'];
  for (let i = 0; i < n; i++) {
    const pos = i % 2 === 0;
    const words = [FILL[i % FILL.length], FILL[(i * 3) % FILL.length], (pos ? POS : NEG)[i % 8], FILL[(i * 7) % FILL.length], (pos ? POS : NEG)[(i * 5) % 8]];
    rows.push(`"${words.join(' ')}",${pos ? 'positive' : 'negative'}`);
  }
  const file = join(dir, name);
  writeFileSync(file, rows.join('\n') + '\n');
  return file;
}

// The corrupt-checkpoint corpus (checkpoint-mutations.ts) run as `serve`/`predict` load a folder: every
// mutation is refused with a typed error or loads with exactly the original's outputs. 0 untyped errors
// (what the CLI prints as a stack trace, exit 70), 0 hangs (a case over 10 s is killed and counted), 0 garbage.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { mutations } from './checkpoint-mutations.ts';

const RUNNER = new URL('./checkpoint-runner.ts', import.meta.url).pathname;
const CASE_TIMEOUT_MS = 10_000;

interface Line { reference?: number[]; begin?: number; i?: number; outcome?: 'loaded' | 'refused' | 'crashed'; scores?: number[]; message?: string }

/** Runs the runner from case `start`; resolves with the lines it printed, or the case it hung on. */
function runFrom(start: number): Promise<{ lines: Line[]; hung: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, String(start)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: Line[] = [];
    let current: number | null = null;
    let timer: NodeJS.Timeout | null = null;
    let hung: number | null = null;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        hung = current;
        child.kill('SIGKILL');
      }, CASE_TIMEOUT_MS + (current === null ? 20_000 : 0));
    };
    arm();
    createInterface({ input: child.stdout }).on('line', (text) => {
      const l = JSON.parse(text) as Line;
      if (l.begin !== undefined) current = l.begin;
      lines.push(l);
      arm();
    });
    child.on('exit', () => {
      if (timer) clearTimeout(timer);
      resolve({ lines, hung });
    });
  });
}

describe('corrupt checkpoints', () => {
  it('every mutation is refused with a typed error or loads with the original outputs; none crashes or hangs', { timeout: 120_000 }, async () => {
    const all = mutations();
    const results = new Map<number, Line>();
    const hangs: number[] = [];
    let reference: number[] | null = null;
    for (let start = 0; start < all.length; ) {
      const { lines, hung } = await runFrom(start);
      for (const l of lines) {
        if (l.reference) reference = l.reference;
        if (l.i !== undefined) results.set(l.i, l);
      }
      if (hung !== null) hangs.push(hung);
      const next = hung !== null ? hung + 1 : Math.max(-1, ...results.keys()) + 1;
      if (hung === null && next <= start) break; // the runner died without progress: reported below
      start = next;
    }
    assert.ok(reference, 'the unmutated fixture must load');
    const problems: string[] = [];
    for (const h of hangs) problems.push(`HANG ${all[h].name}`);
    all.forEach((m, i) => {
      const r = results.get(i);
      if (!r) {
        if (!hangs.includes(i)) problems.push(`NO RESULT ${m.name}`);
        return;
      }
      if (r.outcome === 'crashed') problems.push(`UNTYPED ERROR ${m.name}: ${r.message?.split('\n').slice(0, 2).join(' ')}`);
      if (r.outcome === 'loaded') {
        const same = r.scores!.length === reference!.length && r.scores!.every((s, k) => Math.abs(s - reference![k]) < 1e-6);
        if (m.expect === 'refuse' || !same) problems.push(`${same ? 'LOADED (should be refused)' : 'GARBAGE LOAD'} ${m.name}`);
      }
      if (r.outcome === 'refused') assert.doesNotMatch(r.message ?? '', /^\s*at /m, `${m.name}: a refusal must not carry a stack`);
    });
    assert.deepEqual(problems, [], `${problems.length} of ${all.length} mutations mishandled`);
  });
});

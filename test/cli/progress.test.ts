// The terminal progress bar (src/cli/progress.ts) on a fake terminal: lines printed while the bar is
// up land above it (the bar is cleared, the line written, the bar redrawn), every drawn line fits 80
// columns, the rate is samples/s (or tokens/s) measured from the first update so the first step shows
// no made-up rate, and the non-terminal log prints the same throughput.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgress, printLine, type Terminal } from '../../src/cli/progress.ts';

function fakeTerminal(columns = 120): Terminal & { out: string } {
  const t = { out: '', isTTY: true, columns, write: (s: string) => void (t.out += s) };
  return t;
}

/** The lines as a terminal shows them: "\r\x1b[K" wipes the current line, "\n" ends it. */
function screen(raw: string): string[] {
  const lines: string[] = [''];
  for (const part of raw.split(/(\r\x1b\[K|\n)/)) {
    if (part === '\r\x1b[K') lines[lines.length - 1] = '';
    else if (part === '\n') lines.push('');
    else lines[lines.length - 1] += part;
  }
  return lines;
}

describe('progress bar in a terminal', () => {
  it('prints other lines above the bar, never into it', () => {
    const term = fakeTerminal();
    let t = 0;
    const bar = createProgress('train', 100, { unit: 'steps', terminal: term, now: () => t, throughput: { perUnit: 32, name: 'samples' } });
    t = 1000;
    bar.update(1, { loss: 0.69 });
    t = 2000;
    bar.update(3, { loss: 0.5 });
    printLine('step 3 (epoch 0.03): accuracy 0.9000', term);
    printLine('saved checkpoint-3', term);
    t = 3000;
    bar.update(5, { loss: 0.4 });
    const lines = screen(term.out);
    assert.equal(lines[0], 'step 3 (epoch 0.03): accuracy 0.9000');
    assert.equal(lines[1], 'saved checkpoint-3');
    assert.match(lines[2], /^train \[#*-+\] 5\/100/);
    assert.equal(lines.length, 3, `the bar is the only other line: ${JSON.stringify(lines)}`);
    bar.stop();
    printLine('done', term);
    assert.deepEqual(screen(term.out).slice(2), [lines[2], 'done', ''], 'after stop() lines print plainly below the finished bar');
  });

  it('fits 80 columns and shows samples/s measured from the first update', () => {
    const term = fakeTerminal(200);
    let t = 0;
    const bar = createProgress('train', 1000, { unit: 'steps', terminal: term, now: () => t, throughput: { perUnit: 32, name: 'samples' } });
    t = 5000; // start-up work before the first step ends: must not count
    bar.update(1, { loss: 0.6931, lr: 5e-5, epoch: 0.01 });
    let last = screen(term.out).at(-1) as string;
    assert.match(last, /— samples\/s/, `first step shows no rate: ${last}`);
    assert.doesNotMatch(last, /\d samples\/s/);
    t = 7000;
    bar.update(11, { loss: 0.5, lr: 4.9e-5, epoch: 0.11 });
    last = screen(term.out).at(-1) as string;
    assert.match(last, / 160 samples\/s/, `10 steps x 32 samples in 2 s: ${last}`);
    for (const l of screen(term.out)) assert.ok(l.length <= 80, `line of ${l.length} columns: ${l}`);
    bar.stop();
  });

  it('shows tokens/s for a causal LM and fits a narrow terminal', () => {
    const term = fakeTerminal(60);
    let t = 0;
    const bar = createProgress('train', 50, { unit: 'steps', terminal: term, now: () => t, throughput: { perUnit: 8 * 128, name: 'tokens' } });
    bar.update(1);
    t = 1000;
    bar.update(2, { loss: 3.21, lr: 1e-4, epoch: 0.04 });
    const last = screen(term.out).at(-1) as string;
    assert.match(last, /1024 tokens\/s/);
    for (const l of screen(term.out)) assert.ok(l.length <= 60, `line of ${l.length} columns: ${l}`);
    bar.stop();
  });
});

describe('progress log outside a terminal', () => {
  it('prints periodic lines with the throughput, none made up for the first step', () => {
    const out: string[] = [];
    let t = 0;
    const p = createProgress('train', 4, { unit: 'steps', terminal: { isTTY: false, write: (s) => void out.push(s) }, now: () => t, logEveryMs: 0, throughput: { perUnit: 16, name: 'samples' } });
    t = 3000;
    p.update(1);
    t = 4000;
    p.update(2);
    t = 5000;
    p.update(4);
    assert.match(out[0], /train: 1\/4 steps \(— samples\/s/);
    assert.match(out[1], /train: 2\/4 steps \(16\.0 samples\/s/);
    assert.match(out[2], /train: 4\/4 steps \(24\.0 samples\/s, elapsed 5s, ETA 0s\)/);
  });
});

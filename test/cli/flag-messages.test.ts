// CLI errors speak in flags, as a user meets them: a wrong --format guess is named ("the file looks
// comma-separated: pass --format csv"), a header-less file points to --no-header --column-names, blank
// labels to --blank-labels drop (which then works), and integer labels get names from --label-names.

import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';

const dir = tempDir('finetune-flags-');
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const rows = (n: number, f: (i: number) => string): string => Array.from({ length: n }, (_, i) => f(i)).join('\n') + '\n';
const train = (args: string[]) => runCli(['--threads', '1', 'train', '--max-steps', '1', '--no-report', '--output-dir', join(dir, 'out'), '--overwrite-output-dir', ...args], { timeoutMs: 120_000 });

describe('CLI messages speak in flags', () => {
  it('a CSV read with --format tsv says the file looks comma-separated', () => {
    const r = train(['--train-file', file('data.tsv', 'text,label\n' + rows(10, (i) => `"row ${i}",${i % 2 ? 'a' : 'b'}`)), '--format', 'tsv']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /The file looks comma-separated: pass --format csv\./);
  });
  it('a file without a header points to --no-header --column-names', () => {
    const r = train(['--train-file', file('nohead.csv', rows(10, (i) => `${i % 2 ? 'spam' : 'ham'},"message ${i}"`))]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pass --no-header --column-names a,b/);
    assert.doesNotMatch(r.stderr, /hasHeader|columnNames/);
  });
  it('blank labels point to --blank-labels drop, which works', () => {
    const f = file('blank.csv', 'text,label\n' + rows(12, (i) => `"row ${i}",${i === 3 ? '' : i % 2 ? 'a' : 'b'}`));
    const r = train(['--train-file', f]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /pass --blank-labels drop/);
    assert.doesNotMatch(r.stderr, /blankLabels/);
    const ok = train(['--train-file', f, '--blank-labels', 'drop']);
    assert.equal(ok.code, 0, ok.stderr);
  });
  it('--label-names names integer labels', () => {
    const r = train(['--train-file', file('ints.csv', 'text,label\n' + rows(12, (i) => `"row ${i}",${i % 2}`)), '--label-names', 'negative,positive']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /labels \(2\): negative, positive/);
  });
});

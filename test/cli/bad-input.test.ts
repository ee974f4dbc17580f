// `finetune train` on bad input, as a user meets it: each case exits non-zero with one clear message
// naming the file and line, the column or the key, and leaves what was already saved untouched.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';

const dir = tempDir();
const outDir = join(dir, 'existing-model');
mkdirSync(outDir);
writeFileSync(join(outDir, 'model.safetensors'), 'precious');

function train(file: string, extra: string[] = []): ReturnType<typeof runCli> {
  // --overwrite-output-dir: the folder holds another run's model; a bad input must still leave it untouched.
  return runCli(['train', '--train-file', file, '--output-dir', outDir, '--overwrite-output-dir', '--max-steps', '2', ...extra], { timeoutMs: 60_000 });
}

function expectFailure(r: ReturnType<typeof runCli>, pattern: RegExp): void {
  assert.notEqual(r.code, 0, `expected failure, got exit 0:\n${r.stdout}`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /internal error|at .*\.ts:\d+/, 'a user error must not print a stack trace');
  assert.equal(readFileSync(join(outDir, 'model.safetensors'), 'utf8'), 'precious', 'an existing model was overwritten');
}

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('bad input to finetune train', () => {
  it('CSV with a missing column names the columns that exist', () => {
    expectFailure(train(file('missing.csv', 'review,label\n"good film",pos\n')), /missing\.csv.*text.*review/s);
  });
  it('ragged CSV rows name the line', () => {
    expectFailure(train(file('ragged.csv', 'text,label\n"a good one",pos\n"bad",neg,extra\n')), /ragged\.csv:3/);
  });
  it('an empty file says so', () => {
    expectFailure(train(file('empty.csv', '')), /empty\.csv.*empty/i);
  });
  it('a label column with blanks names the line', () => {
    expectFailure(train(file('blank.csv', 'text,label\n"fine",pos\n"meh",\n')), /blank\.csv.*line 3/);
  });
  it('a JSONL line that is not JSON names the line', () => {
    expectFailure(train(file('bad.jsonl', '{"text": "ok", "label": "a"}\n{"text": "broken", \n')), /bad\.jsonl:2/);
  });
  it('a non-UTF-8 file names the file and line', () => {
    expectFailure(train(file('latin1.csv', Buffer.concat([Buffer.from('text,label\n"caf'), Buffer.from([0xe9]), Buffer.from('",a\n')]))), /latin1\.csv:2.*UTF-8/i);
  });
  it('a config key that does not exist names the key and suggests one', () => {
    const cfg = file('cfg.yaml', 'learning_rat: 0.001\n');
    expectFailure(train(file('ok.csv', 'text,label\n"a",x\n"b",y\n'), ['--config', cfg]), /learning_rat.*did you mean "learning_rate"/);
  });
  it('a learning rate of "fast" names the key', () => {
    expectFailure(train(file('ok2.csv', 'text,label\n"a",x\n"b",y\n'), ['--learning-rate', 'fast']), /--learning-rate: must be a number.*"fast"/);
  });
  it('a missing data file names it', () => {
    expectFailure(train(join(dir, 'nope.csv')), /nope\.csv/);
  });
});

// Tests for reading dataset files: CSV quoting (checked against Python's csv module), TSV without
// quoting, JSON Lines, JSON arrays, Parquet (written with hyparquet-writer), encodings, and the error
// messages for bad files (file + line). Uses temporary files only.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { FileFormatError } from '../../src/errors.ts';
import { parseTableText, readTable } from '../../src/data/read.ts';
import { findInvalidUtf8 } from '../../src/data/text-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'finetune-read-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Assert `fn` rejects with a FileFormatError whose message matches and that names `line`. */
async function rejectsAt(fn: () => Promise<unknown>, line: number | undefined, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof FileFormatError, `expected FileFormatError, got ${String(err)}`);
    assert.equal(err.line, line);
    assert.match(err.message, pattern);
    return true;
  });
}

// Expected rows are what Python's csv.reader returns for the same text (io.StringIO(text, newline='')).
test('CSV quoting matches Python csv.reader', () => {
  const cases: [string, string[][]][] = [
    ['text,label\n"Hello, world",1\n"She said ""hi""",0\n"multi\nline",1\n', [['Hello, world', '1'], ['She said "hi"', '0'], ['multi\nline', '1']]],
    ['text,label\r\n"a ""b"" c",x\r\nplain "quoted" inside,y\r\n', [['a "b" c', 'x'], ['plain "quoted" inside', 'y']]],
    ['a,b\n1,\n,2\n"",""\n', [['1', ''], ['', '2'], ['', '']]],
  ];
  for (const [text, rows] of cases) {
    const t = parseTableText(text, 'mem.csv', 'csv');
    assert.deepEqual(t.rows.map((r) => t.columns.map((c) => r[c])), rows);
  }
});

test('rows remember the line they start on (blank lines, CRLF, multi-line fields)', () => {
  const t = parseTableText('\ufefftext,label\r\n"two\r\nlines",a\r\n\r\n   \r\nnext,b\nlast,c', 'mem.csv', 'csv');
  assert.deepEqual(t.columns, ['text', 'label']);
  assert.deepEqual(t.origins, [2, 6, 7]);
  assert.equal(t.rows[0]?.['text'], 'two\nlines');
  assert.equal(t.originKind, 'line');
});

test('TSV defaults to no quote handling; split first/last keep extra tabs in one field', () => {
  const unquoted = parseTableText('a "quote\t1\n"x"\t0\n', 'mem.tsv', 'tsv', { columnNames: ['s', 'l'] });
  assert.deepEqual(unquoted.rows, [{ s: 'a "quote', l: '1' }, { s: '"x"', l: '0' }]);
  const first = parseTableText('ham\ttext\twith tab\n', 'm.tsv', 'tsv', { columnNames: ['label', 'text'], split: 'first' });
  assert.deepEqual(first.rows, [{ label: 'ham', text: 'text\twith tab' }]);
  const last = parseTableText('sentence\twith tab\t1\n', 'm.tsv', 'tsv', { columnNames: ['sentence', 'label'], split: 'last' });
  assert.deepEqual(last.rows, [{ sentence: 'sentence\twith tab', label: '1' }]);
});

test('a header-less file without names gets column_1..N', () => {
  const t = parseTableText('x,1\ny,2\n', 'm.csv', 'csv', { hasHeader: false });
  assert.deepEqual(t.columns, ['column_1', 'column_2']);
  assert.equal(t.rows.length, 2);
});

test('lines split only at LF/CRLF/CR, not at U+0085 (NEL)', () => {
  const t = parseTableText('first\u0085half\t1\nsecond\t0\n', 'm.tsv', 'tsv', { columnNames: ['s', 'l'] });
  assert.equal(t.rows.length, 2);
  assert.equal(t.rows[0]?.['s'], 'first\u0085half');
});

test('format from extension, and sniffed for unknown extensions', async () => {
  const j = await readTable(file('a.jsonl', '{"t":"x","l":1}\n\n{"t":"y","l":2,"extra":true}\n'));
  assert.equal(j.format, 'jsonl');
  assert.deepEqual(j.columns, ['t', 'l', 'extra']);
  assert.deepEqual(j.origins, [1, 3]);
  const arr = await readTable(file('b.json', '[{"t":"x"},{"t":"y"}]'));
  assert.equal(arr.format, 'json');
  assert.equal(arr.originKind, 'record');
  const wrapped = await readTable(file('c.json', '{"version": 1, "data": [{"t": "x"}]}'));
  assert.deepEqual(wrapped.rows, [{ t: 'x' }]);
  const jl = await readTable(file('d.json', '{"t":"x"}\n{"t":"y"}\n'));
  assert.equal(jl.format, 'jsonl');
  const noExt = await readTable(file('SMSLike', 'ham\thello\nspam\twin\n'), { columnNames: ['label', 'text'] });
  assert.equal(noExt.format, 'tsv');
  assert.equal(noExt.rows.length, 2);
  const txtCsv = await readTable(file('e.txt', 'a,b\n1,2\n'));
  assert.equal(txtCsv.format, 'csv');
});

test('UTF-16 with a BOM and explicit latin1 decode', async () => {
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('text\tlabel\ncafé\t1\n', 'utf16le')]);
  const t = await readTable(file('u16.tsv', utf16));
  assert.deepEqual(t.rows, [{ text: 'café', label: '1' }]);
  const latin = await readTable(file('l1.csv', Buffer.from('text,label\ncaf\xe9,1\n', 'latin1')), { encoding: 'latin1' });
  assert.equal(latin.rows[0]?.['text'], 'café');
});

test('Parquet: scalars, lists and structs, snappy and gzip', async () => {
  const columnData = [
    { name: 'text', data: ['a b', 'c'], type: 'STRING' as const },
    { name: 'label', data: [1n, 0n], type: 'INT64' as const },
    { name: 'tokens', data: [['a', 'b'], ['c']] },
    { name: 'answers', data: [{ text: ['b'], answer_start: [2] }, { text: [], answer_start: [] }] },
  ];
  const snappy = parquetWriteBuffer({ columnData });
  const t = await readTable(file('x.parquet', new Uint8Array(snappy)));
  assert.equal(t.format, 'parquet');
  assert.deepEqual(t.columns, ['text', 'label', 'tokens', 'answers']);
  assert.deepEqual(t.rows, [
    { text: 'a b', label: 1, tokens: ['a', 'b'], answers: { text: ['b'], answer_start: [2] } },
    { text: 'c', label: 0, tokens: ['c'], answers: { text: [], answer_start: [] } },
  ]);
  const gz = parquetWriteBuffer({ columnData, codec: 'GZIP', compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) } });
  const g = await readTable(file('no-extension-gz', new Uint8Array(gz)));
  assert.deepEqual(g.rows, t.rows);
});

test('errors: empty files', async () => {
  await rejectsAt(() => readTable(file('empty.csv', '')), undefined, /empty/);
  await rejectsAt(() => readTable(file('blank.jsonl', '\n  \n')), undefined, /empty/);
  await rejectsAt(() => readTable(file('header-only.csv', 'text,label\n')), 1, /header \(text, label\) but no data rows/);
  await rejectsAt(() => readTable(join(dir, 'missing.csv')), undefined, /no such file/);
});

test('errors: ragged CSV rows name the first bad line and count the rest', async () => {
  await rejectsAt(
    () => readTable(file('ragged.csv', 'text,label\nok,1\nhello, world,0\nfine,1\na,b,c,d\n')),
    3,
    /3 fields but the header has 2 \(text, label\)\. 2 rows are like this \(lines 3, 5\).*double quotes/,
  );
  await rejectsAt(() => readTable(file('short.tsv', 'text\tlabel\nonly text\n')), 2, /1 fields but the header has 2/);
});

test('errors: unclosed quote points at the line where it opens', async () => {
  await rejectsAt(() => readTable(file('quote.csv', 'text,label\nok,1\n"never closed,0\nmore,1\n')), 3, /never closed/);
});

test('errors: a JSONL line that is not JSON, or not an object', async () => {
  await rejectsAt(() => readTable(file('bad.jsonl', '{"a":1}\n\n{"a":2,}\n')), 3, /not valid JSON.*one complete JSON object/);
  await rejectsAt(() => readTable(file('arr.jsonl', '{"a":1}\n[1,2]\n')), 2, /expected a JSON object/);
});

test('errors: non-UTF-8 bytes are located by line and column', async () => {
  const bytes = Buffer.concat([Buffer.from('text,label\nfine,1\ncaf'), Buffer.from([0xe9]), Buffer.from(',0\n')]);
  await rejectsAt(() => readTable(file('latin.csv', bytes)), 3, /not valid UTF-8: byte 0xE9 at column 4.*encoding/);
});

test('findInvalidUtf8 follows the Unicode well-formedness rules', () => {
  const at = (bytes: number[]): number => findInvalidUtf8(new Uint8Array(bytes));
  assert.equal(at([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]), -1); // a é € 😀
  assert.equal(at([0x61, 0xc0, 0xaf]), 1); // overlong '/'
  assert.equal(at([0xed, 0xa0, 0x80]), 0); // UTF-16 surrogate D800
  assert.equal(at([0xf4, 0x90, 0x80, 0x80]), 0); // above U+10FFFF
  assert.equal(at([0x61, 0x62, 0xe2, 0x82]), 2); // truncated at end
  assert.equal(at([0x80]), 0); // lone continuation byte
});

test('errors: duplicate header names, wrong number of column names', async () => {
  await rejectsAt(() => readTable(file('dup.csv', 'a,a\n1,2\n')), 1, /appears twice/);
  await rejectsAt(() => readTable(file('names.csv', 'a,b\n1,2\n'), { columnNames: ['x'], hasHeader: true }), 1, /2 columns.*1 column names/);
});

test('record size bound: a huge CSV field, TSV line or JSONL line fails fast naming file, line and --max-record-size', () => {
  const big = 'x'.repeat(3 << 20);
  const cases: [string, 'csv' | 'tsv' | 'jsonl'][] = [
    [`text,label\nok,1\n"${big}",0\nfine,1\n`, 'csv'],
    [`text,label\nok,1\n${big},0\n`, 'csv'],
    [`text\tlabel\nok\t1\n${big}\t0\n`, 'tsv'],
    [`{"text":"ok","label":1}\n{"text":"${big}","label":0}\n`, 'jsonl'],
  ];
  for (const [text, format] of cases) {
    const t0 = performance.now();
    assert.throws(
      () => parseTableText(text, `big.${format}`, format),
      (e: Error) => e instanceof FileFormatError && /^big\.\w+:(2|3): /.test(e.message) && /--max-record-size/.test(e.message),
      format,
    );
    assert.ok(performance.now() - t0 < 3000, `${format} took ${performance.now() - t0} ms`);
  }
  // Raising the limit reads it.
  const t = parseTableText(`text,label\n"${'y'.repeat(2000)}",0\n`, 'ok.csv', 'csv', { maxRecordSize: 4000 });
  assert.equal((t.rows[0].text as string).length, 2000);
  assert.throws(() => parseTableText(`text,label\n"${'y'.repeat(2000)}",0\n`, 'ok.csv', 'csv', { maxRecordSize: 1000 }), /ok\.csv:2: .*longer than 1000/);
});

// Tests for text cleaning and the preparation report: Unicode NFKC (checked against the Unicode
// compatibility mappings), whitespace, HTML, e-mail headers, empty rows, deduplication, and that every
// drop/change is counted with its first lines.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDataset } from '../../src/data/columns.ts';
import { cleanWhitespace, formatPrepSteps, preprocessDataset, stripEmailHeaders, stripHtml } from '../../src/data/preprocess.ts';
import { parseTableText } from '../../src/data/read.ts';
import type { TextDataset } from '../../src/data/types.ts';

function textDs(rows: [string, string][], name = 'x.tsv'): TextDataset {
  const body = rows.map(([t, l]) => `${t}\t${l}`).join('\n');
  const table = parseTableText(body, name, 'tsv', { columnNames: ['text', 'label'] });
  return buildDataset(table, { task: 'single_label_classification', text: 'text', label: 'label' }) as TextDataset;
}

test('cleanWhitespace', () => {
  assert.equal(cleanWhitespace('  a\u00a0 b \r\n\r\n\r\n c\u200b '), 'a b\n\nc');
  assert.equal(cleanWhitespace('tab\there\u0085nel'), 'tab here nel');
  assert.equal(cleanWhitespace('Good movie.  '), 'Good movie.');
  assert.equal(cleanWhitespace('para1\n\npara2'), 'para1\n\npara2');
});

test('NFKC folds compatibility characters (Unicode decomposition mappings)', () => {
  // U+FB01 LATIN SMALL LIGATURE FI → "fi"; U+FF21 FULLWIDTH A → "A"; U+2460 CIRCLED ONE → "1";
  // U+00BD VULGAR FRACTION ONE HALF → "1⁄2" (U+2044); "e" + U+0301 composes to U+00E9.
  const ds = textDs([['\ufb01ne \uff21 \u2460 \u00bd cafe\u0301', 'a'], ['plain', 'b']]);
  const { dataset } = preprocessDataset(ds, { normalize: 'NFKC' });
  const ex = (dataset as TextDataset).examples;
  assert.equal(ex[0]?.text, 'fine A 1 1\u20442 caf\u00e9');
  assert.deepEqual(dataset.steps, [{ step: 'Unicode NFKC normalisation', action: 'changed', count: 1, origins: [1] }]);
});

test('stripHtml removes markup, scripts, comments; decodes entities', () => {
  assert.equal(
    cleanWhitespace(stripHtml('<html><head><title>T</title><style>p{color:red}</style></head><body><p>Buy <b>now</b> &amp; save&nbsp;50&#37;!</p><!-- hidden --><script>alert(1)</script><br>Bye</body></html>')),
    'Buy now & save 50%!\n\nBye', // </p> and <br> each break the line
  );
  assert.equal(stripHtml('2 < 3 and I <3 you'), '2 < 3 and I <3 you');
});

test('stripEmailHeaders drops the header block and MIME part headers, keeps ordinary text', () => {
  const mail = [
    'From someone@example.com  Mon Aug 26 15:00:00 2002',
    'Return-Path: <someone@example.com>',
    'Received: from mail.example.com',
    '\tby mx.example.org; Mon, 26 Aug 2002',
    'Subject: Cheap stuff',
    'Content-Type: multipart/alternative; boundary="----=_NextPart_000"',
    '',
    '------=_NextPart_000',
    'Content-Type: text/plain;',
    '\tcharset="iso-8859-1"',
    '',
    'Hello there.',
    '-----------------',
    'Signature',
    '------=_NextPart_000--',
  ].join('\n');
  assert.equal(stripEmailHeaders(mail), 'Hello there.\n-----------------\nSignature');
  // Not headers: an ordinary first line with a colon, or a subject line that precedes indented text.
  assert.equal(stripEmailHeaders('Note: bring snacks\n\nSee you'), 'Note: bring snacks\n\nSee you');
  const quoted = 'Re: New Sequences Window\n    Date: Wed, 21 Aug 2002\n\nbody';
  assert.equal(stripEmailHeaders(quoted), quoted);
});

test('empty rows and duplicates are dropped and reported with counts and lines', () => {
  const ds = textDs([
    ['Hello world', 'a'], // line 1
    ['   ', 'a'], // 2: empty after cleanup
    ['hello  world ', 'a'], // 3: differs in case: kept
    ['Hello world', 'a'], // 4: duplicate
    ['Hello   world', 'b'], // 5: duplicate after whitespace cleanup, conflicting label
    ['<p></p>', 'b'], // 6: empty after HTML stripping
  ]);
  const { dataset, input, output } = preprocessDataset(ds, { stripHtml: true, dedupe: 'text' });
  assert.equal(input, 6);
  assert.equal(output, 2);
  assert.deepEqual(
    (dataset as TextDataset).examples.map((e) => [e.text, e.origin]),
    [['Hello world', 1], ['hello world', 3]],
  );
  const byStep = Object.fromEntries(dataset.steps.map((s) => [s.step, [s.action, s.count, s.origins]]));
  assert.deepEqual(byStep['empty text'], ['dropped', 2, [2, 6]]);
  assert.deepEqual(byStep['duplicate'], ['dropped', 2, [4, 5]]);
  assert.deepEqual(byStep['same text as an earlier row but a different label'], ['warning', 1, [5]]);
  assert.deepEqual(byStep['whitespace cleanup'], ['changed', 4, [2, 3, 5, 6]]);
  assert.deepEqual(byStep['HTML stripping'], ['changed', 1, [6]]);
  const lines = formatPrepSteps(dataset);
  assert.ok(lines.includes('x.tsv: dropped 2 rows: empty text — lines 2, 6'), lines.join('\n'));

  // text+label keeps same text with a different label.
  const keepConflicts = preprocessDataset(ds, { dedupe: 'text+label' });
  assert.deepEqual((keepConflicts.dataset as TextDataset).examples.map((e) => e.origin), [1, 3, 5, 6]);
});

test('the input dataset is not modified', () => {
  const ds = textDs([[' a ', 'x']]);
  preprocessDataset(ds, { normalize: 'NFKC' });
  assert.equal(ds.examples[0]?.text, ' a ');
  assert.deepEqual(ds.steps, []);
});

test('QA contexts are left alone (answer offsets stay valid); questions are cleaned', () => {
  const table = parseTableText(JSON.stringify({ c: '  Paris  is big', q: ' Which  city? ', a: { text: ['Paris'], answer_start: [2] } }), 'qa.jsonl', 'jsonl');
  const ds = buildDataset(table, { task: 'question_answering', context: 'c', question: 'q', answers: 'a' });
  const { dataset } = preprocessDataset(ds, { normalize: 'NFKC' });
  assert.equal(dataset.task, 'question_answering');
  if (dataset.task !== 'question_answering') return;
  const ex = dataset.examples[0];
  assert.equal(ex?.context, '  Paris  is big');
  assert.equal(ex?.question, 'Which city?');
  assert.equal(ex?.context.slice(2, 7), 'Paris');
});

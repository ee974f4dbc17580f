// Reads the real datasets in <repo>/../shared/data and checks the counts their READMEs state (rows,
// classes, distinct texts, splits), including the quirks the READMEs describe. Skips when absent.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { buildDataset } from '../../src/data/columns.ts';
import { loadDataset } from '../../src/data/load.ts';
import { preprocessDataset } from '../../src/data/preprocess.ts';
import { readTable } from '../../src/data/read.ts';
import type { TextDataset } from '../../src/data/types.ts';

const shared = (p: string): string => fileURLToPath(new URL(`../../../shared/data/${p}`, import.meta.url));
const SMS = shared('sms-spam-collection/SMSSpamCollection');
const UCI = shared('sentiment-labelled-sentences');
const SPAM_ASSASSIN = shared('spam-assassin-compact/spam_assassin_compact.jsonl');

const count = (ds: TextDataset, label: string): number => ds.examples.filter((e) => e.label === label).length;

test('SMS Spam Collection: 5,574 messages, 4,827 ham / 747 spam, 5,171 distinct texts', { skip: !existsSync(SMS) && `missing ${SMS}` }, async () => {
  const read = { columnNames: ['label', 'text'], split: 'first' as const };
  const columns = { task: 'single_label_classification' as const, text: 'text', label: 'label' };
  const ds = (await loadDataset(SMS, { read, columns, preprocess: { whitespace: false } })) as TextDataset;
  assert.equal(ds.examples.length, 5574);
  assert.equal(count(ds, 'ham'), 4827);
  assert.equal(count(ds, 'spam'), 747);
  assert.ok(ds.examples[0]?.text.startsWith('Go until jurong point'));
  assert.equal(ds.examples[5573]?.origin, 5574);
  const dedup = await loadDataset(SMS, { read, columns, preprocess: { whitespace: false, dedupe: 'text' } });
  assert.equal(dedup.examples.length, 5171);
  assert.deepEqual(dedup.steps.find((s) => s.step === 'duplicate')?.count, 403);
});

test('UCI sentiment sentences: 1,000 rows per file, 500/500, NEL kept inside sentences', { skip: !existsSync(UCI) && `missing ${UCI}` }, async () => {
  for (const name of ['amazon_cells', 'imdb', 'yelp']) {
    const ds = (await loadDataset(`${UCI}/${name}_labelled.txt`, {
      read: { columnNames: ['sentence', 'label'], split: 'last' },
      columns: { task: 'single_label_classification', text: 'sentence', label: 'label' },
    })) as TextDataset;
    assert.equal(ds.examples.length, 1000, name);
    assert.equal(count(ds, '0'), 500, name);
    assert.equal(count(ds, '1'), 500, name);
    // README: trailing spaces before the TAB are trimmed by whitespace cleanup.
    assert.ok(ds.examples.every((e) => e.text === e.text.trim()));
    if (name === 'yelp') assert.ok(ds.examples.some((e) => e.text === 'Very good food, great atmosphere.1'));
  }
  // The raw table keeps the two U+0085 characters inside imdb sentences (not line breaks).
  const raw = await readTable(`${UCI}/imdb_labelled.txt`, { columnNames: ['sentence', 'label'], split: 'last' });
  assert.equal(raw.rows.length, 1000);
  assert.equal(raw.rows.filter((r) => String(r['sentence']).includes('\u0085')).length, 2);
  // With CSV quote handling the unbalanced quotes swallow rows (the README's 748): quoting 'none' is what keeps 1,000.
  const quoted = await readTable(`${UCI}/imdb_labelled.txt`, { format: 'csv', delimiter: '\t', columnNames: ['sentence', 'label'] }).catch((e: Error) => e);
  assert.ok(quoted instanceof Error || quoted.rows.length !== 1000);
});

test('SpamAssassin compact JSONL: 6,046 mails, labels and splits as in the README', { skip: !existsSync(SPAM_ASSASSIN) && `missing ${SPAM_ASSASSIN}` }, async () => {
  const table = await readTable(SPAM_ASSASSIN);
  assert.equal(table.format, 'jsonl');
  assert.equal(table.rows.length, 6046);
  const cell = (r: Record<string, unknown>, k: string): unknown => r[k];
  const n = (label: string, split: string): number => table.rows.filter((r) => cell(r, 'label') === label && cell(r, 'split') === split).length;
  assert.deepEqual([n('ham', 'train'), n('ham', 'test'), n('spam', 'train'), n('spam', 'test')], [3378, 772, 1534, 362]);
  assert.equal(table.rows.filter((r) => cell(r, 'subject') === '').length, 19);
  // README: bodies are raw (MIME part headers, HTML). Header stripping removes the part headers from
  // nearly all mails that have them (what stays is quoted inside a message, e.g. a forwarded mail).
  const columns = { task: 'single_label_classification' as const, text: ['subject', 'body'], label: 'label' };
  const withMime = (ds: TextDataset): number => ds.examples.filter((e) => /^Content-Type:/im.test(e.text)).length;
  const raw = buildDataset(table, columns) as TextDataset;
  const clean = preprocessDataset(raw, { stripHtml: true, stripEmailHeaders: true }).dataset as TextDataset;
  assert.equal(clean.examples.length, 6046);
  assert.ok(withMime(raw) > 500, `raw mails with part headers: ${withMime(raw)}`);
  assert.ok(withMime(clean) < withMime(raw) / 10, `after stripping: ${withMime(clean)}`);
  const html = (ds: TextDataset): number => ds.examples.filter((e) => /<(html|body|table|font)\b/i.test(e.text)).length;
  assert.ok(html(raw) > 300 && html(clean) < html(raw) / 10, `HTML mails before/after: ${html(raw)}/${html(clean)}`);
});

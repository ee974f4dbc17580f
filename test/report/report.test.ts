// Tests for the run log and the HTML report: the JSONL logger's line-per-record format, resume
// truncation and tolerance of a half-written last line; chart ticks and point placement; and that the
// report is self-contained, escapes user text and shows what it was given.

import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { confusionMatrixTable, renderHtmlReport, writeHtmlReport } from '../../src/report/html.ts';
import { MetricsLogger, readMetricsLog, type LogRecord } from '../../src/report/runlog.ts';
import { formatNumber, lineChart, niceTicks } from '../../src/report/svg.ts';

const dir = mkdtempSync(join(tmpdir(), 'finetune-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('metrics logger: one JSON line per record, flushed as written', () => {
  const out = join(dir, 'run1');
  const log = MetricsLogger.open(out);
  log.log({ step: 1, epoch: 0.01, loss: 0.7, lr: 1e-5 });
  // Visible on disk before close (written straight to the file descriptor).
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), '{"step":1,"epoch":0.01,"loss":0.7,"lr":0.00001}\n');
  log.log({ step: 2, epoch: 0.02, loss: Number.NaN, eval: { accuracy: 0.5 } });
  log.close();
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n');
  assert.equal(lines.length, 3);
  assert.deepEqual(JSON.parse(lines[1] as string), { step: 2, epoch: 0.02, loss: null, eval: { accuracy: 0.5 } });
  assert.throws(() => log.log({ step: 3, epoch: 0 }), /closed/);
});

test('metrics logger: resuming keeps records up to the checkpoint step; a new run starts empty', () => {
  const out = join(dir, 'run2');
  const log = MetricsLogger.open(out);
  for (let s = 1; s <= 6; s++) log.log({ step: s, epoch: s / 10, loss: 1 / s });
  log.close();
  appendFileSync(join(out, 'metrics.jsonl'), '{"step":7,"epo'); // killed mid-line
  const read = readMetricsLog(join(out, 'metrics.jsonl'));
  assert.equal(read.partialLastLine, true);
  assert.deepEqual(read.records.map((r) => r.step), [1, 2, 3, 4, 5, 6]);

  const resumed = MetricsLogger.open(out, { resumeFromStep: 4 });
  resumed.log({ step: 5, epoch: 0.5, loss: 0.19 });
  resumed.close();
  const after = readMetricsLog(join(out, 'metrics.jsonl'));
  assert.equal(after.partialLastLine, false);
  assert.deepEqual(after.records.map((r) => [r.step, r.loss]), [[1, 1], [2, 0.5], [3, 1 / 3], [4, 0.25], [5, 0.19]]);

  MetricsLogger.open(out).close();
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), '');
});

test('readMetricsLog: a broken line in the middle is an error naming the line', () => {
  const out = join(dir, 'run3');
  const log = MetricsLogger.open(out);
  log.log({ step: 1, epoch: 0 });
  log.close();
  appendFileSync(join(out, 'metrics.jsonl'), 'oops\n{"step":2,"epoch":0}\n');
  assert.throws(() => readMetricsLog(join(out, 'metrics.jsonl')), /metrics\.jsonl:2: not valid JSON/);
});

test('nice ticks use 1-2-5 steps', () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 600, 6), [0, 100, 200, 300, 400, 500, 600]);
  assert.deepEqual(niceTicks(0.84, 0.96), [0.84, 0.86, 0.88, 0.9, 0.92, 0.94, 0.96]);
  assert.deepEqual(niceTicks(0, 5e-5), [0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5]);
  assert.equal(formatNumber(5e-5), '5e-5');
  assert.equal(formatNumber(0.123456), '0.1235');
});

test('line chart places points on the plot area and skips non-finite values', () => {
  const svg = lineChart([{ name: 'acc', points: [[0, 0], [10, 1], [5, Number.NaN]], markers: true }], { title: 'T', width: 400, height: 300 });
  // Plot area: x from 58 to 384 (width 400 - 58 - 16), y from 34 to 256 (height 300 - 34 - 44).
  const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(circles, [[58, 256], [384, 34]]);
  assert.match(lineChart([], { title: 'Empty' }), /no data/);
});

const RECORDS: LogRecord[] = [
  { step: 10, epoch: 0.1, loss: 0.69, lr: 1e-5, gradNorm: 2 },
  { step: 20, epoch: 0.2, loss: 0.5, lr: 2e-5, gradNorm: 1.5, eval: { loss: 0.45, accuracy: 0.8, f1_macro: 0.75, count: 100 } },
  { step: 30, epoch: 0.3, loss: 0.3, lr: 1e-5, gradNorm: 1, eval: { loss: 0.35, accuracy: 0.9, f1_macro: 0.88, count: 100 } },
];

test('report: self-contained, escapes user text, shows curves, metrics, confusion matrix and search', () => {
  const html = renderHtmlReport({
    records: RECORDS,
    summary: {
      model: 'tiny<bert>',
      task: 'text-classification',
      labels: ['ham', 'spam & co'],
      confusionMatrix: [[90, 3], [2, 5]],
      finalMetrics: { accuracy: 0.95 },
      hyperparameters: { learning_rate: 2e-5, seed: 42 },
      search: {
        metric: 'accuracy',
        direction: 'maximize',
        trials: [
          { id: 'a', params: { learning_rate: 1e-5 }, metrics: { accuracy: 0.9 } },
          { id: 'b', params: { learning_rate: 3e-5 }, metrics: { accuracy: 0.95 }, kept: true },
        ],
      },
    },
  });
  // Offline: no scripts, stylesheets or images from elsewhere; the only URL is the SVG namespace.
  assert.doesNotMatch(html, /<script|<link|<img|@import|url\(/i);
  assert.deepEqual([...new Set(html.match(/https?:\/\/[^\s"')]+/g))], ['http://www.w3.org/2000/svg']);
  assert.ok(html.includes('tiny&lt;bert&gt;') && !html.includes('tiny<bert>'));
  assert.ok(html.includes('spam &amp; co'));
  // One chart per plotted eval metric (count is bookkeeping), with one marker per evaluation.
  for (const name of ['accuracy', 'f1_macro']) assert.ok(html.includes(`aria-label="${name}"`), name);
  assert.ok(!html.includes('aria-label="count"'));
  assert.ok(html.includes('aria-label="Loss"') && html.includes('aria-label="Learning rate"') && html.includes('aria-label="Gradient norm (before clipping)"'));
  const accChart = html.slice(html.indexOf('aria-label="accuracy"'), html.indexOf('</svg>', html.indexOf('aria-label="accuracy"')));
  assert.equal((accChart.match(/<circle/g) ?? []).length, 2);
  // Confusion matrix counts, row totals, and the best trial first and marked.
  for (const c of ['>90<', '>3<', '>2<', '>5<', '>93<', '>7<']) assert.ok(html.includes(c), c);
  const bestRow = html.match(/<tr class="best"><td>([^<]*)<\/td>/);
  assert.equal(bestRow?.[1], 'b');
});

test('confusion matrix shading follows the row share; the diagonal is marked', () => {
  const t = confusionMatrixTable(['a', 'b'], [[3, 1], [0, 4]]);
  const cells = [...t.matchAll(/<td class="(diag|zero)?" style="background:rgba\((\d+,\d+,\d+),([\d.]+)\)/g)].map((m) => [m[1] === 'diag', m[2], Number(m[3])] as const);
  const expected = [[true, 3 / 4], [false, 1 / 4], [false, 0], [true, 1]] as const; // row shares
  assert.equal(cells.length, 4);
  cells.forEach(([diag, rgb, alpha], i) => {
    const [wantDiag, share] = expected[i] as readonly [boolean, number];
    if (share === 0) assert.match(t, /class="zero"[^>]*>0<\/td>/); // a zero cell: no shade, no percentage
    assert.equal(diag, wantDiag);
    assert.equal(rgb, diag ? '37,99,235' : '220,38,38');
    assert.ok(Math.abs(alpha - (share === 0 ? 0 : 0.08 + 0.85 * share)) < 1e-3, `cell ${i}: ${alpha}`);
  });
});

test('writeHtmlReport writes atomically into a new folder', () => {
  const path = join(dir, 'nested', 'out', 'report.html');
  writeHtmlReport(path, { records: [], summary: {} });
  assert.ok(existsSync(path));
  assert.deepEqual(readdirSync(join(dir, 'nested', 'out')), ['report.html']);
  assert.match(readFileSync(path, 'utf8'), /^<!DOCTYPE html>/);
});

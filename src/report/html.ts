// The end-of-run HTML report: one self-contained file (inline CSS and SVG, no scripts, no network) with
// the run summary, loss / learning-rate / gradient-norm curves, every evaluation metric over steps, the
// final metrics with a confusion-matrix heat-map and per-class table, hyperparameter-search results,
// and the run's settings and data notes. Written atomically, so a killed run never leaves half a report.
// Not here: computing metrics (src/eval) or collecting the log (runlog.ts).

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogRecord, RunLog, RunSummary, SearchTrial } from './runlog.ts';
import { escapeXml as esc, formatNumber, lineChart, PALETTE, type Series } from './svg.ts';

const CSS = `
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:28px 24px 48px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:17px;margin:34px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 8px;color:var(--muted);font-weight:600}
.sub{color:var(--muted);margin:0}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;vertical-align:middle;margin-left:8px;background:#dcfce7;color:#166534}
.badge.warn{background:#fef3c7;color:#92400e}.badge.bad{background:#fee2e2;color:#991b1b}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px;margin-top:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:600;margin-top:2px;word-break:break-word}
.card .s{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:14px}
.charts.wide{grid-template-columns:repeat(auto-fill,minmax(520px,1fr))}
.chart{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:6px}
.chart svg{width:100%;height:auto;display:block}
.chart-title{font-size:13px;font-weight:600;fill:var(--fg)}
.tick{font-size:10.5px;fill:var(--muted)}.axis-label{font-size:11px;fill:var(--muted)}.legend{font-size:11px;fill:var(--fg)}
.chart-empty{font-size:12px;fill:var(--muted)}
.grid{stroke:#eef0f3;stroke-width:1}.frame{fill:none;stroke:#d1d5db;stroke-width:1}
table{border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f3f4f6;font-weight:600;font-size:12.5px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#eff6ff;font-weight:600}
.kv td:first-child{color:var(--muted);white-space:nowrap}
.cm{margin-top:4px}.cm td{text-align:center;min-width:54px;font-variant-numeric:tabular-nums;border:1px solid #fff}
.cm td small{display:block;font-size:10.5px;opacity:.8}
.cm th.corner{font-size:11px;color:var(--muted);font-weight:500}
.cm th.row{text-align:right;vertical-align:middle}.cm td.zero{color:#9ca3af}.cm td.diag{font-weight:700}
.cols{display:flex;flex-wrap:wrap;gap:22px;align-items:flex-start}
ul.notes{margin:6px 0;padding-left:20px;color:#374151}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:4px}
footer{margin-top:40px;color:var(--muted);font-size:12px}
`;

/** Metric names not worth a chart (constants or bookkeeping). */
const NOT_PLOTTED = new Set(['count', 'tokens', 'runtime', 'samples_per_second', 'steps_per_second', 'epoch', 'step']);

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s} s`;
}

/** A metric value for a table: fractions in [0, 1] with 4 decimals, others compactly. */
function formatMetric(name: string, v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '—';
  if (/loss|perplexity|mse|mae|rmse/.test(name)) return formatNumber(v);
  if (Math.abs(v) <= 1 && !Number.isInteger(v)) return v.toFixed(4);
  return formatNumber(v);
}

function card(k: string, v: string, s?: string): string {
  return `<div class="card"><div class="k">${esc(k)}</div><div class="v">${esc(v)}</div>${s ? `<div class="s">${esc(s)}</div>` : ''}</div>`;
}

function chartBox(svg: string): string {
  return `<div class="chart">${svg}</div>`;
}

function seriesOf(records: readonly LogRecord[], pick: (r: LogRecord) => number | undefined): [number, number][] {
  const out: [number, number][] = [];
  for (const r of records) {
    const v = pick(r);
    if (v !== undefined && v !== null && Number.isFinite(v)) out.push([r.step, v]);
  }
  return out;
}

/** Eval metric names in first-seen order, the loss first. */
function evalMetricNames(records: readonly LogRecord[]): string[] {
  const names: string[] = [];
  for (const r of records) for (const k of Object.keys(r.eval ?? {})) if (!names.includes(k)) names.push(k);
  return names.sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : 0));
}

function trainingCharts(records: readonly LogRecord[], lrSchedule?: [number, number][]): string {
  const boxes: string[] = [];
  const trainLoss = seriesOf(records, (r) => r.loss);
  const evalLoss = seriesOf(records, (r) => r.eval?.['loss']);
  const loss: Series[] = [];
  if (trainLoss.length > 0) loss.push({ name: 'train', points: trainLoss, color: PALETTE[0] as string, markers: trainLoss.length <= 2 });
  if (evalLoss.length > 0) loss.push({ name: 'eval', points: evalLoss, color: PALETTE[1] as string, markers: true });
  boxes.push(chartBox(lineChart(loss, { title: 'Loss', xLabel: 'step', width: 540, height: 300 })));
  const lr = lrSchedule && lrSchedule.length > 0 ? lrSchedule : seriesOf(records, (r) => r.lr);
  if (lr.length > 0) boxes.push(chartBox(lineChart([{ name: 'learning rate', points: lr, color: PALETTE[2] as string, markers: false }], { title: 'Learning rate', xLabel: 'step', yInclude: [0], width: 540, height: 300 })));
  const gn = seriesOf(records, (r) => r.gradNorm);
  if (gn.length > 0) boxes.push(chartBox(lineChart([{ name: 'gradient norm', points: gn, color: PALETTE[3] as string, markers: false }], { title: 'Gradient norm (before clipping)', xLabel: 'step', yInclude: [0], width: 540, height: 300 })));
  return `<div class="charts wide">${boxes.join('')}</div>`;
}

/**
 * Metric series with identical values at every step folded into one chart (single-label micro
 * precision, recall and F1 all equal accuracy): the first name keeps the chart and lists the others.
 */
export function foldIdenticalSeries(names: readonly string[], series: (name: string) => [number, number][]): { name: string; also: string[]; points: [number, number][] }[] {
  const out: { name: string; also: string[]; points: [number, number][] }[] = [];
  const same = (a: [number, number][], b: [number, number][]): boolean => a.length === b.length && a.every(([x, y], i) => x === b[i]![0] && Math.abs(y - b[i]![1]) <= 1e-12 * Math.max(1, Math.abs(y)));
  for (const name of names) {
    const pts = series(name);
    const twin = out.find((o) => same(o.points, pts));
    if (twin) twin.also.push(name);
    else out.push({ name, also: [], points: pts });
  }
  return out;
}

function metricCharts(records: readonly LogRecord[]): string {
  const names = evalMetricNames(records).filter((n) => n !== 'loss' && !NOT_PLOTTED.has(n));
  if (names.length === 0) return '<p class="sub">No evaluation metrics were logged during training.</p>';
  const folded = foldIdenticalSeries(names, (name) => seriesOf(records, (r) => r.eval?.[name]));
  const boxes = folded.map(({ name, also, points }, i) => {
    const title = also.length ? `${name} (= ${also.join(' = ')})` : name;
    return chartBox(lineChart([{ name, points, color: PALETTE[(i + 4) % PALETTE.length] as string, markers: true }], { title, xLabel: 'step', width: 360, height: 230 }));
  });
  return `<div class="charts">${boxes.join('')}</div>`;
}

function perEntityTable(rows: NonNullable<RunSummary['perEntity']>): string {
  const body = rows
    .map((c) => `<tr><td>${esc(c.type)}</td><td class="num">${c.precision.toFixed(4)}</td><td class="num">${c.recall.toFixed(4)}</td><td class="num">${c.f1.toFixed(4)}</td><td class="num">${c.support}</td></tr>`)
    .join('');
  return `<table><tr><th>entity</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr>${body}</table>`;
}

function misclassifiedTable(rows: NonNullable<RunSummary['misclassified']>): string {
  const clip = (t: string): string => (t.length > 220 ? `${t.slice(0, 220)}…` : t);
  const body = rows
    .map((r) => `<tr><td>${esc(clip(r.text))}</td><td>${esc(r.label)}</td><td>${esc(r.predicted)}</td><td class="num">${r.score.toFixed(3)}</td><td class="num">${r.loss.toFixed(3)}</td></tr>`)
    .join('');
  return `<table><tr><th>text</th><th>true</th><th>predicted</th><th class="num">p(predicted)</th><th class="num">loss</th></tr>${body}</table>`;
}

function metricsTable(metrics: Record<string, number>): string {
  const rows = Object.entries(metrics)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td class="num">${esc(formatMetric(k, v))}</td></tr>`)
    .join('');
  return `<table class="kv"><tr><th>metric</th><th class="num">value</th></tr>${rows}</table>`;
}

/** Confusion matrix as a heat-map table: cell shade = share of the true class (row), counts shown. */
export function confusionMatrixTable(labels: readonly string[], matrix: readonly (readonly number[])[]): string {
  const head = labels.map((l) => `<th>${esc(l)}</th>`).join('');
  const rows = matrix
    .map((row, i) => {
      const total = row.reduce((a, b) => a + b, 0);
      const cells = row
        .map((c, j) => {
          const share = total === 0 ? 0 : c / total;
          const hue = i === j ? '37,99,235' : '220,38,38';
          const alpha = c === 0 ? 0 : 0.08 + 0.85 * share;
          const color = alpha > 0.55 ? '#fff' : '#111827';
          const pct = total === 0 || c === 0 ? '' : `<small>${(100 * share).toFixed(1)}%</small>`;
          return `<td class="${i === j ? 'diag' : c === 0 ? 'zero' : ''}" style="background:rgba(${hue},${alpha.toFixed(3)});color:${color}" title="true ${esc(labels[i] ?? '')}, predicted ${esc(labels[j] ?? '')}: ${c}">${c}${pct}</td>`;
        })
        .join('');
      return `<tr><th class="row">${esc(labels[i] ?? String(i))}</th>${cells}<td class="num" style="border:none;color:#6b7280">${total}</td></tr>`;
    })
    .join('');
  return `<table class="cm"><tr><th class="corner">true ↓ / predicted →</th>${head}<th class="num">total</th></tr>${rows}</table>`;
}

function perClassTable(perClass: NonNullable<RunSummary['perClass']>): string {
  const rows = perClass
    .map((c) => `<tr><td>${esc(c.label)}</td><td class="num">${c.precision.toFixed(4)}</td><td class="num">${c.recall.toFixed(4)}</td><td class="num">${c.f1.toFixed(4)}</td><td class="num">${c.support}</td></tr>`)
    .join('');
  return `<table><tr><th>label</th><th class="num">precision</th><th class="num">recall</th><th class="num">F1</th><th class="num">support</th></tr>${rows}</table>`;
}

function searchTable(search: NonNullable<RunSummary['search']>): string {
  const { metric, direction, trials } = search;
  const sign = direction === 'maximize' ? -1 : 1;
  const score = (t: SearchTrial): number => {
    const v = t.metrics[metric];
    return v === undefined || !Number.isFinite(v) ? Infinity : sign * v;
  };
  const sorted = [...trials].sort((a, b) => score(a) - score(b));
  const best = sorted.find((t) => Number.isFinite(score(t)) && t.status !== 'failed');
  const paramNames = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
  const metricNames = [metric, ...new Set(trials.flatMap((t) => Object.keys(t.metrics)).filter((m) => m !== metric && !NOT_PLOTTED.has(m)))].slice(0, 6);
  const head = ['trial', ...paramNames, ...metricNames, 'time', 'status'];
  const rows = sorted
    .map((t) => {
      const cls = t === best ? ' class="best"' : '';
      const params = paramNames.map((p) => `<td class="num">${esc(typeof t.params[p] === 'number' ? formatNumber(t.params[p] as number) : String(t.params[p] ?? '—'))}</td>`);
      const mets = metricNames.map((m) => `<td class="num">${esc(formatMetric(m, t.metrics[m]))}</td>`);
      const status = `${t.status ?? 'completed'}${t === best ? ' · best' : ''}${t.kept ? ' · kept' : ''}`;
      return `<tr${cls}><td>${esc(String(t.id))}</td>${params.join('')}${mets.join('')}<td class="num">${t.durationSeconds !== undefined ? esc(formatDuration(t.durationSeconds)) : '—'}</td><td>${esc(status)}</td></tr>`;
    })
    .join('');
  const headHtml = head.map((h, i) => `<th${i > 0 && i < head.length - 1 ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  return `<p class="sub">${trials.length} trials, ranked by <code>${esc(metric)}</code> (${direction === 'maximize' ? 'higher' : 'lower'} is better).</p><table>${headHtml ? `<tr>${headHtml}</tr>` : ''}${rows}</table>`;
}

function kvTable(entries: [string, string][]): string {
  return `<table class="kv">${entries.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

/** The headline metric: the best checkpoint's, else the first final metric that is not a loss. */
function headline(s: RunSummary): [string, string, string] | null {
  if (s.headline) return [`${s.headline.split} ${s.headline.metric}`, formatMetric(s.headline.metric, s.headline.value), s.headline.split === 'test' ? 'held-out test split' : 'best evaluation'];
  if (s.bestCheckpoint) return [`best ${s.bestCheckpoint.metric}`, formatMetric(s.bestCheckpoint.metric, s.bestCheckpoint.value), `step ${s.bestCheckpoint.step}`];
  const fm = Object.entries(s.finalMetrics ?? {}).find(([k]) => !/loss|count|runtime/.test(k));
  return fm ? [fm[0], formatMetric(fm[0], fm[1]), s.finalSplit ?? 'final'] : null;
}

/**
 * Render the report as an HTML string.
 *
 * @example
 * const html = renderHtmlReport({ records, summary: { model: 'bert-base-uncased', task: 'text-classification' } });
 */
export function renderHtmlReport(log: RunLog): string {
  const s = log.summary;
  const records = [...log.records].sort((a, b) => a.step - b.step);
  const title = s.title ?? `Fine-tuning report${s.model ? ` — ${s.model}` : ''}`;
  const status = s.status ?? 'completed';
  const badgeClass = status === 'completed' ? '' : status === 'failed' ? ' bad' : ' warn';
  const last = records[records.length - 1];
  const cards: string[] = [];
  const h = headline(s);
  if (h) cards.push(card(h[0], h[1], h[2]));
  if (s.task) cards.push(card('task', s.task));
  if (s.model) cards.push(card('model', s.model, s.modelType));
  for (const [k, v] of Object.entries(s.throughput ?? {})) cards.push(card(k, formatNumber(v)));
  const total = s.durations?.['total'] ?? (last?.time !== undefined ? last.time : undefined);
  if (total !== undefined) cards.push(card('duration', formatDuration(total)));
  if (last) cards.push(card('steps', String(last.step), `epoch ${formatNumber(last.epoch)}`));
  if (s.data?.trainExamples !== undefined) {
    const n = (v: number): string => v.toLocaleString('en-US');
    const extra: string[] = [];
    if (s.data.validationExamples !== undefined) extra.push(`${n(s.data.validationExamples)} validation`);
    if (s.data.testExamples !== undefined) extra.push(`${n(s.data.testExamples)} test`);
    cards.push(card('train examples', n(s.data.trainExamples), extra.join(' · ')));
  }

  const body: string[] = [];
  body.push(`<h1>${esc(title)}<span class="badge${badgeClass}">${esc(status)}</span></h1>`);
  const when = [s.startedAt ? `started ${s.startedAt}` : '', s.finishedAt ? `finished ${s.finishedAt}` : '', s.outputDir ? `output ${s.outputDir}` : ''].filter(Boolean).join(' · ');
  if (when) body.push(`<p class="sub">${esc(when)}</p>`);
  body.push(`<div class="cards">${cards.join('')}</div>`);

  body.push('<h2>Training</h2>');
  body.push(records.length > 0 || s.lrSchedule ? trainingCharts(records, s.lrSchedule) : '<p class="sub">No training steps were logged.</p>');
  if (records.some((r) => r.eval !== undefined)) {
    body.push('<h2>Evaluation during training</h2>');
    body.push(metricCharts(records));
  }

  if (s.finalMetrics || s.confusionMatrix || s.perClass || s.perEntity) {
    body.push(`<h2>Final evaluation${s.finalSplit ? ` (${esc(s.finalSplit)})` : ''}</h2><div class="cols">`);
    if (s.finalMetrics) body.push(`<div>${metricsTable(s.finalMetrics)}</div>`);
    if (s.confusionMatrix) {
      const labels = s.labels ?? s.confusionMatrix.map((_, i) => String(i));
      body.push(`<div><h3>Confusion matrix</h3>${confusionMatrixTable(labels, s.confusionMatrix)}</div>`);
    }
    body.push('</div>');
    if (s.perClass) body.push(`<h3>Per class</h3>${perClassTable(s.perClass)}`);
    if (s.perEntity) body.push(`<h3>Per entity type</h3>${perEntityTable(s.perEntity)}`);
    if (s.misclassified && s.misclassified.length > 0) body.push(`<h3>Misclassified examples with the highest loss</h3>${misclassifiedTable(s.misclassified)}`);
  }

  if (s.generations && s.generations.length > 0) {
    body.push('<h2>Sample generations</h2><p class="sub">Greedy continuations of the trained model.</p>');
    body.push(`<table><tr><th>prompt</th><th>continuation</th></tr>${s.generations.map((g) => `<tr><td>${esc(g.prompt || '(start of text)')}</td><td>${esc(g.text)}</td></tr>`).join('')}</table>`);
  }

  if (s.search && s.search.trials.length > 0) {
    body.push('<h2>Hyperparameter search</h2>');
    body.push(searchTable(s.search));
  }

  body.push('<h2>Run details</h2><div class="cols">');
  if (s.hyperparameters && Object.keys(s.hyperparameters).length > 0) {
    body.push(`<div><h3>Hyperparameters</h3>${kvTable(Object.entries(s.hyperparameters).map(([k, v]) => [k, v === null ? '—' : typeof v === 'number' ? formatNumber(v) : String(v)]))}</div>`);
  }
  if (s.settings && Object.keys(s.settings).length > 0) body.push(`<div><h3>Settings</h3>${kvTable(Object.entries(s.settings))}</div>`);
  const details: [string, string][] = [];
  if (s.data?.train) details.push(['train data', s.data.train]);
  if (s.data?.validation) details.push(['validation data', s.data.validation]);
  if (s.data?.test) details.push(['test data', s.data.test]);
  if (s.bestCheckpoint) details.push(['best checkpoint', `${s.bestCheckpoint.path} (step ${s.bestCheckpoint.step}, ${s.bestCheckpoint.metric} = ${formatMetric(s.bestCheckpoint.metric, s.bestCheckpoint.value)})`]);
  for (const [k, v] of Object.entries(s.durations ?? {})) details.push([`time: ${k}`, formatDuration(v)]);
  if (details.length > 0) body.push(`<div><h3>Data, checkpoints, timing</h3>${kvTable(details)}</div>`);
  body.push('</div>');
  if (s.data?.preparation && s.data.preparation.length > 0) {
    body.push(`<h3>Data preparation</h3><ul class="notes">${s.data.preparation.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  }
  if (s.notes && s.notes.length > 0) body.push(`<h3>Notes</h3><ul class="notes">${s.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`);
  body.push(`<footer>Generated by finetune. This file is self-contained: it needs no network and no scripts.</footer>`);

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
${body.join('\n')}
</main></body></html>
`;
}

/**
 * Write the report to `path` (folders created; written to a temporary file and renamed into place).
 *
 * @example
 * writeHtmlReport('out/report.html', { records: readMetricsLog('out/metrics.jsonl').records, summary });
 */
export function writeHtmlReport(path: string, log: RunLog): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, renderHtmlReport(log));
  renameSync(tmp, path);
}

// Inline SVG line charts for the HTML report: axes with "nice" ticks (1-2-5 steps), gridlines, one or
// more series (lines, or markers for sparse series such as evaluations), a legend, and a native
// tooltip per marker. Plain strings, no DOM and no external scripts, so the report opens offline.
// Not here: page layout (html.ts).

/** One line on a chart. Points are [x, y]; non-finite y values are skipped. */
export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  color?: string;
  /** Draw a dot at every point (default: only when the series has ≤ 60 points). */
  markers?: boolean;
  dashed?: boolean;
}

/** Chart options. */
export interface ChartOptions {
  title: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Force the y range to include these values (e.g. 0 and 1 for accuracy). */
  yInclude?: number[];
  /** Value formatter for ticks and tooltips. */
  format?: (v: number) => string;
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];

/** Escape text for HTML/SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** A compact number: 3 significant digits, exponent form for very small or large magnitudes. */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e6) return v.toExponential(2).replace(/\.?0+e/, 'e');
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

/** Tick values covering [lo, hi] at a 1-2-5 step, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const start = Math.ceil(lo / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = start; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  return ticks;
}

/** Widen [lo, hi] to nice tick boundaries (and make a flat range non-empty). */
function niceDomain(lo: number, hi: number): [number, number] {
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  const ticks = niceTicks(lo, hi);
  const step = ticks.length > 1 ? (ticks[1] as number) - (ticks[0] as number) : hi - lo;
  return [Math.min(lo, Math.floor(lo / step + 1e-9) * step), Math.max(hi, Math.ceil(hi / step - 1e-9) * step)];
}

/** Thin a long series to at most `max` points (keeps the first and last). */
function thin(points: readonly (readonly [number, number])[], max: number): (readonly [number, number])[] {
  if (points.length <= max) return [...points];
  const stride = points.length / max;
  const out: (readonly [number, number])[] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * stride)] as readonly [number, number]);
  out.push(points[points.length - 1] as readonly [number, number]);
  return out;
}

/**
 * Render a line chart as an <svg> string.
 *
 * @example
 * lineChart([{ name: 'train', points: [[1, 0.7], [2, 0.5]] }], { title: 'Loss', xLabel: 'step' });
 */
export function lineChart(series: readonly Series[], opts: ChartOptions): string {
  const W = opts.width ?? 560;
  const H = opts.height ?? 300;
  const fmt = opts.format ?? formatNumber;
  const m = { left: 58, right: 16, top: 34, bottom: 44 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const clean = series.map((s) => ({ ...s, points: thin(s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)), 1500) }));
  const xs = clean.flatMap((s) => s.points.map((p) => p[0]));
  const ys = clean.flatMap((s) => s.points.map((p) => p[1])).concat(opts.yInclude ?? []);
  const title = `<text x="${m.left}" y="20" class="chart-title">${escapeXml(opts.title)}</text>`;
  if (xs.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(opts.title)}">${title}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="chart-empty">no data</text></svg>`;
  }
  const [x0, x1] = niceDomain(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = niceDomain(Math.min(...ys), Math.max(...ys));
  const sx = (x: number): number => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const r = (v: number): string => v.toFixed(1);

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeXml(opts.title)}">`);
  parts.push(title);
  // Grid and ticks.
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${r(sy(t))}" y2="${r(sy(t))}" class="grid"/>`);
    parts.push(`<text x="${m.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end" class="tick">${escapeXml(fmt(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    parts.push(`<line x1="${r(sx(t))}" x2="${r(sx(t))}" y1="${m.top}" y2="${m.top + ph}" class="grid"/>`);
    parts.push(`<text x="${r(sx(t))}" y="${m.top + ph + 16}" text-anchor="middle" class="tick">${escapeXml(formatNumber(t))}</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" class="frame"/>`);
  if (opts.xLabel) parts.push(`<text x="${m.left + pw / 2}" y="${H - 6}" text-anchor="middle" class="axis-label">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel) parts.push(`<text transform="translate(13 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" class="axis-label">${escapeXml(opts.yLabel)}</text>`);
  // Series.
  clean.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    if (s.points.length > 1) {
      const d = s.points.map(([x, y], k) => `${k === 0 ? 'M' : 'L'}${r(sx(x))} ${r(sy(y))}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    }
    if ((s.markers ?? s.points.length <= 60) || s.points.length === 1) {
      for (const [x, y] of s.points) {
        parts.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3.2" fill="${color}"><title>${escapeXml(`${s.name} — step ${formatNumber(x)}: ${fmt(y)}`)}</title></circle>`);
      }
    }
  });
  // Legend (top right), only when there is more than one series.
  if (clean.length > 1) {
    let lx = m.left + pw;
    const items = clean.map((s, i) => ({ name: s.name, color: s.color ?? PALETTE[i % PALETTE.length], dashed: s.dashed })).reverse();
    for (const it of items) {
      const w = 24 + it.name.length * 6.6;
      lx -= w + 10;
      parts.push(`<line x1="${r(lx)}" x2="${r(lx + 16)}" y1="20" y2="20" stroke="${it.color}" stroke-width="2.5"${it.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
      parts.push(`<text x="${r(lx + 21)}" y="24" class="legend">${escapeXml(it.name)}</text>`);
    }
  }
  parts.push('</svg>');
  return parts.join('');
}

// Progress output for long work, and the CLI's line printer. In a terminal: one bar on the last line
// (redrawn in place, at most 80 columns or the terminal's width) with the throughput in samples/s or
// tokens/s, and every other line (evaluations, "saved ...") printed above it, never into it. Elsewhere
// (CI logs, pipes): plain periodic log lines. Rates are measured from the first update, so the first
// step (which includes start-up work) never shows a made-up rate.
// Not here: what is being counted (the trainer) or the messages themselves.

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/** What a progress bar counts besides its units: e.g. 32 samples per step, shown as samples/s. */
export interface Throughput {
  /** Items per unit (samples or tokens per optimizer step). */
  perUnit: number;
  /** Their name: 'samples' or 'tokens'. */
  name: string;
}

/** Where output goes (injected by tests). */
export interface Terminal {
  write(s: string): void;
  isTTY: boolean;
  columns?: number;
}

export interface ProgressOptions {
  unit?: string;
  throughput?: Throughput;
  /** Default: stderr. */
  terminal?: Terminal;
  /** Milliseconds clock (default performance.now). */
  now?: () => number;
  /** Non-terminal output: least milliseconds between lines (default 10 s). */
  logEveryMs?: number;
}

/** The bar currently drawn in the terminal, so printed lines go above it. */
let active: { clear(): void; redraw(): void } | null = null;

/**
 * Prints one line for the user (to `out`, stdout by default); when a bar is on screen, the bar is
 * cleared first and redrawn below the line.
 */
export function printLine(s: string, out: Terminal = { write: (x) => void process.stdout.write(x), isTTY: Boolean(process.stdout.isTTY) }): void {
  active?.clear();
  out.write(`${s}\n`);
  active?.redraw();
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.round(seconds % 60);
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

function formatRate(perSecond: number): string {
  if (perSecond >= 100) return perSecond.toFixed(0);
  if (perSecond >= 10) return perSecond.toFixed(1);
  return perSecond.toFixed(2);
}

function formatInfo(info: Record<string, string | number> | undefined, sep: string): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => `${k}${sep}${typeof v === 'number' ? (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(1) : v.toPrecision(4)) : v}`)
    .join(' ');
}

/** A progress reporter over `total` units (steps, batches, bytes). */
export function createProgress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  const unit = opts.unit ?? 'it';
  const now = opts.now ?? (() => performance.now());
  const term: Terminal = opts.terminal ?? { write: (s) => void process.stderr.write(s), isTTY: Boolean(process.stderr.isTTY), columns: process.stderr.columns };
  // The rate is measured between the first update and the latest one.
  let first: { done: number; t: number } | null = null;
  const rateOf = (done: number, t: number): number | null => {
    if (first === null || done <= first.done || t <= first.t) return null;
    return ((done - first.done) / (t - first.t)) * 1000;
  };
  const throughputText = (rate: number | null): string => {
    if (rate === null) return opts.throughput ? `— ${opts.throughput.name}/s` : `— ${unit}/s`;
    return opts.throughput ? `${formatRate(rate * opts.throughput.perUnit)} ${opts.throughput.name}/s` : `${formatRate(rate)} ${unit}/s`;
  };

  if (term.isTTY) {
    const width = Math.min(80, term.columns && term.columns > 20 ? term.columns : 80);
    let line = '';
    const render = (done: number, info?: Record<string, string | number>): string => {
      const t = now();
      const rate = rateOf(done, t);
      const eta = rate === null ? '?' : formatDuration((total - done) / rate);
      const counts = `${done}/${total}`;
      const tail = ` ${counts} ${throughputText(rate)} ETA ${eta}`;
      const extra = formatInfo(info, ' ');
      // Bar gets what is left of the width after the label, counts, rate, ETA and (if it fits) the info.
      let barWidth = width - label.length - tail.length - 3 - (extra ? extra.length + 1 : 0);
      let shownExtra = extra;
      if (barWidth < 10) {
        shownExtra = '';
        barWidth = width - label.length - tail.length - 3;
      }
      barWidth = Math.max(0, barWidth);
      const filled = total > 0 ? Math.round((Math.min(done, total) / total) * barWidth) : 0;
      const bar = barWidth > 0 ? `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]` : '';
      const text = `${label} ${bar}${tail}${shownExtra ? ` ${shownExtra}` : ''}`;
      return text.length > width ? text.slice(0, width) : text;
    };
    const handle = {
      clear: () => term.write('\r\x1b[K'),
      redraw: () => term.write(line),
    };
    active = handle;
    line = render(0);
    term.write(line);
    return {
      update(done, info) {
        if (first === null) first = { done, t: now() };
        line = render(done, info);
        term.write(`\r\x1b[K${line}`);
      },
      stop() {
        term.write('\n');
        if (active === handle) active = null;
      },
    };
  }

  let lastPrint = -Infinity;
  const every = opts.logEveryMs ?? 10_000;
  const t0 = now();
  return {
    update(done, info) {
      const t = now();
      if (first === null) first = { done, t };
      if (done < total && t - lastPrint < every) return;
      lastPrint = t;
      const rate = rateOf(done, t);
      const eta = rate === null ? '?' : formatDuration((total - done) / rate);
      const extra = info ? ` ${formatInfo(info, '=')}` : '';
      term.write(`${label}: ${done}/${total} ${unit} (${throughputText(rate)}, elapsed ${formatDuration((t - t0) / 1000)}, ETA ${eta})${extra}\n`);
    },
    stop() {},
  };
}

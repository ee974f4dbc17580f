// Progress output for long work: a cli-progress bar with rate and ETA when stderr is a terminal,
// plain periodic log lines otherwise (CI logs, pipes). Also the shared console printer of the CLI.

import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

function fmt(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

/** A progress reporter over `total` units (steps, batches, bytes). */
export function createProgress(label: string, total: number, unit = 'it'): Progress {
  const t0 = performance.now();
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted} | {info}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0', info: '' });
    return {
      update(done, info) {
        const secs = (performance.now() - t0) / 1000;
        bar.update(done, {
          rate: (done / Math.max(secs, 1e-9)).toFixed(2),
          info: info ? Object.entries(info).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' ') : '',
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastPrint = 0;
  return {
    update(done, info) {
      const now = performance.now();
      if (done < total && now - lastPrint < 10_000) return;
      lastPrint = now;
      const secs = (now - t0) / 1000;
      const rate = done / Math.max(secs, 1e-9);
      const extra = info ? ' ' + Object.entries(info).map(([k, v]) => `${k}=${typeof v === 'number' ? v.toPrecision(4) : v}`).join(' ') : '';
      process.stderr.write(`${label}: ${done}/${total} ${unit} (${rate.toFixed(2)} ${unit}/s, elapsed ${fmt(secs)}, ETA ${fmt((total - done) / rate)})${extra}\n`);
    },
    stop() {},
  };
}

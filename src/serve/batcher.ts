// Dynamic micro-batching: requests queue their model rows; a batch runs as soon as maxBatchSize rows
// wait or the oldest has waited maxWaitMs, so concurrent requests share forward passes. The queue is
// bounded (QueueFullError → 503), every job has a deadline (TimeoutError → 504), and drain() lets
// in-flight work finish on shutdown. Generic over the row and output types; the forward pass is
// injected and may be synchronous (encoder forward passes) or return a promise (text generation in a
// worker thread); either way one batch runs at a time. Not here: HTTP (server.ts), tokenization (src/inference/).

import { FinetuneError } from '../errors.ts';

/** The queue is full; try again later (HTTP 503 + Retry-After). */
export class QueueFullError extends FinetuneError {}
/** The job did not finish before its deadline (HTTP 504). */
export class TimeoutError extends FinetuneError {}
/** The batcher is shutting down and takes no new work (HTTP 503). */
export class ShuttingDownError extends FinetuneError {}

export interface BatcherOptions {
  /** Most rows in one forward pass (default 32). */
  maxBatchSize?: number;
  /** Longest wait for more rows before running a partial batch, in ms (default 5). */
  maxWaitMs?: number;
  /** Most jobs waiting (default 256); more are refused with QueueFullError. */
  maxQueue?: number;
  /** Per-job deadline from submission, in ms (default 30,000). */
  timeoutMs?: number;
  /** Called after each forward pass (for metrics). */
  onBatch?: (info: { rows: number; jobs: number; seconds: number }) => void;
}

interface Job<R, O> {
  rows: R[];
  outputs: O[];
  /** Rows already handed to a forward pass. */
  taken: number;
  enqueuedAt: number;
  timer: NodeJS.Timeout | null;
  done: boolean;
  resolve: (outputs: O[]) => void;
  reject: (err: Error) => void;
}

/**
 * Groups rows from concurrent submissions into forward passes.
 *
 * @example
 * const b = new MicroBatcher((rows) => pipe.forward(rows), { maxBatchSize: 16, maxWaitMs: 5 });
 * const outputs = await b.submit(prepared.rows);
 */
export class MicroBatcher<R, O> {
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  readonly maxQueue: number;
  readonly timeoutMs: number;
  private readonly queue: Job<R, O>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private running = false;
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly forward: (rows: R[]) => O[] | Promise<O[]>,
    private readonly options: BatcherOptions = {},
  ) {
    this.maxBatchSize = Math.max(1, options.maxBatchSize ?? 32);
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? 5);
    this.maxQueue = Math.max(1, options.maxQueue ?? 256);
    this.timeoutMs = Math.max(1, options.timeoutMs ?? 30_000);
  }

  /** Jobs waiting (not yet fully handed to a forward pass). */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues `rows`; resolves with their outputs in order. */
  submit(rows: R[]): Promise<O[]> {
    if (this.closing) return Promise.reject(new ShuttingDownError('the server is shutting down'));
    if (rows.length === 0) return Promise.resolve([]);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new QueueFullError(`the request queue is full (${this.maxQueue} waiting); retry shortly`));
    }
    return new Promise<O[]>((resolve, reject) => {
      const job: Job<R, O> = { rows, outputs: [], taken: 0, enqueuedAt: Date.now(), timer: null, done: false, resolve, reject };
      job.timer = setTimeout(() => this.expire(job), this.timeoutMs);
      this.queue.push(job);
      this.schedule();
    });
  }

  private expire(job: Job<R, O>): void {
    if (job.done) return;
    job.done = true;
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    job.reject(new TimeoutError(`the request did not finish within ${this.timeoutMs} ms`));
    this.notifyIdle();
  }

  private pendingRows(): number {
    let n = 0;
    for (const j of this.queue) n += j.rows.length - j.taken;
    return n;
  }

  /** Arranges the next flush: now if a full batch waits, else when the oldest job's wait runs out. */
  private schedule(): void {
    if (this.running || this.immediate !== null || this.queue.length === 0) return;
    const wait = this.pendingRows() >= this.maxBatchSize || this.closing ? 0 : this.queue[0]!.enqueuedAt + this.maxWaitMs - Date.now();
    if (wait <= 0) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      // setImmediate (not a direct call) lets pending I/O — new requests — be read first.
      this.immediate = setImmediate(() => {
        this.immediate = null;
        this.flush();
      });
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, wait);
    }
  }

  private flush(): void {
    if (this.queue.length === 0) return this.notifyIdle();
    // Take up to maxBatchSize rows from the front, splitting a large job across batches.
    const parts: Array<{ job: Job<R, O>; from: number; to: number }> = [];
    let room = this.maxBatchSize;
    for (const job of this.queue) {
      if (room === 0) break;
      const n = Math.min(room, job.rows.length - job.taken);
      parts.push({ job, from: job.taken, to: job.taken + n });
      job.taken += n;
      room -= n;
    }
    while (this.queue.length > 0 && this.queue[0]!.taken === this.queue[0]!.rows.length) this.queue.shift();
    const rows = parts.flatMap((p) => p.job.rows.slice(p.from, p.to));
    this.running = true;
    const t0 = process.hrtime.bigint();
    const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));
    let result: O[] | Promise<O[]>;
    try {
      result = this.forward(rows);
    } catch (err) {
      return this.settle(parts, rows.length, t0, null, asError(err));
    }
    if (result instanceof Promise) {
      result.then(
        (outputs) => this.settle(parts, rows.length, t0, outputs, null),
        (err: unknown) => this.settle(parts, rows.length, t0, null, asError(err)),
      );
    } else {
      this.settle(parts, rows.length, t0, result, null);
    }
  }

  /** Hands a finished batch's outputs (or its error) to its jobs and arranges the next batch. */
  private settle(parts: Array<{ job: Job<R, O>; from: number; to: number }>, n: number, t0: bigint, outputs: O[] | null, error: Error | null): void {
    if (error === null && outputs!.length !== n) error = new Error(`forward returned ${outputs!.length} outputs for ${n} rows`);
    this.running = false;
    this.options.onBatch?.({ rows: n, jobs: new Set(parts.map((p) => p.job)).size, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    let k = 0;
    for (const { job, from, to } of parts) {
      if (error !== null) {
        this.finish(job, error);
        continue;
      }
      for (let i = from; i < to; i++) job.outputs[i] = outputs![k++]!;
      if (to === job.rows.length) this.finish(job, null);
    }
    this.schedule();
    if (this.queue.length === 0) this.notifyIdle();
  }

  private finish(job: Job<R, O>, error: Error | null): void {
    if (job.done) return;
    job.done = true;
    if (job.timer !== null) clearTimeout(job.timer);
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
    if (error) job.reject(error);
    else job.resolve(job.outputs);
  }

  private notifyIdle(): void {
    if (this.queue.length > 0 || this.running) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Refuses new jobs and resolves once every queued job has finished. */
  drain(): Promise<void> {
    this.closing = true;
    this.schedule(); // run what waits now, without waiting for more rows
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

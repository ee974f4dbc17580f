// The server's handle on its generation worker thread (generation-worker.ts): starts it and waits for
// the model to load, posts prepared text-generation jobs and resolves their outputs, and restarts the
// thread if it dies (the jobs it held fail; later ones wait for the new thread). One job runs at a
// time; the MicroBatcher in front of it does the queueing, timeouts and draining.
// Not here: validation (src/inference/), HTTP (server.ts), the decoding loop (src/generate/).

import { Worker } from 'node:worker_threads';
import { FinetuneError, ModelError } from '../errors.ts';
import type { PipelineOptions } from '../inference/pipeline.ts';
import type { GenerationJob, PipelineOutput } from '../inference/types.ts';

/** A job failed inside the generation worker (HTTP 500); the message says why. */
export class GenerationFailedError extends FinetuneError {}

/** What the worker is started with (structured-cloneable: no functions). */
export interface WorkerInit {
  modelDir: string;
  options: Omit<PipelineOptions, 'warn'>;
  numThreads?: number;
}

export type ToWorker = { type: 'run'; id: number; job: GenerationJob; deadline?: number };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'log'; line: string }
  | { type: 'load-failed'; error: { name: string; message: string } }
  | { type: 'done'; id: number; outputs: PipelineOutput[] }
  | { type: 'failed'; id: number; error: { name: string; message: string } };

interface Pending {
  resolve: (outputs: PipelineOutput[]) => void;
  reject: (err: Error) => void;
}

/**
 * Source of the worker: registers tsx (so the TypeScript entry runs, as bin/finetune.js does) unless
 * the entry is already JavaScript, then imports it.
 */
function workerSource(entry: URL): string {
  const load = `import(${JSON.stringify(entry.href)})`;
  if (!entry.pathname.endsWith('.ts')) return load;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return ${load}; })`;
}

/**
 * A text-generation model loaded in a worker thread.
 *
 * @example
 * const gen = await GenerationWorker.start('runs/stories-lm', { options: { task: 'text-generation' } });
 * const prepared = requests.prepare('Once upon a time', { max_new_tokens: 20 }); // on this thread
 * if (prepared.kind === 'generation') await gen.run(prepared.job, Date.now() + 30_000);
 * await gen.close();
 */
export class GenerationWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private loaded: Promise<void> = Promise.resolve();
  private isReady = false;
  private closed = false;

  private constructor(
    private readonly init: WorkerInit,
    private readonly log: (line: string) => void,
  ) {}

  /** Starts the thread; resolves once the model has loaded, rejects with a ModelError saying why it could not. */
  static async start(modelDir: string, settings: Omit<WorkerInit, 'modelDir'>, log: (line: string) => void = () => undefined): Promise<GenerationWorker> {
    const g = new GenerationWorker({ modelDir, ...settings }, log);
    g.spawn();
    try {
      await g.loaded;
    } catch (err) {
      await g.close();
      throw err;
    }
    return g;
  }

  /** The model is loaded and the thread takes jobs. */
  get ready(): boolean {
    return this.isReady && !this.closed;
  }

  private spawn(): void {
    const worker = new Worker(workerSource(new URL('./generation-worker.ts', import.meta.url)), { eval: true, workerData: this.init });
    this.worker = worker;
    this.isReady = false;
    let settle: { resolve: () => void; reject: (e: Error) => void };
    this.loaded = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.loaded.catch(() => undefined); // observed by start() or run(); never an unhandled rejection
    worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          this.isReady = true;
          settle.resolve();
          break;
        case 'log':
          this.log(m.line);
          break;
        case 'load-failed':
          settle.reject(new ModelError(m.error.message));
          void worker.terminate();
          break;
        case 'done':
        case 'failed': {
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.type === 'done') p?.resolve(m.outputs);
          else p?.reject(new GenerationFailedError(`generation failed: ${m.error.message}`));
          break;
        }
      }
    });
    worker.on('error', (err) => {
      this.log(`generation worker error: ${err.stack ?? err.message}`);
      settle.reject(new ModelError(`the generation worker failed while loading ${this.init.modelDir}: ${err.message}`, { cause: err }));
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // closed on purpose
      this.worker = null;
      const wasReady = this.isReady;
      this.isReady = false;
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) p.reject(new GenerationFailedError(`the generation worker stopped (exit code ${code}) while running this request`));
      settle.reject(new ModelError(`the generation worker for ${this.init.modelDir} exited (code ${code}) before the model loaded`));
      // A thread that dies after loading is restarted; one that never loaded is not (it would fail again).
      if (!this.closed && wasReady) {
        this.log(`generation worker exited (code ${code}); restarting it`);
        this.spawn();
      }
    });
  }

  /** Runs a prepared job in the worker; `deadline` (epoch ms) stops decoding when it passes. */
  async run(job: GenerationJob, deadline?: number): Promise<PipelineOutput[]> {
    if (this.closed) throw new GenerationFailedError('the generation worker is closed');
    await this.loaded;
    const worker = this.worker;
    if (worker === null) throw new GenerationFailedError('the generation worker is not running');
    const id = this.nextId++;
    return new Promise<PipelineOutput[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const message: ToWorker = { type: 'run', id, job, ...(deadline !== undefined ? { deadline } : {}) };
      worker.postMessage(message);
    });
  }

  /** Stops the thread (jobs still running fail). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(new GenerationFailedError('the generation worker was closed'));
    this.pending.clear();
    if (w !== null) await w.terminate();
  }
}

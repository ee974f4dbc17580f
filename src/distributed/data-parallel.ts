// Data-parallel gradient synchronisation over Gloo, as PyTorch's DistributedDataParallel does on CPU:
// gradients are packed into ~25 MB buckets in reverse parameter order, each bucket is all-reduced (sum)
// and divided by the world size. With overlap (beginOverlap/finishOverlap) a bucket's allreduce starts
// on Gloo's background thread as soon as backward has finished all its gradients, as DDP's hooks do;
// allreduceGradients() is the synchronous form (after backward).
// Also: averaging scalars (the logged loss), broadcasting rank 0's decisions. Not here: spawning ranks.

import { hostname as osHostname } from 'node:os';
import { DistributedError } from '../errors.ts';
import { setLeafGradHook } from '../tensor/autograd.ts';
import type { Tensor } from '../tensor/index.ts';
import { readDistEnv, type DistEnv } from './env.ts';
import { loadGloo, type GlooAddon } from './native.ts';

/** True unless this process is a data-parallel rank other than 0 (only rank 0 owns the output folder). */
export function isMainRank(env: NodeJS.ProcessEnv = process.env): boolean {
  const d = readDistEnv(env);
  return d === null || d.rank === 0;
}

/** This process's rank from the torchrun environment (rendezvous done), or null for a single-process run. */
export function dataParallelFromEnv(env: NodeJS.ProcessEnv = process.env): DataParallel | null {
  const d = readDistEnv(env);
  return d ? new DataParallel(d) : null;
}

/** DDP's default bucket size. */
export const BUCKET_BYTES = 25 * 1024 * 1024;

interface Bucket {
  params: Tensor[];
  buf: Float32Array;
  ready: number;
  job: number | null;
}

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  private readonly gloo: GlooAddon;
  private bucket = new Float32Array(0);
  private buckets: Bucket[] = [];
  private bucketOf = new Map<Tensor, Bucket>();
  private bucketParams: readonly Tensor[] | null = null;
  private launchOrder: Bucket[] = [];
  /** Buckets of the last overlapped step, and how many of them started while backward was running. */
  lastOverlap = { buckets: 0, startedDuringBackward: 0 };
  /** Bucket size: FINETUNE_BUCKET_MB (DDP's bucket_cap_mb), default 25 MB. */
  readonly bucketBytes: number;

  constructor(readonly env: DistEnv, runId = `${env.masterAddr}:${env.masterPort}`) {
    this.rank = env.rank;
    this.worldSize = env.worldSize;
    this.gloo = loadGloo();
    const mb = Number(process.env.FINETUNE_BUCKET_MB ?? '25');
    this.bucketBytes = mb > 0 ? mb * 1024 * 1024 : BUCKET_BYTES;
    const r = env.rendezvous;
    // Single-node runs (every rank sees MASTER_ADDR as loopback) mesh over loopback; otherwise this host's name.
    const local = env.masterAddr === '127.0.0.1' || env.masterAddr === 'localhost';
    try {
      this.gloo.init({
        rank: env.rank,
        size: env.worldSize,
        store: r.kind,
        path: r.kind === 'file' ? r.path : undefined,
        host: r.kind === 'redis' ? r.host : undefined,
        port: r.kind === 'redis' ? r.port : undefined,
        prefix: `finetune/${runId}`,
        hostname: process.env.FINETUNE_DIST_HOSTNAME ?? (local ? '127.0.0.1' : osHostname()),
        timeoutMs: env.timeoutMs,
      });
    } catch (err) {
      throw new DistributedError(
        `rank ${env.rank} of ${env.worldSize} could not meet the others (${(err as Error).message}); ` +
          'check that every rank was started with the same MASTER_ADDR, MASTER_PORT and FINETUNE_RDZV, and that none exited early',
        { cause: err },
      );
    }
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Sums every gradient across ranks and divides by the world size (bucketed, reverse order). */
  allreduceGradients(params: readonly Tensor[], bucketBytes = this.bucketBytes): void {
    const withGrad = params.filter((p) => p.grad !== null).reverse();
    const cap = Math.max(1, Math.floor(bucketBytes / 4));
    let i = 0;
    while (i < withGrad.length) {
      let n = 0;
      let j = i;
      while (j < withGrad.length && (n === 0 || n + (withGrad[j] as Tensor).size <= cap)) n += (withGrad[j++] as Tensor).size;
      if (this.bucket.length < n) this.bucket = new Float32Array(n);
      const buf = this.bucket.subarray(0, n);
      let off = 0;
      for (let k = i; k < j; k++) {
        const p = withGrad[k] as Tensor;
        buf.set((p.grad as Tensor).floatData.subarray(0, p.size), off);
        off += p.size;
      }
      this.gloo.allreduceSum(buf);
      const inv = 1 / this.worldSize;
      off = 0;
      for (let k = i; k < j; k++) {
        const p = withGrad[k] as Tensor;
        const g = (p.grad as Tensor).floatData;
        for (let e = 0; e < p.size; e++) g[e] = (buf[off + e] as number) * inv;
        off += p.size;
      }
      i = j;
    }
  }

  /**
   * Starts watching backward: each ~25 MB bucket (parameters in reverse order) is all-reduced on Gloo's
   * thread once all its gradients are final. Call finishOverlap() after backward.
   */
  beginOverlap(params: readonly Tensor[], bucketBytes = this.bucketBytes): void {
    if (this.bucketParams !== params) {
      this.buckets = [];
      this.bucketOf.clear();
      const cap = Math.max(1, Math.floor(bucketBytes / 4));
      let cur: Tensor[] = [];
      let n = 0;
      const close = (): void => {
        if (cur.length === 0) return;
        const b: Bucket = { params: cur, buf: new Float32Array(n), ready: 0, job: null };
        for (const p of cur) this.bucketOf.set(p, b);
        this.buckets.push(b);
        cur = [];
        n = 0;
      };
      for (const p of [...params].reverse()) {
        if (n > 0 && n + p.size > cap) close();
        cur.push(p);
        n += p.size;
      }
      close();
      this.bucketParams = params;
    }
    for (const b of this.buckets) {
      b.ready = 0;
      b.job = null;
    }
    this.launchOrder = [];
    setLeafGradHook((t) => {
      const b = this.bucketOf.get(t);
      if (b && ++b.ready === b.params.length) this.launch(b);
    });
  }

  private launch(b: Bucket): void {
    let off = 0;
    for (const p of b.params) {
      if (p.grad) b.buf.set(p.grad.floatData.subarray(0, p.size), off);
      else b.buf.fill(0, off, off + p.size);
      off += p.size;
    }
    b.job = this.gloo.allreduceAsync(b.buf);
    this.launchOrder.push(b);
  }

  /** Launches buckets backward left incomplete (unused parameters), waits for all, writes averaged gradients back. */
  finishOverlap(): void {
    setLeafGradHook(null);
    this.lastOverlap = { buckets: this.buckets.length, startedDuringBackward: this.launchOrder.length };
    for (const b of this.buckets) if (b.job === null) this.launch(b);
    const inv = 1 / this.worldSize;
    for (const b of this.launchOrder) {
      this.gloo.wait(b.job as number);
      let off = 0;
      for (const p of b.params) {
        if (p.grad) {
          const g = p.grad.floatData;
          for (let e = 0; e < p.size; e++) g[e] = (b.buf[off + e] as number) * inv;
        }
        off += p.size;
      }
    }
    this.launchOrder = [];
  }

  /** The mean of x over ranks (float32 sum, like the gradients). */
  mean(x: number): number {
    const a = new Float32Array([x]);
    this.gloo.allreduceSum(a);
    return (a[0] as number) / this.worldSize;
  }

  /** Rank 0's values on every rank. */
  broadcast(values: number[]): number[] {
    const a = Float64Array.from(values);
    this.gloo.broadcast(a, 0);
    return Array.from(a);
  }

  barrier(): void {
    this.gloo.barrier();
  }

  destroy(): void {
    this.gloo.destroy();
  }
}

// Data-parallel gradient synchronisation over Gloo, as PyTorch's DistributedDataParallel does on CPU:
// gradients are packed into ~25 MB buckets in reverse parameter order, each bucket is all-reduced (sum)
// and divided by the world size. The allreduce runs after backward, synchronously (no overlap with
// backward yet: the autograd engine has no per-gradient hook to start a bucket early).
// Also: averaging scalars (the logged loss), broadcasting rank 0's decisions. Not here: spawning ranks.

import { hostname as osHostname } from 'node:os';
import type { Tensor } from '../tensor/index.ts';
import { readDistEnv, type DistEnv } from './env.ts';
import { loadGloo, type GlooAddon } from './native.ts';

/** This process's rank from the torchrun environment (rendezvous done), or null for a single-process run. */
export function dataParallelFromEnv(env: NodeJS.ProcessEnv = process.env): DataParallel | null {
  const d = readDistEnv(env);
  return d ? new DataParallel(d) : null;
}

/** DDP's default bucket size. */
export const BUCKET_BYTES = 25 * 1024 * 1024;

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  private readonly gloo: GlooAddon;
  private bucket = new Float32Array(0);

  constructor(readonly env: DistEnv, runId = `${env.masterAddr}:${env.masterPort}`) {
    this.rank = env.rank;
    this.worldSize = env.worldSize;
    this.gloo = loadGloo();
    const r = env.rendezvous;
    // Single-node runs (every rank sees MASTER_ADDR as loopback) mesh over loopback; otherwise this host's name.
    const local = env.masterAddr === '127.0.0.1' || env.masterAddr === 'localhost';
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
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Sums every gradient across ranks and divides by the world size (bucketed, reverse order). */
  allreduceGradients(params: readonly Tensor[], bucketBytes = BUCKET_BYTES): void {
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

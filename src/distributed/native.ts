// Loads the optional Gloo addon (build/Release/finetune_dist.node, built by binding.gyp only when
// native/detect-gloo.cjs finds libgloo-dev). Its absence is a clear error naming the package, never a
// silent single-process fallback. Not here: bucketing or the env contract.

import { createRequire } from 'node:module';
import { FinetuneError } from '../errors.ts';

export interface GlooInit {
  rank: number;
  size: number;
  store: 'file' | 'redis';
  path?: string;
  host?: string;
  port?: number;
  prefix: string;
  /** This rank's address for the TCP mesh (Gloo's tcp::attr hostname). */
  hostname: string;
  timeoutMs: number;
}

export interface GlooAddon {
  init(o: GlooInit): void;
  allreduceSum(a: Float32Array): void;
  /** Queues an in-place allreduce on the background thread; keep `a` alive and untouched until wait(id). */
  allreduceAsync(a: Float32Array): number;
  wait(id: number): void;
  broadcast(a: Float64Array, root: number): void;
  barrier(): void;
  destroy(): void;
}

const PATHS = ['../../build/Release/finetune_dist.node', '../../build/Debug/finetune_dist.node'];

let cached: GlooAddon | null = null;

/** The Gloo addon, or a FinetuneError saying how to get it. */
export function loadGloo(): GlooAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let last = '';
  for (const p of PATHS) {
    try {
      cached = require(p) as GlooAddon;
      return cached;
    } catch (e) {
      last = (e as Error).message;
    }
  }
  throw new FinetuneError(
    'distributed training needs the Gloo addon (build/Release/finetune_dist.node), which is not built: ' +
      'install Gloo (Debian/Ubuntu: `apt-get install libgloo-dev`) and rebuild with `npm run install`' +
      (last && !last.includes('Cannot find module') ? ` (load error: ${last})` : ''),
  );
}

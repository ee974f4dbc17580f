// The torchrun environment contract: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK (set by
// `finetune launch`, torchrun, or by hand from mpirun's OMPI_COMM_WORLD_* / Slurm's SLURM_PROCID), plus
// where ranks meet: FINETUNE_RDZV = a shared directory (Gloo's FileStore) or redis://host:port (Gloo's
// RedisStore). This Gloo (Debian 2022-05) has no TCPStore, so MASTER_ADDR/PORT alone cannot rendezvous.
// Not here: the communicator (comm.ts) or process spawning (src/cli/launch.ts).

import { ConfigError } from '../errors.ts';

export type Rendezvous = { kind: 'file'; path: string } | { kind: 'redis'; host: string; port: number };

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  rendezvous: Rendezvous;
  /** Gloo's timeout for rendezvous and every collective (FINETUNE_DIST_TIMEOUT seconds, default 60). */
  timeoutMs: number;
}

function int(env: NodeJS.ProcessEnv, name: string, dflt?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (dflt !== undefined) return dflt;
    throw new ConfigError(name, 'is not set: start ranks with `finetune launch --nproc-per-node N -- train ...` or set the torchrun variables');
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new ConfigError(name, `must be a non-negative integer, got "${raw}"`);
  return v;
}

/** Parses a FINETUNE_RDZV value ("redis://host:port" or a directory path). */
export function parseRendezvous(spec: string): Rendezvous {
  if (spec.startsWith('redis://')) {
    const u = new URL(spec);
    return { kind: 'redis', host: u.hostname, port: u.port ? Number(u.port) : 6379 };
  }
  if (spec.startsWith('file://')) return { kind: 'file', path: spec.slice('file://'.length) };
  if (spec.includes('://')) throw new ConfigError('FINETUNE_RDZV', `"${spec}" is neither redis://host:port nor a shared directory`);
  return { kind: 'file', path: spec };
}

/** The distributed environment, or null when WORLD_SIZE is unset or 1 (a single-process run). */
export function readDistEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  const worldSize = int(env, 'WORLD_SIZE', 1);
  if (worldSize <= 1) return null;
  const rank = int(env, 'RANK');
  if (rank >= worldSize) throw new ConfigError('RANK', `${rank} is not below WORLD_SIZE ${worldSize}`);
  const rdzv = env.FINETUNE_RDZV;
  if (!rdzv) {
    throw new ConfigError('FINETUNE_RDZV', 'is not set: give a directory all ranks share, or redis://host:6379 (`finetune launch` sets it for one node)');
  }
  const timeoutS = Number(env.FINETUNE_DIST_TIMEOUT ?? '60');
  if (!(timeoutS > 0)) throw new ConfigError('FINETUNE_DIST_TIMEOUT', `must be a positive number of seconds, got "${env.FINETUNE_DIST_TIMEOUT}"`);
  return {
    rank,
    worldSize,
    localRank: int(env, 'LOCAL_RANK', 0),
    masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: int(env, 'MASTER_PORT', 29500),
    rendezvous: parseRendezvous(rdzv),
    timeoutMs: Math.round(timeoutS * 1000),
  };
}

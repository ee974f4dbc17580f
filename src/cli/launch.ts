// `finetune launch`: a torchrun-style launcher. Starts --nproc-per-node copies of the finetune command
// given after `--` on this node with WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT and the Gloo
// rendezvous (FINETUNE_RDZV: a fresh directory for one node, --rdzv for several) in their environment.
// When a rank dies, the others fail their next collective (Gloo: at once on a closed connection, else
// after --timeout); the launcher then stops any straggler and exits non-zero. Not here: the training itself.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, FinetuneError } from '../errors.ts';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  rdzv?: string;
  /** Seconds: Gloo's timeout for rendezvous and each collective. */
  timeout: number;
}

function positiveInt(flag: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new ConfigError(flag, `must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Runs the ranks of this node; resolves to the exit code for the launcher. */
export async function launch(o: LaunchOptions, command: string[], out = process.stderr): Promise<number> {
  positiveInt('--nproc-per-node', o.nprocPerNode);
  positiveInt('--nnodes', o.nnodes);
  positiveInt('--node-rank', o.nodeRank, 0);
  if (o.nodeRank >= o.nnodes) throw new ConfigError('--node-rank', `${o.nodeRank} is not below --nnodes ${o.nnodes}`);
  if (!(o.timeout > 0)) throw new ConfigError('--timeout', `must be a positive number of seconds, got ${o.timeout}`);
  if (command.length === 0) throw new ConfigError('launch', 'give the command to run after `--`, e.g. `finetune launch --nproc-per-node 2 -- train --train-file data.csv`');
  if (o.nnodes > 1 && !o.rdzv) {
    throw new ConfigError('--rdzv', 'several nodes need a rendezvous every node reaches: redis://host:6379 or a directory on a shared filesystem');
  }
  const ownDir = o.rdzv ? null : mkdtempSync(join(tmpdir(), 'finetune-rdzv-'));
  const rdzv = o.rdzv ?? (ownDir as string);
  const world = o.nprocPerNode * o.nnodes;
  const children: ChildProcess[] = [];
  const cli = process.argv[1] as string;
  let failed: string | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const exits = Array.from({ length: o.nprocPerNode }, (_, local) => {
    const rank = o.nodeRank * o.nprocPerNode + local;
    const child = spawn(process.execPath, [...process.execArgv, cli, ...command], {
      env: {
        ...process.env,
        WORLD_SIZE: String(world),
        RANK: String(rank),
        LOCAL_RANK: String(local),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(o.masterPort),
        FINETUNE_RDZV: rdzv,
        FINETUNE_DIST_TIMEOUT: String(o.timeout),
      },
      stdio: ['ignore', rank === 0 ? 'inherit' : 'ignore', 'pipe'],
    });
    children.push(child);
    child.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (line) out.write(`[rank ${rank}] ${line}\n`);
    });
    return new Promise<number>((resolve) => {
      child.on('exit', (code, signal) => {
        if ((code !== 0 || signal) && failed === null) {
          failed = `rank ${rank} (pid ${child.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
          out.write(`finetune launch: ${failed}; the other ranks stop at their next collective (within --timeout ${o.timeout}s)\n`);
          killTimer = setTimeout(() => {
            for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
          }, (o.timeout + 10) * 1000);
        }
        resolve(code ?? 1);
      });
    });
  });
  const codes = await Promise.all(exits);
  if (killTimer) clearTimeout(killTimer);
  if (ownDir) rmSync(ownDir, { recursive: true, force: true });
  if (failed !== null) {
    out.write(`finetune launch: failed: ${failed}\n`);
    return 1;
  }
  return codes.every((c) => c === 0) ? 0 : 1;
}

export function registerLaunch(program: Command): void {
  program
    .command('launch')
    .description('run a finetune command as N data-parallel ranks over Gloo (torchrun-style environment)')
    .argument('<command...>', 'the finetune command after `--`, e.g. -- train --train-file data.csv')
    .option('--nproc-per-node <n>', 'ranks on this node', Number, 1)
    .option('--nnodes <n>', 'number of nodes', Number, 1)
    .option('--node-rank <k>', 'this node\'s index (0..nnodes-1)', Number, 0)
    .option('--master-addr <host>', 'address of node 0 (MASTER_ADDR)', '127.0.0.1')
    .option('--master-port <port>', 'MASTER_PORT (names the run in the rendezvous store)', Number, 29500)
    .option('--rdzv <spec>', 'Gloo rendezvous: redis://host:6379 or a shared directory (default: a fresh temp dir, one node only)')
    .option('--timeout <seconds>', 'Gloo timeout for rendezvous and each collective; a dead or stuck rank stops the others within it', Number, 60)
    .addHelpText('after', `
Examples:
  $ finetune launch --nproc-per-node 4 -- train --train-file data.csv --per-device-train-batch-size 8
  $ finetune launch --nnodes 2 --node-rank 0 --nproc-per-node 8 --master-addr node0 --rdzv redis://node0:6379 -- train ...`)
    .action(async (command: string[], opts: LaunchOptions) => {
      const code = await launch(opts, command);
      if (code !== 0) throw new FinetuneError('launch: a rank failed (its error is above, prefixed [rank N]); fix it and rerun, adding --resume-from-checkpoint latest to continue');
    });
}

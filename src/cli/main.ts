// The `finetune` command: a thin shell over the library. Parses flags and config files, prints
// progress and results, maps typed errors to one clear message and a non-zero exit code.
// Subcommands: train, evaluate, predict, search, serve, export, generate.

import { Command, Option } from 'commander';
import { FinetuneError } from '../errors.ts';
import { setupBackend, setupDevice } from './backend.ts';
import { cliMessage, flagTable } from './errors.ts';
import { SETTING_FLAGS, registerTrain } from './train.ts';
import { registerEvaluate, registerPredict } from './evaluate.ts';
import { registerSearch } from './search.ts';
import { registerDeploy } from './deploy.ts';
import { registerGenerate } from './generate.ts';
import { registerLaunch } from './launch.ts';
import { registerStudio } from './studio.ts';
import { registerWorker } from './worker.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('finetune')
    .description('Fine-tune pretrained transformer models on your own data, in TypeScript (no Python).')
    .version('0.1.0')
    .addOption(new Option('--threads <n>', 'compute threads (default: all cores)').argParser(Number))
    .addOption(new Option('--backend <name>', 'compute backend').choices(['native', 'reference']).default('native'))
    .addOption(new Option('--device <name>', 'cpu, webgpu (GPU via WebGPU) or auto (webgpu when an adapter exists)').choices(['cpu', 'webgpu', 'auto']).default('cpu'))
    .showHelpAfterError('(run with --help for usage)')
    .hook('preAction', async (cmd, action) => {
      const o = cmd.opts<{ threads?: number; backend: string; device: 'cpu' | 'webgpu' | 'auto' }>();
      setupBackend(o.backend, o.threads);
      if (o.device !== 'cpu') await setupDevice(o.device, action.name());
    });
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerSearch(program);
  registerDeploy(program);
  registerGenerate(program);
  registerLaunch(program);
  registerStudio(program);
  registerWorker(program);
  return program;
}

/** File-system failures a user fixes on their side (exit 1 with this advice, not an internal error). */
const FS_USER_ERRORS: Record<string, string> = {
  ENOSPC: 'no space left on the device; free some space (or write elsewhere) and run again',
  EDQUOT: 'disk quota exceeded; free some space (or write elsewhere) and run again',
  EROFS: 'the file system is read-only; write elsewhere',
  EACCES: 'permission denied; fix the permissions or use another path',
  EPERM: 'operation not permitted; fix the permissions or use another path',
  EMFILE: 'too many open files; raise the limit (ulimit -n) and run again',
};

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0; // e.g. 130 after an interrupted `train`
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 2;
    if (err instanceof FinetuneError) {
      process.stderr.write(`error: ${cliMessage(err, flagTable(SETTING_FLAGS))}\n`);
      return 1;
    }
    const fsCode = (err as NodeJS.ErrnoException).code;
    const fsPath = (err as NodeJS.ErrnoException).path;
    if (fsCode !== undefined && FS_USER_ERRORS[fsCode] !== undefined) {
      // The machine, not finetune: disk full, read-only, permissions. Say which file and what to do.
      process.stderr.write(`error: ${fsPath ?? 'a file'}: ${FS_USER_ERRORS[fsCode]}\n`);
      return 1;
    }
    process.stderr.write(`internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}

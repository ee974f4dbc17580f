// The `finetune` command: a thin shell over the library. Parses flags and config files, prints
// progress and results, maps typed errors to one clear message and a non-zero exit code.
// Subcommands: train, evaluate, predict, search, serve, export, generate.

import { Command, Option } from 'commander';
import { FinetuneError } from '../errors.ts';
import { setupBackend } from './backend.ts';
import { registerTrain } from './train.ts';
import { registerEvaluate, registerPredict } from './evaluate.ts';
import { registerSearch } from './search.ts';
import { registerDeploy } from './deploy.ts';
import { registerGenerate } from './generate.ts';
import { registerLaunch } from './launch.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('finetune')
    .description('Fine-tune pretrained transformer models on your own data, in TypeScript (no Python).')
    .version('0.1.0')
    .addOption(new Option('--threads <n>', 'compute threads (default: all cores)').argParser(Number))
    .addOption(new Option('--backend <name>', 'compute backend').choices(['native', 'reference']).default('native'))
    .showHelpAfterError('(run with --help for usage)')
    .hook('preAction', (cmd) => {
      const o = cmd.opts<{ threads?: number; backend: string }>();
      setupBackend(o.backend, o.threads);
    });
  registerTrain(program);
  registerEvaluate(program);
  registerPredict(program);
  registerSearch(program);
  registerDeploy(program);
  registerGenerate(program);
  registerLaunch(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    if (e.code?.startsWith('commander.')) return e.exitCode ?? 2;
    if (err instanceof FinetuneError) {
      process.stderr.write(`error: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}

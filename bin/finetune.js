#!/usr/bin/env node
// The `finetune` command. Registers tsx so the TypeScript sources run directly, then hands over to
// src/cli/main.ts. Exit codes: 0 ok, 1 a user-facing error (message printed), 2 bad usage, 70 internal.
import { register } from 'tsx/esm/api';

// Under npm (`npx finetune serve`, `npm run ...`) this process is a grandchild: npm -> sh -c -> node. npm
// forwards SIGTERM/SIGINT to the shell, and dash dies of it without passing it on, which would leave this
// process running. So when the parent goes away, act as if SIGTERM arrived (graceful stop).
if (process.env.npm_lifecycle_event !== undefined) {
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(watch);
      process.kill(process.pid, 'SIGTERM');
    }
  }, 250);
  watch.unref();
}

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);

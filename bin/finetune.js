#!/usr/bin/env node
// The `finetune` command. Registers tsx so the TypeScript sources run directly, then hands over to
// src/cli/main.ts. Exit codes: 0 ok, 1 a user-facing error (message printed), 2 bad usage, 70 internal.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);

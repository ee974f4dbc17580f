// Child process for signals.test.ts: serves the fixture model on an ephemeral loopback port with the
// signal handlers installed, prints {"url": ...} on stdout, and logs to stderr. Not a test file.

import { installSignalHandlers, startServer } from '../../src/serve/index.ts';

const dir = process.argv[2]!;
const server = await startServer(dir, { port: 0, maxWaitMs: Number(process.argv[3] ?? '5'), log: (l) => process.stderr.write(l + '\n') });
installSignalHandlers(server, (l) => process.stderr.write(l + '\n'));
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');

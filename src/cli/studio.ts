// `finetune studio`: serves the browser studio (src/web/) on localhost: the page and one bundle of the
// training core built for the browser with esbuild. Node built-ins reached by modules the page never
// calls into (file reading/writing in io/) are replaced by stubs that throw if called in the browser.
// Not here: the page's logic (src/web/).

import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const WEB = fileURLToPath(new URL('../web/', import.meta.url));

/** Bundles src/web/main.ts for the browser (ESM, one file, source maps inline). */
export async function buildStudioBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  const out = await esbuild.build({
    entryPoints: [`${WEB}main.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [
      {
        name: 'node-builtins-unavailable',
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
          // csv-parse's Node build needs Buffer; its dist/esm build carries its own polyfill.
          b.onResolve({ filter: /^csv-parse\/sync$/ }, () => ({ path: join(dirname(createRequire(import.meta.url).resolve('csv-parse/sync')), '..', 'esm', 'sync.js') }));
          b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
            // CommonJS, so any named import resolves; calling anything explains why it cannot work here.
            // node:os's endianness() is the one built-in called at module load (io/safetensors.ts).
            contents:
              `const real = ${a.path === 'node:os' ? "{ endianness: () => (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'LE' : 'BE') }" : '{}'};\n` +
              `module.exports = new Proxy(real, { get: (t, k) => k in t ? t[k] : k === '__esModule' ? false : () => { throw new Error(${JSON.stringify(a.path)} + '.' + String(k) + ' is not available in the browser'); } });`,
            loader: 'js',
          }));
        },
      },
    ],
  });
  return out.outputFiles[0].text;
}

/** Starts the studio server; resolves with it and its URL. */
export async function startStudio(port = 8765, host = '127.0.0.1'): Promise<{ server: Server; url: string }> {
  const [html, js] = await Promise.all([readFile(`${WEB}index.html`, 'utf8'), buildStudioBundle()]);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    } else if (path === '/studio.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(js);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return { server, url: `http://${host}:${actual}/` };
}

export function registerStudio(program: Command): void {
  program
    .command('studio')
    .description('serve the browser studio: fine-tune a text classifier on your own GPU (WebGPU) in the page')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', '8765')
    .action(async (o: { port: string }) => {
      const { url } = await startStudio(Number(o.port));
      process.stdout.write(`finetune studio: open ${url} in a browser with WebGPU (Chrome, Edge, Safari 18+, Firefox 141+); Ctrl-C stops\n`);
      await new Promise(() => undefined);
    });
}

// A stand-in for the Hub's upload API on 127.0.0.1 for tests: whoami-v2, repos/create (409 when the repo
// exists), models/{id}/preupload/{rev} (LFS for .safetensors/.bin and files over `lfsOver` bytes),
// {id}.git/info/lfs/objects/batch (basic transfer: upload + verify actions, nothing for objects it has),
// the PUT and verify of LFS objects (sha256 checked), and models/{id}/commit/{rev} (NDJSON: header,
// base64 files, lfsFile by oid; every LFS oid must have been uploaded). Bearer token required.
// Not a test itself; test files import it.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeUploadHub {
  url: string;
  /** repo id → { private, files: path → bytes, commits } */
  repos: Map<string, { private: boolean | null; files: Map<string, Buffer>; commits: number }>;
  requests: { method: string; path: string; authorization: string | undefined; contentType: string | undefined }[];
  lfsStore: Map<string, Buffer>;
  close(): Promise<void>;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function body(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

export async function startFakeUploadHub(opts: { token: string; user: string; existing?: string[]; lfsOver?: number }): Promise<FakeUploadHub> {
  const repos: FakeUploadHub['repos'] = new Map();
  for (const id of opts.existing ?? []) repos.set(id, { private: null, files: new Map(), commits: 0 });
  const requests: FakeUploadHub['requests'] = [];
  const lfsStore = new Map<string, Buffer>();
  const lfsOver = opts.lfsOver ?? 10_000;
  let base = '';
  const json = (res: ServerResponse, status: number, v: unknown): void => void res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, contentType: req.headers['content-type'] });
    const data = await body(req);
    // LFS object storage (pre-signed in the real Hub: no token needed)
    const lfsPut = /^\/lfs-storage\/([0-9a-f]{64})$/.exec(path);
    if (lfsPut && req.method === 'PUT') {
      if (sha256(data) !== lfsPut[1]) return json(res, 400, { error: 'sha256 mismatch' });
      lfsStore.set(lfsPut[1], data);
      return void res.writeHead(200).end();
    }
    if (req.headers.authorization !== `Bearer ${opts.token}`) return json(res, 401, { error: 'Invalid credentials in Authorization header' });
    if (path === '/api/whoami-v2' && req.method === 'GET') return json(res, 200, { type: 'user', name: opts.user });
    if (path === '/api/repos/create' && req.method === 'POST') {
      const b = JSON.parse(data.toString()) as { name: string; organization?: string; private?: boolean; type?: string };
      const id = b.organization ? `${b.organization}/${b.name}` : `${opts.user}/${b.name}`;
      if (repos.has(id)) return json(res, 409, { error: 'You already created this model repo', url: `${base}/${id}` });
      repos.set(id, { private: b.private ?? null, files: new Map(), commits: 0 });
      return json(res, 200, { url: `${base}/${id}` });
    }
    const pre = /^\/api\/models\/(.+)\/preupload\/([^/]+)$/.exec(path);
    if (pre && req.method === 'POST') {
      if (!repos.has(pre[1])) return json(res, 404, { error: 'Repository not found' });
      const b = JSON.parse(data.toString()) as { files: { path: string; size: number; sample: string }[] };
      return json(res, 200, {
        files: b.files.map((f) => ({ path: f.path, uploadMode: /\.(safetensors|bin)$/.test(f.path) || f.size > lfsOver ? 'lfs' : 'regular', shouldIgnore: false })),
      });
    }
    const batch = /^\/(.+)\.git\/info\/lfs\/objects\/batch$/.exec(path);
    if (batch && req.method === 'POST') {
      const b = JSON.parse(data.toString()) as { operation: string; objects: { oid: string; size: number }[] };
      return void res.writeHead(200, { 'content-type': 'application/vnd.git-lfs+json' }).end(
        JSON.stringify({
          transfer: 'basic',
          objects: b.objects.map((o) =>
            lfsStore.has(o.oid)
              ? { oid: o.oid, size: o.size }
              : { oid: o.oid, size: o.size, actions: { upload: { href: `${base}/lfs-storage/${o.oid}` }, verify: { href: `${base}/lfs-verify/${batch[1]}` } } },
          ),
        }),
      );
    }
    if (/^\/lfs-verify\//.test(path) && req.method === 'POST') {
      const b = JSON.parse(data.toString()) as { oid: string; size: number };
      return lfsStore.get(b.oid)?.length === b.size ? json(res, 200, {}) : json(res, 404, { error: 'object not found' });
    }
    const commit = /^\/api\/models\/(.+)\/commit\/([^/]+)$/.exec(path);
    if (commit && req.method === 'POST') {
      const repo = repos.get(commit[1]);
      if (!repo) return json(res, 404, { error: 'Repository not found' });
      const lines = data.toString().trim().split('\n').map((l) => JSON.parse(l) as { key: string; value: Record<string, string> });
      if (lines[0]?.key !== 'header') return json(res, 400, { error: 'first line must be the header' });
      for (const { key, value } of lines.slice(1)) {
        if (key === 'file') repo.files.set(value.path, Buffer.from(value.content, value.encoding === 'base64' ? 'base64' : 'utf8'));
        else if (key === 'lfsFile') {
          const blob = lfsStore.get(value.oid);
          if (!blob) return json(res, 422, { error: `LFS object ${value.oid} was not uploaded` });
          repo.files.set(value.path, blob);
        } else return json(res, 400, { error: `unknown key ${key}` });
      }
      repo.commits++;
      return json(res, 200, { commitOid: 'c0ffee'.padEnd(40, '0'), commitUrl: `${base}/${commit[1]}/commit/c0ffee` });
    }
    json(res, 404, { error: `no route ${req.method} ${path}` });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url: base, repos, requests, lfsStore, close: () => new Promise((r) => server.close(() => r())) };
}

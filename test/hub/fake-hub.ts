// A stand-in for the Hugging Face Hub on 127.0.0.1 for tests: serves the routes resolveModel uses,
// `/api/models/{id}/revision/{rev}` (with `?blobs=true` blob ids and LFS sha256) and
// `/{id}/resolve/{rev}/{file}` with the Hub's headers (X-Repo-Commit, ETag / X-Linked-Etag,
// Content-Length, Range → 206), Hub error codes, optional auth, and scripted connection cuts.
// Not a test itself; test files import it.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  commit: string;
  files: Record<string, Uint8Array>;
  /** Files stored with Git LFS (etag = sha256); others are plain git blobs (etag = git sha1). */
  lfs?: string[];
  /** Bearer token required (the Hub answers 401 RepoNotFound without it). */
  token?: string;
  /** Leave blob ids and LFS info out of the listing even when asked (clients must HEAD each file). */
  noBlobIds?: boolean;
}

export interface RequestLog {
  method: string;
  url: string;
  range: string | undefined;
  authorization: string | undefined;
}

export interface FakeHub {
  url: string;
  requests: RequestLog[];
  /** Next GET of this file sends only this many bytes, then drops the connection (once per entry). */
  cutAfter: Map<string, number[]>;
  /** Serve wrong bytes for this file (checksum test). */
  corrupt: Set<string>;
  close(): Promise<void>;
}

export const gitBlobId = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const requests: RequestLog[] = [];
  const cutAfter = new Map<string, number[]>();
  const corrupt = new Set<string>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
    const fail = (status: number, code: string | null) => {
      if (code !== null) res.setHeader('X-Error-Code', code);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: code ?? 'error' }));
    };
    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = api?.[1] ?? resolve?.[1];
    const repo = repoId === undefined ? undefined : repos[repoId];
    if (repo === undefined) return fail(404, 'RepoNotFound');
    if (repo.token !== undefined && req.headers.authorization !== `Bearer ${repo.token}`) return fail(401, 'RepoNotFound');
    const rev = decodeURIComponent((api ?? resolve)![2]!);
    if (rev !== 'main' && rev !== repo.commit) return fail(404, 'RevisionNotFound');
    const isLfs = (f: string) => repo.lfs?.includes(f) ?? false;
    if (api !== null) {
      const blobs = url.searchParams.get('blobs') === 'true' && repo.noBlobIds !== true;
      const siblings = Object.entries(repo.files).map(([name, b]) =>
        blobs
          ? { rfilename: name, blobId: gitBlobId(b), size: b.length, ...(isLfs(name) ? { lfs: { sha256: sha256(b), size: b.length, pointerSize: 134 } } : {}) }
          : { rfilename: name },
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repoId, sha: repo.commit, siblings }));
      return;
    }
    const file = decodeURIComponent(resolve![3]!);
    let body = repo.files[file];
    if (body === undefined) return fail(404, 'EntryNotFound');
    const etag = isLfs(file) ? sha256(body) : gitBlobId(body);
    if (corrupt.has(file)) {
      body = Uint8Array.from(body);
      body[0] = (body[0]! + 1) % 256;
    }
    const headers: Record<string, string | number> = { 'X-Repo-Commit': repo.commit, ETag: `"${etag}"`, 'Accept-Ranges': 'bytes' };
    if (isLfs(file)) {
      headers['X-Linked-Etag'] = `"${etag}"`;
      headers['X-Linked-Size'] = body.length;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range !== null) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    headers['Content-Length'] = body.length - start;
    res.writeHead(range !== null ? 206 : 200, headers);
    if (req.method === 'HEAD') return void res.end();
    const cuts = cutAfter.get(file);
    const cut = cuts?.shift();
    if (cut !== undefined) {
      res.write(body.subarray(start, start + cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  };

  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutAfter,
    corrupt,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

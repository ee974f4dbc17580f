// HTTP for the Hub: requests with the token, Hub errors turned into messages that say what to do
// (404 → id not found, 401 → set HF_TOKEN, network down → HF_HUB_OFFLINE or a local folder), and
// resumable file downloads (`.incomplete` file + HTTP Range, retries, stall timeout, checksum check).
// Not here: which files to fetch or the cache layout (resolve.ts, cache.ts).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, truncate } from 'node:fs/promises';
import { ModelError } from '../errors.ts';

/** The fetch function used (injectable for tests). */
export type FetchLike = typeof fetch;

/** What a request was for, to word its errors. */
export interface RequestContext {
  endpoint: string;
  repoId: string;
  revision: string;
  /** The file, for file requests. */
  file?: string;
  hasToken: boolean;
  cacheDir: string;
}

/** A failure that a retry may fix (network drop, 5xx, stalled or short transfer). */
export class TransientHubError extends ModelError {}

/** Message for "could not connect at all". */
export function networkErrorMessage(ctx: RequestContext, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message;
  return (
    `cannot reach ${ctx.endpoint} (${why}) while fetching "${ctx.repoId}". Check your network connection. ` +
    `To work without the network, set HF_HUB_OFFLINE=1 to use models already in the cache (${ctx.cacheDir}), ` +
    `or pass a local model folder instead of a model id.`
  );
}

/** Turns a non-OK Hub response into a ModelError that says what to do. */
export function hubResponseError(res: Response, ctx: RequestContext): ModelError {
  const code = res.headers.get('x-error-code');
  const msg = res.headers.get('x-error-message');
  const what = ctx.file === undefined ? `model id "${ctx.repoId}"` : `file "${ctx.file}" of "${ctx.repoId}"`;
  const tokenHint = ctx.hasToken
    ? 'Check that HF_TOKEN is valid and has read access to this repo.'
    : 'If the model is private or gated, create a read token at https://huggingface.co/settings/tokens and set HF_TOKEN=<token>.';
  if (code === 'RevisionNotFound') {
    return new ModelError(`revision "${ctx.revision}" of "${ctx.repoId}" not found on ${ctx.endpoint}; use a branch, tag or commit that exists (default "main")`);
  }
  if (code === 'EntryNotFound') return new ModelError(`${what} not found on ${ctx.endpoint} at revision "${ctx.revision}"`);
  if (code === 'GatedRepo') {
    return new ModelError(`"${ctx.repoId}" is gated: accept its terms on ${ctx.endpoint}/${ctx.repoId} and set HF_TOKEN to a token of that account (HTTP ${res.status})`);
  }
  if (code === 'RepoNotFound' || res.status === 404) {
    return new ModelError(`${ctx.file === undefined ? `model id "${ctx.repoId}"` : what} not found on ${ctx.endpoint} (HTTP ${res.status}). Check the spelling (e.g. "google-bert/bert-base-uncased"). ${tokenHint}`);
  }
  if (res.status === 401) {
    return new ModelError(`${ctx.endpoint} refused access to ${what} (HTTP 401${msg === null ? '' : `: ${msg}`}). ${tokenHint}`);
  }
  if (res.status === 403) {
    return new ModelError(`${ctx.endpoint} forbids access to ${what} (HTTP 403${msg === null ? '' : `: ${msg}`}). ${tokenHint}`);
  }
  if (res.status === 429 || res.status >= 500) {
    return new TransientHubError(`${ctx.endpoint} answered HTTP ${res.status} for ${what}; try again later`);
  }
  return new ModelError(`${ctx.endpoint} answered HTTP ${res.status} for ${what}${msg === null ? '' : `: ${msg}`}`);
}

/** Request headers: the token when set, and `identity` so Content-Length is the real size. */
export function hubHeaders(token: string | null, extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'finetune (node)', 'accept-encoding': 'identity', ...extra };
  if (token !== null) h['authorization'] = `Bearer ${token}`;
  return h;
}

/** Fetches, turning connection failures into a TransientHubError carrying the network message. */
export async function hubFetch(fetchImpl: FetchLike, url: string, init: RequestInit, ctx: RequestContext): Promise<Response> {
  try {
    return await fetchImpl(url, init);
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new TransientHubError(networkErrorMessage(ctx, err), { cause: err });
  }
}

/** Expected content of a file: its size and a checksum, when the Hub said them. */
export interface ExpectedBlob {
  size: number | null;
  /** sha256 of the content (LFS files). */
  sha256?: string;
  /** git blob id, sha1 of "blob <size>\0" + content (regular files). */
  gitBlobId?: string;
}

/** Progress of one file's download. */
export interface ByteProgress {
  downloaded: number;
  total: number | null;
}

/** Options of {@link downloadResumable}. */
export interface DownloadOptions {
  fetchImpl: FetchLike;
  token: string | null;
  ctx: RequestContext;
  onBytes?: (p: ByteProgress) => void;
  /** Extra attempts after a transient failure, each resuming where the last stopped. Default 3. */
  maxRetries?: number;
  /** Abort an attempt that receives nothing for this long. Default 60 s. */
  stallTimeoutMs?: number;
  /** Wait before retry k (ms) = retryDelayMs * 2^k. Default 500. */
  retryDelayMs?: number;
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
}

async function checksumOk(path: string, size: number, exp: ExpectedBlob): Promise<boolean> {
  if (exp.sha256 !== undefined) return (await hashFile(path, 'sha256')) === exp.sha256.toLowerCase();
  if (exp.gitBlobId !== undefined) return (await hashFile(path, 'sha1', `blob ${size}\0`)) === exp.gitBlobId.toLowerCase();
  return true;
}

/** Hex digest of a file (optionally prefixed, for git blob ids). */
export async function hashFile(path: string, algo: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const h = createHash(algo);
  if (prefix !== undefined) h.update(prefix);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Downloads `url` into `incompletePath`, resuming from whatever that file already holds (HTTP Range),
 * retrying transient failures, and verifying size and checksum at the end. On success the file is
 * complete (the caller renames it); on failure it keeps the bytes received so the next run resumes.
 *
 * @example await downloadResumable(url, 'blobs/abc.incomplete', { size: 1234, sha256: 'abc' }, opts);
 */
export async function downloadResumable(
  url: string,
  incompletePath: string,
  expected: ExpectedBlob,
  opts: DownloadOptions,
): Promise<void> {
  const maxRetries = opts.maxRetries ?? 3;
  const stallMs = opts.stallTimeoutMs ?? 60_000;
  const delayMs = opts.retryDelayMs ?? 500;
  let total = expected.size;
  let lastError: unknown;
  for (let attempt = 0; attempt <= maxRetries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, delayMs * 2 ** (attempt - 1)));
    let have = await fileSize(incompletePath);
    if (total !== null && have > total) {
      await truncate(incompletePath, 0);
      have = 0;
    }
    try {
      if (total === null || have < total) have = await fetchInto(url, incompletePath, have, opts, stallMs, (t) => (total ??= t));
      if (total !== null && have !== total) {
        throw new TransientHubError(`download of "${opts.ctx.file ?? url}" stopped after ${have} of ${total} bytes`);
      }
      if (!(await checksumOk(incompletePath, have, expected))) {
        await truncate(incompletePath, 0); // a corrupt partial file: start over
        throw new TransientHubError(`"${opts.ctx.file ?? url}" failed its checksum after download; the partial file was discarded`);
      }
      return;
    } catch (err) {
      if (!(err instanceof TransientHubError)) throw err;
      lastError = err;
    }
  }
  const have = await fileSize(incompletePath);
  throw new ModelError(
    `${(lastError as Error).message}. Gave up after ${maxRetries + 1} attempts with ${have}${total === null ? '' : ` of ${total}`} bytes ` +
      `kept in ${incompletePath}; run the same command again to resume.`,
    { cause: lastError },
  );
}

/** One HTTP attempt: appends the response body to the file; returns the file's new size. */
async function fetchInto(
  url: string,
  path: string,
  have: number,
  opts: DownloadOptions,
  stallMs: number,
  learnTotal: (t: number) => void,
): Promise<number> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), stallMs);
  };
  arm();
  const headers = hubHeaders(opts.token, have > 0 ? { range: `bytes=${have}-` } : {});
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    const res = await hubFetch(opts.fetchImpl, url, { headers, signal: abort.signal, redirect: 'follow' }, opts.ctx);
    if (res.status === 416 && have > 0) {
      // Range past the end: our partial file is not a prefix of this content. Start over.
      await res.body?.cancel();
      await truncate(path, 0);
      throw new TransientHubError(`server refused to resume "${opts.ctx.file ?? url}" (HTTP 416)`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw hubResponseError(res, opts.ctx);
    }
    let start = have;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (m === null || Number(m[1]) !== have) {
        await res.body?.cancel();
        await truncate(path, 0);
        throw new TransientHubError(`server resumed "${opts.ctx.file ?? url}" at the wrong offset`);
      }
      if (m[3] !== '*') learnTotal(Number(m[3]));
    } else {
      start = 0; // 200: the server ignored Range (or we asked for none): rewrite from the start
      const len = res.headers.get('content-length');
      if (len !== null && /^\d+$/.test(len)) learnTotal(Number(len));
    }
    const totalNow = (): number | null => {
      const cr = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
      if (cr !== null) return Number(cr[1]);
      const len = res.headers.get('content-length');
      return len !== null && /^\d+$/.test(len) ? Number(len) : null;
    };
    const total = totalNow();
    fh = await open(path, start === 0 ? 'w' : 'a');
    let got = start;
    opts.onBytes?.({ downloaded: got, total });
    if (res.body !== null) {
      try {
        for await (const chunk of res.body) {
          arm();
          await fh.write(chunk);
          got += chunk.byteLength;
          opts.onBytes?.({ downloaded: got, total });
        }
      } catch (err) {
        if (err instanceof ModelError) throw err;
        const why = abort.signal.aborted ? `no data for ${stallMs / 1000} s` : (err as Error).message;
        throw new TransientHubError(`download of "${opts.ctx.file ?? url}" was interrupted after ${got} bytes (${why})`, { cause: err });
      }
    }
    return got;
  } catch (err) {
    if ((err as Error).name === 'AbortError') {
      throw new TransientHubError(`download of "${opts.ctx.file ?? url}" stalled (no data for ${stallMs / 1000} s)`, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    await fh?.close();
  }
}

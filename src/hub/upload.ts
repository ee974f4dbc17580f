// Uploads a finished output folder (model, tokenizer, adapter, model card, results) to the Hugging Face
// Hub over its HTTP API, as huggingface_hub's create_repo + upload_folder do: create the repository
// (an existing one is fine), ask `preupload` which files go through Git LFS, send those through the LFS
// batch API (basic transfer: one PUT per object, then verify), then one NDJSON commit holding the small
// files base64-encoded and the LFS files by sha256. Checkpoint folders and temporary files stay local.
// Not here: multipart LFS transfers for files over the Hub's single-PUT limit, or downloading (resolve.ts).

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import { ConfigError, ModelError } from '../errors.ts';

type FetchLike = typeof fetch;

export interface PushOptions {
  /** "user/name" or "org/name"; default: `<the token's user>/<the folder's name>`. */
  repoId?: string | null;
  /** A token with write access (the CLI passes --hub-token or HF_TOKEN). */
  token: string | null;
  /** Create the repository private (null: the Hub's default). Ignored when it exists. */
  private?: boolean | null;
  /** Hub URL (default: HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  commitMessage?: string;
  fetch?: FetchLike;
  onMessage?: (m: string) => void;
}

export interface PushResult {
  repoId: string;
  url: string;
  commitOid: string | null;
  files: { path: string; size: number; lfs: boolean }[];
}

interface LocalFile {
  path: string; // in the repository, with forward slashes
  size: number;
  sha256: string;
  bytes: Uint8Array;
}

/** Files to upload: everything but checkpoint-N folders, hidden files and leftovers of atomic writes. */
async function listFolder(dir: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const abs = join(d, e.name);
      if (e.name.startsWith('.') || /\.tmp(\.\d+)?$|\.lock$/.test(e.name)) continue;
      if (e.isDirectory()) {
        if (d === dir && /^checkpoint-\d+$/.test(e.name)) continue;
        await walk(abs);
      } else if (e.isFile()) {
        const bytes: Uint8Array<ArrayBuffer> = Uint8Array.from(await readFile(abs));
        out.push({ path: relative(dir, abs).split(sep).join('/'), size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), bytes });
      }
    }
  };
  await walk(dir);
  return out;
}

class Hub {
  constructor(
    readonly endpoint: string,
    private readonly token: string,
    private readonly fetchImpl: FetchLike,
  ) {}

  async call(method: string, url: string, body: unknown, what: string, headers: Record<string, string> = {}): Promise<Response> {
    const full = url.startsWith('http') ? url : `${this.endpoint}${url}`;
    const isJson = body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
    let res: Response;
    try {
      res = await this.fetchImpl(full, {
        method,
        headers: { authorization: `Bearer ${this.token}`, 'user-agent': 'finetune (node)', ...(isJson ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : body instanceof Uint8Array ? new Blob([Uint8Array.from(body)]) : JSON.stringify(body) }),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ModelError(`cannot reach ${this.endpoint} (${cause}) while ${what}; check the network and try again (the model stays in the output folder)`, { cause: err });
    }
    return res;
  }

  async json<T>(method: string, url: string, body: unknown, what: string, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.call(method, url, body, what, headers);
    if (!res.ok) throw await this.error(res, what);
    return (await res.json()) as T;
  }

  async error(res: Response, what: string): Promise<ModelError> {
    let detail = res.headers.get('x-error-message') ?? '';
    if (!detail) {
      try {
        const j = (await res.json()) as { error?: unknown };
        if (typeof j.error === 'string') detail = j.error;
      } catch {
        // no JSON body: the status says it
      }
    }
    const hint =
      res.status === 401 || res.status === 403
        ? ' The token needs write access: create one at https://huggingface.co/settings/tokens and pass it with --hub-token or HF_TOKEN.'
        : res.status >= 500 || res.status === 429
          ? ' Try again later (the model stays in the output folder).'
          : '';
    return new ModelError(`${this.endpoint} answered HTTP ${res.status} while ${what}${detail ? ` (${detail})` : ''}.${hint}`);
  }
}

/**
 * Uploads `dir` to a Hub model repository and returns its URL and what was sent.
 *
 * @example
 * const r = await pushToHub('sms-model', { token: process.env.HF_TOKEN ?? null, repoId: 'me/sms-spam' });
 * console.log(r.url); // https://huggingface.co/me/sms-spam
 */
export async function pushToHub(dir: string, o: PushOptions): Promise<PushResult> {
  if (!o.token) {
    throw new ConfigError('hub_token', 'pushing to the Hub needs a token with write access: pass --hub-token or set HF_TOKEN (create one at https://huggingface.co/settings/tokens)');
  }
  const endpoint = (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const hub = new Hub(endpoint, o.token, o.fetch ?? fetch);
  const say = o.onMessage ?? (() => {});
  let repoId = o.repoId ?? null;
  if (!repoId) {
    const me = await hub.json<{ name?: string }>('GET', '/api/whoami-v2', undefined, 'asking whose token this is');
    if (!me.name) throw new ModelError(`${endpoint} did not say whose token this is; pass --hub-model-id user/name`);
    repoId = `${me.name}/${basename(dir.replace(/[/\\]+$/, ''))}`;
  }
  if (!/^[\w.-]+\/[\w.-]+$/.test(repoId) && !/^[\w.-]+$/.test(repoId)) {
    throw new ConfigError('hub_model_id', `"${repoId}" is not a Hub repository id; use "user/name" (letters, digits, "-", "_", ".")`);
  }
  // 1. The repository (409: it already exists, which is fine).
  const [org, name] = repoId.includes('/') ? (repoId.split('/') as [string, string]) : [null, repoId];
  const created = await hub.call('POST', '/api/repos/create', { name, ...(org ? { organization: org } : {}), ...(o.private != null ? { private: o.private } : {}), type: 'model' }, `creating the repository ${repoId}`);
  if (!created.ok && created.status !== 409) throw await hub.error(created, `creating the repository ${repoId}`);
  if (created.ok) say(`created ${endpoint}/${repoId}${o.private ? ' (private)' : ''}`);
  const files = await listFolder(dir);
  if (files.length === 0) throw new ModelError(`${dir}: nothing to upload (the folder is empty)`);
  // 2. Which files go through LFS.
  const modes = await hub.json<{ files: { path: string; uploadMode: 'lfs' | 'regular'; shouldIgnore?: boolean }[] }>(
    'POST',
    `/api/models/${repoId}/preupload/main`,
    { files: files.map((f) => ({ path: f.path, size: f.size, sample: Buffer.from(f.bytes.subarray(0, 512)).toString('base64') })) },
    `asking ${repoId} how to upload the files`,
  );
  const mode = new Map(modes.files.map((f) => [f.path, f]));
  const toSend = files.filter((f) => !mode.get(f.path)?.shouldIgnore);
  const lfs = toSend.filter((f) => mode.get(f.path)?.uploadMode === 'lfs');
  // 3. LFS objects: the batch API says which the Hub lacks and where to PUT them.
  if (lfs.length) {
    const batch = await hub.json<{ objects: { oid: string; size: number; error?: { message?: string }; actions?: { upload?: { href: string; header?: Record<string, string> }; verify?: { href: string; header?: Record<string, string> } } }[] }>(
      'POST',
      `/${repoId}.git/info/lfs/objects/batch`,
      JSON.stringify({ operation: 'upload', transfers: ['basic'], objects: lfs.map((f) => ({ oid: f.sha256, size: f.size })), hash_algo: 'sha256', ref: { name: 'main' } }),
      `starting the large-file upload to ${repoId}`,
      { accept: 'application/vnd.git-lfs+json', 'content-type': 'application/vnd.git-lfs+json' },
    );
    for (const obj of batch.objects) {
      const f = lfs.find((x) => x.sha256 === obj.oid);
      if (!f) continue;
      if (obj.error) throw new ModelError(`${endpoint} refused ${f.path} for ${repoId}: ${obj.error.message ?? 'LFS error'}`);
      const up = obj.actions?.upload;
      if (!up) continue; // already on the Hub
      if (up.header && Object.keys(up.header).some((k) => /^\d+$/.test(k) || k === 'chunk_size')) {
        throw new ModelError(`${f.path} (${f.size} bytes) needs a multipart upload, which finetune does not do yet; upload it with \`huggingface-cli upload ${repoId} ${dir}\``);
      }
      say(`uploading ${f.path} (${(f.size / 1e6).toFixed(1)} MB)`);
      const put = await hub.call('PUT', up.href, f.bytes, `uploading ${f.path}`, { 'content-type': 'application/octet-stream', ...(up.header ?? {}) });
      if (!put.ok) throw await hub.error(put, `uploading ${f.path}`);
      if (obj.actions?.verify) {
        const v = await hub.call('POST', obj.actions.verify.href, { oid: f.sha256, size: f.size }, `verifying ${f.path}`, obj.actions.verify.header ?? {});
        if (!v.ok) throw await hub.error(v, `verifying ${f.path}`);
      }
    }
  }
  // 4. One commit with every file.
  const lines = [
    { key: 'header', value: { summary: o.commitMessage ?? 'Upload model trained with finetune', description: '' } },
    ...toSend.map((f) =>
      mode.get(f.path)?.uploadMode === 'lfs'
        ? { key: 'lfsFile', value: { path: f.path, algo: 'sha256', oid: f.sha256, size: f.size } }
        : { key: 'file', value: { path: f.path, content: Buffer.from(f.bytes).toString('base64'), encoding: 'base64' } },
    ),
  ];
  const commit = await hub.json<{ commitOid?: string; commitUrl?: string }>(
    'POST',
    `/api/models/${repoId}/commit/main`,
    lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    `committing to ${repoId}`,
    { 'content-type': 'application/x-ndjson' },
  );
  return { repoId, url: `${endpoint}/${repoId}`, commitOid: commit.commitOid ?? null, files: toSend.map((f) => ({ path: f.path, size: f.size, lfs: mode.get(f.path)?.uploadMode === 'lfs' })) };
}

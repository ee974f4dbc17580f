// Turns a model argument into a local folder: an existing path is used as is; a Hub id ("gpt2",
// "org/name") is downloaded into the shared Hugging Face cache (config, tokenizer files and
// safetensors weights; when a repo has none, its pytorch_model.bin or the shards its
// pytorch_model.bin.index.json names, which src/io/torch-bin.ts reads weights-only; never any other
// pickle) and its snapshot folder returned. Offline or unreachable Hub →
// a complete cached snapshot is reused. Not here: reading the files (src/io), HTTP details (http.ts).

import { mkdir, rename, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { ModelError } from '../errors.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { isJsonObject, parseJson, readJsonFile, type JsonObject } from '../io/json.ts';
import {
  COMMIT_RE, fileExists, findCompleteSnapshot, hubSettingsFromEnv, linkBlob, normalizeEtag, repoCacheFolder,
  validateRepoId, type HubSettings,
} from './cache.ts';
import {
  downloadResumable, hubFetch, hubHeaders, hubResponseError, TransientHubError,
  type ExpectedBlob, type FetchLike, type RequestContext,
} from './http.ts';

/** Files fetched besides the weights, when the repo has them. */
export const MODEL_SIDE_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'added_tokens.json', 'vocab.txt', 'vocab.json', 'merges.txt', 'tokenizer.model', 'spiece.model', 'spm.model',
  'sentencepiece.bpe.model', 'chat_template.jinja',
];
const PICKLE_RE = /(\.bin|\.pt|\.pth|\.ckpt|\.h5|\.msgpack)$/;
/** Shards a pytorch_model.bin.index.json may name (transformers writes pytorch_model-00001-of-00002.bin). */
const BIN_SHARD_RE = /^[^/]*\.bin$/;

/** Progress of a model download, reported per file and per chunk. */
export interface ResolveProgress {
  file: string;
  /** 0-based index of the file among those fetched, and their count. */
  fileIndex: number;
  fileCount: number;
  downloaded: number;
  total: number | null;
  /** True when the file was already in the cache (nothing downloaded). */
  cached: boolean;
}

/** Options of {@link resolveModel}. */
export interface ResolveOptions {
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  onProgress?: (p: ResolveProgress) => void;
  /** Notices such as "Hub unreachable, using the cached copy". */
  onMessage?: (message: string) => void;
  /** Overrides of the settings read from the environment (HF_ENDPOINT, HF_HOME, HF_TOKEN, ...). */
  settings?: Partial<HubSettings>;
  /** Environment to read settings from (default process.env). */
  env?: NodeJS.ProcessEnv;
  fetch?: FetchLike;
  /** Extra attempts per file after a transient failure (default 3). */
  maxRetries?: number;
  /** Base wait between retries in ms (default 500). */
  retryDelayMs?: number;
  /** Abort an attempt that receives nothing for this long (default 60 000 ms). */
  stallTimeoutMs?: number;
}

interface Sibling {
  rfilename: string;
  size: number | null;
  blobId: string | null;
  lfs: { sha256: string; size: number } | null;
}

function looksLikePath(s: string): boolean {
  return s.startsWith('.') || s.startsWith('~') || isAbsolute(s) || s.includes('\\') || s.split('/').length > 2;
}

function parseSiblings(info: JsonObject, url: string): Sibling[] {
  const raw = info['siblings'];
  if (!Array.isArray(raw)) throw new ModelError(`unexpected answer from ${url}: no "siblings" file list`);
  return raw.filter(isJsonObject).flatMap((s) => {
    const name = s['rfilename'];
    if (typeof name !== 'string') return [];
    const lfs = s['lfs'];
    return [{
      rfilename: name,
      size: typeof s['size'] === 'number' ? s['size'] : null,
      blobId: typeof s['blobId'] === 'string' ? s['blobId'] : null,
      lfs: isJsonObject(lfs) && typeof lfs['sha256'] === 'string' && typeof lfs['size'] === 'number'
        ? { sha256: lfs['sha256'], size: lfs['size'] }
        : null,
    }];
  });
}

function safeRepoPath(name: string, where: string): string {
  if (name === '' || isAbsolute(name) || normalize(name).startsWith('..') || name.includes('\\')) {
    throw new ModelError(`${where}: refusing file name ${JSON.stringify(name)} that points outside the model folder`);
  }
  return name;
}

/**
 * Returns a local folder for a model: `idOrPath` itself when it exists on disk, else the cached
 * snapshot of the Hub model id (downloading what is missing). Honors HF_ENDPOINT, HF_HOME /
 * HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE.
 *
 * @example
 * const dir = await resolveModel('google-bert/bert-base-uncased', {
 *   onProgress: (p) => console.log(p.file, p.downloaded, p.total),
 * });
 * // dir = ~/.cache/huggingface/hub/models--google-bert--bert-base-uncased/snapshots/<commit>
 */
export async function resolveModel(idOrPath: string, options: ResolveOptions = {}): Promise<string> {
  if ((await stat(idOrPath).catch(() => null)) !== null) return idOrPath;
  if (looksLikePath(idOrPath)) throw new ModelError(`${idOrPath}: no such local folder (and it is not a Hub model id)`);
  validateRepoId(idOrPath);
  const settings: HubSettings = { ...hubSettingsFromEnv(options.env), ...options.settings };
  const revision = options.revision ?? 'main';
  const storage = repoCacheFolder(settings.cacheDir, idOrPath);
  const ctx: RequestContext = {
    endpoint: settings.endpoint, repoId: idOrPath, revision, hasToken: settings.token !== null, cacheDir: settings.cacheDir,
  };
  if (settings.offline) {
    const cached = await findCompleteSnapshot(storage, revision);
    if (cached !== null) return cached;
    throw new ModelError(
      `"${idOrPath}" (revision "${revision}") is not in the cache ${settings.cacheDir} and HF_HUB_OFFLINE is set. ` +
        'Unset HF_HUB_OFFLINE to download it, or pass a local model folder.',
    );
  }
  const fetchImpl = options.fetch ?? fetch;
  const apiUrl = `${settings.endpoint}/api/models/${idOrPath}/revision/${encodeURIComponent(revision)}?blobs=true`;
  let info: JsonObject;
  try {
    const signal = AbortSignal.timeout(options.stallTimeoutMs ?? 60_000);
    const res = await hubFetch(fetchImpl, apiUrl, { headers: hubHeaders(settings.token), signal }, ctx);
    if (!res.ok) throw hubResponseError(res, ctx);
    const body = parseJson(await res.text(), apiUrl).value;
    if (!isJsonObject(body)) throw new ModelError(`unexpected answer from ${apiUrl}: not a JSON object`);
    info = body;
  } catch (err) {
    if (!(err instanceof TransientHubError)) throw err;
    const cached = await findCompleteSnapshot(storage, revision);
    if (cached === null) throw err;
    options.onMessage?.(`${err.message}\nUsing the cached copy of "${idOrPath}" at ${cached}.`);
    return cached;
  }
  const commit = info['sha'];
  if (typeof commit !== 'string' || !COMMIT_RE.test(commit)) throw new ModelError(`unexpected answer from ${apiUrl}: no commit "sha"`);
  const siblings = new Map(parseSiblings(info, apiUrl).map((s) => [s.rfilename, s]));
  const snapshot = join(storage, 'snapshots', commit);
  if (!siblings.has('config.json')) {
    throw new ModelError(`"${idOrPath}" on ${settings.endpoint} has no config.json; it is not a transformers model repo`);
  }

  const fetchFile = makeFileFetcher({ settings, ctx, storage, snapshot, commit, siblings, fetchImpl, options });
  const plan = MODEL_SIDE_FILES.filter((f) => siblings.has(f));
  /** The index file (fetched now) followed by the shards its weight_map names, each checked against the repo. */
  const shardsOf = async (indexName: string, shardRe: RegExp): Promise<string[]> => {
    await fetchFile(indexName, 0, 1);
    const indexPath = join(snapshot, indexName);
    const { value } = await readJsonFile(indexPath);
    const map = isJsonObject(value) ? value['weight_map'] : undefined;
    if (!isJsonObject(map)) throw new ModelError(`${indexPath}: no "weight_map" object`);
    const shards = [...new Set(Object.values(map).map(String))].map((s) => safeRepoPath(s, indexPath));
    for (const s of shards) {
      if (!shardRe.test(s)) throw new ModelError(`${indexPath} names shard "${s}", which is not a ${shardRe === BIN_SHARD_RE ? '.bin' : '.safetensors'} file; refusing to fetch it`);
      if (!siblings.has(s)) throw new ModelError(`${indexPath} names shard "${s}" that "${idOrPath}" does not have`);
    }
    return [indexName, ...shards];
  };
  let weights: string[];
  if (siblings.has('model.safetensors')) {
    weights = ['model.safetensors'];
  } else if (siblings.has('model.safetensors.index.json')) {
    weights = await shardsOf('model.safetensors.index.json', /\.safetensors$/);
  } else if (siblings.has('pytorch_model.bin')) {
    // Older repos: torch.save's zip+pickle, read by the weights-only reader (nothing is executed).
    weights = ['pytorch_model.bin'];
  } else if (siblings.has('pytorch_model.bin.index.json')) {
    weights = await shardsOf('pytorch_model.bin.index.json', BIN_SHARD_RE);
  } else {
    const pickles = [...siblings.keys()].filter((f) => PICKLE_RE.test(f));
    throw new ModelError(
      `"${idOrPath}" has no safetensors weights and no pytorch_model.bin${pickles.length > 0 ? ` (only ${pickles.join(', ')})` : ''}. ` +
        'finetune reads only those (other pickle files such as .pt, .ckpt or TensorFlow/Flax weights are never fetched). ' +
        'Convert once with Python: from transformers import AutoModel; ' +
        `AutoModel.from_pretrained("${idOrPath}").save_pretrained("<dir>", safe_serialization=True), then pass <dir>.`,
    );
  }
  const all = [...plan, ...weights];
  for (let i = 0; i < all.length; i++) await fetchFile(all[i] as string, i, all.length);
  if (revision !== commit) await writeFileAtomic(join(storage, 'refs', revision), commit);
  return snapshot;
}

interface FetcherDeps {
  settings: HubSettings;
  ctx: RequestContext;
  storage: string;
  snapshot: string;
  commit: string;
  siblings: Map<string, Sibling>;
  fetchImpl: FetchLike;
  options: ResolveOptions;
}

/** Returns a function that puts one repo file into the snapshot (download, verify, link). */
function makeFileFetcher(d: FetcherDeps): (file: string, index: number, count: number) => Promise<void> {
  return async (file, index, count) => {
    const pointer = join(d.snapshot, safeRepoPath(file, d.ctx.repoId));
    const report = (downloaded: number, total: number | null, cached: boolean) =>
      d.options.onProgress?.({ file, fileIndex: index, fileCount: count, downloaded, total, cached });
    const sib = d.siblings.get(file);
    if (await fileExists(pointer)) {
      const size = (await stat(pointer)).size;
      report(size, size, true);
      return;
    }
    const url = `${d.settings.endpoint}/${d.ctx.repoId}/resolve/${d.commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
    const fileCtx: RequestContext = { ...d.ctx, file };
    const expected: ExpectedBlob = { size: sib?.lfs?.size ?? sib?.size ?? null };
    let etag = sib?.lfs?.sha256 ?? sib?.blobId ?? null;
    if (sib?.lfs !== null && sib?.lfs !== undefined) expected.sha256 = sib.lfs.sha256;
    else if (sib?.blobId !== null && sib?.blobId !== undefined) expected.gitBlobId = sib.blobId;
    if (etag === null) {
      // The listing had no blob ids: ask the file's headers, as huggingface_hub does.
      const head = await hubFetch(d.fetchImpl, url, { method: 'HEAD', headers: hubHeaders(d.settings.token), redirect: 'manual', signal: AbortSignal.timeout(d.options.stallTimeoutMs ?? 60_000) }, fileCtx);
      if (head.status >= 400) throw hubResponseError(head, fileCtx);
      etag = normalizeEtag(head.headers.get('x-linked-etag') ?? head.headers.get('etag'));
      const size = head.headers.get('x-linked-size') ?? head.headers.get('content-length');
      if (expected.size === null && size !== null && /^\d+$/.test(size)) expected.size = Number(size);
      if (etag === null || !/^[\w.-]+$/.test(etag)) throw new ModelError(`${url}: the Hub sent no usable ETag for "${file}"`);
    }
    const blob = join(d.storage, 'blobs', etag);
    if (!(await fileExists(blob))) {
      const incomplete = `${blob}.incomplete`;
      await mkdir(join(d.storage, 'blobs'), { recursive: true });
      await downloadResumable(url, incomplete, expected, {
        fetchImpl: d.fetchImpl, token: d.settings.token, ctx: fileCtx,
        onBytes: (p) => report(p.downloaded, p.total ?? expected.size, false),
        ...(d.options.maxRetries !== undefined ? { maxRetries: d.options.maxRetries } : {}),
        ...(d.options.retryDelayMs !== undefined ? { retryDelayMs: d.options.retryDelayMs } : {}),
        ...(d.options.stallTimeoutMs !== undefined ? { stallTimeoutMs: d.options.stallTimeoutMs } : {}),
      });
      await rename(incomplete, blob);
    } else {
      const size = (await stat(blob)).size;
      report(size, size, true);
    }
    await linkBlob(blob, pointer);
  };
}

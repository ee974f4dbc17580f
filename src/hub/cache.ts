// The Hugging Face cache layout, shared with Python's huggingface_hub so both reuse each other's
// downloads: <cache>/models--org--name/{blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>,
// refs/<revision> holding the commit}. Also where settings come from (HF_HOME, HF_HUB_CACHE,
// HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE), read in this one place. Not here: HTTP (http.ts, resolve.ts).

import { readFileSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, stat, symlink, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ModelError } from '../errors.ts';
import { isJsonObject, readJsonFile } from '../io/json.ts';

/** Where and how to reach the Hub and its cache. */
export interface HubSettings {
  /** Hub base URL, no trailing slash (HF_ENDPOINT; default https://huggingface.co). */
  endpoint: string;
  /** The hub cache folder holding the models--org--name folders (HF_HUB_CACHE; default $HF_HOME/hub). */
  cacheDir: string;
  /** Access token sent as `Authorization: Bearer` (HF_TOKEN, or the file `hf auth login` writes). */
  token: string | null;
  /** Never touch the network; use the cache only (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1). */
  offline: boolean;
}

const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);
const isTrue = (v: string | undefined) => v !== undefined && TRUE_VALUES.has(v.toUpperCase());
const expandHome = (p: string) => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);

/**
 * Settings from environment variables, with huggingface_hub's names and defaults.
 *
 * @example const s = hubSettingsFromEnv(); // { endpoint: 'https://huggingface.co', cacheDir: '~/.cache/huggingface/hub', ... }
 */
export function hubSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const hfHome = expandHome(env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface'));
  const cacheDir = expandHome(env['HF_HUB_CACHE'] ?? env['HUGGINGFACE_HUB_CACHE'] ?? join(hfHome, 'hub'));
  let token = env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'] ?? null;
  if (token === null || token.trim() === '') {
    token = null;
    try {
      const t = readFileSync(expandHome(env['HF_TOKEN_PATH'] ?? join(hfHome, 'token')), 'utf8').trim();
      if (t !== '') token = t;
    } catch {
      // no stored token: anonymous access
    }
  }
  return {
    endpoint: (env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, ''),
    cacheDir,
    token: token?.trim() ?? null,
    offline: isTrue(env['HF_HUB_OFFLINE']) || isTrue(env['TRANSFORMERS_OFFLINE']),
  };
}

const REPO_ID_RE = /^(?:[\w.-]+\/)?[\w.-]{1,96}$/;
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/** Checks a Hub model id as huggingface_hub does (`name` or `org/name`). */
export function validateRepoId(id: string): void {
  if (!REPO_ID_RE.test(id) || id.includes('--') || id.includes('..') || id.endsWith('.git') || /(^|\/)[.-]|[.-]($|\/)/.test(id)) {
    throw new ModelError(
      `"${id}" is neither an existing local folder nor a valid Hub model id (expected "name" or "org/name", ` +
        `letters, digits, "-", "_", "." only, e.g. "google-bert/bert-base-uncased")`,
    );
  }
}

/** `<cacheDir>/models--org--name`. */
export function repoCacheFolder(cacheDir: string, repoId: string): string {
  return join(cacheDir, `models--${repoId.split('/').join('--')}`);
}

/** Strips quotes and a weak-validator prefix from an ETag header, as huggingface_hub does. */
export function normalizeEtag(etag: string | null): string | null {
  if (etag === null) return null;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile(); // follows the symlink: a dangling pointer counts as missing
  } catch {
    return false;
  }
}

/** Does this file exist (following symlinks)? */
export const fileExists = isFile;

/**
 * True when a folder has config.json and all its weights: model.safetensors, or the sharded index
 * and every shard it names; else pytorch_model.bin, or its sharded index and every shard.
 */
export async function isCompleteSnapshot(dir: string): Promise<boolean> {
  if (!(await isFile(join(dir, 'config.json')))) return false;
  if (await isFile(join(dir, 'model.safetensors'))) return true;
  let index = join(dir, 'model.safetensors.index.json');
  if (!(await isFile(index))) {
    // Repos with only PyTorch weights (resolve.ts fetches those when there is no safetensors).
    if (await isFile(join(dir, 'pytorch_model.bin'))) return true;
    index = join(dir, 'pytorch_model.bin.index.json');
    if (!(await isFile(index))) return false;
  }
  try {
    const { value } = await readJsonFile(index);
    const map = isJsonObject(value) ? value['weight_map'] : undefined;
    if (!isJsonObject(map)) return false;
    for (const shard of new Set(Object.values(map))) {
      if (typeof shard !== 'string' || !(await isFile(join(dir, shard)))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** The commit a cached revision points to (refs/<revision>), or the revision itself if it is a commit. */
export async function cachedCommit(storage: string, revision: string): Promise<string | null> {
  if (COMMIT_RE.test(revision)) return revision;
  try {
    const commit = (await readFile(join(storage, 'refs', revision), 'utf8')).trim();
    return COMMIT_RE.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** The cached snapshot folder for a revision when it is complete, else null. */
export async function findCompleteSnapshot(storage: string, revision: string): Promise<string | null> {
  const commit = await cachedCommit(storage, revision);
  if (commit === null) return null;
  const dir = join(storage, 'snapshots', commit);
  return (await isCompleteSnapshot(dir)) ? dir : null;
}

/**
 * Points `snapshots/<commit>/<file>` at its blob with a relative symlink (as huggingface_hub does),
 * or copies the blob where symlinks are not allowed.
 */
export async function linkBlob(blobPath: string, pointerPath: string): Promise<void> {
  await mkdir(dirname(pointerPath), { recursive: true });
  await unlink(pointerPath).catch(() => undefined);
  try {
    await symlink(relative(dirname(pointerPath), blobPath), pointerPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EACCES') throw err;
    await copyFile(blobPath, pointerPath);
  }
}

/** Removes a path, ignoring "not found". */
export async function removeIfExists(p: string): Promise<void> {
  await rm(p, { force: true });
}

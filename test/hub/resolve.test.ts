// Tests for Hub downloads against a stand-in Hub on 127.0.0.1: the cache layout huggingface_hub
// uses, reuse and offline mode, error messages, and resuming an interrupted download; repos with only
// pytorch_model.bin (single or sharded; files written by Debian's python3-torch at test time, those tests
// skip without it) fetch those and no other pickle.
// HF_HOME points at a temp folder: nothing touches ~/.cache.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ModelError } from '../../src/errors.ts';
import { hubSettingsFromEnv, repoCacheFolder } from '../../src/hub/cache.ts';
import { resolveModel, type ResolveOptions, type ResolveProgress } from '../../src/hub/resolve.ts';
import { loadCheckpointTensors } from '../../src/io/checkpoint.ts';
import { toFloat32 } from '../../src/io/safetensors.ts';
import { readHfConfig } from '../../src/models/hf-config.ts';
import { startFakeHub, type FakeHub, type FakeRepo } from './fake-hub.ts';

const GOLDEN = fileURLToPath(new URL('../../../shared/goldens/bert-seqcls/', import.meta.url));
const haveGolden = existsSync(GOLDEN);

const COMMIT = 'a'.repeat(39) + '1';
const dirs: string[] = [];
/** A loopback port with nothing listening (connections are refused). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'hub-test-'));
  dirs.push(d);
  return d;
}

/** Deterministic stand-in weights when the goldens are absent; the real checkpoint otherwise. */
async function weights(): Promise<{ config: Uint8Array; model: Uint8Array }> {
  if (haveGolden) {
    return { config: await readFile(join(GOLDEN, 'config.json')), model: await readFile(join(GOLDEN, 'model.safetensors')) };
  }
  const header = Buffer.from('{"w":{"dtype":"U8","shape":[200000],"data_offsets":[0,200000]}}');
  const model = new Uint8Array(8 + header.length + 200000);
  new DataView(model.buffer).setBigUint64(0, BigInt(header.length), true);
  model.set(header, 8);
  for (let i = 0; i < 200000; i++) model[8 + header.length + i] = (i * 31) & 0xff;
  return { config: Buffer.from('{"model_type": "bert"}'), model };
}

/**
 * torch.save files from Debian's python3-torch: one pytorch_model.bin holding w (2, 3) = 0..5 and b = [7, 8],
 * and the same two tensors sharded over two files with their pytorch_model.bin.index.json; null without torch.
 */
async function torchBins(): Promise<{ single: Uint8Array; shard1: Uint8Array; shard2: Uint8Array; index: Uint8Array } | null> {
  const dir = await tmp();
  const script = [
    'import sys, torch',
    'd = sys.argv[1]',
    'w = torch.arange(6, dtype=torch.float32).reshape(2, 3); b = torch.tensor([7.0, 8.0])',
    'torch.save({"w": w, "b": b}, d + "/single.bin")',
    'torch.save({"w": w}, d + "/s1.bin"); torch.save({"b": b}, d + "/s2.bin")',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script, dir], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return null;
  const index = Buffer.from(JSON.stringify({ metadata: {}, weight_map: { w: 'pytorch_model-00001-of-00002.bin', b: 'pytorch_model-00002-of-00002.bin' } }));
  return { single: await readFile(join(dir, 'single.bin')), shard1: await readFile(join(dir, 's1.bin')), shard2: await readFile(join(dir, 's2.bin')), index };
}

let hub: FakeHub;
const bins = await torchBins(); // at load time: the tests' skip flags depend on it
let files: { config: Uint8Array; model: Uint8Array };
const tokenizer = Buffer.from('{"version": "1.0", "model": {"type": "WordPiece"}}');

before(async () => {
  files = await weights();
  const other = { 'tf_model.h5': Buffer.from('h5'), 'flax_model.msgpack': Buffer.from('msgpack'), 'training_args.bin': Buffer.from('pickle'), 'optimizer.pt': Buffer.from('pickle') };
  const binRepos: Record<string, FakeRepo> = bins === null ? {} : {
    'org/bin-only': { commit: COMMIT, files: { 'config.json': files.config, 'pytorch_model.bin': bins.single, ...other }, lfs: ['pytorch_model.bin'] },
    'org/bin-sharded': {
      commit: COMMIT,
      files: {
        'config.json': files.config, 'pytorch_model.bin.index.json': bins.index, ...other,
        'pytorch_model-00001-of-00002.bin': bins.shard1, 'pytorch_model-00002-of-00002.bin': bins.shard2,
      },
      lfs: ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin'],
    },
    'org/bin-bad-index': {
      commit: COMMIT,
      files: { 'config.json': files.config, 'pytorch_model.bin.index.json': Buffer.from(JSON.stringify({ weight_map: { w: 'optimizer.pt' } })), ...other },
    },
  };
  const half = Math.floor(files.model.length / 2);
  hub = await startFakeHub({
    'org/tiny': {
      commit: COMMIT,
      files: { 'config.json': files.config, 'tokenizer.json': tokenizer, 'model.safetensors': files.model, 'pytorch_model.bin': Buffer.from('pickle'), 'README.md': Buffer.from('# tiny') },
      lfs: ['model.safetensors', 'pytorch_model.bin'],
    },
    'org/private': { commit: COMMIT, files: { 'config.json': files.config, 'model.safetensors': files.model }, lfs: ['model.safetensors'], token: 'hf_secret' },
    'org/sharded': {
      commit: 'b'.repeat(40),
      files: {
        'config.json': files.config,
        'model.safetensors.index.json': Buffer.from(JSON.stringify({ metadata: {}, weight_map: { w: 'model-00001-of-00001.safetensors' } })),
        'model-00001-of-00001.safetensors': files.model,
      },
      lfs: ['model-00001-of-00001.safetensors'],
    },
    'org/no-blob-ids': {
      commit: COMMIT,
      files: { 'config.json': files.config, 'model.safetensors': files.model },
      lfs: ['model.safetensors'],
      noBlobIds: true,
    },
    'org/pickle-only': { commit: COMMIT, files: { 'config.json': files.config, 'model.ckpt': Buffer.from('pickle'), 'training_args.bin': Buffer.from('pickle') } },
    ...binRepos,
    'bert-mini': { commit: 'c'.repeat(40), files: { 'config.json': files.config, 'model.safetensors': files.model.subarray(0, half) } },
  });
});
after(async () => {
  await hub.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function opts(home: string, extra: ResolveOptions = {}): ResolveOptions {
  return { env: { HF_HOME: home, HF_ENDPOINT: hub.url }, retryDelayMs: 1, ...extra };
}

describe('resolveModel with a stand-in Hub', () => {
  test('downloads into the huggingface_hub cache layout, skipping pickles and READMEs', async () => {
    const home = await tmp();
    const progress: ResolveProgress[] = [];
    const dir = await resolveModel('org/tiny', opts(home, { onProgress: (p) => progress.push(p) }));
    const storage = join(home, 'hub', 'models--org--tiny');
    assert.equal(dir, join(storage, 'snapshots', COMMIT));
    assert.equal((await readFile(join(storage, 'refs', 'main'), 'utf8')), COMMIT);
    for (const [name, bytes] of [['config.json', files.config], ['tokenizer.json', tokenizer], ['model.safetensors', files.model]] as const) {
      assert.ok((await lstat(join(dir, name))).isSymbolicLink(), `${name} is a symlink`);
      assert.match(await readlink(join(dir, name)), /^\.\.\/\.\.\/blobs\/[0-9a-f]{40,64}$/);
      assert.ok(Buffer.compare(await readFile(join(dir, name)), bytes) === 0, name);
    }
    assert.ok(!existsSync(join(dir, 'pytorch_model.bin')) && !existsSync(join(dir, 'README.md')));
    assert.ok(!hub.requests.some((r) => r.url.includes('pytorch_model.bin')), 'never requested the pickle');
    const last = progress.filter((p) => p.file === 'model.safetensors').at(-1);
    assert.deepEqual([last?.downloaded, last?.total, last?.cached, last?.fileCount], [files.model.length, files.model.length, false, 3]);
    assert.equal((await readHfConfig(dir)).model_type, 'bert');
    assert.ok((await loadCheckpointTensors(dir)).tensors.size > 0);
  });

  test('a second call reuses the cache without downloading; offline mode needs no server', async () => {
    const home = await tmp();
    const first = await resolveModel('org/tiny', opts(home));
    const before = hub.requests.length;
    const progress: ResolveProgress[] = [];
    assert.equal(await resolveModel('org/tiny', opts(home, { onProgress: (p) => progress.push(p) })), first);
    assert.deepEqual(hub.requests.slice(before).map((r) => r.url.split('?')[0]), ['/api/models/org/tiny/revision/main']);
    assert.ok(progress.every((p) => p.cached));
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const offline = await resolveModel('org/tiny', { env: { HF_HOME: home, HF_HUB_OFFLINE: '1', HF_ENDPOINT: dead } });
    assert.equal(offline, first);
    await assert.rejects(
      resolveModel('org/never-downloaded', { env: { HF_HOME: home, HF_HUB_OFFLINE: '1' } }),
      /not in the cache.*HF_HUB_OFFLINE/,
    );
  });

  test('an unreachable Hub falls back to a complete cached snapshot, else says what to do', async () => {
    const home = await tmp();
    const first = await resolveModel('org/tiny', opts(home));
    const notices: string[] = [];
    const dead = `http://127.0.0.1:${await closedPort()}`;
    const down = { env: { HF_HOME: home, HF_ENDPOINT: dead }, onMessage: (m: string) => notices.push(m) };
    assert.equal(await resolveModel('org/tiny', down), first);
    assert.ok((notices[0] ?? '').startsWith(`cannot reach ${dead}`), notices[0]);
    assert.match(notices[0] ?? '', /Using the cached copy/);
    await assert.rejects(resolveModel('org/other', down), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.ok(e.message.startsWith(`cannot reach ${dead} (ECONNREFUSED)`), e.message);
      assert.match(e.message, /HF_HUB_OFFLINE=1/);
      assert.match(e.message, /local model folder/);
      return true;
    });
  });

  test('404 says the id was not found on the endpoint; 401 asks for HF_TOKEN; a token works', async () => {
    const home = await tmp();
    await assert.rejects(resolveModel('org/missing', opts(home)), new RegExp(`model id "org/missing" not found on ${hub.url}`));
    await assert.rejects(resolveModel('org/private', opts(home)), /HF_TOKEN=<token>/);
    await assert.rejects(resolveModel('org/tiny', opts(home, { revision: 'v9' })), /revision "v9" of "org\/tiny" not found/);
    const dir = await resolveModel('org/private', { env: { HF_HOME: home, HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_secret' } });
    assert.ok(Buffer.compare(await readFile(join(dir, 'model.safetensors')), files.model) === 0);
    assert.ok(hub.requests.filter((r) => r.url.includes('org/private')).some((r) => r.authorization === 'Bearer hf_secret'));
    await assert.rejects(resolveModel('org/pickle-only', opts(home)), /no safetensors weights and no pytorch_model\.bin \(only model\.ckpt, training_args\.bin\).*safe_serialization=True/);
    assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/') && /model\.ckpt|training_args/.test(r.url)), 'never requested a pickle');
  });

  test('an interrupted download keeps its bytes and the next run resumes with a Range request', async () => {
    const home = await tmp();
    const cut = 100_000;
    hub.cutAfter.set('model.safetensors', [cut]);
    await assert.rejects(resolveModel('org/tiny', opts(home, { maxRetries: 0 })), (e: unknown) => {
      assert.ok(e instanceof ModelError);
      assert.match(e.message, /run the same command again to resume/);
      return true;
    });
    const blobs = join(repoCacheFolder(join(home, 'hub'), 'org/tiny'), 'blobs');
    const { sha256 } = await import('./fake-hub.ts');
    const incomplete = join(blobs, `${sha256(files.model)}.incomplete`);
    assert.equal((await stat(incomplete)).size, cut);
    const mark = hub.requests.length;
    const dir = await resolveModel('org/tiny', opts(home));
    const gets = hub.requests.slice(mark).filter((r) => r.url.endsWith('/model.safetensors'));
    assert.deepEqual(gets.map((r) => r.range), [`bytes=${cut}-`]);
    assert.ok(Buffer.compare(await readFile(join(dir, 'model.safetensors')), files.model) === 0);
    assert.ok(!existsSync(incomplete));
  });

  test('a connection cut mid-file is retried within the same call, resuming', async () => {
    const home = await tmp();
    hub.cutAfter.set('model.safetensors', [50_000, 30_000]);
    const mark = hub.requests.length;
    const dir = await resolveModel('org/tiny', opts(home, { maxRetries: 3 }));
    const gets = hub.requests.slice(mark).filter((r) => r.url.endsWith('/model.safetensors'));
    assert.deepEqual(gets.map((r) => r.range), [undefined, 'bytes=50000-', 'bytes=80000-']);
    assert.ok(Buffer.compare(await readFile(join(dir, 'model.safetensors')), files.model) === 0);
  });

  test('content that fails its checksum is not kept', async () => {
    const home = await tmp();
    hub.corrupt.add('model.safetensors');
    try {
      await assert.rejects(resolveModel('org/tiny', opts(home, { maxRetries: 1 })), /failed its checksum/);
    } finally {
      hub.corrupt.delete('model.safetensors');
    }
    assert.ok(!existsSync(join(repoCacheFolder(join(home, 'hub'), 'org/tiny'), 'snapshots', COMMIT, 'model.safetensors')));
  });

  test('without blob ids in the listing, the ETag headers name the blobs (LFS: X-Linked-Etag = sha256)', async () => {
    const home = await tmp();
    const mark = hub.requests.length;
    const dir = await resolveModel('org/no-blob-ids', opts(home));
    assert.ok(hub.requests.slice(mark).some((r) => r.method === 'HEAD' && r.url.endsWith('/model.safetensors')));
    const { sha256, gitBlobId } = await import('./fake-hub.ts');
    assert.equal(await readlink(join(dir, 'model.safetensors')), `../../blobs/${sha256(files.model)}`);
    assert.equal(await readlink(join(dir, 'config.json')), `../../blobs/${gitBlobId(files.config)}`);
  });

  test('sharded checkpoints fetch the index and every shard', async () => {
    const home = await tmp();
    const dir = await resolveModel('org/sharded', opts(home));
    assert.ok(Buffer.compare(await readFile(join(dir, 'model-00001-of-00001.safetensors')), files.model) === 0);
    assert.ok(existsSync(join(dir, 'model.safetensors.index.json')));
  });

  const noTorch = () => (bins === null ? 'no /usr/bin/python3 with torch to write pytorch_model.bin (apt install python3-torch)' : false);
  test('a repo with only pytorch_model.bin: that file is fetched (no other pickle), read weights-only, reused offline', { skip: noTorch() }, async () => {
    const home = await tmp();
    const before = hub.requests.length;
    const dir = await resolveModel('org/bin-only', opts(home));
    const fetched = hub.requests.slice(before).filter((r) => r.url.includes('/resolve/')).map((r) => r.url.split('/').at(-1));
    assert.deepEqual(fetched, ['config.json', 'pytorch_model.bin']);
    const { tensors } = await loadCheckpointTensors(dir);
    assert.deepEqual([...toFloat32(tensors.get('w')!)], [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(tensors.get('w')!.shape, [2, 3]);
    assert.deepEqual([...toFloat32(tensors.get('b')!)], [7, 8]);
    const offline = await resolveModel('org/bin-only', { env: { HF_HOME: home, HF_HUB_OFFLINE: '1' } });
    assert.equal(offline, dir);
  });

  test('a sharded pytorch_model.bin.index.json: the index and the shards it names, nothing else', { skip: noTorch() }, async () => {
    const home = await tmp();
    const before = hub.requests.length;
    const dir = await resolveModel('org/bin-sharded', opts(home));
    const fetched = hub.requests.slice(before).filter((r) => r.url.includes('/resolve/')).map((r) => r.url.split('/').at(-1)).sort();
    assert.deepEqual(fetched, ['config.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'pytorch_model.bin.index.json']);
    const { tensors } = await loadCheckpointTensors(dir);
    assert.deepEqual([...toFloat32(tensors.get('w')!)], [0, 1, 2, 3, 4, 5]);
    assert.deepEqual([...toFloat32(tensors.get('b')!)], [7, 8]);
    assert.equal(await resolveModel('org/bin-sharded', { env: { HF_HOME: home, HF_HUB_OFFLINE: '1' } }), dir);
  });

  test('a .bin index naming a shard that is not a .bin file is refused before fetching it', { skip: noTorch() }, async () => {
    const home = await tmp();
    await assert.rejects(resolveModel('org/bin-bad-index', opts(home)), /names shard "optimizer\.pt", which is not a \.bin file/);
    assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/') && r.url.includes('optimizer.pt')));
  });

  test('ids without an org, local folders, and bad ids', async () => {
    const home = await tmp();
    const dir = await resolveModel('bert-mini', opts(home));
    assert.equal(dir, join(home, 'hub', 'models--bert-mini', 'snapshots', 'c'.repeat(40)));
    const local = await tmp();
    await writeFile(join(local, 'config.json'), '{}');
    assert.equal(await resolveModel(local, opts(home)), local);
    await assert.rejects(resolveModel('./no/such/folder', opts(home)), /no such local folder/);
    await assert.rejects(resolveModel('bad--id', opts(home)), /not a valid Hub model id|neither an existing local folder/);
  });
});

describe('hubSettingsFromEnv', () => {
  test('defaults and precedence follow huggingface_hub', async () => {
    const home = await tmp();
    const s = hubSettingsFromEnv({ HOME: home, XDG_CACHE_HOME: join(home, 'xdg') });
    assert.equal(s.endpoint, 'https://huggingface.co');
    assert.equal(s.cacheDir, join(home, 'xdg', 'huggingface', 'hub'));
    assert.equal(s.offline, false);
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_HUB_CACHE: '/elsewhere' }).cacheDir, '/elsewhere');
    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).cacheDir, join(home, 'hub'));
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_ENDPOINT: 'http://mirror.local/' }).endpoint, 'http://mirror.local');
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_HUB_OFFLINE: 'yes' }).offline, true);
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, TRANSFORMERS_OFFLINE: '1' }).offline, true);
    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).token, null);
    await writeFile(join(home, 'token'), 'hf_fromfile\n');
    assert.equal(hubSettingsFromEnv({ HF_HOME: home }).token, 'hf_fromfile');
    assert.equal(hubSettingsFromEnv({ HF_HOME: home, HF_TOKEN: 'hf_env' }).token, 'hf_env');
  });
});

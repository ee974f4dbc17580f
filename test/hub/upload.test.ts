// Uploading an output folder to the Hub (src/hub/upload.ts) against a stand-in Hub on 127.0.0.1: the
// repository is created (private when asked), large files go through LFS (PUT + verify, sha256 checked by
// the server), small ones base64 in the NDJSON commit, checkpoint folders stay local, the repository ends
// up byte-identical to the folder; a second push reuses the repo and the LFS objects; the default repo id
// is <whoami>/<folder>; a bad or missing token says --hub-token / HF_TOKEN. And `finetune train
// --push-to-hub` does it at the end of a real run.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { pushToHub } from '../../src/hub/upload.ts';
import { BIN, tempDir, writeSentimentCsv } from '../helpers/cli.ts';
import { startFakeUploadHub } from './fake-hub-upload.ts';

const dir = tempDir('finetune-upload-');
after(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string): string {
  const d = join(dir, name);
  mkdirSync(join(d, 'checkpoint-2'), { recursive: true });
  mkdirSync(join(d, 'onnx'), { recursive: true });
  writeFileSync(join(d, 'config.json'), '{"architectures": ["BertForSequenceClassification"]}\n');
  writeFileSync(join(d, 'model.safetensors'), Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 31) & 0xff)));
  writeFileSync(join(d, 'tokenizer.json'), '{"version": "1.0"}');
  writeFileSync(join(d, 'README.md'), '---\nlibrary_name: transformers\n---\n# m\n');
  writeFileSync(join(d, 'onnx', 'model.onnx'), Buffer.alloc(20_000, 7));
  writeFileSync(join(d, 'checkpoint-2', 'model.safetensors'), 'not uploaded');
  writeFileSync(join(d, 'config.json.tmp'), 'leftover');
  return d;
}

function localFiles(d: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (x: string): void => {
    for (const n of readdirSync(x)) {
      const p = join(x, n);
      if (statSync(p).isDirectory()) {
        if (!/^checkpoint-\d+$/.test(n)) walk(p);
      } else if (!n.endsWith('.tmp')) out.set(relative(d, p), readFileSync(p));
    }
  };
  walk(d);
  return out;
}

describe('pushToHub', () => {
  it('creates the repo, sends large files through LFS and the rest in the commit; the repo equals the folder', async () => {
    const hub = await startFakeUploadHub({ token: 'hf_write', user: 'me' });
    try {
      const d = folder('sms-model');
      const r = await pushToHub(d, { token: 'hf_write', repoId: 'me/sms-spam', private: true, endpoint: hub.url });
      assert.equal(r.url, `${hub.url}/me/sms-spam`);
      const repo = hub.repos.get('me/sms-spam');
      assert.ok(repo);
      assert.equal(repo.private, true);
      assert.deepEqual([...repo.files.keys()].sort(), [...localFiles(d).keys()].sort());
      for (const [p, b] of localFiles(d)) assert.ok(repo.files.get(p)?.equals(b), `${p} differs`);
      assert.deepEqual(r.files.filter((f) => f.lfs).map((f) => f.path).sort(), ['model.safetensors', 'onnx/model.onnx']);
      assert.equal(hub.requests.filter((q) => q.method === 'PUT').length, 2);
      const commit = hub.requests.find((q) => q.path.endsWith('/commit/main'));
      assert.equal(commit?.contentType, 'application/x-ndjson');
      assert.ok(hub.requests.filter((q) => !q.path.startsWith('/lfs-storage/')).every((q) => q.authorization === 'Bearer hf_write'));

      // Again: the repo exists (409) and the LFS objects are on the Hub already (no PUT).
      const puts = hub.requests.filter((q) => q.method === 'PUT').length;
      await pushToHub(d, { token: 'hf_write', repoId: 'me/sms-spam', endpoint: hub.url });
      assert.equal(hub.requests.filter((q) => q.method === 'PUT').length, puts);
      assert.equal(repo.commits, 2);
    } finally {
      await hub.close();
    }
  });

  it('defaults the repo id to <token user>/<folder name>', async () => {
    const hub = await startFakeUploadHub({ token: 't', user: 'alice' });
    try {
      const r = await pushToHub(folder('my-classifier'), { token: 't', endpoint: hub.url });
      assert.equal(r.repoId, 'alice/my-classifier');
      assert.ok(hub.repos.has('alice/my-classifier'));
    } finally {
      await hub.close();
    }
  });

  it('a wrong token says how to get one; no token is a settings error', async () => {
    const hub = await startFakeUploadHub({ token: 't', user: 'alice' });
    try {
      await assert.rejects(pushToHub(folder('x'), { token: 'wrong', repoId: 'alice/x', endpoint: hub.url }), (e: Error) => e instanceof ModelError && /HTTP 401.*write access.*--hub-token or HF_TOKEN/.test(e.message));
      await assert.rejects(pushToHub(folder('y'), { token: null, repoId: 'alice/y', endpoint: hub.url }), (e: Error) => e instanceof ConfigError && /--hub-token or set HF_TOKEN/.test(e.message));
    } finally {
      await hub.close();
    }
  });
});

describe('finetune train --push-to-hub', () => {
  it('uploads the output folder (model, tokenizer, card, results) at the end', async () => {
    const hub = await startFakeUploadHub({ token: 'hf_cli', user: 'me' });
    try {
      const data = writeSentimentCsv(dir, 40);
      const out = join(dir, 'pushed-model');
      const args = ['--threads', '1', 'train', '--train-file', data, '--max-steps', '2', '--output-dir', out, '--push-to-hub', '--hub-model-id', 'me/pushed', '--hub-private-repo'];
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_cli' } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`pushed \\d+ files to ${hub.url}/me/pushed`));
      const repo = hub.repos.get('me/pushed');
      assert.ok(repo);
      assert.equal(repo.private, true);
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'README.md', 'training_args.json', 'all_results.json', 'report.html']) {
        assert.ok(repo.files.get(f)?.equals(readFileSync(join(out, f))), `${f} not uploaded as is`);
      }
      assert.ok(![...repo.files.keys()].some((k) => k.startsWith('checkpoint-')), 'checkpoints stay local');
    } finally {
      await hub.close();
    }
  });
});

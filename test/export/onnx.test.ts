// ONNX export checked by ONNX Runtime: the exported tiny golden BERT models reproduce transformers' own
// logits (goldens) to 1e-4, every family (BERT, RoBERTa, DistilBERT) × head reproduces finetune's
// forward pass to 1e-4 on padded batches of several sizes (dynamic axes), the folder has the layout
// transformers.js expects, `--format hf` round-trips, and unsupported folders fail with clear errors.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ModelError } from '../../src/errors.ts';
import { exportHf, exportModel, exportOnnx } from '../../src/export/index.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import { fromPretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { SEQCLS_DIR, TOKCLS_DIR, goldenReference, makeModelFolder, tmpDir } from '../inference/fixtures.ts';

const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const i64 = (a: Int32Array, dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), dims);

/** Runs the exported model on an int32 batch; returns every output as a plain array. */
async function runOnnx(modelPath: string, ids: Int32Array, mask: Int32Array, types: Int32Array, B: number, T: number): Promise<Record<string, number[]>> {
  const sess = await ort.InferenceSession.create(modelPath);
  const feeds: Record<string, ort.Tensor> = { input_ids: i64(ids, [B, T]), attention_mask: i64(mask, [B, T]) };
  if (sess.inputNames.includes('token_type_ids')) feeds['token_type_ids'] = i64(types, [B, T]);
  const res = await sess.run(feeds);
  return Object.fromEntries(Object.entries(res).map(([k, v]) => [k, Array.from(v.data as Float32Array)]));
}

/** finetune's own forward pass: logits, start/end logits. */
function runOurs(model: PretrainedTaskModel, ids: Int32Array, mask: Int32Array, types: Int32Array | null, B: number, T: number) {
  return F.noGrad(() =>
    F.tidy(() => {
      const o = model.forward({
        inputIds: Tensor.wrap(ids.slice(), [B, T]),
        attentionMask: Tensor.wrap(mask.slice(), [B, T]),
        tokenTypeIds: types ? Tensor.wrap(types.slice(), [B, T]) : undefined,
      });
      return { logits: o.logits.toArray(), start: o.startLogits?.toArray(), end: o.endLogits?.toArray() };
    }),
  );
}

/** A deterministic batch with right padding on every other row (pad id = `pad`). */
function batch(B: number, T: number, pad: number, vocab = 1500): { ids: Int32Array; mask: Int32Array; types: Int32Array } {
  const ids = new Int32Array(B * T);
  const mask = new Int32Array(B * T);
  const types = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = b % 2 === 1 ? Math.max(1, T - 1 - (b % 3)) : T;
    for (let t = 0; t < T; t++) {
      const real = t < len;
      ids[b * T + t] = real ? 5 + ((b * 131 + t * 37) % (vocab - 10)) : pad;
      mask[b * T + t] = real ? 1 : 0;
      types[b * T + t] = real && t >= len / 2 ? 1 : 0;
    }
  }
  return { ids, mask, types };
}

describe('ONNX export of the golden tiny BERT models matches transformers', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  before(async () => {
    work = await tmpDir();
  });
  after(async () => work.cleanup());

  for (const [name, dir] of [['sequence classification', SEQCLS_DIR], ['token classification', TOKCLS_DIR]] as const) {
    test(`${name}: ONNX Runtime logits equal the golden logits to 1e-4`, async () => {
      const out = join(work.dir, name.replace(' ', '-'));
      const r = await exportOnnx(dir, out);
      assert.deepEqual(r.inputNames, ['input_ids', 'attention_mask', 'token_type_ids']);
      assert.deepEqual(r.outputNames, ['logits']);
      const ref = await goldenReference(dir);
      const got = await runOnnx(r.modelPath, ref.inputIds, ref.attentionMask, ref.tokenTypeIds, ref.B, ref.T);
      assert.equal(got['logits']!.length, ref.logits.length);
      const d = maxAbsDiff(got['logits']!, ref.logits);
      assert.ok(d < TOL, `max |onnx - transformers| = ${d}`);
    });
  }

  test('the folder is laid out as transformers.js expects: onnx/model.onnx beside config and tokenizer files', async () => {
    const out = join(work.dir, 'layout');
    const r = await exportOnnx(SEQCLS_DIR, out);
    for (const f of ['onnx/model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) {
      assert.ok(existsSync(join(out, f)), `missing ${f}`);
      assert.ok(r.files.includes(f), `not reported: ${f}`);
    }
    assert.deepEqual(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')), JSON.parse(await readFile(join(SEQCLS_DIR, 'config.json'), 'utf8')));
    assert.deepEqual(r.warnings, []);
    assert.equal(r.head, 'sequence-classification');
  });

  test('batch and sequence axes are dynamic: one row, then a longer padded batch, match finetune', async () => {
    const out = join(work.dir, 'dynamic');
    const r = await exportOnnx(SEQCLS_DIR, out);
    const model = await fromPretrained(SEQCLS_DIR, { warn: () => undefined });
    model.eval();
    try {
      for (const [B, T] of [[1, 3], [5, 40], [2, 64]] as const) {
        const { ids, mask, types } = batch(B, T, 0);
        const got = await runOnnx(r.modelPath, ids, mask, types, B, T);
        const want = runOurs(model, ids, mask, types, B, T);
        const d = maxAbsDiff(got['logits']!, want.logits);
        assert.ok(d < TOL, `B=${B} T=${T}: max diff ${d}`);
      }
    } finally {
      model.dispose();
    }
  });
});

describe('every family and head exports to ONNX and matches finetune to 1e-4', () => {
  const TASKS: TaskName[] = ['text-classification', 'token-classification', 'question-answering', 'fill-mask', 'feature-extraction'];
  for (const family of ['bert', 'roberta', 'distilbert'] as const) {
    test(`${family}: ${TASKS.join(', ')}`, async () => {
      const work = await tmpDir();
      try {
        for (const task of TASKS) {
          const dir = join(work.dir, task);
          const model = await makeModelFolder(dir, family, task, { fields: family === 'bert' ? { hidden_act: 'gelu_new' } : {} });
          try {
            const r = await exportOnnx(dir, join(dir, 'onnx-out'));
            const pad = family === 'roberta' ? 1 : 0;
            const B = 3;
            const T = 11;
            const { ids, mask, types } = batch(B, T, pad);
            const useTypes = family === 'bert' ? types : null;
            const got = await runOnnx(r.modelPath, ids, mask, types, B, T);
            const want = runOurs(model, ids, mask, useTypes, B, T);
            let d: number;
            if (task === 'question-answering') {
              assert.deepEqual(r.outputNames, ['start_logits', 'end_logits']);
              d = Math.max(maxAbsDiff(got['start_logits']!, want.start!), maxAbsDiff(got['end_logits']!, want.end!));
            } else if (task === 'feature-extraction') {
              // finetune's feature extraction is the masked mean of last_hidden_state: pool the ONNX output the same way.
              assert.deepEqual(r.outputNames, ['last_hidden_state']);
              const h = got['last_hidden_state']!;
              const C = h.length / (B * T);
              const pooled: number[] = [];
              for (let b = 0; b < B; b++) {
                for (let c = 0; c < C; c++) {
                  let s = 0;
                  let n = 0;
                  for (let t = 0; t < T; t++) if (mask[b * T + t]) (s += h[(b * T + t) * C + c]!), n++;
                  pooled.push(s / n);
                }
              }
              d = maxAbsDiff(pooled, want.logits);
            } else {
              assert.deepEqual(r.outputNames, ['logits']);
              d = maxAbsDiff(got['logits']!, want.logits);
            }
            assert.ok(d < TOL, `${family} ${task}: max diff ${d}`);
            assert.deepEqual(r.inputNames, family === 'bert' ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask']);
          } finally {
            model.dispose();
          }
        }
      } finally {
        await work.cleanup();
      }
    });
  }
});

describe('export errors and the hf format', () => {
  test('a missing folder is a ModelError naming it', async () => {
    await assert.rejects(exportOnnx('/nonexistent/model-dir', '/tmp/never'), (e: unknown) => e instanceof ModelError && /nonexistent\/model-dir/.test(e.message));
  });

  test('a GPT-2 folder is refused with a message pointing to --format hf', async () => {
    const work = await tmpDir();
    try {
      const gpt2 = join(work.dir, 'gpt2');
      const { mkdir, writeFile, copyFile } = await import('node:fs/promises');
      await mkdir(gpt2);
      await writeFile(join(gpt2, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 8, n_layer: 1, n_head: 2, vocab_size: 10, architectures: ['GPT2LMHeadModel'] }));
      await copyFile(join(SEQCLS_DIR, 'model.safetensors'), join(gpt2, 'model.safetensors'));
      await assert.rejects(exportOnnx(gpt2, join(work.dir, 'out')), (e: unknown) => e instanceof ModelError && /gpt2/.test(e.message) && /--format hf/.test(e.message));
    } finally {
      await work.cleanup();
    }
  });

  test('--format hf writes a folder that loads back with identical logits', async () => {
    const work = await tmpDir();
    try {
      const r = await exportModel(SEQCLS_DIR, join(work.dir, 'hf'), { format: 'hf' });
      assert.equal(r.format, 'hf');
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(existsSync(join(work.dir, 'hf', f)), `missing ${f}`);
      const cfg = JSON.parse(await readFile(join(work.dir, 'hf', 'config.json'), 'utf8'));
      assert.deepEqual(cfg.architectures, ['BertForSequenceClassification']);
      const ref = await goldenReference(SEQCLS_DIR);
      const back = await fromPretrained(join(work.dir, 'hf'), { warn: () => undefined });
      back.eval();
      try {
        const d = maxAbsDiff(runOurs(back, ref.inputIds, ref.attentionMask, ref.tokenTypeIds, ref.B, ref.T).logits, ref.logits);
        assert.ok(d < TOL, `reloaded model differs from transformers by ${d}`);
      } finally {
        back.dispose();
      }
      await assert.rejects(exportHf(SEQCLS_DIR, SEQCLS_DIR), /must differ/);
    } finally {
      await work.cleanup();
    }
  });
});

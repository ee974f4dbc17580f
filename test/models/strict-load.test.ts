// Inference loading is strict (loadPretrained({ strict: true }), used by predict, evaluate, serve and
// export): a renamed or missing weight, a changed model_type or layer count, or a head saved for another
// task is a ModelError naming the keys and the folder — never a random initialisation. Training from a
// base checkpoint (not strict) still initialises a new head and says which parameters, as transformers does.

import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ModelError } from '../../src/errors.ts';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../src/io/safetensors.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { runCli } from '../helpers/cli.ts';
import { fixturePath } from './helpers.ts';

F.setDefaultBackend(referenceBackend);
const TOKCLS = fixturePath('tiny-bert-tokcls'); // BertForTokenClassification, 2 layers, tokenizer files
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A copy of the fixture folder with its weights and config.json changed by `edit`. */
async function mutated(edit: { tensors?: (t: Map<string, TensorToWrite>) => void; config?: (c: Record<string, unknown>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-strict-'));
  dirs.push(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) await copyFile(join(TOKCLS, f), join(dir, f));
  const cfg = JSON.parse(await readFile(join(TOKCLS, 'config.json'), 'utf8')) as Record<string, unknown>;
  edit.config?.(cfg);
  await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
  const tensors = new Map<string, TensorToWrite>();
  for (const [k, e] of (await readSafetensors(join(TOKCLS, 'model.safetensors'))).tensors) tensors.set(k, { dtype: e.dtype, shape: e.shape, data: e.data });
  edit.tensors?.(tensors);
  await writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(tensors), { format: 'pt' });
  return dir;
}

const rename = (from: string, to: string) => (t: Map<string, TensorToWrite>) => {
  t.set(to, t.get(from)!);
  t.delete(from);
};

const strictError = (re: RegExp) => (e: unknown) => e instanceof ModelError && re.test(e.message);

describe('strict (inference) loading', () => {
  it('loads the intact folder, and as feature-extraction (head deliberately dropped)', async () => {
    (await loadPretrained(TOKCLS, { strict: true })).model.dispose();
    (await loadPretrained(TOKCLS, { strict: true, task: 'feature-extraction', warn: () => {} })).model.dispose();
  });

  it('a renamed head weight is an error naming the missing key and the file, not a random head', async () => {
    const dir = await mutated({ tensors: rename('classifier.weight', 'classifier.weigth') });
    await assert.rejects(loadPretrained(dir, { strict: true }), strictError(/model\.safetensors has no weights for 1 parameter\(s\) of BertForTokenClassification: \['classifier\.weight'\]/));
    // Training from a checkpoint (not strict) may initialise it, and says which parameters it initialised.
    const warnings: string[] = [];
    const { model } = await loadPretrained(dir, { warn: (m) => warnings.push(m) });
    model.dispose();
    assert.ok(warnings.some((w) => /newly initialized: \['classifier\.weight'\]/.test(w)), warnings.join('\n'));
  });

  it('a removed encoder weight is an error', async () => {
    const dir = await mutated({ tensors: (t) => t.delete('bert.encoder.layer.1.output.dense.weight') });
    await assert.rejects(loadPretrained(dir, { strict: true }), strictError(/bert\.encoder\.layer\.1\.output\.dense\.weight/));
  });

  it('a layer count lowered in config.json leaves weights unused: an error naming them', async () => {
    const dir = await mutated({ config: (c) => (c['num_hidden_layers'] = 1) });
    await assert.rejects(loadPretrained(dir, { strict: true }), strictError(/checkpoint tensor\(s\) in model\.safetensors fit no parameter of BertForTokenClassification.*bert\.encoder\.layer\.1\./s));
  });

  it('a layer count raised, or model_type changed, leaves parameters without weights: an error', async () => {
    const more = await mutated({ config: (c) => (c['num_hidden_layers'] = 3) });
    // Caught before the model is built: the config's layer count is checked against the weights present.
    await assert.rejects(loadPretrained(more, { strict: true }), strictError(/num_hidden_layers is 3 but the weights hold 2 layers/));
    const roberta = await mutated({ config: (c) => ((c['model_type'] = 'roberta'), (c['architectures'] = ['RobertaForTokenClassification'])) });
    await assert.rejects(loadPretrained(roberta, { strict: true }), strictError(/has no weights for .*roberta\./s));
  });

  it('a head saved for one task is not run as another', async () => {
    await assert.rejects(loadPretrained(TOKCLS, { strict: true, task: 'text-classification' }), strictError(/trained for token-classification \(.*config\.json architectures\), not text-classification/));
  });

  it('predict, evaluate and export refuse the renamed-weight folder with exit 1 and the key named', async () => {
    const dir = await mutated({ tensors: rename('classifier.bias', 'classifier.b') });
    const data = join(dir, 'data.jsonl');
    await writeFile(data, `${JSON.stringify({ tokens: ['hello', 'world'], ner_tags: ['LABEL_0', 'LABEL_1'] })}\n`);
    for (const args of [['predict', '--model', dir, '--text', 'hello world'], ['evaluate', '--model', dir, '--data', data], ['export', '--format', 'hf', dir, join(dir, 'out')]]) {
      const r = runCli(args);
      assert.equal(r.code, 1, `${args[0]}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /error: .*has no weights for 1 parameter\(s\) of BertForTokenClassification: \['classifier\.bias'\]/, args[0]);
    }
  });
});

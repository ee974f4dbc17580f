// LoRA for every task (src/tasks/lora.ts): `finetune train --lora-r` on a BERT base writes a PEFT
// adapter folder (PEFT key names, task_type, the head in modules_to_save, config.json + tokenizer), and
// predict / evaluate / export / serve's pipeline load that folder on its own with outputs equal to the merged model's.
// Token classification and QA run through the library (same code path, faster than more CLI runs).

import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import '../../src/backend/index.ts';
import { exportHf } from '../../src/export/hf.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { DEFAULT_PIPELINE_CONFIG, type PipelineConfig } from '../../src/tasks/config.ts';
import { predict, type PredictRecord } from '../../src/inference/predict.ts';
import { TextPipeline } from '../../src/inference/pipeline.ts';
import { trainQuestionAnswering } from '../../src/tasks/question-answering.ts';
import { trainTokenClassifier } from '../../src/tasks/token-classification.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../../src/train/args.ts';
import { runCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';
import { writeTinyBase } from '../helpers/tiny-base.ts';
import { nerRows, qaRows, writeJsonl } from './tiny-data.ts';

const dir = tempDir('finetune-lora-tasks-');
const csv = writeSentimentCsv(dir, 64);
const ner = nerRows(48);
const qa = qaRows(32);
const texts = [...readFileSync(csv, 'utf8').split('\n').slice(1), ...ner.map((r) => r.tokens.join(' ')), ...qa.map((r) => `${r.question} ${r.context}`)];
const basePromise = writeTinyBase(dir, texts);

function ok(r: ReturnType<typeof runCli>): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const jsonLines = (s: string): PredictRecord[] => s.trim().split('\n').map((l) => JSON.parse(l) as PredictRecord);

/** Every number in two JSON-like values agrees to `tol`, every string exactly. */
function assertClose(a: unknown, b: unknown, tol: number, path = ''): void {
  if (typeof a === 'number' && typeof b === 'number') {
    assert.ok(Math.abs(a - b) <= tol, `${path}: ${a} vs ${b}`);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    assert.equal(a.length, b.length, `${path}: length`);
    a.forEach((x, i) => assertClose(x, b[i], tol, `${path}[${i}]`));
  } else if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${path}: keys`);
    for (const k of Object.keys(a)) assertClose((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol, `${path}.${k}`);
  } else {
    assert.equal(a, b, path);
  }
}

describe('finetune train --lora-r (text-classification, CLI)', () => {
  const adapter = join(dir, 'clf-lora');
  const merged = join(dir, 'clf-merged');

  it('writes a PEFT SEQ_CLS adapter folder with the classifier in modules_to_save', async () => {
    const base = await basePromise;
    const out = ok(runCli(['train', '--model', base, '--train-file', csv, '--lora-r', '4', '--lora-alpha', '16', '--lora-dropout', '0.1', '--max-steps', '6',
      '--learning-rate', '2e-2', '--per-device-train-batch-size', '8', '--save-strategy', 'no', '--no-report', '--output-dir', adapter]));
    assert.match(out, /LoRA: r 4, alpha 16, dropout 0.1, 4 layers \(\["query","value"\]\), scaling alpha\/r = 4/);
    assert.match(out, /bert\.pooler\.dense not in the base checkpoint \(newly initialised\): trained in full and saved with the adapter/);
    assert.ok(!existsSync(join(adapter, 'model.safetensors')), 'an adapter, not full weights');
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'config.json', 'tokenizer.json']) assert.ok(existsSync(join(adapter, f)), f);
    const cfg = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([cfg.peft_type, cfg.task_type, cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.base_model_name_or_path], ['LORA', 'SEQ_CLS', 4, 16, 0.1, base]);
    assert.deepEqual(cfg.target_modules, ['query', 'value'], "PEFT's default for bert");
    assert.deepEqual(cfg.modules_to_save, ['bert.pooler.dense', 'classifier', 'score']);
    const labels = (JSON.parse(readFileSync(join(adapter, 'config.json'), 'utf8')) as { id2label: Record<string, string>; architectures: string[] });
    assert.deepEqual([labels.architectures, labels.id2label], [['BertForSequenceClassification'], { 0: 'negative', 1: 'positive' }]);
    const { tensors } = await readSafetensors(join(adapter, 'adapter_model.safetensors'));
    // PEFT's names: the adapter name "default" removed, modules_to_save under their module path.
    const keys = [...tensors.keys()].sort();
    assert.deepEqual(keys.filter((k) => !k.includes('.lora_')), [
      'base_model.model.bert.pooler.dense.bias', 'base_model.model.bert.pooler.dense.weight', 'base_model.model.classifier.bias', 'base_model.model.classifier.weight',
    ]);
    assert.ok(keys.includes('base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight'));
    assert.equal(keys.filter((k) => k.includes('.lora_')).length, 2 * 2 * 2, '2 layers x (query, value) x (A, B)');
    assert.deepEqual(tensors.get('base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight')?.shape, [4, 32]);
  });

  it('predict, evaluate and export load the adapter folder on its own; outputs equal the merged model', async () => {
    await exportHf(adapter, merged); // what `export --format hf` runs (the CLI export is checked below with ONNX)
    assert.ok(existsSync(join(merged, 'model.safetensors')) && !existsSync(join(merged, 'adapter_config.json')));
    const texts = ['the movie was great and wonderful', 'awful plot, boring and sad'];
    const viaAdapter = jsonLines(ok(runCli(['predict', '--model', adapter, '--text', ...texts])));
    const viaMerged = (await predict(merged, { texts }, { warn: () => {} })).records;
    assert.equal(viaAdapter.length, 2);
    assertClose(viaAdapter, viaMerged, 1e-5);
    // A folder as PEFT writes it alone (adapter_config.json + adapter_model.safetensors: no config.json, no
    // tokenizer): the base's config and tokenizer, the task from task_type, the label count from the head.
    const peftOnly = join(dir, 'peft-only');
    mkdirSync(peftOnly);
    for (const f of ['adapter_config.json', 'adapter_model.safetensors']) copyFileSync(join(adapter, f), join(peftOnly, f));
    const viaPeftOnly = (await predict(peftOnly, { texts }, { warn: () => {} })).records;
    const relabel = (rs: PredictRecord[]) => JSON.parse(JSON.stringify(rs).replace(/"negative"/g, '"LABEL_0"').replace(/"positive"/g, '"LABEL_1"')) as unknown;
    assertClose(viaPeftOnly, relabel(viaAdapter), 1e-6);
    const metrics = (m: string) => ok(runCli(['evaluate', '--model', m, '--data', csv])).replace(/^\d+ examples from .*\n/, '');
    assert.equal(metrics(adapter), metrics(merged));
    const onnx = join(dir, 'clf-onnx');
    const e = runCli(['export', adapter, onnx]);
    ok(e);
    assert.match(e.stderr, /is a LoRA adapter: exporting its base model with the adapter merged/);
    assert.ok(existsSync(join(onnx, 'onnx', 'model.onnx')));
  });
});

describe('LoRA for token classification and question answering (library)', () => {
  const settings = (over: Partial<PipelineConfig>): PipelineConfig => ({ ...DEFAULT_PIPELINE_CONFIG, lora_r: 4, lora_alpha: 8, validation_split: 0.2, ...over });
  const args = (out: string): TrainingArguments => ({
    ...DEFAULT_TRAINING_ARGUMENTS, output_dir: out, max_steps: 4, learning_rate: 2e-2, per_device_train_batch_size: 8, max_length: 32,
    save_strategy: 'no', eval_strategy: 'no', report: false, load_best_model_at_end: false,
  });
  const quiet = { warn: () => {} };

  it('token-classification: TOKEN_CLS adapter; predict gives entities equal to the merged model', async () => {
    const base = await basePromise;
    const out = join(dir, 'ner-lora');
    await trainTokenClassifier(settings({ task: 'token-classification', model: base, train_file: writeJsonl(dir, 'ner.jsonl', ner) }), args(out));
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([cfg.task_type, cfg.modules_to_save], ['TOKEN_CLS', ['classifier', 'score']]);
    await exportHf(out, join(dir, 'ner-merged'));
    const input = { texts: ['alice lives in paris .', 'bob visited new york .'] };
    const a = await predict(out, input, { ...quiet, parameters: { aggregation_strategy: 'none' } });
    const m = await predict(join(dir, 'ner-merged'), input, { ...quiet, parameters: { aggregation_strategy: 'none' } });
    assert.equal(a.task, 'token-classification');
    assert.ok(Array.isArray(a.records[0]!.entities));
    assertClose(a.records, m.records, 1e-5);
    // serve's pipeline loads the adapter folder the same way.
    const pipe = await TextPipeline.load(out, quiet);
    assertClose(pipe.run(input.texts, { aggregation_strategy: 'none' }), m.records.map((r) => r.entities), 1e-5);
    pipe.dispose();
  });

  it('question-answering: QUESTION_ANS adapter with qa_outputs saved; predict answers equal the merged model', async () => {
    const base = await basePromise;
    const out = join(dir, 'qa-lora');
    await trainQuestionAnswering(settings({ task: 'question-answering', model: base, train_file: writeJsonl(dir, 'qa.jsonl', qa) }), args(out));
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([cfg.task_type, cfg.modules_to_save], ['QUESTION_ANS', ['qa_outputs']]);
    const { tensors } = await readSafetensors(join(out, 'adapter_model.safetensors'));
    assert.deepEqual(tensors.get('base_model.model.qa_outputs.weight')?.shape, [2, 32]);
    await exportHf(out, join(dir, 'qa-merged'));
    const input = { question: 'where does alice live ?', context: 'alice lives in paris . bob lives in london .' };
    const a = await predict(out, input, quiet);
    const m = await predict(join(dir, 'qa-merged'), input, quiet);
    assert.equal(a.task, 'question-answering');
    assert.equal(typeof a.records[0]!.answer, 'string');
    assertClose(a.records, m.records, 1e-5);
    // --merge-lora: the same run (same seed) saved as a plain folder answers as the exported merge does.
    const mergedRun = join(dir, 'qa-merge-lora');
    await trainQuestionAnswering(settings({ task: 'question-answering', model: base, train_file: join(dir, 'qa.jsonl'), merge_lora: true }), args(mergedRun));
    assert.ok(existsSync(join(mergedRun, 'model.safetensors')) && !existsSync(join(mergedRun, 'adapter_config.json')));
    assertClose((await predict(mergedRun, input, quiet)).records, m.records, 1e-5);
  });
});

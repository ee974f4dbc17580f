// `finetune train --task …` and `finetune evaluate` for token classification, question answering and
// masked LM, run as a user would (the real bin in a child process): each trains a tiny scratch model,
// saves the right transformers class, and `evaluate` picks the task from the saved config.json.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';
import { nerRows, qaRows, textLines, writeJsonl } from './tiny-data.ts';

const dir = tempDir('finetune-cli-tasks-');
const tiny = join(dir, 'tiny.yaml');
writeFileSync(tiny, 'scratch_vocab_size: 100\nscratch_hidden_size: 32\nscratch_intermediate_size: 64\nscratch_num_heads: 2\nscratch_num_layers: 1\n');
const COMMON = ['-c', tiny, '--learning-rate', '3e-3', '--per-device-train-batch-size', '8', '--save-strategy', 'no', '--no-report'];

function architecture(out: string): string {
  return (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { architectures: string[] }).architectures[0] as string;
}

function ok(r: ReturnType<typeof runCli>): void {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

describe('finetune train --task / evaluate', () => {
  it('token-classification: trains, saves BertForTokenClassification, evaluates with seqeval scores', () => {
    const data = writeJsonl(dir, 'ner.jsonl', nerRows(64));
    const out = join(dir, 'ner');
    const t = runCli(['train', '--task', 'token-classification', '--train-file', data, '--output-dir', out, '--max-steps', '8', '--max-length', '24', ...COMMON]);
    ok(t);
    assert.match(t.stdout, /tags \(4\): B-LOC, B-PER, I-LOC, O/);
    assert.match(t.stdout, /validation results: precision [\d.]+, recall [\d.]+, f1 [\d.]+/);
    assert.equal(architecture(out), 'BertForTokenClassification');
    const e = runCli(['evaluate', '--model', out, '--data', data]);
    ok(e);
    assert.match(e.stdout, /64 examples from .*ner\.jsonl \(token-classification\)/);
    assert.match(e.stdout, /per entity type:[\s\S]*LOC[\s\S]*PER/);
  });

  it('question-answering: trains over windowed contexts and evaluates EM/F1', () => {
    const data = writeJsonl(dir, 'qa.jsonl', qaRows(48));
    const out = join(dir, 'qa');
    const t = runCli(['train', '--task', 'question-answering', '--train-file', data, '--output-dir', out, '--max-steps', '4', '--max-length', '16', '--doc-stride', '3', ...COMMON]);
    ok(t);
    assert.match(t.stdout, /max_length 16, doc_stride 3/);
    assert.equal(architecture(out), 'BertForQuestionAnswering');
    const e = runCli(['evaluate', '--model', out, '--data', data, '--max-length', '16', '--doc-stride', '3', '--output', join(dir, 'qa.json')]);
    ok(e);
    assert.match(e.stdout, /exact_match\s+[\d.]+\n\s+f1\s+[\d.]+/);
    const saved = JSON.parse(readFileSync(join(dir, 'qa.json'), 'utf8')) as { predictions: Record<string, string> };
    assert.equal(Object.keys(saved.predictions).length, 48);
  });

  it('fill-mask: continued pretraining on a .txt file reports perplexity and saves BertForMaskedLM', () => {
    const data = join(dir, 'domain.txt');
    writeFileSync(data, textLines(64).join('\n') + '\n');
    const out = join(dir, 'mlm');
    const t = runCli(['train', '--task', 'fill-mask', '--train-file', data, '--output-dir', out, '--max-steps', '4', '--max-length', '16', ...COMMON]);
    ok(t);
    assert.match(t.stdout, /validation results: perplexity [\d.]+/);
    assert.match(t.stdout, /finetune train --model .*mlm --train-file/);
    assert.equal(architecture(out), 'BertForMaskedLM');
    const e = runCli(['evaluate', '--model', out, '--data', data, '--max-length', '16']);
    ok(e);
    assert.match(e.stdout, /perplexity\s+[\d.]+/);
  });

  it('a task without a training file is an error, not the text-classification demo', () => {
    const r = runCli(['train', '--task', 'fill-mask', '--max-steps', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no training text: pass --train-file/);
  });
});

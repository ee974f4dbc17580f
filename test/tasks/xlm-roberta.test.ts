// XLM-RoBERTa end to end through the CLI: a tiny XLM-R folder whose only tokenizer file is a
// SentencePiece Unigram `sentencepiece.bpe.model` (trained here with spm_train) plus a random small
// model saved with savePretrained; `finetune train` fine-tunes it for text-classification, the saved
// folder carries a Unigram tokenizer.json, and `finetune predict` runs on it. Skips without spm_train.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import { loadTokenizer } from '../../src/tokenizers/index.ts';
import { runCli, tempDir, writeSentimentCsv } from '../helpers/cli.ts';

const SKIP = spawnSync('spm_train', ['--help']).error ? 'spm_train not installed (apt-get install sentencepiece)' : false;

describe('XLM-RoBERTa with a SentencePiece tokenizer, through the CLI', { skip: SKIP }, () => {
  it('train (text-classification) then predict', async () => {
    const dir = tempDir('finetune-xlmr-');
    const train = writeSentimentCsv(dir, 64);
    const corpus = join(dir, 'corpus.txt');
    const text = readFileSync(train, 'utf8').split('\n').slice(1).map((l) => l.replace(/^"|",.*$/g, ''));
    writeFileSync(corpus, [...text, 'très bien 東京 über naïve', 'schön grün 123 4567'].join('\n') + '\n');
    execFileSync('spm_train', [`--input=${corpus}`, `--model_prefix=${join(dir, 'sp')}`, '--vocab_size=80', '--hard_vocab_limit=false', '--model_type=unigram', '--minloglevel=2'], { stdio: 'ignore' });

    const base = join(dir, 'xlmr-tiny');
    mkdirSync(base);
    writeFileSync(join(base, 'sentencepiece.bpe.model'), readFileSync(join(dir, 'sp.model')));
    writeFileSync(join(base, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'XLMRobertaTokenizer', model_max_length: 32 }));
    const tok = await loadTokenizer(base);
    assert.equal(tok.model.type, 'Unigram');
    const cfg = makeHfConfig('xlm-roberta', { vocab_size: tok.vocabSize, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 34, type_vocab_size: 1 });
    await savePretrained(createModel(cfg, 'fill-mask', { seed: 3 }), base);
    assert.equal(existsSync(join(base, 'tokenizer.json')), false, 'the base folder has only the SentencePiece model');

    const out = join(dir, 'out');
    const t = runCli(['train', '--model', base, '--train-file', train, '--output-dir', out, '--max-steps', '6', '--max-length', '24', '--learning-rate', '3e-3', '--per-device-train-batch-size', '8', '--save-strategy', 'no', '--no-report']);
    assert.equal(t.code, 0, `exit ${t.code}\n${t.stdout}\n${t.stderr}`);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { architectures: string[]; model_type: string };
    assert.deepEqual([saved.model_type, saved.architectures[0]], ['xlm-roberta', 'XLMRobertaForSequenceClassification']);
    const tj = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as { model: { type: string } };
    assert.equal(tj.model.type, 'Unigram');
    const again = await loadTokenizer(out);
    assert.deepEqual(again.encode('the movie was great').ids, tok.encode('the movie was great').ids);
    assert.equal(tok.encode('the movie was great').ids[0], 0, '<s> first');

    const p = runCli(['predict', '--model', out, '--text', 'the movie was great']);
    assert.equal(p.code, 0, `exit ${p.code}\n${p.stdout}\n${p.stderr}`);
    assert.match(p.stdout, /positive|negative/);
  });
});

// GPT-2 beyond the golden: dropout follows train()/eval(); the sequence-classification head scores the
// last non-padding token (checked against the LM trunk's hidden state at that position); save/load keeps
// transformers' layout (Conv1D stored (in, out), tied lm_head not saved); config/tensor disagreement
// and over-long inputs are clear errors.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { ModelError } from '../../src/errors.ts';
import { intTensor, lastNonPadIndex } from '../../src/models/decoder.ts';
import { makeHfConfig, type Gpt2Config } from '../../src/models/hf-config.ts';
import { readSafetensors } from '../../src/io/safetensors.ts';
import { GPT2ForSequenceClassification, GPT2LMHeadModel, GPT2Model } from '../../src/models/gpt2.ts';
import { createModel, fromPretrained, loadPretrained, savePretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { assertClose, fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const tmp = mkdtempSync(join(tmpdir(), 'gpt2-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const golden = fixturePath('goldens/gpt2-clm');

describe('GPT-2 models', () => {
  it('dropout is active in train() and off in eval()', () => {
    const model = createModel(makeHfConfig('gpt2', { n_embd: 16, n_layer: 1, n_head: 2, vocab_size: 30, n_positions: 16 }), 'text-generation', { seed: 1 });
    const x = intTensor([1, 2, 3, 4], [1, 4]);
    const run = () => F.tidy(() => F.noGrad(() => model.forward({ inputIds: x }).logits.toArray()));
    model.eval();
    assert.deepEqual(run(), run());
    model.train();
    assert.notDeepEqual(run(), run());
  });

  it('last non-padding token pooling (transformers: rightmost id != pad_token_id)', () => {
    assert.deepEqual(lastNonPadIndex(intTensor([5, 6, 7, 0, 0, 0, 8, 9, 0, 0, 0, 0], [3, 4]), 0), [2, 3, 0]);
    assert.deepEqual(lastNonPadIndex(intTensor([5, 6], [1, 2]), null), [1]);
    assert.throws(() => lastNonPadIndex(intTensor([5, 6, 7, 8], [2, 2]), null), /pad_token_id/);
  });

  it('sequence classification scores the hidden state of the last non-pad token', async () => {
    const lm = (await fromPretrained(golden)) as GPT2LMHeadModel;
    const cls = (await fromPretrained(golden, { task: 'text-classification', numLabels: 2, config: { pad_token_id: 0 }, warn: () => {} })) as GPT2ForSequenceClassification;
    assert.ok(cls instanceof GPT2ForSequenceClassification);
    lm.eval();
    cls.eval();
    const ids = [17, 250, 9, 33, 0, 0, 44, 45, 46, 47, 48, 49];
    F.tidy(() =>
      F.noGrad(() => {
        const x = intTensor(ids, [2, 6]);
        const hidden = lm.transformer.hiddenStates({ inputIds: x }).toArray(); // (2, 6, 32)
        const w = cls.score.weight.toArray(); // (2, 32)
        const expected: number[] = [];
        for (const [b, t] of [[0, 3], [1, 5]]) {
          const h = hidden.slice((b * 6 + t) * 32, (b * 6 + t + 1) * 32);
          for (let l = 0; l < 2; l++) expected.push(h.reduce((s, v, c) => s + v * w[l * 32 + c], 0));
        }
        const out = cls.forward({ inputIds: x, labels: intTensor([1, 0], [2]) });
        assertClose(out.logits.toArray(), expected, 1e-5, 'pooled logits');
        assert.ok(Number.isFinite(out.loss!.item()));
      }),
    );
  });

  it('feature extraction: the bare GPT2Model averages hidden states over the attention mask', async () => {
    const { model, info } = await loadPretrained(golden, { task: 'feature-extraction' });
    assert.ok(model instanceof GPT2Model);
    assert.deepEqual([info.missingKeys, info.unexpectedKeys], [[], []]);
    const lm = (await fromPretrained(golden)) as GPT2LMHeadModel;
    model.eval();
    lm.eval();
    F.tidy(() =>
      F.noGrad(() => {
        const x = intTensor([17, 250, 9, 33, 44, 45, 46, 47], [2, 4]);
        const mask = intTensor([1, 1, 0, 0, 1, 1, 1, 1], [2, 4]);
        const hidden = lm.transformer.hiddenStates({ inputIds: x, attentionMask: mask }).toArray();
        const expected: number[] = [];
        for (const [b, n] of [[0, 2], [1, 4]]) {
          for (let c = 0; c < 32; c++) {
            let s = 0;
            for (let t = 0; t < n; t++) s += hidden[(b * 4 + t) * 32 + c];
            expected.push(s / n);
          }
        }
        assertClose(model.forward({ inputIds: x, attentionMask: mask }).logits.toArray(), expected, 1e-5, 'mean-pooled features');
      }),
    );
  });

  it('savePretrained writes transformers layout and reloads to the same logits', async () => {
    const model = (await fromPretrained(golden)) as GPT2LMHeadModel;
    const out = join(tmp, 'gpt2');
    await savePretrained(model, out);
    const st = (await readSafetensors(join(out, 'model.safetensors'))).tensors;
    assert.ok(!st.has('lm_head.weight'), 'tied lm_head is not saved');
    assert.deepEqual(st.get('transformer.h.0.attn.c_attn.weight')!.shape, [32, 96], 'Conv1D stored (in, out)');
    assert.deepEqual(st.get('transformer.h.0.mlp.c_proj.weight')!.shape, [128, 32]);
    const again = await fromPretrained(out);
    const x = intTensor([5, 6, 7, 8], [1, 4]);
    model.eval();
    again.eval();
    const a = F.tidy(() => F.noGrad(() => model.forward({ inputIds: x }).logits.toArray()));
    const b = F.tidy(() => F.noGrad(() => again.forward({ inputIds: x }).logits.toArray()));
    assert.deepEqual(b, a);
  });

  it('a config that disagrees with the tensors is a clear error', async () => {
    await assert.rejects(fromPretrained(golden, { config: { n_embd: 64 } }), (e: unknown) => e instanceof ModelError && /c_attn\.weight.*shape/.test(e.message));
  });

  it('inputs longer than n_positions are refused', () => {
    const cfg = makeHfConfig('gpt2', { n_embd: 8, n_layer: 1, n_head: 2, vocab_size: 10, n_positions: 4 }) as Gpt2Config;
    const model = new GPT2LMHeadModel(cfg);
    assert.throws(() => model.forward({ inputIds: intTensor([1, 2, 3, 4, 5], [1, 5]) }), (e: unknown) => e instanceof ModelError && /n_positions = 4/.test(e.message));
  });
});

// Llama-family forward passes against an independent numpy reference (test/fixtures/decoders,
// make_reference.py, written from transformers' modeling_llama.py / modeling_qwen2.py): a Qwen2-style
// model (GQA, head_dim 8 ≠ hidden/heads, q/k/v biases, untied lm_head, rope_theta 1e6) and a Llama with
// llama3 RoPE scaling, attention and MLP biases and tied embeddings, on a right-padded batch:
// logits, causal-LM loss and sequence-classification logits (score on the last non-pad token).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { intTensor } from '../../src/models/decoder.ts';
import { LlamaForCausalLM, LlamaForSequenceClassification } from '../../src/models/llama.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { assertClose, fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);

interface Reference {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
  logits: number[];
  loss: number;
  score_weight: number[];
  last_non_pad: number[];
  seq_cls_logits: number[];
}

for (const variant of ['qwen2-gqa-bias', 'llama-rope-llama3']) {
  describe(`Llama family vs numpy reference: ${variant}`, () => {
    const dir = fixturePath(`decoders/${variant}`);
    const ref = JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as Reference;
    const [B, T] = [ref.input_ids.length, ref.input_ids[0].length];
    const batch = () => ({
      inputIds: intTensor(ref.input_ids.flat(), [B, T]),
      attentionMask: intTensor(ref.attention_mask.flat(), [B, T]),
      labels: intTensor(ref.labels.flat(), [B, T]),
    });

    it('causal LM logits and loss', async () => {
      const { model, info } = await loadPretrained(dir, { warn: () => {} });
      assert.ok(model instanceof LlamaForCausalLM);
      assert.deepEqual([info.missingKeys, info.unexpectedKeys], [[], []]);
      model.eval();
      F.tidy(() => {
        const out = model.forward(batch());
        assertClose(out.logits.toArray(), ref.logits, 1e-4, 'logits');
        assert.ok(Math.abs(out.loss!.item() - ref.loss) < 1e-4, `loss ${out.loss!.item()} vs ${ref.loss}`);
      });
      model.dispose();
    });

    it('sequence classification pools the last non-padding token', async () => {
      const { model, info } = await loadPretrained(dir, { task: 'text-classification', numLabels: 3, warn: () => {} });
      assert.ok(model instanceof LlamaForSequenceClassification);
      assert.deepEqual(info.missingKeys, ['score.weight'], 'the new head is reported as newly initialised');
      (model.score.weight.data as Float32Array).set(ref.score_weight);
      model.eval();
      F.tidy(() => {
        const out = model.forward({ ...batch(), labels: intTensor([0, 2], [B]) });
        assert.deepEqual(out.logits.shape, [B, 3]);
        assertClose(out.logits.toArray(), ref.seq_cls_logits, 1e-4, 'sequence-classification logits');
        assert.ok(Number.isFinite(out.loss!.item()));
      });
      model.dispose();
    });
  });
}

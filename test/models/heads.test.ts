// Task-head semantics against transformers' rules, with every expected loss recomputed here in float64
// from the model's own logits: problem_type selection (regression / single-label / multi-label),
// -100 ignored in token classification and masked LM, QA positions clamped to [0, T] with T ignored,
// mean pooling over the attention mask, and dropout on in training mode, off in eval mode.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import type { BertModel } from '../../src/models/bert.ts';
import { createModel } from '../../src/models/pretrained.ts';
import type { ModelBatch } from '../../src/models/types.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';

F.setDefaultBackend(referenceBackend);

const B = 3;
const T = 5;
const TINY = { vocab_size: 40, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
const ids = Tensor.from(new Int32Array([5, 9, 11, 3, 0, 7, 8, 2, 0, 0, 4, 4, 6, 10, 12]), [B, T], 'int32');
const mask = Tensor.from(new Int32Array([1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), [B, T], 'int32');

function rows(t: Tensor): number[][] {
  const n = t.shape[t.ndim - 1];
  const v = t.toArray();
  return Array.from({ length: v.length / n }, (_, i) => v.slice(i * n, (i + 1) * n));
}

/** -log softmax(row)[target] in float64. */
function ce(row: number[], target: number): number {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
  return lse - row[target];
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

function lossAndLogits(task: Parameters<typeof createModel>[1], fields: Record<string, number | string>, batch: Partial<ModelBatch>) {
  const model = createModel(makeHfConfig('bert', { ...TINY, ...fields }), task, { seed: 3 });
  model.eval();
  return F.tidy(() => {
    const out = model.forward({ inputIds: ids, attentionMask: mask, ...batch });
    return { model, loss: out.loss?.item() ?? NaN, logits: rows(out.logits), out: { start: out.startLogits ? rows(out.startLogits) : [], end: out.endLogits ? rows(out.endLogits) : [] } };
  });
}

describe('sequence classification picks the loss as transformers does', () => {
  it('one label → regression (MSE on squeezed logits); problem_type recorded', () => {
    const y = [0.5, -1.25, 2];
    const { model, loss, logits } = lossAndLogits('text-classification', { num_labels: 1 }, { labels: Tensor.from(y, [B], 'float32') });
    close(loss, logits.reduce((s, r, i) => s + (r[0] - y[i]) ** 2, 0) / B, 'MSE');
    assert.equal(model.hfConfig.problem_type, 'regression');
  });

  it('integer labels with several labels → single-label cross-entropy', () => {
    const y = [2, 0, 1];
    const { model, loss, logits } = lossAndLogits('text-classification', { num_labels: 3 }, { labels: Tensor.from(new Int32Array(y), [B], 'int32') });
    close(loss, logits.reduce((s, r, i) => s + ce(r, y[i]), 0) / B, 'CE');
    assert.equal(model.hfConfig.problem_type, 'single_label_classification');
  });

  it('float labels with several labels → multi-label BCE with logits', () => {
    const y = [1, 0, 1, 0, 0, 1, 1, 1, 0];
    const { model, loss, logits } = lossAndLogits('text-classification', { num_labels: 3 }, { labels: Tensor.from(y, [B, 3], 'float32') });
    const bce = logits.flat().reduce((s, x, i) => s + Math.max(x, 0) - x * y[i] + Math.log1p(Math.exp(-Math.abs(x))), 0) / (B * 3);
    close(loss, bce, 'BCE');
    assert.equal(model.hfConfig.problem_type, 'multi_label_classification');
  });

  it('an explicit problem_type wins: regression with two outputs is MSE over (B, 2)', () => {
    const y = [0.1, 0.2, -0.3, 0.4, 1, -1];
    const { loss, logits } = lossAndLogits('text-classification', { num_labels: 2, problem_type: 'regression' }, { labels: Tensor.from(y, [B, 2], 'float32') });
    close(loss, logits.flat().reduce((s, x, i) => s + (x - y[i]) ** 2, 0) / (B * 2), 'MSE (B, 2)');
  });
});

describe('token-level heads', () => {
  it('token classification ignores -100', () => {
    const y = [1, 0, 2, 1, -100, 0, 0, 1, -100, -100, 2, 2, 1, 0, 1];
    const { loss, logits } = lossAndLogits('token-classification', { num_labels: 3 }, { labels: Tensor.from(new Int32Array(y), [B, T], 'int32') });
    const kept = y.map((t, i) => [t, i]).filter(([t]) => t !== -100);
    close(loss, kept.reduce((s, [t, i]) => s + ce(logits[i], t), 0) / kept.length, 'CE over non-ignored tokens');
  });

  it('masked LM scores the vocabulary and ignores -100', () => {
    const y = [-100, 9, -100, -100, -100, 31, -100, -100, -100, -100, -100, -100, 6, -100, -100];
    const { loss, logits } = lossAndLogits('fill-mask', {}, { labels: Tensor.from(new Int32Array(y), [B, T], 'int32') });
    assert.equal(logits[0].length, TINY.vocab_size);
    const kept = y.map((t, i) => [t, i]).filter(([t]) => t !== -100);
    close(loss, kept.reduce((s, [t, i]) => s + ce(logits[i], t), 0) / kept.length, 'MLM CE');
  });

  it('QA clamps positions to [0, T], ignores T, and averages start and end losses', () => {
    const start = [2, -4, 99]; // -4 → 0; 99 → T (ignored)
    const end = [3, 1, 4];
    const { loss, out } = lossAndLogits('question-answering', {}, {
      startPositions: Tensor.from(new Int32Array(start), [B], 'int32'),
      endPositions: Tensor.from(new Int32Array(end), [B], 'int32'),
    });
    const clamp = (p: number) => Math.min(Math.max(p, 0), T);
    const part = (logits: number[][], pos: number[]) => {
      const kept = pos.map((p, i) => [clamp(p), i]).filter(([p]) => p !== T);
      return kept.reduce((s, [p, i]) => s + ce(logits[i], p), 0) / kept.length;
    };
    assert.equal(out.start[0].length, T);
    close(loss, (part(out.start, start) + part(out.end, end)) / 2, 'QA loss');
  });
});

describe('feature extraction and dropout', () => {
  it('mean-pools the last hidden state over the attention mask', () => {
    const model = createModel(makeHfConfig('bert', TINY), 'feature-extraction', { seed: 4 }) as BertModel;
    model.eval();
    F.tidy(() => {
      const pooled = rows(model.forward({ inputIds: ids, attentionMask: mask }).logits);
      const hidden = model.encode({ inputIds: ids, attentionMask: mask }).hidden.toArray();
      const m = mask.toArray();
      const C = TINY.hidden_size;
      for (let b = 0; b < B; b++) {
        const n = m.slice(b * T, (b + 1) * T).reduce((s, v) => s + v, 0);
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let t = 0; t < T; t++) s += m[b * T + t] * hidden[(b * T + t) * C + c];
          close(pooled[b][c], s / n, `pooled[${b}][${c}]`);
        }
      }
    });
  });

  it('applies dropout in training mode only', () => {
    const model = createModel(makeHfConfig('bert', { ...TINY, hidden_dropout_prob: 0.3, attention_probs_dropout_prob: 0.3, num_labels: 2 }), 'text-classification', { seed: 5 });
    const run = () => F.tidy(() => model.forward({ inputIds: ids, attentionMask: mask }).logits.toArray());
    model.train();
    assert.notDeepEqual(run(), run(), 'two training passes draw different masks');
    model.eval();
    assert.deepEqual(run(), run(), 'eval is deterministic');
  });
});

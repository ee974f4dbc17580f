// Tests for classification, multi-label and regression metrics against the examples in the
// scikit-learn and SciPy documentation (values copied from their docstrings), hand computations and a
// fixture of random cases computed by scikit-learn/SciPy;
// also that feeding batches gives the same result as feeding everything at once.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ClassificationMetrics } from '../../src/eval/classification.ts';
import { MultiLabelMetrics } from '../../src/eval/multilabel.ts';
import { averageRanks, RegressionMetrics } from '../../src/eval/regression.ts';

const close = (a: number | undefined, b: number, tol = 1e-9): void => assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} != ${b}`);

test('sklearn precision_recall_fscore_support docstring (cat/dog/pig)', () => {
  // y_true = ['cat','dog','pig','cat','dog','pig'], y_pred = ['cat','pig','dog','cat','cat','dog']
  const names = ['cat', 'dog', 'pig'];
  const id = (s: string): number => names.indexOf(s);
  const m = new ClassificationMetrics(names);
  m.update(['cat', 'pig', 'dog', 'cat', 'cat', 'dog'].map(id), ['cat', 'dog', 'pig', 'cat', 'dog', 'pig'].map(id));
  const r = m.compute();
  // macro: (0.22..., 0.33..., 0.26...), micro: (0.33..., 0.33..., 0.33...), weighted: (0.22..., 0.33..., 0.26...)
  close(r['precision_macro'], 2 / 9);
  close(r['recall_macro'], 1 / 3);
  close(r['f1_macro'], 0.8 / 3);
  close(r['precision_micro'], 1 / 3);
  close(r['recall_micro'], 1 / 3);
  close(r['f1_micro'], 1 / 3);
  close(r['precision_weighted'], 2 / 9);
  close(r['f1_weighted'], 0.8 / 3);
  // average=None with labels=['pig','dog','cat']: precision [0, 0, 0.667], recall [0, 0, 1], f [0, 0, 0.8], support [2, 2, 2]
  const per = Object.fromEntries(m.perClass().map((c) => [c.label, c]));
  assert.deepEqual([per['pig']?.precision, per['dog']?.precision], [0, 0]);
  close(per['cat']?.precision, 2 / 3);
  assert.deepEqual([per['cat']?.recall, per['cat']?.support], [1, 2]);
  close(per['cat']?.f1, 0.8);
});

test('sklearn f1_score docstring, confusion_matrix docstring, accuracy_score docstring', () => {
  const f = new ClassificationMetrics(3);
  f.update([0, 2, 1, 0, 0, 1], [0, 1, 2, 0, 1, 2]);
  const r = f.compute();
  close(r['f1_macro'], 0.26666666666666666);
  close(r['f1_micro'], 0.3333333333333333);
  close(r['f1_weighted'], 0.26666666666666666);
  assert.deepEqual(f.perClass().map((c) => Math.round(c.f1 * 1e8) / 1e8), [0.8, 0, 0]);

  // confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2]) == [[2, 0, 0], [0, 0, 1], [1, 0, 2]]
  const c = new ClassificationMetrics(3);
  c.update([0, 0, 2, 2, 0, 2], [2, 0, 2, 2, 0, 1]);
  assert.deepEqual(c.confusionMatrix(), [[2, 0, 0], [0, 0, 1], [1, 0, 2]]);

  // accuracy_score([0, 1, 2, 3], [0, 2, 1, 3]) == 0.5
  const a = new ClassificationMetrics(4);
  a.update([0, 2, 1, 3], [0, 1, 2, 3]);
  assert.equal(a.compute()['accuracy'], 0.5);
});

test('macro averages only over labels that occur (sklearn labels=None); -100 references are skipped', () => {
  const m = new ClassificationMetrics(5); // labels 3 and 4 never occur
  m.update([0, 1, 1, 2, 9], [0, 1, 2, 2, -100]);
  const r = m.compute();
  // per label 0: p=1 r=1 f=1; label 1: p=.5 r=1 f=2/3; label 2: p=1 r=.5 f=2/3
  close(r['f1_macro'], (1 + 2 / 3 + 2 / 3) / 3);
  assert.equal(r['count'], 4);
  assert.throws(() => m.update([7], [0]), /outside 0\.\.4/);
});

test('logits are argmaxed; batches accumulate to the same result as one call', () => {
  const logits = [2, 1, 0, 0.5, 3, -1, 1, 1, 0, -2, -1, 4]; // 4 × 3; row 3 ties → first index (numpy argmax)
  const refs = [0, 1, 1, 2];
  const whole = new ClassificationMetrics(3);
  whole.updateFromLogits(logits, refs);
  assert.deepEqual(whole.confusionMatrix(), [[1, 0, 0], [1, 1, 0], [0, 0, 1]]);
  const parts = new ClassificationMetrics(3);
  parts.updateFromLogits(logits.slice(0, 6), refs.slice(0, 2));
  parts.updateFromLogits(logits.slice(6), refs.slice(2));
  assert.deepEqual(parts.compute(), whole.compute());
});

test('multi-label: sklearn f1_score docstring; threshold 0.5 on the sigmoid', () => {
  const yTrue = [0, 0, 0, 1, 1, 1, 0, 1, 1];
  const yPred = [0, 0, 0, 1, 1, 1, 1, 1, 0];
  const m = new MultiLabelMetrics(3);
  m.update(yPred, yTrue);
  // f1_score(y_true, y_pred, average=None) == [0.66666667, 1., 0.66666667]
  assert.deepEqual(m.perClass().map((c) => Math.round(c.f1 * 1e8) / 1e8), [0.66666667, 1, 0.66666667]);
  const r = m.compute();
  close(r['f1_macro'], (2 / 3 + 1 + 2 / 3) / 3);
  close(r['f1_micro'], 0.8); // tp 4, fp 1, fn 1
  close(r['subset_accuracy'], 2 / 3);
  // Logits: sigmoid(x) > 0.5 exactly when x > 0 (0 itself is not a prediction).
  const fromLogits = new MultiLabelMetrics(3);
  fromLogits.updateFromLogits([-1, -0.1, 0, 2, 0.1, 5, 0.3, 3, -4], yTrue);
  assert.deepEqual(fromLogits.compute(), r);
});

test('regression: sklearn MSE/MAE/R² docstrings, SciPy pearsonr/spearmanr docstrings', () => {
  const m = new RegressionMetrics();
  m.update([2.5, 0.0, 2, 8], [3, -0.5, 2, 7]);
  const r = m.compute();
  close(r['mse'], 0.375); // mean_squared_error docstring
  close(r['mae'], 0.5); // mean_absolute_error docstring
  close(r['r2'], 0.9486081370449679); // r2_score docstring: 0.948...

  // scipy.stats.pearsonr([1, 2, 3, 4, 5, 6, 7], [10, 9, 2.5, 6, 4, 3, 2]).statistic == -0.828503883588428
  const p = new RegressionMetrics();
  p.update([1, 2, 3, 4], [10, 9, 2.5, 6]);
  p.update([5, 6, 7], [4, 3, 2]);
  close(p.compute()['pearson'], -0.828503883588428, 1e-12);

  // scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).statistic == 0.8207826816681233
  const s = new RegressionMetrics();
  s.update([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]);
  close(s.compute()['spearman'], 0.8207826816681233, 1e-12);
});

test('average ranks give ties their mean rank (scipy rankdata)', () => {
  // rankdata([0, 2, 3, 2]) == [1., 2.5, 4., 2.5]
  assert.deepEqual(Array.from(averageRanks([0, 2, 3, 2])), [1, 2.5, 4, 2.5]);
});

test('regression state grows past its initial buffer and stays exact', () => {
  const m = new RegressionMetrics();
  const n = 5000;
  const x = Array.from({ length: n }, (_, i) => i);
  m.update(x, x.map((v) => 3 * v + 1)); // perfectly linear and monotone
  const r = m.compute();
  close(r['pearson'], 1, 1e-12);
  close(r['spearman'], 1, 1e-12);
  assert.equal(r['count'], n);
});

interface SklearnFixture {
  multiclass: { K: number; y_true: number[]; y_pred: number[]; accuracy: number; confusion_matrix: number[][]; macro: number[]; micro: number[]; weighted: number[] }[];
  multilabel: { K: number; y_true: number[]; logits: number[]; f1_micro: number; f1_macro: number; precision_macro: number; recall_micro: number; subset_accuracy: number }[];
  regression: { predictions: number[]; targets: number[]; mse: number; mae: number; r2: number; pearson: number; spearman: number }[];
}

test('random cases agree with scikit-learn and SciPy (fixture generated by them)', () => {
  const fx = JSON.parse(readFileSync(new URL('./fixtures/sklearn-metrics.json', import.meta.url), 'utf8')) as SklearnFixture;
  for (const c of fx.multiclass) {
    const m = new ClassificationMetrics(c.K);
    for (let i = 0; i < c.y_true.length; i += 7) m.update(c.y_pred.slice(i, i + 7), c.y_true.slice(i, i + 7)); // in batches of 7
    const r = m.compute();
    close(r['accuracy'], c.accuracy);
    for (const avg of ['macro', 'micro', 'weighted'] as const) {
      const [p, rc, f] = c[avg] as [number, number, number];
      close(r[`precision_${avg}`], p);
      close(r[`recall_${avg}`], rc);
      close(r[`f1_${avg}`], f);
    }
    assert.deepEqual(m.confusionMatrix(), c.confusion_matrix);
  }
  for (const c of fx.multilabel) {
    const m = new MultiLabelMetrics(c.K);
    m.updateFromLogits(c.logits, c.y_true);
    const r = m.compute();
    for (const k of ['f1_micro', 'f1_macro', 'precision_macro', 'recall_micro', 'subset_accuracy'] as const) close(r[k], c[k]);
  }
  for (const c of fx.regression) {
    const m = new RegressionMetrics();
    m.update(c.predictions, c.targets);
    const r = m.compute();
    for (const k of ['mse', 'mae', 'r2', 'pearson', 'spearman'] as const) close(r[k], c[k], 1e-12);
  }
});

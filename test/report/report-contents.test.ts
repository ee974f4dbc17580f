// What report.html shows (src/report/html.ts via src/tasks/report.ts): the headline is the test metric
// (else the best evaluation), per-class and per-entity tables, the misclassified examples with the
// highest loss, throughput, every setting; the learning-rate curve starts at step 1 so warmup shows (and
// equals what the trainer logged); a one-record run still draws its points; identical metric series
// (micro P/R/F1 = accuracy for single-label) are folded into one chart.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderHtmlReport } from '../../src/report/index.ts';
import { foldIdenticalSeries } from '../../src/report/html.ts';
import { lrScheduleOf } from '../../src/tasks/report.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import type { TrainResult } from '../../src/train/trainer.ts';

const result = (globalStep: number, extra: Partial<TrainResult> = {}): TrainResult => ({ globalStep, epochs: 1, trainLoss: 0.5, bestMetric: null, bestCheckpoint: null, stoppedEarly: false, interrupted: null, logHistory: [], seconds: 2, ...extra } as TrainResult);

describe('learning-rate curve', () => {
  it('starts at step 1 and shows linear warmup, with the lr the trainer uses (schedule at step - 1)', () => {
    const args = { ...DEFAULT_TRAINING_ARGUMENTS, learning_rate: 1e-3, warmup_steps: 4, max_steps: 10 };
    const lr = lrScheduleOf(args, result(10));
    assert.equal(lr.length, 10);
    assert.deepEqual(lr.slice(0, 5).map(([s]) => s), [1, 2, 3, 4, 5]);
    assert.deepEqual(lr.slice(0, 5).map(([, v]) => +v.toExponential(6)), [0, 2.5e-4, 5e-4, 7.5e-4, 1e-3]);
    assert.ok(Math.abs(lr[9]![1] - 1e-3 * (1 / 6)) < 1e-15, 'linear decay: step 10 uses the schedule at 9 of 10 (6 decay steps)');
  });
});

describe('metric charts', () => {
  it('fold series that are identical at every step', () => {
    const data: Record<string, [number, number][]> = {
      accuracy: [[1, 0.8], [2, 0.9]],
      f1_macro: [[1, 0.7], [2, 0.85]],
      precision_micro: [[1, 0.8], [2, 0.9]],
      f1_micro: [[1, 0.8], [2, 0.9]],
    };
    const folded = foldIdenticalSeries(Object.keys(data), (n) => data[n]!);
    assert.deepEqual(folded.map((f) => [f.name, f.also]), [['accuracy', ['precision_micro', 'f1_micro']], ['f1_macro', []]]);
    const html = renderHtmlReport({ records: [{ step: 1, epoch: 0.5, eval: { accuracy: 0.8, f1_micro: 0.8 } }, { step: 2, epoch: 1, eval: { accuracy: 0.9, f1_micro: 0.9 } }], summary: {} });
    assert.match(html, /accuracy \(= f1_micro\)/);
    assert.equal(html.match(/class="chart-title">f1_micro</g), null, 'no separate f1_micro chart');
  });

  it('a run with one logged step still draws its point', () => {
    const html = renderHtmlReport({ records: [{ step: 1, epoch: 1, loss: 0.69, lr: 1e-4, eval: { loss: 0.7, accuracy: 0.5 } }], summary: {} });
    const lossChart = html.slice(html.indexOf('>Loss<'), html.indexOf('</svg>', html.indexOf('>Loss<')));
    assert.match(lossChart, /<circle[^>]*><title>train — step 1: /);
  });
});

describe('report contents', () => {
  it('headline, per-class, per-entity, misclassified, throughput and settings', () => {
    const html = renderHtmlReport({
      records: [{ step: 5, epoch: 1, loss: 0.3 }],
      summary: {
        headline: { metric: 'accuracy', value: 0.9731, split: 'test' },
        bestCheckpoint: { path: 'out/checkpoint-5', step: 5, metric: 'loss', value: 0.2 },
        throughput: { 'train samples/s': 412.5 },
        perClass: [{ label: 'spam', precision: 0.9, recall: 0.8, f1: 0.847, support: 10 }],
        perEntity: [{ type: 'PER', precision: 1, recall: 0.5, f1: 0.667, support: 4 }],
        misclassified: [{ text: 'free <b>prize</b>', label: 'spam', predicted: 'ham', score: 0.8, loss: 1.61 }],
        settings: { model: './bert-base-uncased', columns: 'text "text", label "label"', LoRA: 'none (full fine-tuning)', 'version: node': 'v20' },
      },
    });
    const firstCard = /<div class="card"><div class="k">([^<]*)<\/div><div class="v">([^<]*)</.exec(html);
    assert.deepEqual(firstCard?.slice(1), ['test accuracy', '0.9731'], 'the first card is the test metric');
    assert.match(html, /train samples\/s/);
    assert.match(html, /<h3>Per class<\/h3>.*spam/s);
    assert.match(html, /<h3>Per entity type<\/h3>.*PER/s);
    assert.match(html, /highest loss<\/h3>.*free &lt;b&gt;prize&lt;\/b&gt;.*1\.610/s);
    assert.match(html, /<h3>Settings<\/h3>.*bert-base-uncased.*version: node/s);
  });
});

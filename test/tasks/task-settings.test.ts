// The task settings of the pipeline config (task, column names, doc_stride, mlm_probability): typed
// defaults, validation with errors that name the key, and "did you mean" for misspelt keys.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { DEFAULT_PIPELINE_CONFIG, resolveSettings } from '../../src/tasks/config.ts';

const resolve = (values: Record<string, unknown>) => resolveSettings([{ values, source: 'test.yaml' }]);

describe('pipeline task settings', () => {
  it('defaults to text classification with the Hugging Face column names of each task', () => {
    const { pipeline } = resolve({});
    assert.equal(pipeline.task, 'text-classification');
    assert.deepEqual(
      [pipeline.tokens_column, pipeline.tags_column, pipeline.question_column, pipeline.context_column, pipeline.answers_column],
      ['tokens', 'ner_tags', 'question', 'context', 'answers'],
    );
    assert.equal(pipeline.doc_stride, null);
    assert.equal(pipeline.max_answer_length, 30);
    assert.equal(pipeline.mlm_probability, 0.15);
    assert.equal(DEFAULT_PIPELINE_CONFIG.n_best_size, 20);
  });

  it('reads task settings from strings as the CLI passes them', () => {
    const { pipeline, args } = resolve({ task: 'question-answering', doc_stride: '64', max_length: '256', context_column: 'passage', mlm_probability: '0.2' });
    assert.equal(pipeline.task, 'question-answering');
    assert.equal(pipeline.doc_stride, 64);
    assert.equal(pipeline.context_column, 'passage');
    assert.equal(pipeline.mlm_probability, 0.2);
    assert.equal(args.max_length, 256);
  });

  it('rejects bad values naming the key', () => {
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ task: 'ner' }, 'task', /token-classification/],
      [{ doc_stride: 'wide' }, 'doc_stride', /number/],
      [{ doc_stride: 2.5 }, 'doc_stride', /whole number/],
      [{ mlm_probability: 0 }, 'mlm_probability', /above 0/],
      [{ mlm_probability: 1.5 }, 'mlm_probability', /\[0, 1\]/],
    ];
    for (const [values, key, msg] of bad) {
      assert.throws(() => resolve(values), (e: unknown) => e instanceof ConfigError && e.key === key && msg.test(e.message), JSON.stringify(values));
    }
    assert.throws(() => resolve({ tokens_colum: 'words' }), /did you mean "tokens_column"/);
  });
});

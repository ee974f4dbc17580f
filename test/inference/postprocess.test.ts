// Post-processing against independent references: transformers' own pipeline test cases for entity
// aggregation (tests/pipelines/test_pipelines_token_classification.py: the "Enzo … UN" and "Ramazotti"
// examples with their expected outputs), closed-form softmax/sigmoid values, transformers' choice of
// classification function, and hand-computed question-answering spans.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  aggregateEntities,
  classify,
  defaultClassificationFunction,
  gatherPreEntities,
  selectSpans,
  sigmoid,
  softmax,
  topK,
  type GroupedEntity,
  type PreEntity,
  type TokenEntity,
} from '../../src/inference/postprocess.ts';

/** WordPiece's convert_tokens_to_string: join with spaces, then glue "##" continuations. */
const wordpieceJoin = (tokens: string[]) => tokens.join(' ').replaceAll(' ##', '').trim();
const round3 = (x: number) => Math.round(x * 1000) / 1000;
/** |actual − expected| ≤ tol, with a message (assert.ok without one can hang under tsx: Node re-parses the call site). */
function near(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);
}
const simplify = <T extends { score: number }>(xs: T[]) => xs.map((x) => ({ ...x, score: round3(x.score) }));

describe('softmax, sigmoid, classification', () => {
  test('softmax of [0, ln 3] is [1/4, 3/4]; sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4', () => {
    const s = softmax([0, Math.log(3)]);
    near(s[0]!, 0.25, 1e-12, 'softmax[0]');
    near(s[1]!, 0.75, 1e-12, 'softmax[1]');
    const g = sigmoid([0, Math.log(3)]);
    near(g[0]!, 0.5, 1e-12, 'sigmoid(0)');
    near(g[1]!, 0.75, 1e-12, 'sigmoid(ln 3)');
  });

  test('softmax is stable for large logits (max subtracted first)', () => {
    const s = softmax([1000, 1000]);
    assert.deepEqual(Array.from(s), [0.5, 0.5]);
  });

  test('transformers picks none for regression, sigmoid for multi-label or one output, softmax otherwise', () => {
    assert.equal(defaultClassificationFunction('regression', 1), 'none');
    assert.equal(defaultClassificationFunction('multi_label_classification', 4), 'sigmoid');
    assert.equal(defaultClassificationFunction(null, 1), 'sigmoid');
    assert.equal(defaultClassificationFunction('single_label_classification', 3), 'softmax');
    assert.equal(defaultClassificationFunction(null, 2), 'softmax');
  });

  test('classify returns the top {label, score} and every score best first', () => {
    const r = classify([0, Math.log(3)], { 0: 'NEG', 1: 'POS' }, 'softmax');
    assert.equal(r.label, 'POS');
    near(r.score, 0.75, 1e-12, 'top score');
    assert.deepEqual(r.scores.map((s) => s.label), ['POS', 'NEG']);
    // Regression: the raw value; missing id2label entries read LABEL_i.
    assert.deepEqual(classify([2.5], {}, 'none'), { label: 'LABEL_0', score: 2.5, scores: [{ label: 'LABEL_0', score: 2.5 }] });
  });
});

describe('entity aggregation (transformers test_pipelines_token_classification.py)', () => {
  const ID2LABEL = { 0: 'O', 1: 'B-MISC', 2: 'I-MISC', 3: 'B-PER', 4: 'I-PER', 5: 'B-ORG', 6: 'I-ORG', 7: 'B-LOC', 8: 'I-LOC' };
  // test_aggregation_strategy's example
  const example: PreEntity[] = [
    { scores: [0, 0, 0, 0, 0.9968166351318359, 0, 0, 0], index: 1, isSubword: false, word: 'En', start: 0, end: 2 },
    { scores: [0, 0, 0, 0, 0.9957635998725891, 0, 0, 0], index: 2, isSubword: true, word: '##zo', start: 2, end: 4 },
    { scores: [0, 0, 0, 0, 0, 0.9986497163772583, 0, 0], index: 7, isSubword: false, word: 'UN', start: 11, end: 13 },
  ];

  test('NONE keeps one entity per token', () => {
    assert.deepEqual(simplify(aggregateEntities(example, 'none', ID2LABEL, wordpieceJoin) as TokenEntity[]), [
      { end: 2, entity: 'I-PER', score: 0.997, start: 0, word: 'En', index: 1 },
      { end: 4, entity: 'I-PER', score: 0.996, start: 2, word: '##zo', index: 2 },
      { end: 13, entity: 'B-ORG', score: 0.999, start: 11, word: 'UN', index: 7 },
    ]);
  });

  for (const [strategy, perScore] of [['simple', 0.996], ['first', 0.997], ['max', 0.997], ['average', 0.996]] as const) {
    test(`${strategy.toUpperCase()} groups "Enzo" (PER ${perScore}) and "UN" (ORG 0.999)`, () => {
      assert.deepEqual(simplify(aggregateEntities(example, strategy, ID2LABEL, wordpieceJoin) as GroupedEntity[]), [
        { entity_group: 'PER', score: perScore, word: 'Enzo', start: 0, end: 4 },
        { entity_group: 'ORG', score: 0.999, word: 'UN', start: 11, end: 13 },
      ]);
    });
  }

  // test_aggregation_strategy_example2: the word-level strategies disagree on "Ramazotti"
  const ID2LABEL_10 = { ...ID2LABEL, 9: 'LABEL_9' };
  const example2: PreEntity[] = [
    { scores: [0, 0.55, 0, 0.45, 0, 0, 0, 0, 0, 0], isSubword: false, index: 1, word: 'Ra', start: 0, end: 2 },
    { scores: [0, 0, 0, 0.2, 0, 0, 0, 0.8, 0, 0], isSubword: true, word: '##ma', start: 2, end: 4, index: 2 },
    { scores: [0, 0, 0, 0.4, 0, 0, 0.6, 0, 0, 0], isSubword: true, word: '##zotti', start: 11, end: 13, index: 3 },
  ];
  test('example2: NONE gives B-MISC, B-LOC, I-ORG per token', () => {
    assert.deepEqual(simplify(aggregateEntities(example2, 'none', ID2LABEL_10, wordpieceJoin) as TokenEntity[]), [
      { end: 2, entity: 'B-MISC', score: 0.55, start: 0, word: 'Ra', index: 1 },
      { end: 4, entity: 'B-LOC', score: 0.8, start: 2, word: '##ma', index: 2 },
      { end: 13, entity: 'I-ORG', score: 0.6, start: 11, word: '##zotti', index: 3 },
    ]);
  });
  for (const [strategy, group, score] of [['first', 'MISC', 0.55], ['max', 'LOC', 0.8], ['average', 'PER', 0.35]] as const) {
    test(`example2: ${strategy.toUpperCase()} makes one ${group} entity "Ramazotti" scored ${score}`, () => {
      assert.deepEqual(simplify(aggregateEntities(example2, strategy, ID2LABEL_10, wordpieceJoin) as GroupedEntity[]), [
        { entity_group: group, score, word: 'Ramazotti', start: 0, end: 13 },
      ]);
    });
  }

  test('labels without B-/I- prefixes group adjacent equal labels (test_aggregation_strategy_no_b_i_prefix)', () => {
    const labels = { 0: 'O', 1: 'MISC', 2: 'PER', 3: 'ORG', 4: 'LOC' };
    const ex: PreEntity[] = [
      { scores: [0, 0, 0, 0, 0.9968166351318359], index: 1, isSubword: false, word: 'En', start: 0, end: 2 },
      { scores: [0, 0, 0, 0, 0.9957635998725891], index: 2, isSubword: true, word: '##zo', start: 2, end: 4 },
      { scores: [0, 0, 0, 0.9986497163772583, 0], index: 7, isSubword: false, word: 'UN', start: 11, end: 13 },
    ];
    assert.deepEqual(simplify(aggregateEntities(ex, 'simple', labels, wordpieceJoin) as GroupedEntity[]), [
      { entity_group: 'LOC', score: 0.996, word: 'Enzo', start: 0, end: 4 },
      { entity_group: 'ORG', score: 0.999, word: 'UN', start: 11, end: 13 },
    ]);
  });

  test('gather_pre_entities: "Hello there" with [CLS] dropped (test_gather_pre_entities)', () => {
    const chars = Array.from('Hello there');
    const row = { ids: [101, 8667, 1175, 102], tokens: ['[CLS]', 'Hello', 'there', '[SEP]'], offsets: [[0, 0], [0, 5], [6, 11], [0, 0]] as Array<[number, number]>, specialTokensMask: [1, 0, 0, 1] };
    const scores = [[1, 0, 0], [0.1, 0.3, 0.6], [0.8, 0.1, 0.1], [1, 0, 0]];
    const pre = gatherPreEntities(chars, row, scores, { hasSubwordPrefix: true, unkTokenId: 100 });
    assert.deepEqual(pre.map(({ scores: s, ...rest }) => ({ ...rest, scores: Array.from(s) })), [
      { word: 'Hello', scores: [0.1, 0.3, 0.6], start: 0, end: 5, isSubword: false, index: 1 },
      { word: 'there', scores: [0.8, 0.1, 0.1], index: 2, start: 6, end: 11, isSubword: false },
    ]);
  });

  test('gather_pre_entities: the space heuristic without a subword prefix (test_word_heuristic_leading_space)', () => {
    const sentence = 'I play the theremin';
    const row = {
      ids: [1, 10, 11, 12, 13, 14, 2],
      tokens: ['[CLS]', '▁I', '▁play', '▁the', '▁there', 'min', '[SEP]'],
      offsets: [[0, 0], [0, 1], [1, 6], [6, 10], [10, 16], [16, 19], [0, 0]] as Array<[number, number]>,
      specialTokensMask: [1, 0, 0, 0, 0, 0, 1],
    };
    const pre = gatherPreEntities(Array.from(sentence), row, row.ids.map(() => [1, 0]), { hasSubwordPrefix: false, unkTokenId: 3 });
    assert.deepEqual(pre.map((p) => [p.word, p.isSubword]), [['▁I', false], ['▁play', false], ['▁the', false], ['▁there', false], ['min', true]]);
  });

  test('an unknown token takes the text it covers as its word and starts a word', () => {
    const row = { ids: [7, 1], tokens: ['hi', '[UNK]'], offsets: [[0, 2], [2, 4]] as Array<[number, number]>, specialTokensMask: [0, 0] };
    const pre = gatherPreEntities(Array.from('hi🙂x'), row, [[1], [1]], { hasSubwordPrefix: true, unkTokenId: 1 });
    assert.deepEqual(pre.map((p) => [p.word, p.isSubword]), [['hi', false], ['🙂x', false]]);
  });
});

describe('question-answering spans', () => {
  test('the best span maximises p_start × p_end within the context and the length limit', () => {
    // tokens: 0 [CLS], 1 question, 2 [SEP], 3..6 context, 7 [SEP]
    const ctx = [false, false, false, true, true, true, true, false];
    const start = [9, 9, 9, 0, 3, 0, 0, 9];
    const end = [9, 9, 9, 0, 0, 0, 3, 9];
    const { spans } = selectSpans(start, end, ctx, { topK: 1, maxAnswerLen: 15, unmaskIndex: 0 });
    // softmax over the context and CLS (p_mask unmasks CLS; question/[SEP] get −10000), then CLS zeroed:
    // p_s(4) = e³ / (e⁹ + e³ + 3), and p_e(6) the same
    const p = Math.exp(3) / (Math.exp(9) + Math.exp(3) + 3);
    assert.equal(spans.length, 1);
    assert.deepEqual([spans[0]!.start, spans[0]!.end], [4, 6]);
    near(spans[0]!.score, p * p, 1e-9, 'span score');
  });

  test('max_answer_len excludes longer spans; end before start is never chosen', () => {
    const ctx = [false, true, true, true, true];
    const { spans } = selectSpans([0, 5, 0, 0, 0], [0, 0, 0, 0, 5], ctx, { topK: 3, maxAnswerLen: 2, unmaskIndex: 0 });
    for (const s of spans) {
      assert.ok(s.end >= s.start && s.end - s.start < 2, JSON.stringify(s));
    }
    assert.notDeepEqual([spans[0]!.start, spans[0]!.end], [1, 4]);
  });

  test('null score is p_start[CLS] × p_end[CLS] before CLS is zeroed', () => {
    const ctx = [false, true, true];
    const { nullScore } = selectSpans([2, 0, 0], [2, 0, 0], ctx, { topK: 1, maxAnswerLen: 15, unmaskIndex: 0 });
    const p = Math.exp(2) / (Math.exp(2) + 2);
    near(nullScore, p * p, 1e-12, 'null score');
  });
});

test('fill-mask top-k: probabilities best first, ties by index', () => {
  const r = topK([0, Math.log(3), 0, Math.log(3)], 3);
  assert.deepEqual(r.map((x) => x.index), [1, 3, 0]);
  near(r[0]!.score, 3 / 8, 1e-12, 'best');
  near(r[2]!.score, 1 / 8, 1e-12, 'third');
});

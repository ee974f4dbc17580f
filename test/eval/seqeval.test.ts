// Tests for entity-level NER metrics against seqeval's documented examples (its README, docstrings
// and unit tests: values copied from there) and hand-worked IOBES/IOB1/IOE chunking.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EntityMetrics, getEntities } from '../../src/eval/seqeval.ts';

const close = (a: number | undefined, b: number): void => assert.ok(a !== undefined && Math.abs(a - b) < 1e-12, `${a} != ${b}`);
const triples = (seq: string[], suffix = false): [string, number, number][] => getEntities(seq, suffix).map((c) => [c.type, c.start, c.end]);

test('get_entities: seqeval docstring and unit-test examples', () => {
  assert.deepEqual(triples(['B-PER', 'I-PER', 'O', 'B-LOC']), [['PER', 0, 1], ['LOC', 3, 3]]);
  assert.deepEqual(triples(['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O', 'B-PER', 'I-PER']), [['MISC', 3, 5], ['PER', 7, 8]]);
  assert.deepEqual(triples(['O', 'O', 'O', 'MISC-B', 'MISC-I', 'MISC-I', 'O', 'PER-B', 'PER-I'], true), [['MISC', 3, 5], ['PER', 7, 8]]);
  // test_get_entities_with_only_IOB: nested lists are joined with an 'O' between sentences.
  assert.deepEqual(triples(['O', 'O', 'O', 'B', 'I', 'I', 'O', 'O', 'B', 'I', 'O']), [['_', 3, 5], ['_', 8, 9]]);
});

test('chunking of IOBES, IOB1 and IOE tags by the conlleval rules', () => {
  // IOBES: S- is a one-token entity, B-…E- spans.
  assert.deepEqual(triples(['S-PER', 'B-LOC', 'I-LOC', 'E-LOC', 'O', 'S-ORG', 'S-ORG']), [['PER', 0, 0], ['LOC', 1, 3], ['ORG', 5, 5], ['ORG', 6, 6]]);
  // IOB1: I- starts an entity after O; B- only separates two adjacent entities of the same type.
  assert.deepEqual(triples(['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC', 'I-ORG']), [['PER', 0, 1], ['PER', 2, 2], ['LOC', 4, 4], ['ORG', 5, 5]]);
  // IOE: E- closes an entity; the next I- starts a new one.
  assert.deepEqual(triples(['I-PER', 'E-PER', 'I-PER', 'E-PER', 'O', 'E-LOC']), [['PER', 0, 1], ['PER', 2, 3], ['LOC', 5, 5]]);
});

test('README / precision_recall_fscore_support docstring example', () => {
  const yTrue = [['O', 'O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const yPred = [['O', 'O', 'B-MISC', 'I-MISC', 'I-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const m = new EntityMetrics();
  m.update(yTrue, yPred);
  const r = m.compute();
  // micro, macro and weighted are all (0.5, 0.5, 0.5); accuracy_score == 0.80
  for (const k of ['precision', 'recall', 'f1', 'precision_macro', 'recall_macro', 'f1_macro', 'precision_weighted', 'recall_weighted', 'f1_weighted']) close(r[k], 0.5);
  close(r['accuracy'], 0.8);
  // classification_report: MISC 0.00 0.00 0.00 support 1; PER 1.00 1.00 1.00 support 1
  assert.deepEqual(m.perType(), [
    { type: 'MISC', precision: 0, recall: 0, f1: 0, number: 1 },
    { type: 'PER', precision: 1, recall: 1, f1: 1, number: 1 },
  ]);
});

test('f1_score docstring example: micro 0.667, macro 0.75, per type [0.5, 1.0]', () => {
  const yTrue = [['O', 'O', 'B-MISC', 'I-MISC', 'B-MISC', 'O', 'O'], ['B-PER', 'I-PER', 'O']];
  const yPred = [['O', 'O', 'B-MISC', 'I-MISC', 'B-MISC', 'I-MISC', 'O'], ['B-PER', 'I-PER', 'O']];
  const m = new EntityMetrics();
  // Fed one sentence at a time: streaming must equal seqeval's whole-corpus result.
  m.update([yTrue[0] as string[]], [yPred[0] as string[]]);
  m.update([yTrue[1] as string[]], [yPred[1] as string[]]);
  const r = m.compute();
  close(r['f1'], 0.6666666666666666);
  close(r['f1_macro'], 0.75);
  close(r['f1_weighted'], 0.6666666666666666);
  assert.deepEqual(m.perType().map((t) => t.f1), [0.5, 1]);
});

test('default (conlleval) mode: I-ORG I-ORG matches B-ORG I-ORG (test_conll_f1score and README)', () => {
  const m = new EntityMetrics();
  m.update([['B-ORG', 'I-ORG']], [['I-ORG', 'I-ORG']]);
  close(m.compute()['f1'], 1);
  const np = new EntityMetrics();
  np.update([['B-NP', 'I-NP', 'O']], [['I-NP', 'I-NP', 'O']]);
  assert.deepEqual(np.perType(), [{ type: 'NP', precision: 1, recall: 1, f1: 1, number: 1 }]);
});

test('label ids with -100 positions dropped, as the run_ner example does', () => {
  const id2label = ['O', 'B-PER', 'I-PER'];
  // 2 sequences × 5 positions; -100 marks [CLS]/[SEP]/sub-tokens/padding.
  const refs = [-100, 1, 2, 0, -100, -100, 1, -100, -100, -100];
  const preds = [0, 1, 2, 0, 2, 1, 0, 2, 2, 0];
  const m = new EntityMetrics();
  m.updateFromIds(refs, preds, 5, id2label);
  // Sequence 1: [B-PER I-PER O] vs [B-PER I-PER O] → 1 correct; sequence 2: [B-PER] vs [O] → missed.
  const r = m.compute();
  close(r['precision'], 1);
  close(r['recall'], 0.5);
  close(r['accuracy'], 3 / 4);
});

test('get_entities equals seqeval on 60 random IOBES sequences (fixture made by running its Python source)', () => {
  // Generated with seqeval's get_entities/start_of_chunk/end_of_chunk (seqeval/metrics/sequence_labeling.py at commit cd01b52)
  // on random tags from {B,I,O,E,S}-{PER,LOC}; each entry is [tags, [[type, start, end], ...]].
  const cases = JSON.parse(readFileSync(new URL('./fixtures/seqeval-get-entities.json', import.meta.url), 'utf8')) as [string[], [string, number, number][]][];
  assert.equal(cases.length, 60);
  for (const [tags, expected] of cases) assert.deepEqual(triples(tags), expected, tags.join(' '));
});

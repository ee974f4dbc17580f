// Tests for column mapping and label maps: each task's label kinds, the DataErrors for missing columns,
// blank labels and unknown evaluation labels (with counts and lines), and id2label/label2id shape.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../../src/errors.ts';
import { buildDataset } from '../../src/data/columns.ts';
import {
  assertKnownLabels,
  buildLabelMap,
  encodeMultiLabels,
  encodeSingleLabels,
  encodeTags,
  findUnknownLabels,
  labelMapFromConfig,
  labelMapFromDataset,
  sortLabels,
} from '../../src/data/labels.ts';
import { parseTableText } from '../../src/data/read.ts';

const csv = (text: string, name = 'data.csv') => parseTableText(text, name, 'csv');
const jsonl = (lines: object[], name = 'data.jsonl') => parseTableText(lines.map((l) => JSON.stringify(l)).join('\n'), name, 'jsonl');

test('single-label: strings or ints, text pairs, joined text columns, label names', () => {
  const ds = buildDataset(csv('premise,hypothesis,label\nA man,A person,entailment\nA cat,A dog,contradiction\n'), {
    task: 'single_label_classification',
    text: 'premise',
    textPair: 'hypothesis',
    label: 'label',
  });
  assert.equal(ds.task, 'single_label_classification');
  assert.deepEqual(ds.examples[0], { text: 'A man', textPair: 'A person', label: 'entailment', origin: 2 });

  const joined = buildDataset(jsonl([{ subject: 'Hi', body: 'there', label: 'ham' }, { subject: '', body: 'x', label: 'spam' }]), {
    task: 'single_label_classification',
    text: ['subject', 'body'],
    label: 'label',
  });
  assert.deepEqual(joined.examples.map((e) => 'text' in e && e.text), ['Hi\nthere', 'x']);

  const named = buildDataset(jsonl([{ t: 'a', l: 0 }, { t: 'b', l: 1 }]), { task: 'single_label_classification', text: 't', label: 'l', labelNames: ['neg', 'pos'] });
  assert.deepEqual(named.examples.map((e) => 'label' in e && e.label), ['neg', 'pos']);
  assert.throws(
    () => buildDataset(jsonl([{ t: 'a', l: 2 }]), { task: 'single_label_classification', text: 't', label: 'l', labelNames: ['neg', 'pos'] }),
    /line 1: label "2" is not an index into the 2 label names/,
  );
});

test('multi-label: JSON list cells, delimited strings, arrays, and 0/1 columns', () => {
  const fromCsv = buildDataset(csv('text,tags\nt1,"[""a"",""b""]"\nt2,b|c\nt3,[]\n'), {
    task: 'multi_label_classification',
    text: 'text',
    label: 'tags',
    labelDelimiter: '|',
  });
  assert.deepEqual(fromCsv.examples.map((e) => 'labels' in e && e.labels), [['a', 'b'], ['b', 'c'], []]);
  const fromFlags = buildDataset(csv('text,toxic,obscene\nx,1,0\ny,1,1\nz,0,0\n'), {
    task: 'multi_label_classification',
    text: 'text',
    label: ['toxic', 'obscene'],
  });
  assert.deepEqual(fromFlags.examples.map((e) => 'labels' in e && e.labels), [['toxic'], ['toxic', 'obscene'], []]);
  const map = labelMapFromDataset(fromCsv);
  assert.deepEqual(map.labels, ['a', 'b', 'c']);
  assert.deepEqual(Array.from(encodeMultiLabels(fromCsv, map)), [1, 1, 0, 0, 1, 1, 0, 0, 0]);
});

test('regression targets must be finite numbers', () => {
  const ds = buildDataset(csv('s1,s2,score\na,b,4.5\nc,d,-1e-2\n'), { task: 'regression', text: 's1', textPair: 's2', label: 'score' });
  assert.deepEqual(ds.examples.map((e) => 'target' in e && e.target), [4.5, -0.01]);
  assert.throws(() => buildDataset(csv('s,score\na,high\n'), { task: 'regression', text: 's', label: 'score' }), /data.csv: line 2: regression target.*"high"/);
});

test('token classification: list, JSON and whitespace cells; integer tags through names; length check', () => {
  const ds = buildDataset(
    jsonl([
      { tokens: ['EU', 'rejects', 'German'], ner_tags: [3, 0, 7] },
      { tokens: 'Peter Blackburn', ner_tags: 'B-PER I-PER' },
    ]),
    { task: 'token_classification', tokens: 'tokens', tags: 'ner_tags', tagNames: ['O', 'B-PER', 'I-PER', 'B-ORG', 'I-ORG', 'B-LOC', 'I-LOC', 'B-MISC', 'I-MISC'] },
  );
  assert.deepEqual(ds.examples, [
    { tokens: ['EU', 'rejects', 'German'], tags: ['B-ORG', 'O', 'B-MISC'], origin: 1 },
    { tokens: ['Peter', 'Blackburn'], tags: ['B-PER', 'I-PER'], origin: 2 },
  ]);
  assert.throws(
    () => buildDataset(jsonl([{ w: ['a', 'b'], t: ['O'] }]), { task: 'token_classification', tokens: 'w', tags: 't' }),
    /line 1: 2 tokens but 1 tags/,
  );
  const plain = buildDataset(csv('words,tags\n"[""New"", ""York""]",B-LOC I-LOC\n'), { task: 'token_classification', tokens: 'words', tags: 'tags' });
  const map = labelMapFromDataset(plain);
  assert.deepEqual(map.labels, ['B-LOC', 'I-LOC']);
  assert.deepEqual(encodeTags(plain, map).map((a) => Array.from(a)), [[0, 1]]);
});

test('question answering: SQuAD struct, JSON string, and the list-of-objects layout', () => {
  const context = 'Architecturally, the school has a Catholic character.';
  const ds = buildDataset(
    jsonl([
      { id: 'q1', context, question: 'What character?', answers: { text: ['Catholic'], answer_start: [34] } },
      { id: 'q2', context, question: 'Unanswerable?', answers: { text: [], answer_start: [] } },
      { id: 'q3', context, question: 'Old layout?', answers: [{ text: 'school', answer_start: 21 }] },
      { id: 'q4', context, question: 'Offset off?', answers: { text: ['Catholic'], answer_start: [30] } },
    ]),
    { task: 'question_answering', context: 'context', question: 'question', answers: 'answers', id: 'id' },
  );
  assert.equal(ds.task, 'question_answering');
  assert.deepEqual(ds.examples.map((e) => 'answers' in e && e.answers), [
    { text: ['Catholic'], answerStart: [34] },
    { text: [], answerStart: [] },
    { text: ['school'], answerStart: [21] },
    { text: ['Catholic'], answerStart: [30] },
  ]);
  assert.deepEqual(ds.steps.map((s) => [s.action, s.count, s.origins]), [['warning', 1, [4]]]);
  assert.throws(
    () => buildDataset(jsonl([{ c: 'short', q: 'x', a: { text: ['short!'], answer_start: [0] } }]), { task: 'question_answering', context: 'c', question: 'q', answers: 'a' }),
    /runs past the end of the context/,
  );
});

test('missing column: names the file, the column, and the columns that exist', () => {
  assert.throws(
    () => buildDataset(csv('Text,label\na,1\n', 'reviews.csv'), { task: 'single_label_classification', text: 'text', label: 'label' }),
    (err: unknown) => {
      assert.ok(err instanceof DataError);
      assert.match(err.message, /reviews\.csv: the text column "text" does not exist\. Columns in the file: Text, label\. Did you mean "Text"\?/);
      return true;
    },
  );
});

test('blank labels: an error listing lines, or dropped and reported', () => {
  const table = csv('text,label\na,pos\nb,\nc,neg\nd,  \n', 'blank.csv');
  assert.throws(
    () => buildDataset(table, { task: 'single_label_classification', text: 'text', label: 'label' }),
    /blank\.csv: 2 rows have a blank label in column "label" \(lines 3, 5\)/,
  );
  const ds = buildDataset(table, { task: 'single_label_classification', text: 'text', label: 'label', blankLabels: 'drop' });
  assert.equal(ds.examples.length, 2);
  assert.deepEqual(ds.steps, [{ step: 'blank label', action: 'dropped', count: 2, origins: [3, 5] }]);
});

test('unlabelled data for prediction', () => {
  const ds = buildDataset(csv('text\nhello\n'), { task: 'single_label_classification', text: 'text' });
  assert.equal(ds.labelled, false);
  assert.deepEqual(ds.examples, [{ text: 'hello', origin: 2 }]);
});

test('label maps: sorted deterministically, integer labels numerically, HF config shape', () => {
  assert.deepEqual(sortLabels(['b', 'B', 'a', 'b']), ['B', 'a', 'b']);
  assert.deepEqual(sortLabels(['10', '2', '1']), ['1', '2', '10']);
  const map = buildLabelMap(['spam', 'ham', 'ham']);
  assert.deepEqual(map.id2label, { '0': 'ham', '1': 'spam' });
  assert.deepEqual(map.label2id, { ham: 0, spam: 1 });
  assert.deepEqual(labelMapFromConfig({ id2label: map.id2label }), map);
  assert.throws(() => labelMapFromConfig({ id2label: { '0': 'a', '2': 'b' } }), /missing id 1/);
  const ordered = buildLabelMap(['pos'], ['neg', 'pos']);
  assert.deepEqual(ordered.labels, ['neg', 'pos']);
  assert.throws(() => buildLabelMap(['maybe'], ['neg', 'pos']), /maybe are in the data but not in the given label order/);
});

test('unknown labels at evaluation time are reported with counts and lines, not guessed', () => {
  const train = buildDataset(csv('text,label\na,ham\nb,spam\n'), { task: 'single_label_classification', text: 'text', label: 'label' });
  const map = labelMapFromDataset(train);
  const evalDs = buildDataset(csv('text,label\nx,ham\ny,Spam\nz,Spam\nw,junk\nv,spam\n', 'eval.csv'), { task: 'single_label_classification', text: 'text', label: 'label' });
  assert.deepEqual(findUnknownLabels(evalDs, map), [
    { label: 'Spam', count: 2, origins: [3, 4] },
    { label: 'junk', count: 1, origins: [5] },
  ]);
  assert.throws(() => assertKnownLabels(evalDs, map), /eval\.csv: 3 labels of 2 kinds not seen in training \(the model knows: ham, spam\): "Spam" ×2 \(lines 3, 4\); "junk" ×1 \(line 5\)/);
  assert.throws(() => encodeSingleLabels(evalDs, map), DataError);
  assert.deepEqual(Array.from(encodeSingleLabels(train, map)), [0, 1]);
});

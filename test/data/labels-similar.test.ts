// nearDuplicateLabels: labels equal after trimming and lower-casing are grouped (they would train as
// separate classes), distinct labels are not.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nearDuplicateLabels, nearDuplicateLabelsWarning } from '../../src/data/labels.ts';

describe('nearDuplicateLabels', () => {
  it('groups labels that differ by case or surrounding space', () => {
    assert.deepEqual(nearDuplicateLabels(['ham', 'Spam', 'spam', ' spam', 'B-PER', 'b-per', 'I-PER']), [['Spam', 'spam', ' spam'], ['B-PER', 'b-per']]);
  });
  it('says nothing for distinct labels', () => {
    assert.deepEqual(nearDuplicateLabels(['negative', 'positive', 'neutral']), []);
    assert.equal(nearDuplicateLabelsWarning(['a', 'b'], 'f.csv'), null);
  });
  it('names the file and the labels', () => {
    assert.match(nearDuplicateLabelsWarning(['Yes', 'yes', 'no'], 'f.csv') ?? '', /^warning: f\.csv: .*"Yes" \/ "yes"\./);
  });
});

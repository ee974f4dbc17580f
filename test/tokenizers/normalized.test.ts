// NormalizedString alignment rules, checked against the expectations in HF tokenizers' own tests
// (tokenizer/normalizer.rs), converted from byte to character offsets.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NormalizedString } from '../../src/tokenizers/normalized.ts';
import { decomposeChanges, isMarkNonspacing } from '../../src/tokenizers/unicode.ts';

function aligns(n: NormalizedString): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n.length; i++) out.push([n.align[2 * i]!, n.align[2 * i + 1]!]);
  return out;
}

describe('NormalizedString (HF normalizer.rs tests)', () => {
  it('nfd adds chars aligned to their source char', () => {
    const n = NormalizedString.from('élégant');
    n.transform(decomposeChanges(n.chars, false));
    assert.equal(n.text, 'e\u0301le\u0301gant');
    assert.deepEqual(aligns(n), [[0, 1], [0, 1], [1, 2], [2, 3], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7]]);
  });

  it('removing the chars nfd added restores one-to-one alignment', () => {
    const n = NormalizedString.from('élégant');
    n.transform(decomposeChanges(n.chars, false));
    n.filter((c) => !isMarkNonspacing(c));
    assert.equal(n.text, 'elegant');
    assert.deepEqual(aligns(n), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7]]);
  });

  it('mixed addition and removal', () => {
    const n = NormalizedString.from('élégant');
    n.transform(decomposeChanges(n.chars, false));
    n.filter((c) => !isMarkNonspacing(c) && c !== 'n');
    assert.equal(n.text, 'elegat');
    assert.deepEqual(aligns(n), [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [6, 7]]);
  });

  it('added characters take the alignment of the char they surround (CJK spacing)', () => {
    const n = NormalizedString.from('野口 No');
    const dest: Array<[string, number]> = [];
    for (const c of n.chars) {
      if ((c.codePointAt(0) ?? 0) > 0x4e00) dest.push([' ', 0], [c, 1], [' ', 1]);
      else dest.push([c, 0]);
    }
    n.transform(dest);
    assert.equal(n.text, ' 野  口  No');
    assert.deepEqual(aligns(n), [[0, 1], [0, 1], [0, 1], [1, 2], [1, 2], [1, 2], [2, 3], [3, 4], [4, 5]]);
  });

  it('prepend aligns the new chars with the first char', () => {
    const n = NormalizedString.from('there');
    n.prepend('Hey ');
    assert.equal(n.text, 'Hey there');
    assert.deepEqual(aligns(n), [[0, 1], [0, 1], [0, 1], [0, 1], [0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]);
    assert.deepEqual(n.normalizedToOriginal(0, 4), [0, 1]);
  });

  it('replace: chars, overlapping literals and regexes', () => {
    const a = NormalizedString.from(' Hello   friend ');
    a.replace((c) => c === ' ', '_');
    assert.equal(a.text, '_Hello___friend_');
    const b = NormalizedString.from('aaaab');
    b.replace({ literal: 'aaa' }, 'b');
    assert.equal(b.text, 'bab');
    const c = NormalizedString.from(' Hello   friend ');
    c.replace(/\s+/gu, '_');
    assert.equal(c.text, '_Hello_friend_');
  });

  it('added around edges keeps the original range of the inner text', () => {
    const n = NormalizedString.from('Hello');
    n.transform([[' ', 1], ['H', 0], ['e', 0], ['l', 0], ['l', 0], ['o', 0], [' ', 1]]);
    assert.equal(n.text, ' Hello ');
    assert.deepEqual(n.normalizedToOriginal(1, 6), [0, 5]);
  });

  it('canonical reordering: the marks swap, alignments stay positional (HF transform semantics)', () => {
    // U+0323 (class 220) must come before U+0301 (class 230): NFD reorders them. HF's transform
    // consumes source chars in order, so each output position keeps the position's alignment.
    const n = NormalizedString.from('a\u0301\u0323b');
    n.transform(decomposeChanges(n.chars, false));
    assert.equal(n.text, 'a\u0323\u0301b');
    assert.deepEqual(aligns(n), [[0, 1], [1, 2], [2, 3], [3, 4]]);
  });
});

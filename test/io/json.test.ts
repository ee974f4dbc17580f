// Tests for the strict JSON parser (checked against JSON.parse as the reference for what is valid)
// and the Python-compatible writer (checked against outputs of CPython's repr and json.dumps).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FileFormatError } from '../../src/errors.ts';
import { parseJson, pythonFloatRepr, pythonJsonDumps } from '../../src/io/json.ts';

describe('parseJson', () => {
  const valid = [
    '{}', '[]', '0', '-0', '1.5e3', '"a\\u00e9\\n\\"\\\\\\/"', '{"a": [1, 2, {"b": null}], "c": true, "d": false}',
    ' \n\t{"x" : -12.25E-2 } ', '"\\ud83d\\ude00"', '[[[[]]]]', '{"": 1}', '1E+2', '"日本語 😀"',
  ];
  const invalid = [
    '', '{', '{"a":1,}', '[1,]', "{'a':1}", 'NaN', 'Infinity', '01', '1.', '.5', '+1', '"a', '"\t"', '{"a" 1}',
    '[1 2]', 'tru', 'nul', '"\\x41"', '"\\u12"', '{"a":1}}', '1 2', '{a:1}',
  ];
  test('accepts exactly what JSON.parse accepts, with the same values', () => {
    for (const text of valid) assert.deepEqual(parseJson(text, 'v.json').value, JSON.parse(text), text);
    for (const text of invalid) {
      assert.throws(() => JSON.parse(text), SyntaxError, `JSON.parse should reject ${text}`);
      assert.throws(() => parseJson(text, 'bad.json'), (e: unknown) => e instanceof FileFormatError && e.message.startsWith('bad.json:'), text);
    }
  });

  test('rejects duplicate keys, naming the line', () => {
    assert.throws(() => parseJson('{\n  "a": 1,\n  "a": 2\n}', 'dup.json'), /dup\.json:3: invalid JSON: duplicate key "a"/);
    assert.throws(() => parseJson('{"o": {"k": 1, "k": 1}}', 'nested.json'), /duplicate key "k"/);
  });

  test('"__proto__" is an ordinary key', () => {
    const v = parseJson('{"__proto__": {"x": 1}}', 'p.json').value as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__']);
  });

  test('records which numbers were written as floats', () => {
    const { floatPaths } = parseJson('{"a": 1.0, "b": 2, "c": {"d/e": [3, 4e0]}, "f~": 5.5}', 'f.json');
    assert.deepEqual([...floatPaths].sort(), ['/a', '/c/d~1e/1', '/f~0']);
  });

  test('refuses absurd nesting instead of overflowing the stack', () => {
    assert.throws(() => parseJson('['.repeat(100_000), 'deep.json'), /nesting deeper than/);
  });
});

describe('Python-compatible writing', () => {
  test('pythonFloatRepr matches CPython repr(float)', () => {
    // Values from CPython 3: repr(x) for each x.
    const cases: [number, string][] = [
      [1e-5, '1e-05'], [1e-12, '1e-12'], [0.02, '0.02'], [10000, '10000.0'], [0.1, '0.1'], [1e16, '1e+16'],
      [1.5e-7, '1.5e-07'], [123456789, '123456789.0'], [0.0001, '0.0001'], [-0, '-0.0'], [0, '0.0'],
      [1 / 3, '0.3333333333333333'], [2 ** -1074, '5e-324'], [1e22, '1e+22'], [9999999999999998, '9999999999999998.0'],
      [-2.5, '-2.5'], [1e-4 * 3, '0.00030000000000000003'], [123.456, '123.456'], [6.02214076e23, '6.02214076e+23'],
    ];
    for (const [x, s] of cases) assert.equal(pythonFloatRepr(x), s, String(x));
  });

  test('pythonJsonDumps matches json.dumps(indent=2, sort_keys=True)', () => {
    // json.dumps({"b": [1, {"c": None}], "a": "é\n", "e": {}, "d": [], "Z": 2.0}, indent=2, sort_keys=True)
    const expected = '{\n  "Z": 2.0,\n  "a": "\\u00e9\\n",\n  "b": [\n    1,\n    {\n      "c": null\n    }\n  ],\n  "d": [],\n  "e": {}\n}';
    const v = { b: [1, { c: null }], a: 'é\n', e: {}, d: [], Z: 2 };
    assert.equal(pythonJsonDumps(v, { indent: 2, isFloat: (p) => p === '/Z' }), expected);
    // json.dumps({"k": "😀\x7f\x01"}) (compact, ensure_ascii)
    assert.equal(pythonJsonDumps({ k: '😀\x7f\x01' }), '{"k": "\\ud83d\\ude00\\u007f\\u0001"}');
    // Python sorts int keys numerically: json.dumps({10: "a", 2: "b"}, sort_keys=True)
    assert.equal(pythonJsonDumps({ 10: 'a', 2: 'b' }, { intKeyObjects: new Set(['']) }), '{"2": "b", "10": "a"}');
    assert.equal(pythonJsonDumps({ 10: 'a', 2: 'b' }), '{"10": "a", "2": "b"}');
  });
});

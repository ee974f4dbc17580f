// Helpers for the encoder-model tests: relative closeness (max |diff| / max |reference|, the goldens'
// acceptance measure), fixture paths, and reading a golden batch into a ModelBatch.
// Not a test file itself.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readSafetensors, toInt32 } from '../../src/io/safetensors.ts';
import type { ModelBatch } from '../../src/models/types.ts';
import { Tensor } from '../../src/tensor/index.ts';

/** max |a - b| / max |b| (b the reference); NaN anywhere gives Infinity. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): { err: number; at: number } {
  assert.equal(actual.length, expected.length, `lengths differ: ${actual.length} vs ${expected.length}`);
  let diff = 0;
  let at = -1;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  if (!Number.isFinite(diff)) return { err: Infinity, at };
  return { err: scale === 0 ? diff : diff / scale, at };
}

/** Asserts max |actual - expected| / max |expected| <= tol, naming the worst element. */
export function assertRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const { err, at } = relativeError(actual, expected);
  assert.ok(err <= tol, `${what}: relative error ${err} > ${tol} (worst at ${at}: got ${actual[at]}, expected ${expected[at]})`);
}

/** Path of a file under test/fixtures. */
export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

/** The golden batch (inputs.safetensors: input_ids, attention_mask, token_type_ids, labels; I64) as int32 tensors. */
export async function readGoldenBatch(file: string): Promise<ModelBatch> {
  const t = (await readSafetensors(file)).tensors;
  const int = (name: string): Tensor | undefined => {
    const e = t.get(name);
    return e ? Tensor.from(toInt32(e), e.shape, 'int32') : undefined;
  };
  const inputIds = int('input_ids');
  assert.ok(inputIds, `${file} has no input_ids`);
  return { inputIds, attentionMask: int('attention_mask'), tokenTypeIds: int('token_type_ids'), labels: int('labels') };
}

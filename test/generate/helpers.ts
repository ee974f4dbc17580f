// Test helpers shared by the decoder-model, generation and LoRA tests: closeness checks with a
// message naming the worst element, and locating ../shared data (skipping when it is absent).
// Not a test file itself.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Largest |a - b| and where it is. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; at: number } {
  assert.equal(a.length, b.length, `lengths differ: ${a.length} vs ${b.length}`);
  let diff = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) {
      diff = d;
      at = i;
    }
  }
  return { diff, at };
}

/** Asserts every |actual - expected| <= tol (NaN fails). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  const { diff, at } = maxAbsDiff(actual, expected);
  assert.ok(diff <= tol, `${what}: max |diff| ${diff} > ${tol} at index ${at} (got ${actual[at]}, expected ${expected[at]})`);
}

/** Path of a file under <repo>/../shared, or null when the shared folder is absent. */
export function sharedPath(rel: string): string | null {
  const p = fileURLToPath(new URL(`../../../shared/${rel}`, import.meta.url));
  return existsSync(p) ? p : null;
}

/** Path of a file under test/fixtures. */
export function fixturePath(rel: string): string {
  return fileURLToPath(new URL(`../fixtures/${rel}`, import.meta.url));
}

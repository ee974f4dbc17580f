// Test helper: locates /work/shared (goldens and real data) relative to the repo, so tests skip
// cleanly when it is absent. Not a test itself.

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of a file or folder under <repo>/../shared. */
export function sharedPath(rel: string): string {
  return fileURLToPath(new URL(`../../../shared/${rel}`, import.meta.url));
}

/** `false` when present, else a skip message naming the missing path (for node:test's `skip`). */
export function skipUnless(rel: string): string | false {
  const p = sharedPath(rel);
  return existsSync(p) ? false : `shared file missing: ${p}`;
}

export function readSharedJson<T>(rel: string): T {
  return JSON.parse(readFileSync(sharedPath(rel), 'utf8')) as T;
}

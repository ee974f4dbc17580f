// The versions a run records (model card, training_args.json, report): finetune's own (package.json),
// Node's, and the compute backend in use. Read once; no network.

import { readFileSync } from 'node:fs';
import { getDefaultBackend } from '../backend/default.ts';

let cached: Record<string, string> | null = null;

/** { finetune, node, backend } for the model card's "Framework versions". */
export function runVersions(): Record<string, string> {
  if (cached) return cached;
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // a copy without package.json: the version stays unknown
  }
  cached = { finetune: version, node: process.version, backend: getDefaultBackend().name };
  return cached;
}

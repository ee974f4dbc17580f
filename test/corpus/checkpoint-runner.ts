// Child process of the corrupt-checkpoint corpus: loads each mutated folder from index argv[2] on as
// `serve`/`predict` do and prints one JSON line per case (loaded + scores, refused + message, or crashed +
// stack). The parent kills and restarts it past a case that hangs. Not a test by itself.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.ts';
import { pipeline } from '../../src/inference/index.ts';
import { materialise, mutations, FIXTURE } from './checkpoint-mutations.ts';

const TEXTS = ['hello world, this is a test', 'another sentence'];

async function scores(dir: string): Promise<number[]> {
  const p = await pipeline('text-classification', dir, { warn: () => undefined });
  const out = (await p.run(TEXTS)) as unknown as { scores: { label: string; score: number }[] }[];
  return out.flatMap((row) => [...row.scores].sort((a, b) => a.label.localeCompare(b.label)).map((r) => r.score));
}

const start = Number(process.argv[2] ?? 0);
const all = mutations();
const work = mkdtempSync(join(tmpdir(), 'ft-corpus-'));
process.stdout.write(JSON.stringify({ reference: await scores(FIXTURE) }) + '\n');
for (let i = start; i < all.length; i++) {
  const m = all[i];
  const dir = join(work, `case-${i}`);
  process.stdout.write(JSON.stringify({ begin: i }) + '\n');
  let line: object;
  try {
    materialise(m, dir);
    line = { i, outcome: 'loaded', scores: await scores(dir) };
  } catch (err) {
    line = err instanceof FinetuneError ? { i, outcome: 'refused', message: err.message } : { i, outcome: 'crashed', message: String((err as Error)?.stack ?? err) };
  }
  process.stdout.write(JSON.stringify(line) + '\n');
}

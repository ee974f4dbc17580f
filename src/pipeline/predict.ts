// Prediction with a saved text classifier: texts in, Hugging Face pipeline-shaped results out
// ({label, score} plus every label's score; sigmoid per label for multi-label; the value for regression).

import { readFile } from 'node:fs/promises';
import { labelNames } from '../io/hf-config.ts';
import type { ProblemType } from '../models/types.ts';
import * as F from '../tensor/index.ts';
import { DEFAULT_PIPELINE_CONFIG } from './config.ts';
import { loadClassifier, type LoadedClassifier } from './models.ts';
import { readTextDataset, textFeatures } from './text-classification.ts';
import { FeatureBatches } from '../train/batches.ts';

export interface Prediction {
  text: string;
  label: string;
  score: number;
  scores: { label: string; score: number }[];
}

function softmax(row: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Scores texts with an already loaded classifier. */
export function predictWith(c: LoadedClassifier, texts: string[], batchSize = 32): Prediction[] {
  const cfg = c.model.hfConfig;
  const problem = (cfg.problem_type as ProblemType | null) ?? 'single_label_classification';
  const names = labelNames(cfg);
  const ds = { file: '<input>', originKind: 'record' as const, steps: [], task: problem, labelled: false, examples: texts.map((text, i) => ({ text, origin: i + 1 })) };
  const batches = new FeatureBatches(textFeatures(ds, c.tokenizer, c.maxPositions, null), { batchSize, seed: 0, shuffle: false, padTokenId: c.tokenizer.padTokenId ?? 0 });
  const out: Prediction[] = [];
  c.model.eval();
  for (const { batch, indices } of batches.inOrder()) {
    F.tidy(() =>
      F.noGrad(() => {
        const logits = F.contiguous(c.model.forward(batch).logits).floatData;
        const K = logits.length / indices.length;
        indices.forEach((idx, r) => {
          const row = logits.subarray(r * K, (r + 1) * K);
          const probs = problem === 'regression' ? Array.from(row) : problem === 'multi_label_classification' ? Array.from(row, (v) => 1 / (1 + Math.exp(-v))) : softmax(row);
          const scores = probs.map((score, k) => ({ label: problem === 'regression' ? 'value' : (names[k] ?? `LABEL_${k}`), score })).sort((a, b) => b.score - a.score);
          out.push({ text: texts[idx], label: scores[0].label, score: scores[0].score, scores });
        });
      }),
    );
  }
  return out;
}

/** Loads the model folder and scores texts given directly or read from a file. */
export async function predictTexts(modelDir: string, input: { texts?: string[]; file?: string; textColumn?: string }): Promise<Prediction[]> {
  const c = await loadClassifier(modelDir, null, null, { message: (m) => process.stderr.write(`${m}\n`) });
  let texts = input.texts ?? [];
  if (input.file) {
    if (/\.txt$/i.test(input.file)) {
      texts = texts.concat((await readFile(input.file, 'utf8')).split(/\r?\n/).filter((l) => l.trim() !== ''));
    } else {
      const ds = await readTextDataset(input.file, { ...DEFAULT_PIPELINE_CONFIG, text_column: input.textColumn ?? 'text' }, 'single_label_classification', false);
      texts = texts.concat(ds.examples.map((e) => e.text));
    }
  }
  return predictWith(c, texts);
}

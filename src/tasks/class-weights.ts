// Class weights for imbalanced labels (--class-weights): "auto" is scikit-learn's "balanced" rule,
// n_samples / (n_classes * count_c), over the training split; a JSON file gives {"label": weight}.
// The weights go into the classification loss (models/heads.ts setClassWeights), as a Trainer user
// does with CrossEntropyLoss(weight=...). Not here: the loss itself.

import { readFileSync } from 'node:fs';
import type { LabelMap } from '../data/index.ts';
import { ConfigError, FileFormatError } from '../errors.ts';

/**
 * One weight per label (in label-id order) from `spec` ("auto" or a JSON file) and the training labels.
 *
 * @example
 * resolveClassWeights('auto', labelMap, ['ham', 'ham', 'ham', 'spam']); // [0.667, 2]
 */
export function resolveClassWeights(spec: string, labels: LabelMap, trainLabels: readonly string[]): number[] {
  if (spec === 'auto' || spec === 'balanced') {
    const counts = new Array<number>(labels.labels.length).fill(0);
    for (const l of trainLabels) {
      const id = labels.label2id[l];
      if (id !== undefined) counts[id]++;
    }
    const n = counts.reduce((a, b) => a + b, 0);
    const missing = labels.labels.filter((_, i) => counts[i] === 0);
    if (missing.length) throw new ConfigError('class_weights', `"auto" needs every label in the training split; none of: ${missing.join(', ')}`);
    return counts.map((c) => n / (labels.labels.length * c));
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(spec, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FileFormatError(spec, code ? `cannot read the --class-weights file (${code}); give "auto" or a JSON file {"label": weight}` : `not valid JSON (${(err as Error).message}); --class-weights takes {"label": weight}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new FileFormatError(spec, 'must be a JSON object {"label": weight, ...}');
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => labels.label2id[k] === undefined);
  if (unknown.length) throw new FileFormatError(spec, `names labels the data does not have: ${unknown.join(', ')} (labels: ${labels.labels.join(', ')})`);
  return labels.labels.map((l) => {
    const w = given[l];
    if (w === undefined) throw new FileFormatError(spec, `has no weight for label "${l}"; give one weight per label (${labels.labels.join(', ')})`);
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) throw new FileFormatError(spec, `the weight of "${l}" must be a number >= 0, got ${JSON.stringify(w)}`);
    return w;
  });
}

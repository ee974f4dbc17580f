// feature-extraction: a text (or pair) → one embedding, the mean of the last hidden states over the
// attention mask (the model's feature-extraction output), optionally L2-normalised. This equals
// transformers.js `pipeline('feature-extraction')(text, { pooling: 'mean', normalize })`; Python
// transformers' pipeline returns the unpooled (1, T, hidden) states instead. Not here: the model loop.

import { optBool, parseParamsObject } from '../parse.ts';
import type { RowOutput, TaskHandler } from '../types.ts';
import { encodeTextOrPair, parseTextOrPair, type TextOrPair } from './text-classification.ts';

export interface FeatureExtractionParams {
  /** Divide the embedding by its L2 norm (default false). */
  normalize: boolean;
}

export const featureExtraction: TaskHandler<TextOrPair, FeatureExtractionParams, number[]> = {
  task: 'feature-extraction',
  parseItem: parseTextOrPair,
  parseParams(value: unknown): FeatureExtractionParams {
    return { normalize: optBool(parseParamsObject(value, ['normalize']), 'normalize', false) };
  },
  preprocess(item, _params, ctx) {
    return { rows: [encodeTextOrPair(item, ctx)], extra: null };
  },
  postprocess(_item, params, _rows, outputs: RowOutput[]): number[] {
    const v = Array.from(outputs[0]!.logits);
    if (!params.normalize) return v;
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    return norm > 0 ? v.map((x) => x / norm) : v;
  },
};

// text-classification: one text or a text pair → {label, score} plus every label's score, as
// transformers' TextClassificationPipeline with top_k=None: softmax for single-label, sigmoid for
// multi-label (or one output), the raw value for regression. Not here: the model loop (pipeline.ts).

import type { EncodeResult } from '../../tokenizers/index.ts';
import { classify, defaultClassificationFunction, type ClassificationFunction, type ClassificationResult } from '../postprocess.ts';
import { isRecord, optEnum, optInt, parseObject, parseParamsObject, parseText } from '../parse.ts';
import type { PipelineContext, RowOutput, TaskHandler } from '../types.ts';

/** A text, or a pair (e.g. premise/hypothesis) encoded as `[CLS] text [SEP] text_pair [SEP]`. */
export type TextOrPair = string | { text: string; text_pair?: string };

export interface TextClassificationParams {
  /** Default: by problem_type (see defaultClassificationFunction). */
  function_to_apply: ClassificationFunction;
  /** How many entries `scores` keeps (default: all labels). */
  top_k: number;
}

/** Parses a text or `{text, text_pair}`; shared with feature-extraction. */
export function parseTextOrPair(value: unknown, field: string, ctx: PipelineContext): TextOrPair {
  if (!isRecord(value)) return parseText(value, field, ctx);
  const o = parseObject(value, field, ['text', 'text_pair'], ['text']);
  const text = parseText(o['text'], `${field}.text`, ctx);
  return o['text_pair'] === undefined ? { text } : { text, text_pair: parseText(o['text_pair'], `${field}.text_pair`, ctx) };
}

/** Encodes a text or pair truncated to the model's length (longest_first, as transformers' truncation=True). */
export function encodeTextOrPair(item: TextOrPair, ctx: PipelineContext): EncodeResult {
  const [a, b] = typeof item === 'string' ? [item, null] : [item.text, item.text_pair ?? null];
  return ctx.tokenizer.encode(a, b, { truncation: 'longest_first', maxLength: ctx.maxLength });
}

export const textClassification: TaskHandler<TextOrPair, TextClassificationParams, ClassificationResult> = {
  task: 'text-classification',
  parseItem: parseTextOrPair,
  parseParams(value: unknown, ctx: PipelineContext): TextClassificationParams {
    const o = parseParamsObject(value, ['function_to_apply', 'top_k']);
    return {
      function_to_apply: optEnum(o, 'function_to_apply', ['softmax', 'sigmoid', 'none'], defaultClassificationFunction(ctx.problemType, ctx.numLabels)),
      top_k: optInt(o, 'top_k', ctx.numLabels, 1, ctx.numLabels),
    };
  },
  preprocess(item: TextOrPair, _params: TextClassificationParams, ctx: PipelineContext) {
    return { rows: [encodeTextOrPair(item, ctx)], extra: null };
  },
  postprocess(_item, params, _rows, outputs: RowOutput[], _extra, ctx): ClassificationResult {
    const r = classify(outputs[0]!.logits, ctx.id2label, params.function_to_apply);
    return { ...r, scores: r.scores.slice(0, params.top_k) };
  },
};

// token-classification (NER, POS): a text → entities with character spans, as transformers'
// TokenClassificationPipeline: per-token softmax, special tokens dropped, optional aggregation of
// sub-words and B-/I- groups ("simple", "first", "average", "max"), labels in ignore_labels dropped.
// start/end are code-point offsets into the text (Python string indices). Not here: the model loop.

import type { Tokenizer } from '../../tokenizers/index.ts';
import { codePoints } from '../../tokenizers/unicode.ts';
import {
  AGGREGATION_STRATEGIES,
  aggregateEntities,
  gatherPreEntities,
  softmax,
  type AggregationStrategy,
  type GroupedEntity,
  type TokenEntity,
} from '../postprocess.ts';
import { optEnum, optStringList, parseParamsObject, parseText } from '../parse.ts';
import type { PipelineContext, RowOutput, TaskHandler } from '../types.ts';

export interface TokenClassificationParams {
  /** Default "none" (one entity per token), as transformers. */
  aggregation_strategy: AggregationStrategy;
  /** Entity labels left out of the result (default ["O"]). */
  ignore_labels: string[];
}

/** transformers' convert_tokens_to_string for fast tokenizers: the decoder applied to token strings. */
export function tokensToString(tok: Tokenizer, tokens: string[]): string {
  return tok.decoder ? tok.decoder.decodeChain(tokens).join('') : tokens.join(' ');
}

/** Whether the tokenizer model marks word continuations (WordPiece "##"), as transformers checks. */
export function hasSubwordPrefix(tok: Tokenizer): boolean {
  const m = tok.json['model'];
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  const prefix = m['continuing_subword_prefix'];
  if (typeof prefix === 'string') return prefix !== '';
  return prefix === undefined && m['type'] === 'WordPiece'; // WordPiece's default prefix is "##"
}

export const tokenClassification: TaskHandler<string, TokenClassificationParams, TokenEntity[] | GroupedEntity[]> = {
  task: 'token-classification',
  parseItem: (value, field, ctx) => parseText(value, field, ctx),
  parseParams(value: unknown): TokenClassificationParams {
    const o = parseParamsObject(value, ['aggregation_strategy', 'ignore_labels']);
    return {
      aggregation_strategy: optEnum(o, 'aggregation_strategy', AGGREGATION_STRATEGIES, 'none'),
      ignore_labels: optStringList(o, 'ignore_labels', ['O']),
    };
  },
  preprocess(item: string, _params, ctx: PipelineContext) {
    return { rows: [ctx.tokenizer.encode(item, null, { truncation: true, maxLength: ctx.maxLength })], extra: null };
  },
  postprocess(item, params, rows, outputs: RowOutput[], _extra, ctx): TokenEntity[] | GroupedEntity[] {
    const row = rows[0]!;
    const out = outputs[0]!;
    const scores = Array.from({ length: out.length }, (_, t) => softmax(out.logits.subarray(t * out.width, (t + 1) * out.width)));
    const tok = ctx.tokenizer;
    const pre = gatherPreEntities(codePoints(item), row, scores, { hasSubwordPrefix: hasSubwordPrefix(tok), unkTokenId: tok.unkTokenId });
    const entities = aggregateEntities(pre, params.aggregation_strategy, ctx.id2label, (t) => tokensToString(tok, t));
    const ignored = new Set(params.ignore_labels);
    return (entities as Array<TokenEntity | GroupedEntity>).filter((e) => !ignored.has('entity' in e ? e.entity : e.entity_group)) as
      TokenEntity[] | GroupedEntity[];
  },
};

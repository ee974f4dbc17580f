// fill-mask: a text with the tokenizer's mask token ([MASK], <mask>) → the top_k fillers per mask,
// {score, token, token_str, sequence}, as transformers' FillMaskPipeline (a list per mask when the text
// has several). Not here: the model loop (pipeline.ts).

import { topK } from '../postprocess.ts';
import { optInt, parseParamsObject, parseText } from '../parse.ts';
import { PipelineInputError, type PipelineContext, type RowOutput, type TaskHandler } from '../types.ts';

export interface FillMaskParams {
  /** Candidates per mask (default 5). */
  top_k: number;
}

export interface FillMaskCandidate {
  score: number;
  token: number;
  token_str: string;
  sequence: string;
}

export const fillMask: TaskHandler<string, FillMaskParams, FillMaskCandidate[] | FillMaskCandidate[][]> = {
  task: 'fill-mask',
  parseItem: (value, field, ctx) => parseText(value, field, ctx),
  parseParams(value: unknown, ctx: PipelineContext): FillMaskParams {
    const o = parseParamsObject(value, ['top_k']);
    return { top_k: optInt(o, 'top_k', 5, 1, ctx.tokenizer.vocabSize) };
  },
  preprocess(item: string, _params, ctx: PipelineContext, field: string) {
    const tok = ctx.tokenizer;
    const maskId = tok.maskTokenId;
    if (maskId === null) throw new PipelineInputError(field, 'this tokenizer has no mask token, so the model cannot fill masks');
    const enc = tok.encode(item, null, { truncation: true, maxLength: ctx.maxLength });
    if (!enc.ids.includes(maskId)) {
      throw new PipelineInputError(field, `no mask token (${tok.idToToken(maskId)}) found in the text (after truncation to ${ctx.maxLength} tokens)`);
    }
    return { rows: [enc], extra: null };
  },
  postprocess(_item, params, rows, outputs: RowOutput[], _extra, ctx): FillMaskCandidate[] | FillMaskCandidate[][] {
    const tok = ctx.tokenizer;
    const enc = rows[0]!;
    const out = outputs[0]!;
    const maskId = tok.maskTokenId!;
    const positions = enc.ids.flatMap((id, i) => (id === maskId ? [i] : []));
    const single = positions.length === 1;
    const perMask = positions.map((p) =>
      topK(out.logits.subarray(p * out.width, (p + 1) * out.width), params.top_k).map(({ index, score }) => {
        const ids = enc.ids.slice();
        ids[p] = index;
        const kept = ids.filter((id) => id !== tok.padTokenId);
        return { score, token: index, token_str: tok.decode([index]), sequence: tok.decode(kept, { skipSpecialTokens: single }) };
      }),
    );
    return single ? perMask[0]! : perMask;
  },
};

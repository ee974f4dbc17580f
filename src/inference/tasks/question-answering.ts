// question-answering (extractive): {question, context} → {score, start, end, answer}, as transformers'
// QuestionAnsweringPipeline: the context is split into windows (max_seq_len, doc_stride), each window's
// start/end logits are masked to the context, softmaxed, and the best spans (≤ max_answer_len tokens)
// are mapped back to character spans (whole words by default). start/end are code-point offsets into
// the context. Not here: the model loop (pipeline.ts).

import type { EncodeResult } from '../../tokenizers/index.ts';
import { charSlice } from '../../tokenizers/index.ts';
import { selectSpans } from '../postprocess.ts';
import { optBool, optInt, parseObject, parseParamsObject, parseText } from '../parse.ts';
import { PipelineInputError, type PipelineContext, type RowOutput, type TaskHandler } from '../types.ts';

export interface QaInput {
  question: string;
  context: string;
}

export interface QaParams {
  /** Answers returned (default 1: a single object; more: a list, best first). */
  top_k: number;
  /** Longest answer in tokens (default 15). */
  max_answer_len: number;
  /** Tokens per window, question and special tokens included (default min(384, model max)). */
  max_seq_len: number;
  /** Tokens shared by consecutive windows (default min(max_seq_len / 2, 128)). */
  doc_stride: number;
  /** Also consider "no answer" (score of the CLS span) (default false). */
  handle_impossible_answer: boolean;
  /** Extend answers to whole words (default true). */
  align_to_words: boolean;
}

/** One answer, as transformers returns it. */
export interface QaAnswer {
  score: number;
  start: number;
  end: number;
  answer: string;
}

/** Character span of the word holding token `t` in sequence 1 of `enc` (transformers' word_to_chars). */
function wordSpan(enc: EncodeResult, t: number): [number, number] | null {
  const w = enc.wordIds[t];
  if (w === null || w === undefined) return null;
  let s = Infinity;
  let e = -Infinity;
  for (let i = 0; i < enc.ids.length; i++) {
    if (enc.wordIds[i] === w && enc.sequenceIds[i] === 1) {
      s = Math.min(s, enc.offsets[i]![0]);
      e = Math.max(e, enc.offsets[i]![1]);
    }
  }
  return s === Infinity ? null : [s, e];
}

export const questionAnswering: TaskHandler<QaInput, QaParams, QaAnswer | QaAnswer[]> = {
  task: 'question-answering',
  parseItem(value: unknown, field: string, ctx: PipelineContext): QaInput {
    const o = parseObject(value, field, ['question', 'context'], ['question', 'context']);
    return { question: parseText(o['question'], `${field}.question`, ctx), context: parseText(o['context'], `${field}.context`, ctx) };
  },
  parseParams(value: unknown, ctx: PipelineContext): QaParams {
    const o = parseParamsObject(value, ['top_k', 'max_answer_len', 'max_seq_len', 'doc_stride', 'handle_impossible_answer', 'align_to_words']);
    const maxSeqLen = optInt(o, 'max_seq_len', Math.min(384, ctx.maxLength), 8, ctx.maxLength);
    return {
      top_k: optInt(o, 'top_k', 1, 1, 100),
      max_answer_len: optInt(o, 'max_answer_len', 15, 1, 512),
      max_seq_len: maxSeqLen,
      doc_stride: optInt(o, 'doc_stride', Math.min(Math.floor(maxSeqLen / 2), 128), 0, maxSeqLen - 1),
      handle_impossible_answer: optBool(o, 'handle_impossible_answer', false),
      align_to_words: optBool(o, 'align_to_words', true),
    };
  },
  preprocess(item: QaInput, params: QaParams, ctx: PipelineContext, field: string) {
    const tok = ctx.tokenizer;
    const question = tok.encode(item.question, null, { addSpecialTokens: false });
    // Room left for the context in each window: the window minus the question and the special tokens.
    const special = tok.encode('a', 'b').ids.length - tok.encode('a', null, { addSpecialTokens: false }).ids.length - tok.encode('b', null, { addSpecialTokens: false }).ids.length;
    const room = params.max_seq_len - question.ids.length - special;
    if (room <= params.doc_stride) {
      throw new PipelineInputError(`${field}.question`, `the question is ${question.ids.length} tokens, leaving ${room} tokens per window for the context, ` +
        `which must exceed doc_stride (${params.doc_stride}); shorten the question or lower parameters.doc_stride`);
    }
    let enc: EncodeResult;
    try {
      enc = tok.encode(item.question, item.context, { truncation: 'only_second', maxLength: params.max_seq_len, stride: params.doc_stride });
    } catch (err) {
      throw new PipelineInputError(`${field}`, `could not split the context into windows: ${(err as Error).message}`);
    }
    const { overflowing, ...first } = enc;
    return { rows: [first, ...(overflowing ?? [])], extra: null };
  },
  postprocess(item, params, rows, outputs: RowOutput[], _extra, ctx): QaAnswer | QaAnswer[] {
    const clsId = ctx.tokenizer.clsTokenId;
    const answers: QaAnswer[] = [];
    let minNull = 1e6;
    rows.forEach((enc, r) => {
      const out = outputs[r]!;
      const contextMask = enc.sequenceIds.map((s) => s === 1);
      const clsIndex = clsId === null ? null : enc.ids.indexOf(clsId);
      const { spans, nullScore } = selectSpans(out.startLogits!, out.endLogits!, contextMask, {
        topK: params.top_k,
        maxAnswerLen: params.max_answer_len,
        unmaskIndex: clsIndex !== null && clsIndex >= 0 ? clsIndex : null,
      });
      if (params.handle_impossible_answer) minNull = Math.min(minNull, nullScore);
      for (const s of spans) {
        let start = enc.offsets[s.start]![0];
        let end = enc.offsets[s.end]![1];
        if (params.align_to_words) {
          const ws = wordSpan(enc, s.start);
          const we = wordSpan(enc, s.end);
          if (ws && we) [start, end] = [ws[0], we[1]];
        }
        answers.push({ score: s.score, start, end, answer: charSlice(item.context, start, end) });
      }
    });
    if (params.handle_impossible_answer) answers.push({ score: minNull, start: 0, end: 0, answer: '' });
    answers.sort((a, b) => b.score - a.score);
    const top = answers.slice(0, params.top_k);
    return params.top_k === 1 ? (top[0] ?? { score: 0, start: 0, end: 0, answer: '' }) : top;
  },
};

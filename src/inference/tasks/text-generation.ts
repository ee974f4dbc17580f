// text-generation: a prompt (text) or a chat (a list of {role, content} messages, rendered with the
// tokenizer's chat template) → [{generated_text, finish_reason}], as transformers' TextGenerationPipeline.
// Validates the request parameters (max_new_tokens within the server's limit and the model's positions,
// sampling settings, seed, stop strings, return_full_text) and runs src/generate's textGenerationBatch.
// Not here: the decoding loop, KV cache and sampling (src/generate/), threads and HTTP (src/serve/).

import { randomInt } from 'node:crypto';
import { FinetuneError } from '../../errors.ts';
import { textGenerationBatch, type TextGenerationInput, type TextGenerationOptions, type TextGenerationOutput } from '../text-generation.ts';
import type { ChatMessage } from '../../tokenizers/tokenizer.ts';
import { describeValue, isRecord, optBool, optNumber, optStrings, parseObject, parseParamsObject, parseText } from '../parse.ts';
import { PipelineInputError, type GenerationTaskHandler, type PipelineContext } from '../types.ts';

/** New tokens when neither the request nor generation_config.json says (bounded by the server's limit). */
export const DEFAULT_MAX_NEW_TOKENS = 100;

/** Parameters of a text-generation request (transformers' / TGI's names). */
export interface TextGenerationParams {
  /** New tokens at most. Absent: generation_config.json's max_new_tokens, else 100; either way within the server's limit and the model's positions. */
  max_new_tokens: number | null;
  /** Sample instead of taking the most likely token. Default: true when temperature, top_k or top_p is given, else generation_config.json's do_sample, else false. */
  do_sample: boolean;
  /** > 0 (default: generation_config.json's, else 1). */
  temperature: number | null;
  /** 0 disables (default: generation_config.json's, else 50). */
  top_k: number | null;
  /** In (0, 1] (default: generation_config.json's, else 1). */
  top_p: number | null;
  /** > 1 discourages repeating tokens (default 1). Applies to greedy decoding too. */
  repetition_penalty: number | null;
  /** Sampling seed: the same seed, prompt and settings give the same text. Default: a random one per request. */
  seed: number | null;
  /** Stop strings: a row ends once its continuation contains one (kept in the text, as transformers). */
  stop: string[];
  /** The prompt followed by the continuation (default true), or only the continuation. */
  return_full_text: boolean;
}

const PARAMS = ['max_new_tokens', 'do_sample', 'temperature', 'top_k', 'top_p', 'repetition_penalty', 'seed', 'stop', 'return_full_text'] as const;
const SAMPLING_PARAMS = ['temperature', 'top_k', 'top_p'] as const;

/** A chat message has a role (any string) and a content string; other keys are refused. */
function parseChat(value: unknown[], field: string, ctx: PipelineContext): ChatMessage[] {
  if (value.length === 0) throw new PipelineInputError(field, 'the chat has no messages; send [{"role": "user", "content": "..."}]');
  if (!ctx.tokenizer.config.chatTemplate) {
    throw new PipelineInputError(field, 'this model\'s tokenizer has no chat template, so chat messages cannot be rendered; send the prompt as text ' +
      '(or add "chat_template" to tokenizer_config.json)');
  }
  return value.map((m, i) => {
    const f = `${field}[${i}]`;
    const o = parseObject(m, f, ['role', 'content'], ['role', 'content']);
    const role = o['role'];
    if (typeof role !== 'string' || role.trim() === '') throw new PipelineInputError(`${f}.role`, `expected a role name such as "user", got ${describeValue(role)}`);
    return { role, content: parseText(o['content'], `${f}.content`, ctx, true) };
  });
}

/** The prompt's token ids exactly as textGenerationBatch encodes them (text: with special tokens; chat: rendered, without). */
function promptIds(item: TextGenerationInput, ctx: PipelineContext, field: string): number[] {
  const tok = ctx.tokenizer;
  if (typeof item === 'string') return tok.encode(item, null, { addSpecialTokens: true }).ids;
  let rendered: string;
  try {
    rendered = tok.applyChatTemplate(item, { addGenerationPrompt: true });
  } catch (err) {
    if (err instanceof FinetuneError) throw new PipelineInputError(field, `${err.message}; check the roles and order of the messages`);
    throw err;
  }
  return tok.encode(rendered, null, { addSpecialTokens: false }).ids;
}

/** The settings textGenerationBatch takes, from resolved parameters. */
export function textGenerationOptions(params: TextGenerationParams, ctx: PipelineContext, deadline?: number): TextGenerationOptions {
  const opts: TextGenerationOptions = {
    generationConfig: ctx.generationConfig,
    maxNewTokens: params.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS,
    doSample: params.do_sample,
    seed: params.seed ?? (params.do_sample ? randomInt(2 ** 31 - 1) : 0),
    stopStrings: params.stop,
    returnFullText: params.return_full_text,
  };
  if (params.temperature !== null) opts.temperature = params.temperature;
  if (params.top_k !== null) opts.topK = params.top_k;
  if (params.top_p !== null) opts.topP = params.top_p;
  if (params.repetition_penalty !== null) opts.repetitionPenalty = params.repetition_penalty;
  // Past the deadline every row stops at its next token (the server has already answered 504).
  if (deadline !== undefined) opts.shouldStop = () => Date.now() >= deadline;
  return opts;
}

export const textGeneration: GenerationTaskHandler<TextGenerationInput, TextGenerationParams, TextGenerationOutput[]> = {
  task: 'text-generation',
  kind: 'generation',
  // transformers: a list of {role, content} dicts is one chat, not a batch of items.
  isOneItem: (inputs) => inputs.length > 0 && inputs.every((m) => isRecord(m) && 'role' in m),
  parseItem(value: unknown, field: string, ctx: PipelineContext): TextGenerationInput {
    if (typeof value === 'string') return parseText(value, field, ctx, true);
    if (Array.isArray(value)) return parseChat(value, field, ctx);
    if (isRecord(value) && 'role' in value) throw new PipelineInputError(field, 'a single message: send a chat as a list of messages, [{"role": "user", "content": "..."}]');
    throw new PipelineInputError(field, `expected a prompt string or a chat (a list of {"role", "content"} messages), got ${describeValue(value)}`);
  },
  parseParams(value: unknown, ctx: PipelineContext): TextGenerationParams {
    const o = parseParamsObject(value, PARAMS);
    let maxNew: number | null = null;
    if (o['max_new_tokens'] !== undefined && o['max_new_tokens'] !== null) {
      const v = o['max_new_tokens'];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > ctx.maxNewTokens) {
        throw new PipelineInputError('parameters.max_new_tokens', `expected an integer from 1 to ${ctx.maxNewTokens} (the limit set by the maxNewTokens option), got ${describeValue(v)}`);
      }
      maxNew = v;
    }
    const topK = optNumber(o, 'top_k', { min: 0, max: 1_000_000 });
    if (topK !== undefined && !Number.isInteger(topK)) throw new PipelineInputError('parameters.top_k', `expected a whole number (0 disables), got ${topK}`);
    const seed = optNumber(o, 'seed', { min: 0, max: 2 ** 32 - 1 });
    if (seed !== undefined && !Number.isInteger(seed)) throw new PipelineInputError('parameters.seed', `expected a whole number, got ${seed}`);
    const samplingGiven = SAMPLING_PARAMS.filter((k) => o[k] !== undefined && o[k] !== null);
    const explicitSample = o['do_sample'] === undefined || o['do_sample'] === null ? null : optBool(o, 'do_sample', false);
    if (explicitSample === false && samplingGiven.length > 0) {
      throw new PipelineInputError('parameters.do_sample', `is false (greedy decoding), so ${samplingGiven.join(', ')} would do nothing; drop them or set do_sample to true`);
    }
    const configSample = typeof ctx.generationConfig?.do_sample === 'boolean' ? ctx.generationConfig.do_sample : false;
    return {
      max_new_tokens: maxNew,
      do_sample: explicitSample ?? (samplingGiven.length > 0 ? true : configSample),
      temperature: optNumber(o, 'temperature', { min: 0, max: 100, minExclusive: true }) ?? null,
      top_k: topK ?? null,
      top_p: optNumber(o, 'top_p', { min: 0, max: 1, minExclusive: true }) ?? null,
      repetition_penalty: optNumber(o, 'repetition_penalty', { min: 0, max: 100, minExclusive: true }) ?? null,
      seed: seed ?? null,
      stop: optStrings(o, 'stop', { maxCount: 16, maxChars: 1000 }),
      return_full_text: optBool(o, 'return_full_text', true),
    };
  },
  check(items, params, ctx, fields): TextGenerationParams {
    let longest = 0;
    let longestField = fields[0] ?? 'inputs';
    items.forEach((item, i) => {
      const n = promptIds(item, ctx, fields[i]!).length;
      if (n === 0) {
        throw new PipelineInputError(fields[i]!, 'the prompt encodes to no tokens and this tokenizer adds no BOS token; send some text to continue');
      }
      if (n > longest) [longest, longestField] = [n, fields[i]!];
    });
    const room = ctx.maxLength - longest;
    if (room < 1) {
      throw new PipelineInputError(longestField, `the prompt is ${longest} tokens and the model takes at most ${ctx.maxLength} positions, leaving no room for new tokens; shorten it`);
    }
    if (params.max_new_tokens !== null && params.max_new_tokens > room) {
      throw new PipelineInputError('parameters.max_new_tokens', `${params.max_new_tokens} new tokens after a ${longest}-token prompt (${longestField}) exceed the model's ` +
        `${ctx.maxLength} positions; ask for at most ${room}`);
    }
    const configured = ctx.generationConfig?.max_new_tokens;
    const dflt = typeof configured === 'number' && configured >= 1 ? configured : DEFAULT_MAX_NEW_TOKENS;
    return { ...params, max_new_tokens: params.max_new_tokens ?? Math.min(dflt, ctx.maxNewTokens, room) };
  },
  run(model, job, ctx, options): TextGenerationOutput[][] {
    return textGenerationBatch(model, ctx.tokenizer, job.items, textGenerationOptions(job.params, ctx, options.deadline));
  },
};

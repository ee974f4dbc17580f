// The `text-generation` task as transformers' TextGenerationPipeline presents it: text or chat messages
// in, `[{ generated_text }]` out (the prompt plus its continuation by default; for chats, the messages
// plus the assistant's reply), with generation_config.json defaults, stop tokens and stop strings.
// Not here: the decoding loop (generate.ts), HTTP serving (src/serve).

import { ConfigError } from '../errors.ts';
import type { GenerationConfigJson } from '../models/hf-config.ts';
import type { ChatMessage } from '../tokenizers/tokenizer.ts';
import type { CausalLM } from '../models/decoder.ts';
import { generate, type GenerateOptions, type FinishReason } from '../generate/generate.ts';

/** The tokenizer calls text generation needs (the Tokenizer class has them). */
export interface GenerationTokenizer {
  encode(text: string, pair: null, opts: { addSpecialTokens?: boolean }): { ids: number[] };
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean }): string;
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean }): string;
  readonly eosTokenId: number | null;
}

export interface TextGenerationOptions extends GenerateOptions {
  /** Return the prompt followed by the continuation (default true, as transformers); false: only the continuation. */
  returnFullText?: boolean;
  /** Stop a row once its continuation contains one of these strings (kept in the output, as transformers). */
  stopStrings?: readonly string[];
  /** Defaults from the model folder's generation_config.json, overridden by the options above. */
  generationConfig?: GenerationConfigJson | null;
}

/** A prompt: text, or a chat (rendered with the tokenizer's chat template and a generation prompt). */
export type TextGenerationInput = string | ChatMessage[];

/** transformers' output shape. For a chat input, generated_text is the chat with the reply appended. */
export interface TextGenerationOutput {
  generated_text: string | ChatMessage[];
  /** Why generation ended: a stop token/string, or max_new_tokens. */
  finish_reason: FinishReason;
}

function ids(v: number | number[] | null | undefined): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) ? v : [v];
}

/**
 * GenerateOptions from generation_config.json fields (transformers' GenerationConfig names).
 * @example generationDefaults({ do_sample: true, temperature: 0.6, top_p: 0.9, eos_token_id: [128001, 128009] })
 */
export function generationDefaults(g: GenerationConfigJson | null | undefined): GenerateOptions {
  if (!g) return {};
  const out: GenerateOptions = {};
  if (typeof g.do_sample === 'boolean') out.doSample = g.do_sample;
  if (typeof g.temperature === 'number') out.temperature = g.temperature;
  if (typeof g.top_k === 'number') out.topK = g.top_k;
  if (typeof g.top_p === 'number') out.topP = g.top_p;
  if (typeof g['repetition_penalty'] === 'number') out.repetitionPenalty = g['repetition_penalty'];
  if (typeof g.max_new_tokens === 'number') out.maxNewTokens = g.max_new_tokens;
  const eos = ids(g.eos_token_id);
  if (eos) out.stopTokenIds = eos;
  const pad = ids(g.pad_token_id);
  if (pad) out.padTokenId = pad[0];
  return out;
}

/**
 * Generates continuations (transformers' `pipeline('text-generation')`).
 * @example
 * const [out] = textGeneration(model, tok, 'Once upon a time', { maxNewTokens: 40 });
 * out.generated_text; // 'Once upon a time, there was a little girl...'
 * textGeneration(model, tok, [{ role: 'user', content: 'Hi!' }], { doSample: true, temperature: 0.7, seed: 1 });
 */
export function textGeneration(
  model: CausalLM,
  tok: GenerationTokenizer,
  input: TextGenerationInput,
  options: TextGenerationOptions = {},
): TextGenerationOutput[] {
  return textGenerationBatch(model, tok, [input], options)[0];
}

/** textGeneration over several prompts at once (left-padded into one batch). One output list per prompt. */
export function textGenerationBatch(
  model: CausalLM,
  tok: GenerationTokenizer,
  inputs: readonly TextGenerationInput[],
  options: TextGenerationOptions = {},
): TextGenerationOutput[][] {
  const { returnFullText = true, stopStrings = [], generationConfig, ...rest } = options;
  if (stopStrings.some((s) => s === '')) throw new ConfigError('stop_strings', 'stop strings must not be empty');
  const opts: GenerateOptions = { ...generationDefaults(generationConfig), ...rest };
  const prompts = inputs.map((input) =>
    typeof input === 'string'
      ? { text: input, ids: tok.encode(input, null, { addSpecialTokens: true }).ids }
      : { text: null, ids: tok.encode(tok.applyChatTemplate(input, { addGenerationPrompt: true }), null, { addSpecialTokens: false }).ids },
  );
  const promptTexts = prompts.map((p) => tok.decode(p.ids, { skipSpecialTokens: true }));
  const continuation = (row: number, generated: readonly number[]): string =>
    tok.decode([...prompts[row].ids, ...generated], { skipSpecialTokens: true }).slice(promptTexts[row].length);
  const shouldStop = stopStrings.length === 0
    ? opts.shouldStop
    : (row: number, generated: readonly number[]) => (opts.shouldStop?.(row, generated) ?? false) || stopStrings.some((s) => continuation(row, generated).includes(s));
  const result = generate(model, prompts.map((p) => p.ids), { ...opts, ...(shouldStop ? { shouldStop } : {}) });
  return inputs.map((input, row) => {
    const text = continuation(row, result.tokens[row]);
    const finish_reason = result.finishReason[row];
    if (typeof input !== 'string') {
      return [{ generated_text: returnFullText ? [...input, { role: 'assistant', content: text }] : [{ role: 'assistant', content: text }], finish_reason }];
    }
    return [{ generated_text: returnFullText ? input + text : text, finish_reason }];
  });
}

// `finetune generate`: continue text prompts or a chat with a GPT-2/Llama-family model folder, optionally
// with a LoRA adapter on top; greedy or sampled (temperature, top-k, top-p), repetition penalty, stop
// strings, a seed; the continuation streams to stdout as it is produced (or one JSON line per input).
// A thin shell over loadCausalLm (src/tasks/text-generation.ts) and textGeneration (src/inference/text-generation.ts).

import type { Command } from 'commander';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, FileFormatError } from '../errors.ts';
import { generationDefaults, textGeneration, type GenerationTokenizer, type TextGenerationInput, type TextGenerationOptions } from '../inference/text-generation.ts';
import { loadCausalLm } from '../tasks/text-generation.ts';
import type { ChatMessage } from '../tokenizers/tokenizer.ts';

interface GenerateOpts {
  model: string;
  adapter?: string;
  prompt?: string[];
  chat?: string;
  maxNewTokens?: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  stop?: string[];
  seed?: string;
  greedy?: boolean;
  json?: boolean;
  chatTemplate?: string;
}

/** The longest sequence (prompt + continuation) the model's position table covers. */
export function contextLength(hfConfig: object, fallback: number): number {
  const c = hfConfig as Record<string, unknown>;
  for (const k of ['max_position_embeddings', 'n_positions', 'n_ctx']) if (typeof c[k] === 'number' && (c[k] as number) > 0) return c[k] as number;
  return fallback;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function num(key: string, flag: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new ConfigError(key, `${flag} must be ${integer ? 'a whole number' : 'a number'}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/**
 * Reads a chat for --chat: a JSON list of {"role", "content"} messages, or an object with "messages".
 * @example readChatFile('chat.json'); // [{ role: 'user', content: 'Tell me a story' }]
 */
export function readChatFile(file: string): ChatMessage[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FileFormatError(file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, undefined, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(file, `not valid JSON (${(err as Error).message}); --chat takes [{"role": "user", "content": "..."}, ...]`, undefined, { cause: err });
  }
  const list = Array.isArray(value) ? value : value !== null && typeof value === 'object' ? (value as { messages?: unknown }).messages : undefined;
  if (!Array.isArray(list) || list.length === 0) {
    throw new FileFormatError(file, 'must hold a non-empty list of messages, [{"role": "user", "content": "..."}], or {"messages": [...]}');
  }
  return list.map((m: unknown, i) => {
    const o = m as { role?: unknown; content?: unknown } | null;
    if (o === null || typeof o !== 'object' || typeof o.role !== 'string' || typeof o.content !== 'string') {
      throw new FileFormatError(file, `message ${i} must be an object with string "role" and "content", got ${JSON.stringify(m)}`);
    }
    return { role: o.role, content: o.content };
  });
}

/** The prompt's token ids exactly as textGeneration encodes them (so the streamed text matches its output). */
function promptIds(tok: GenerationTokenizer, input: TextGenerationInput): number[] {
  return typeof input === 'string'
    ? tok.encode(input, null, { addSpecialTokens: true }).ids
    : tok.encode(tok.applyChatTemplate(input, { addGenerationPrompt: true }), null, { addSpecialTokens: false }).ids;
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('continue text (or reply to a chat) with a GPT-2/Llama-family model, optionally with a LoRA adapter')
    .requiredOption('--model <dir|id>', 'a model folder (or a LoRA adapter folder: its base model is read from adapter_config.json)')
    .option('--adapter <dir>', 'a LoRA adapter folder (PEFT layout) to apply on top of --model')
    .option('--prompt <text>', 'text to continue; repeat for several (default: one empty prompt, i.e. start from BOS)', collect)
    .option('--chat <file>', 'a JSON file with [{"role": "user", "content": "..."}, ...], rendered with the chat template')
    .option('--max-new-tokens <n>', 'most tokens to add (default: generation_config.json, else 100)')
    .option('--temperature <t>', 'sample with this temperature (> 0; 0 means greedy, as --greedy)')
    .option('--top-k <k>', 'sample from the k most likely tokens (0 disables; default 50 when sampling)')
    .option('--top-p <p>', 'sample from the smallest set of tokens with this much probability (0 < p <= 1)')
    .option('--repetition-penalty <r>', 'discourage tokens already present (> 1 penalises; default 1)')
    .option('--stop <text>', 'stop once the continuation contains this text (kept in the output); repeatable', collect)
    .option('--seed <n>', 'sampling seed (default: random, printed so the run can be repeated)')
    .option('--greedy', 'always take the most likely token (deterministic)')
    .option('--json', 'print one JSON line per input ({prompt, generated_text, finish_reason}) instead of streaming text')
    .option('--chat-template <file>', 'a Jinja chat template file for --chat (default: the tokenizer\'s chat_template)')
    .addHelpText(
      'after',
      `
Sampling is used when --temperature, --top-k or --top-p is given (or generation_config.json says do_sample);
otherwise decoding is greedy (--temperature 0 is greedy too). Text prompts print as prompt + continuation; a
chat prints the reply. Generation stops at the model's context length (max_position_embeddings) with a note.

Examples:
  $ finetune generate --model ./stories260K --greedy --max-new-tokens 60        # from BOS
  $ finetune generate --model ./stories260K --adapter stories-lora --prompt "Once upon a time" --temperature 0.8 --top-p 0.95 --seed 7
  $ finetune generate --model stories-lora --prompt "Lily saw a dog" --stop "." --json
  $ finetune generate --model ./chat-model --chat conversation.json --max-new-tokens 200
`,
    )
    .action(async (o: GenerateOpts) => {
      const t = num('temperature', '--temperature', o.temperature, false);
      if (t !== undefined && t < 0) throw new ConfigError('temperature', `--temperature must be >= 0 (0 means greedy), got ${t}`);
      const greedyByTemperature = t === 0; // transformers users write temperature 0 for greedy decoding
      const temperature = greedyByTemperature ? undefined : t;
      const topK = num('top_k', '--top-k', o.topK, true);
      const topP = num('top_p', '--top-p', o.topP, false);
      const repetitionPenalty = num('repetition_penalty', '--repetition-penalty', o.repetitionPenalty, false);
      const maxNewTokens = num('max_new_tokens', '--max-new-tokens', o.maxNewTokens, true);
      let seed = num('seed', '--seed', o.seed, true);
      const samplingFlags = [['--temperature', temperature], ['--top-k', topK], ['--top-p', topP]].filter(([, v]) => v !== undefined).map(([f]) => f);
      if (o.greedy && samplingFlags.length) {
        throw new ConfigError('greedy', `--greedy takes the most likely token, so ${samplingFlags.join(', ')} would do nothing; drop one or the other`);
      }

      const log = (m: string): void => void process.stderr.write(`${m}\n`);
      const loaded = await loadCausalLm(o.model, { adapter: o.adapter ?? null }, { message: log });
      log(`model: ${loaded.description}`);
      const defaults = generationDefaults(loaded.generationConfig);
      if (greedyByTemperature && (topK !== undefined || topP !== undefined)) {
        throw new ConfigError('temperature', '--temperature 0 means greedy decoding, so --top-k and --top-p would do nothing; drop one or the other');
      }
      const doSample = o.greedy || greedyByTemperature ? false : samplingFlags.length > 0 ? true : (defaults.doSample ?? false);
      if (doSample && seed === undefined) {
        seed = randomInt(2 ** 31 - 1);
        log(`sampling with seed ${seed} (pass --seed ${seed} to repeat)`);
      }
      const options: TextGenerationOptions = {
        generationConfig: loaded.generationConfig,
        doSample,
        maxNewTokens: maxNewTokens ?? defaults.maxNewTokens ?? 100,
        ...(temperature !== undefined ? { temperature } : {}),
        ...(topK !== undefined ? { topK } : {}),
        ...(topP !== undefined ? { topP } : {}),
        ...(repetitionPenalty !== undefined ? { repetitionPenalty } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(o.stop?.length ? { stopStrings: o.stop } : {}),
      };

      const inputs: TextGenerationInput[] = [...(o.prompt ?? [])];
      if (o.chat !== undefined) inputs.push(readChatFile(o.chat));
      if (inputs.length === 0) inputs.push('');
      const { model, tokenizer: tok } = loaded;
      if (o.chatTemplate !== undefined) {
        try {
          tok.config.chatTemplate = readFileSync(o.chatTemplate, 'utf8');
        } catch (err) {
          throw new FileFormatError(o.chatTemplate, `cannot read the --chat-template file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, undefined, { cause: err });
        }
      }
      if (o.chat !== undefined && !tok.config.chatTemplate) {
        throw new ConfigError(
          'chat_template',
          `${o.model}: the tokenizer has no chat template, so --chat cannot be rendered; pass --chat-template FILE, add "chat_template" to its tokenizer_config.json, or give the text with --prompt`,
        );
      }
      const out = process.stdout;
      const context = contextLength(model.hfConfig, loaded.maxPositions);
      for (const [i, input] of inputs.entries()) {
        // Never run past the position table: cap the new tokens at what the context has left, and say so.
        const promptLength = promptIds(tok, input).length;
        const room = context - promptLength;
        if (room <= 0) {
          throw new ConfigError('prompt', `the prompt is ${promptLength} tokens but the model's context length is ${context} (max_position_embeddings); shorten the prompt`);
        }
        const capped = options.maxNewTokens !== undefined && options.maxNewTokens > room;
        const inputOptions: TextGenerationOptions = capped ? { ...options, maxNewTokens: room } : options;
        const noteIfCapped = (reason: string): void => {
          if (capped && reason === 'length') log(`stopped at the model's context length: ${context} tokens (prompt ${promptLength} + ${room} new); --max-new-tokens ${options.maxNewTokens} did not fit`);
        };
        if (o.json) {
          const [r] = textGeneration(model, tok, input, inputOptions);
          noteIfCapped(r.finish_reason);
          out.write(`${JSON.stringify({ prompt: input, generated_text: r.generated_text, finish_reason: r.finish_reason })}\n`);
          continue;
        }
        if (i > 0) out.write('---\n');
        if (typeof input === 'string') out.write(input);
        // Stream: after each token, print the new stable part of the decoded continuation (a trailing U+FFFD
        // may be a byte-fallback character still missing its other bytes).
        const ids = promptIds(tok, input);
        const promptText = tok.decode(ids, { skipSpecialTokens: true });
        let printed = '';
        const shouldStop = (_row: number, generated: readonly number[]): boolean => {
          const text = tok.decode([...ids, ...generated], { skipSpecialTokens: true }).slice(promptText.length).replace(/\uFFFD+$/, '');
          if (text.startsWith(printed) && text.length > printed.length) {
            out.write(text.slice(printed.length));
            printed = text;
          }
          return false;
        };
        const [r] = textGeneration(model, tok, input, { ...inputOptions, shouldStop, returnFullText: false });
        const reply = typeof r.generated_text === 'string' ? r.generated_text : (r.generated_text.at(-1)?.content ?? '');
        out.write(`${reply.startsWith(printed) ? reply.slice(printed.length) : `\n${reply}`}\n`);
        noteIfCapped(r.finish_reason);
      }
    });
}

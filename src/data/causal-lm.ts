// Causal language-modelling data, three ways: plain text tokenised, joined and cut into fixed blocks
// (transformers' run_clm "group_texts"); prompt/completion records with the loss on the completion only;
// chat records ({"messages": [...]}) rendered with the tokenizer's chat template, loss on the assistant
// turns. Each example is input ids + labels (-100 = no loss; the model shifts labels itself), ready for
// collate() as `tokenLabels`. Not here: padding (collate.ts), tokenisation (src/tokenizers).

import { readFileSync } from 'node:fs';
import { DataError, FileFormatError } from '../errors.ts';
import type { ChatMessage } from '../tokenizers/tokenizer.ts';
import type { Features } from './collate.ts';
import { describeOrigin, readTable, type CellValue, type ReadOptions, type Table } from './read.ts';
import { decodeTextFile } from './text-file.ts';
import { StepCounter, type PrepStep } from './types.ts';

/** The tokenizer calls this module needs (the Tokenizer class has them). */
export interface LmTokenizer {
  encode(text: string, pair: null, opts: { addSpecialTokens?: boolean }): { ids: number[] };
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean }): string;
  readonly eosTokenId: number | null;
}

/** One training sequence. */
export interface LmExample {
  inputIds: number[];
  /** Same length as inputIds; -100 where no loss is taken. */
  labels: number[];
  /** Where it came from: a block number (text) or the line/record of the source row. */
  origin: number;
}

export type LmDataKind = 'text' | 'prompt_completion' | 'chat';

export interface LmDataset {
  file: string;
  kind: LmDataKind;
  examples: LmExample[];
  /** What preparation dropped or changed (truncation, empty records). */
  steps: PrepStep[];
}

const IGNORE = -100;

/** Options for plain-text packing. */
export interface PackOptions {
  /** Tokens per block (transformers' block_size). */
  blockSize: number;
  /** Append the EOS token after every document so the model learns where texts end (default true). */
  appendEos?: boolean;
  /** Drop the last, shorter block as run_clm does (default false: keep it when it has 2+ tokens). */
  dropRemainder?: boolean;
}

/**
 * Tokenises documents (special tokens as the tokenizer adds them, e.g. BOS), joins them and cuts the
 * stream into blocks; every token is a label.
 * @example const blocks = packTexts(tok, ['Once upon a time...', 'The end.'], { blockSize: 128 });
 */
export function packTexts(tok: LmTokenizer, documents: readonly string[], opts: PackOptions): LmExample[] {
  const { blockSize } = opts;
  if (!(Number.isInteger(blockSize) && blockSize >= 2)) throw new DataError(`block size must be an integer >= 2, got ${blockSize}`);
  const stream: number[] = [];
  for (const doc of documents) {
    stream.push(...tok.encode(doc, null, { addSpecialTokens: true }).ids);
    if ((opts.appendEos ?? true) && tok.eosTokenId !== null) stream.push(tok.eosTokenId);
  }
  const out: LmExample[] = [];
  for (let start = 0; start < stream.length; start += blockSize) {
    const ids = stream.slice(start, start + blockSize);
    if (ids.length < blockSize && ((opts.dropRemainder ?? false) || ids.length < 2)) break;
    out.push({ inputIds: ids, labels: [...ids], origin: out.length + 1 });
  }
  return out;
}

/** Splits a text file into documents at blank lines ('paragraph'), at every line, or not at all. */
export function splitDocuments(text: string, mode: 'paragraph' | 'line' | 'none'): string[] {
  if (mode === 'none') return text.trim() === '' ? [] : [text];
  const parts = mode === 'line' ? text.split(/\r\n|\n|\r/) : text.split(/(?:\r\n|\n|\r)[ \t]*(?:\r\n|\n|\r)+/);
  return parts.map((p) => p.replace(/^(?:\r\n|\n|\r)+|(?:\r\n|\n|\r)+$/g, '')).filter((p) => p.trim() !== '');
}

/** Options for prompt/completion and chat examples. */
export interface SupervisedOptions {
  /** Longest example in tokens; longer ones are cut from the end (and dropped if no label survives). */
  maxLength: number;
}

function truncate(ex: LmExample, maxLength: number, cut: StepCounter, dropped: StepCounter): LmExample | null {
  if (ex.inputIds.length > maxLength) {
    ex.inputIds.length = maxLength;
    ex.labels.length = maxLength;
    cut.add(ex.origin);
  }
  // The model predicts labels[t] from position t-1, so a label at position 0 teaches nothing.
  if (!ex.labels.some((l, t) => t > 0 && l !== IGNORE)) {
    dropped.add(ex.origin);
    return null;
  }
  return ex;
}

/**
 * Prompt/completion pairs: ids = encode(prompt) (with the tokenizer's special tokens) + encode(completion)
 * + EOS; labels are -100 over the prompt, so only the completion is learned.
 * @example promptCompletionExamples(tok, [{ prompt: 'Q: 2+2?\nA:', completion: ' 4', origin: 1 }], { maxLength: 256 });
 */
export function promptCompletionExamples(
  tok: LmTokenizer,
  rows: readonly { prompt: string; completion: string; origin: number }[],
  opts: SupervisedOptions,
): { examples: LmExample[]; steps: PrepStep[] } {
  const cut = new StepCounter('truncated to max length', 'changed', `longer than ${opts.maxLength} tokens; the end was cut`);
  const dropped = new StepCounter('no completion tokens', 'dropped', 'the completion is empty or was cut off entirely');
  const examples: LmExample[] = [];
  for (const r of rows) {
    const prompt = tok.encode(r.prompt, null, { addSpecialTokens: true }).ids;
    const completion = tok.encode(r.completion, null, { addSpecialTokens: false }).ids;
    if (tok.eosTokenId !== null) completion.push(tok.eosTokenId);
    const ex = truncate(
      { inputIds: [...prompt, ...completion], labels: [...prompt.map(() => IGNORE), ...completion], origin: r.origin },
      opts.maxLength,
      cut,
      dropped,
    );
    if (ex) examples.push(ex);
  }
  return { examples, steps: [...cut.toSteps(), ...dropped.toSteps()] };
}

/** Options for chat examples. */
export interface ChatOptions extends SupervisedOptions {
  /** Learn the assistant turns only (default) or every token. */
  lossOn?: 'assistant' | 'all';
}

function render(tok: LmTokenizer, messages: ChatMessage[], addGenerationPrompt: boolean, where: string): string {
  try {
    return tok.applyChatTemplate(messages, { addGenerationPrompt });
  } catch (e) {
    throw new DataError(`${where}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/**
 * Chat records rendered with the tokenizer's chat template. With lossOn 'assistant', each assistant
 * turn's span is found by rendering the conversation up to it with and without the turn (the
 * template must render each conversation prefix as a prefix of the whole, as chat templates do).
 * @example chatExamples(tok, [{ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }], origin: 1 }], { maxLength: 512 });
 */
export function chatExamples(
  tok: LmTokenizer,
  rows: readonly { messages: ChatMessage[]; origin: number }[],
  opts: ChatOptions,
  describe: (origin: number) => string = (o) => `record ${o}`,
): { examples: LmExample[]; steps: PrepStep[] } {
  const cut = new StepCounter('truncated to max length', 'changed', `longer than ${opts.maxLength} tokens; the end was cut`);
  const dropped = new StepCounter('no assistant tokens', 'dropped', 'no assistant turn survives (none, or cut off)');
  const examples: LmExample[] = [];
  for (const r of rows) {
    const where = describe(r.origin);
    const full = render(tok, r.messages, false, where);
    // Character spans [start, end) of the text that is learned.
    const spans: [number, number][] = [];
    if ((opts.lossOn ?? 'assistant') === 'all') spans.push([0, full.length]);
    else {
      r.messages.forEach((m, i) => {
        if (m.role !== 'assistant') return;
        const before = render(tok, r.messages.slice(0, i), true, where);
        const upTo = render(tok, r.messages.slice(0, i + 1), false, where);
        if (!upTo.startsWith(before) || !full.startsWith(upTo)) {
          throw new DataError(
            `${where}: the chat template does not render the conversation up to message ${i} as a prefix of the whole, ` +
              'so the assistant turns cannot be located; use lossOn "all" to learn every token',
          );
        }
        spans.push([before.length, upTo.length]);
      });
    }
    const ids: number[] = [];
    const labels: number[] = [];
    let pos = 0;
    const add = (text: string, learn: boolean): void => {
      if (text === '') return;
      const piece = tok.encode(text, null, { addSpecialTokens: false }).ids;
      ids.push(...piece);
      labels.push(...(learn ? piece : piece.map(() => IGNORE)));
    };
    for (const [s, e] of spans) {
      add(full.slice(pos, s), false);
      add(full.slice(s, e), true);
      pos = e;
    }
    add(full.slice(pos), false);
    const ex = truncate({ inputIds: ids, labels, origin: r.origin }, opts.maxLength, cut, dropped);
    if (ex) examples.push(ex);
  }
  return { examples, steps: [...cut.toSteps(), ...dropped.toSteps()] };
}

/** Options for reading a causal-LM data file. */
export interface CausalLmFileOptions extends ReadOptions {
  /** What the file holds; default: by file extension and columns (text files → text; "messages" → chat; "prompt"+"completion"). */
  kind?: LmDataKind;
  /** Block size for text, max length for the others. */
  maxLength: number;
  /** Text files: how documents are separated (default 'paragraph': blank lines). */
  documents?: 'paragraph' | 'line' | 'none';
  /** Text: append EOS after each document (default true). */
  appendEos?: boolean;
  /** Table files holding plain text: the column (default "text"). */
  textColumn?: string;
  /** Chat: which tokens are learned (default 'assistant'). */
  lossOn?: 'assistant' | 'all';
}

function isTextFile(file: string): boolean {
  return /\.(txt|text|md)$/i.test(file);
}

function stringCell(v: CellValue | undefined, column: string, where: string): string {
  if (typeof v !== 'string') throw new DataError(`${where}: "${column}" must be a string, got ${JSON.stringify(v ?? null)}`);
  return v;
}

function messagesCell(v: CellValue | undefined, where: string): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw new DataError(`${where}: "messages" must be a non-empty list of {"role", "content"} objects`);
  return v.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m) || typeof m['role'] !== 'string' || typeof m['content'] !== 'string') {
      throw new DataError(`${where}: messages[${i}] must be an object with string "role" and "content", got ${JSON.stringify(m)}`);
    }
    return { ...m, role: m['role'], content: m['content'] };
  });
}

/**
 * Reads a causal-LM dataset: a .txt file (packed into blocks), or a JSONL/JSON/CSV/Parquet table with
 * "prompt" + "completion", "messages", or "text" columns.
 * @example const ds = await readCausalLmDataset('data/chat.jsonl', tok, { maxLength: 512 });
 */
export async function readCausalLmDataset(file: string, tok: LmTokenizer, opts: CausalLmFileOptions): Promise<LmDataset> {
  if (opts.kind === 'text' || (opts.kind === undefined && isTextFile(file))) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new FileFormatError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    const docs = splitDocuments(decodeTextFile(bytes, file, opts.encoding), opts.documents ?? 'paragraph');
    if (docs.length === 0) throw new FileFormatError(file, 'holds no text');
    return { file, kind: 'text', examples: packTexts(tok, docs, { blockSize: opts.maxLength, appendEos: opts.appendEos ?? true }), steps: [] };
  }
  const table: Table = await readTable(file, opts);
  const where = (i: number): string => `${file}: ${describeOrigin(table.originKind, table.origins[i] as number)}`;
  const has = (c: string): boolean => table.columns.includes(c);
  const kind: LmDataKind = opts.kind ?? (has('messages') ? 'chat' : has('prompt') && has('completion') ? 'prompt_completion' : 'text');
  if (kind === 'chat') {
    if (!has('messages')) throw new DataError(`${file}: chat data needs a "messages" column; columns are ${table.columns.join(', ')}`);
    const rows = table.rows.map((row, i) => ({ messages: messagesCell(row['messages'], where(i)), origin: table.origins[i] as number }));
    const { examples, steps } = chatExamples(tok, rows, { maxLength: opts.maxLength, lossOn: opts.lossOn ?? 'assistant' }, (o) => `${file}: ${describeOrigin(table.originKind, o)}`);
    return { file, kind, examples, steps };
  }
  if (kind === 'prompt_completion') {
    for (const c of ['prompt', 'completion']) if (!has(c)) throw new DataError(`${file}: prompt/completion data needs a "${c}" column; columns are ${table.columns.join(', ')}`);
    const rows = table.rows.map((row, i) => ({
      prompt: stringCell(row['prompt'], 'prompt', where(i)),
      completion: stringCell(row['completion'], 'completion', where(i)),
      origin: table.origins[i] as number,
    }));
    const { examples, steps } = promptCompletionExamples(tok, rows, { maxLength: opts.maxLength });
    return { file, kind, examples, steps };
  }
  const col = opts.textColumn ?? 'text';
  if (!has(col)) {
    throw new DataError(`${file}: found no "${col}", "messages" or "prompt"/"completion" columns (columns: ${table.columns.join(', ')}); name the text column with textColumn`);
  }
  const docs = table.rows.map((row, i) => stringCell(row[col], col, where(i)));
  return { file, kind: 'text', examples: packTexts(tok, docs, { blockSize: opts.maxLength, appendEos: opts.appendEos ?? true }), steps: [] };
}

/** Examples as collate() features (labels as tokenLabels; padding gets -100). */
export function lmFeatures(examples: readonly LmExample[]): Features[] {
  return examples.map((e) => ({ inputIds: e.inputIds, tokenLabels: e.labels }));
}

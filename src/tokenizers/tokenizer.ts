// The Tokenizer: a tokenizer.json pipeline (added tokens → normalizer → pre-tokenizer → model →
// truncation → post-processor → padding) with HF-exact ids, offsets, word ids and sequence ids,
// batching into Int32Array rows, decoding and chat templates. Not here: reading/writing folders
// (load.ts, save.ts) or training a vocabulary (train-wordpiece.ts).

import { Template } from '@huggingface/jinja';
import { ConfigError, DataError, FileFormatError } from '../errors.ts';
import { AddedVocabulary, type AddedToken } from './added-vocabulary.ts';
import { type Decoder, buildDecoder } from './decoders.ts';
import { type Direction, Encoding } from './encoding.ts';
import { type Ctx, type JsonObject, getBool, getNumber, getString, isObject } from './json.ts';
import { type Model, buildModel } from './models.ts';
import type { Offsets } from './normalized.ts';
import { type Normalizer, buildNormalizer } from './normalizers.ts';
import { type PostProcessor, buildPostProcessor } from './post-processors.ts';
import { type PreTokenizer, buildPreTokenizer } from './pre-tokenizers.ts';
import { saveTokenizer } from './save.ts';

/** Names of the special-token roles, as in transformers. */
export const SPECIAL_TOKEN_NAMES = ['pad', 'cls', 'sep', 'mask', 'unk', 'bos', 'eos'] as const;
export type SpecialTokenName = (typeof SPECIAL_TOKEN_NAMES)[number];

/** What tokenizer_config.json / special_tokens_map.json contribute (see load.ts). */
export interface TokenizerConfig {
  /** Longest input the model accepts (null: unknown); the default `maxLength` for truncation. */
  modelMaxLength: number | null;
  paddingSide: Direction;
  truncationSide: Direction;
  /** Python's clean_up_tokenization_spaces after decoding. */
  cleanUpTokenizationSpaces: boolean;
  chatTemplate: string | null;
  specialTokens: Partial<Record<SpecialTokenName, string>>;
  additionalSpecialTokens: string[];
  /** Other tokenizer_config.json fields, written back unchanged by save(). */
  extra: JsonObject;
}

/** Truncation strategy names as in transformers (`true` = 'longest_first'). */
export type Truncation = 'longest_first' | 'only_first' | 'only_second' | boolean;

export interface EncodeOptions {
  /** Add [CLS]/[SEP] etc. per the post-processor (default true). */
  addSpecialTokens?: boolean;
  /** Truncate to `maxLength` (special tokens included); default false. */
  truncation?: Truncation;
  /** Defaults to the config's model_max_length. */
  maxLength?: number;
  /** Tokens shared by consecutive overflowing windows (default 0). */
  stride?: number;
  /** Which end is cut (default: the config's truncation_side, usually 'right'). */
  truncationSide?: Direction;
}

/** One encoded input. Offsets are [start, end) code-point offsets into the original string (use
 *  `charSlice`); special tokens get [0, 0]. With pre-split words, offsets are within each word. */
export interface EncodeResult {
  ids: number[];
  tokens: string[];
  typeIds: number[];
  attentionMask: number[];
  specialTokensMask: number[];
  offsets: Offsets[];
  /** Index of the input word each token came from (null for special tokens). */
  wordIds: Array<number | null>;
  /** 0 / 1 for the first / second sequence, null for special tokens. */
  sequenceIds: Array<number | null>;
  /** Windows cut off by truncation (each already has special tokens), when there were any. */
  overflowing?: EncodeResult[];
}

export interface PaddingOptions {
  /** 'longest' pads to the longest row, 'max_length' to maxLength; false: no padding. */
  padding?: 'longest' | 'max_length' | boolean;
  paddingSide?: Direction;
  padToMultipleOf?: number;
  /** Defaults to the pad token's id (error if the tokenizer has none). */
  padId?: number;
  padTypeId?: number;
  /** Flatten overflowing windows into extra rows (as transformers' return_overflowing_tokens). */
  returnOverflowingTokens?: boolean;
}

/** A padded batch: one Int32Array row per encoded input (or per window). */
export interface BatchEncoding {
  inputIds: Int32Array[];
  attentionMask: Int32Array[];
  tokenTypeIds: Int32Array[];
  encodings: EncodeResult[];
  /** Row → index of the input it came from (only with returnOverflowingTokens). */
  overflowToSampleMapping?: number[];
}

/** A chat message for applyChatTemplate. */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** Input: raw text, or words already split (then word ids are word indices). */
export type TextInput = string | string[];

/**
 * A Hugging Face tokenizer (tokenizer.json semantics), with transformers' special tokens.
 * @example
 * const tok = await loadTokenizer('models/bert-base-uncased');
 * const enc = tok.encode('hello world'); // enc.ids = [101, 7592, 2088, 102]
 */
export class Tokenizer {
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly model: Model;
  readonly postProcessor: PostProcessor | null;
  readonly decoder: Decoder | null;
  readonly added: AddedVocabulary;

  /** @param json the tokenizer.json object (kept, and written back by save()). */
  constructor(
    readonly json: JsonObject,
    readonly config: TokenizerConfig,
    ctx: Ctx = { file: 'tokenizer.json' },
  ) {
    this.normalizer = buildNormalizer(json.normalizer, ctx);
    this.preTokenizer = buildPreTokenizer(json.pre_tokenizer, ctx);
    this.model = buildModel(json.model, ctx);
    this.postProcessor = buildPostProcessor(json.post_processor, ctx);
    this.decoder = buildDecoder(json.decoder, ctx);
    const added: AddedToken[] = (Array.isArray(json.added_tokens) ? json.added_tokens : []).map((t, i) => {
      const where = `added_tokens[${i}]`;
      if (!isObject(t)) throw new FileFormatError(ctx.file, `${where} must be an object`);
      const special = getBool(t, 'special', ctx, where, false);
      return {
        id: getNumber(t, 'id', ctx, where),
        content: getString(t, 'content', ctx, where),
        singleWord: getBool(t, 'single_word', ctx, where, false),
        lstrip: getBool(t, 'lstrip', ctx, where, false),
        rstrip: getBool(t, 'rstrip', ctx, where, false),
        normalized: getBool(t, 'normalized', ctx, where, !special),
        special,
      };
    });
    this.added = new AddedVocabulary(added, this.normalizer);
  }

  /** Number of distinct ids (model vocabulary ∪ added tokens) — Python's `len(tokenizer)`. */
  get vocabSize(): number {
    let n = this.model.vocab.size;
    for (const t of this.added.tokens) if (this.model.idToToken(t.id) === undefined) n++;
    return n;
  }

  /** token → id, added tokens first (undefined when unknown). */
  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  /** id → token (undefined when out of range). */
  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.idToToken(id);
  }

  /** Every token and its id. */
  getVocab(): Map<string, number> {
    const v = new Map(this.model.vocab);
    for (const t of this.added.tokens) v.set(t.content, t.id);
    return v;
  }

  private specialId(name: SpecialTokenName): number | null {
    const t = this.config.specialTokens[name];
    return t === undefined ? null : (this.tokenToId(t) ?? null);
  }
  get padToken(): string | null {
    return this.config.specialTokens.pad ?? null;
  }
  get padTokenId(): number | null {
    return this.specialId('pad');
  }
  get clsTokenId(): number | null {
    return this.specialId('cls');
  }
  get sepTokenId(): number | null {
    return this.specialId('sep');
  }
  get maskTokenId(): number | null {
    return this.specialId('mask');
  }
  get unkTokenId(): number | null {
    return this.specialId('unk');
  }
  get bosTokenId(): number | null {
    return this.specialId('bos');
  }
  get eosTokenId(): number | null {
    return this.specialId('eos');
  }
  /** Ids of every special token (added tokens marked special plus configured roles). */
  get allSpecialIds(): number[] {
    const ids = new Set<number>();
    for (const t of this.added.tokens) if (t.special) ids.add(t.id);
    for (const n of SPECIAL_TOKEN_NAMES) {
      const id = this.specialId(n);
      if (id !== null) ids.add(id);
    }
    return [...ids].sort((a, b) => a - b);
  }

  /** Encodes one sequence to an Encoding (no truncation, no special tokens). */
  private encodeSequence(input: TextInput, typeId: number): Encoding {
    if (typeof input === 'string') return this.encodeText(input, typeId, null);
    return Encoding.merge(
      input.map((w, i) => this.encodeText(w, typeId, i)),
      false,
    );
  }

  private encodeText(text: string, typeId: number, wordIdx: number | null): Encoding {
    const p = this.added.extractAndNormalize(text, this.normalizer);
    this.preTokenizer?.preTokenize(p);
    const e = new Encoding();
    p.splits.forEach((split, idx) => {
      const n = split.normalized;
      const tokens = split.tokens ?? this.model.tokenize(n.chars);
      for (const t of tokens) {
        const r = n.normalizedToOriginal(t.offsets[0], t.offsets[1]);
        e.ids.push(t.id);
        e.tokens.push(t.value);
        e.offsets.push(r ? [n.originalShift + r[0], n.originalShift + r[1]] : [t.offsets[0], t.offsets[1]]);
        e.words.push(wordIdx ?? idx);
        e.typeIds.push(typeId);
        e.specialTokensMask.push(0);
        e.attentionMask.push(1);
      }
    });
    return e;
  }

  /** Runs encode up to (not including) conversion to the public result. */
  encodeToEncoding(text: TextInput, textPair: TextInput | null = null, opts: EncodeOptions = {}): Encoding {
    const addSpecial = opts.addSpecialTokens ?? true;
    const enc = this.encodeSequence(text, 0);
    const pair = textPair === null ? null : this.encodeSequence(textPair, 1);
    const strategy = opts.truncation === true ? 'longest_first' : opts.truncation;
    if (strategy) {
      let maxLength = opts.maxLength ?? this.config.modelMaxLength;
      if (maxLength === null) {
        throw new ConfigError('maxLength', 'truncation needs maxLength: this tokenizer has no model_max_length; pass maxLength');
      }
      const nAdded = this.postProcessor?.addedTokens(pair !== null) ?? 0;
      if (addSpecial && nAdded > 0) {
        if (maxLength < nAdded) throw new ConfigError('maxLength', `${maxLength} is shorter than the ${nAdded} special tokens that will be added`);
        maxLength -= nAdded;
      }
      truncateEncodings(enc, pair, strategy, maxLength, opts.stride ?? 0, opts.truncationSide ?? this.config.truncationSide);
    } else if (opts.stride) {
      throw new ConfigError('stride', 'stride only applies with truncation; set truncation and maxLength');
    }
    const list = pair ? [enc, pair] : [enc];
    if (!this.postProcessor) {
      if (list.length === 1) return enc;
      list.forEach((e, i) => e.setSequenceId(i));
      return Encoding.merge(list, false);
    }
    list.forEach((e, i) => {
      e.setSequenceId(i);
      for (const o of e.overflowing) o.setSequenceId(i);
      e.typeIds = e.ids.map(() => i);
    });
    return Encoding.merge(this.postProcessor.processEncodings(list, addSpecial), false);
  }

  /**
   * Encodes a text (or pre-split words), optionally with a second text, as transformers does.
   * @example
   * tok.encode('Who?', 'Me.', { truncation: 'only_second', maxLength: 384, stride: 128 })
   */
  encode(text: TextInput, textPair: TextInput | null = null, opts: EncodeOptions = {}): EncodeResult {
    return toResult(this.encodeToEncoding(text, textPair, opts));
  }

  /**
   * Encodes and pads a batch into Int32Array rows; `textPairs[i]` (if given) pairs with `texts[i]`.
   * @example
   * const b = tok.encodeBatch(['a b', 'c'], null, { padding: 'longest' }); // rows of equal length
   */
  encodeBatch(texts: TextInput[], textPairs: TextInput[] | null = null, opts: EncodeOptions & PaddingOptions = {}): BatchEncoding {
    if (textPairs && textPairs.length !== texts.length) {
      throw new DataError(`encodeBatch: ${texts.length} texts but ${textPairs.length} text pairs; they must have the same length`);
    }
    const encs = texts.map((t, i) => this.encodeToEncoding(t, textPairs ? textPairs[i]! : null, opts));
    const padding = opts.padding === true ? 'longest' : (opts.padding ?? false);
    if (padding) {
      let target: number;
      if (padding === 'max_length') {
        const m = opts.maxLength ?? this.config.modelMaxLength;
        if (m === null) throw new ConfigError('maxLength', "padding 'max_length' needs maxLength (this tokenizer has no model_max_length)");
        target = m;
      } else {
        target = 0;
        for (const e of encs) {
          target = Math.max(target, e.length);
          if (opts.returnOverflowingTokens) for (const o of e.overflowing) target = Math.max(target, o.length);
        }
      }
      const mult = opts.padToMultipleOf;
      if (mult && target % mult !== 0) target += mult - (target % mult);
      const padId = opts.padId ?? this.padTokenId;
      if (padId === null) {
        throw new ConfigError('padId', 'this tokenizer has no pad token: pass padId (e.g. the eos id for GPT-2) or set pad_token in tokenizer_config.json');
      }
      const padToken = this.idToToken(padId) ?? '';
      const side = opts.paddingSide ?? this.config.paddingSide;
      for (const e of encs) e.pad(target, padId, opts.padTypeId ?? 0, padToken, side);
    }
    const rows: EncodeResult[] = [];
    const mapping: number[] = [];
    encs.forEach((e, i) => {
      const r = toResult(e);
      if (opts.returnOverflowingTokens) {
        const { overflowing, ...main } = r;
        rows.push(main);
        mapping.push(i);
        for (const o of overflowing ?? []) {
          rows.push(o);
          mapping.push(i);
        }
      } else rows.push(r);
    });
    const out: BatchEncoding = {
      inputIds: rows.map((r) => Int32Array.from(r.ids)),
      attentionMask: rows.map((r) => Int32Array.from(r.attentionMask)),
      tokenTypeIds: rows.map((r) => Int32Array.from(r.typeIds)),
      encodings: rows,
    };
    if (opts.returnOverflowingTokens) out.overflowToSampleMapping = mapping;
    return out;
  }

  /**
   * Ids → text through the decoder.
   * @example tok.decode([101, 7592, 2088, 102], { skipSpecialTokens: true }) // 'hello world'
   */
  decode(ids: ArrayLike<number>, opts: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean } = {}): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = Number(ids[i]);
      const added = this.added.byId.get(id);
      const t = added?.content ?? this.model.idToToken(id);
      if (t === undefined) continue;
      if (opts.skipSpecialTokens && (added?.special === true || this.isConfiguredSpecial(t))) continue;
      tokens.push(t);
    }
    let text = this.decoder ? this.decoder.decodeChain(tokens).join('') : tokens.join(' ');
    if (opts.cleanUpTokenizationSpaces ?? this.config.cleanUpTokenizationSpaces) text = cleanUpTokenization(text);
    return text;
  }

  private isConfiguredSpecial(token: string): boolean {
    return SPECIAL_TOKEN_NAMES.some((n) => this.config.specialTokens[n] === token) || this.config.additionalSpecialTokens.includes(token);
  }

  /**
   * Writes tokenizer.json, tokenizer_config.json, special_tokens_map.json (+ vocab.txt for
   * WordPiece, vocab.json + merges.txt for BPE) into `dir`, atomically; returns the paths.
   * @example await tok.save('out/my-model'); // Python: AutoTokenizer.from_pretrained('out/my-model')
   */
  save(dir: string): Promise<string[]> {
    return saveTokenizer(this, dir);
  }

  /**
   * Renders the chat template (tokenizer_config.json `chat_template`) with @huggingface/jinja.
   * @example tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true })
   */
  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean; chatTemplate?: string; extra?: Record<string, unknown> } = {}): string {
    const source = opts.chatTemplate ?? this.config.chatTemplate;
    if (!source) {
      throw new ConfigError('chat_template', 'this tokenizer has no chat template: add "chat_template" to tokenizer_config.json, or pass --chat-template FILE (a Jinja template)');
    }
    const vars: Record<string, unknown> = { messages, add_generation_prompt: opts.addGenerationPrompt ?? false, ...opts.extra };
    for (const n of SPECIAL_TOKEN_NAMES) vars[`${n}_token`] = this.config.specialTokens[n] ?? '';
    try {
      return new Template(source).render(vars);
    } catch (e) {
      throw new DataError(`chat template failed to render: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  }
}

function truncateEncodings(enc: Encoding, pair: Encoding | null, strategy: 'longest_first' | 'only_first' | 'only_second', maxLength: number, stride: number, dir: Direction): void {
  if (maxLength === 0) {
    enc.truncate(0, stride, dir);
    pair?.truncate(0, stride, dir);
    return;
  }
  const total = enc.length + (pair?.length ?? 0);
  if (total <= maxLength) return;
  const toRemove = total - maxLength;
  if (strategy === 'longest_first') {
    if (!pair) {
      enc.truncate(total - toRemove, stride, dir);
      return;
    }
    let n1 = enc.length;
    let n2 = pair.length;
    const swap = n1 > n2;
    if (swap) [n1, n2] = [n2, n1];
    n2 = n1 > maxLength ? n1 : Math.max(n1, maxLength - n1);
    if (n1 + n2 > maxLength) {
      n1 = Math.floor(maxLength / 2);
      n2 = n1 + (maxLength % 2);
    }
    if (swap) [n1, n2] = [n2, n1];
    enc.truncate(n1, stride, dir);
    pair.truncate(n2, stride, dir);
    return;
  }
  const target = strategy === 'only_first' ? enc : pair;
  if (!target) throw new ConfigError('truncation', "'only_second' needs a second sequence (textPair)");
  if (target.length <= toRemove) {
    throw new ConfigError('truncation', `${strategy}: the ${strategy === 'only_first' ? 'first' : 'second'} sequence (${target.length} tokens) is too short to fit maxLength; use 'longest_first' or a larger maxLength`);
  }
  target.truncate(target.length - toRemove, stride, dir);
}

function toResult(e: Encoding): EncodeResult {
  const r: EncodeResult = {
    ids: e.ids,
    tokens: e.tokens,
    typeIds: e.typeIds,
    attentionMask: e.attentionMask,
    specialTokensMask: e.specialTokensMask,
    offsets: e.offsets,
    wordIds: e.words,
    sequenceIds: e.sequenceIds(),
  };
  if (e.overflowing.length > 0) r.overflowing = e.overflowing.map(toResult);
  return r;
}

/** transformers' `clean_up_tokenization` (spaces before punctuation and contractions). */
export function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

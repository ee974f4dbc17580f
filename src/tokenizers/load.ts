// loadTokenizer(dir): reads a Hugging Face tokenizer folder — tokenizer.json, or else vocab.txt
// (BERT WordPiece), vocab.json + merges.txt (GPT-2/RoBERTa byte-level BPE) or a SentencePiece model
// (tokenizer.model, spm.model, spiece.model, sentencepiece.bpe.model; converted) — plus tokenizer_config.json / special_tokens_map.json, as transformers does.
// Not here: the pipeline itself (tokenizer.ts) or writing folders (save.ts).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, ModelError } from '../errors.ts';
import type { Direction } from './encoding.ts';
import { type Json, type JsonObject, isObject } from './json.ts';
import { convertSentencePiece, spmFlavor } from './sentencepiece-convert.ts';
import { validateTokenizer } from './validate.ts';
import { SPECIAL_TOKEN_NAMES, type SpecialTokenName, Tokenizer, type TokenizerConfig } from './tokenizer.ts';

async function readJson(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FileFormatError(path, code === 'EISDIR' ? 'is a folder, not a JSON file' : `cannot read (${code ?? String(e)})`, undefined, { cause: e });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new FileFormatError(path, `not valid JSON (${e instanceof Error ? e.message : String(e)})`, undefined, { cause: e });
  }
}

async function readOptionalObject(path: string): Promise<JsonObject> {
  if (!existsSync(path)) return {};
  const j = await readJson(path);
  if (!isObject(j)) throw new FileFormatError(path, 'must contain a JSON object');
  return j;
}

/** A special token value in a config: "tok" or {"content": "tok", ...}. */
function tokenString(v: Json | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** Folder-independent options for building a tokenizer from legacy vocab files. */
export interface LegacyOptions {
  /** tokenizer_config.json contents (do_lower_case, special tokens...). */
  config?: JsonObject;
  /** Use RoBERTa's `<s> A </s></s> B </s>` post-processing (byte-level BPE only). */
  roberta?: boolean;
}

function addedToken(id: number, content: string): JsonObject {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/**
 * Parses vocab.txt as BertTokenizer does: line N (from 0) is token id N.
 * @example parseVocabTxt('[PAD]\n[UNK]\n').get('[UNK]') // 1
 */
export function parseVocabTxt(text: string): Map<string, number> {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = new Map<string, number>();
  lines.forEach((l, i) => vocab.set(l.endsWith('\r') ? l.slice(0, -1) : l, i));
  return vocab;
}

/**
 * The tokenizer.json that transformers' BertConverter builds from a vocab.txt.
 * @example const tok = new Tokenizer(wordPieceJsonFromVocab(vocab, {}), configFrom({}));
 */
export function wordPieceJsonFromVocab(vocab: Map<string, number>, config: JsonObject = {}): JsonObject {
  const tok = (name: SpecialTokenName, dflt: string): string => tokenString(config[`${name}_token`]) ?? dflt;
  const cls = tok('cls', '[CLS]');
  const sep = tok('sep', '[SEP]');
  const specials = [tok('pad', '[PAD]'), tok('unk', '[UNK]'), cls, sep, tok('mask', '[MASK]')];
  const added: JsonObject[] = [];
  for (const s of [...new Set(specials)].filter((s) => vocab.has(s)).sort((a, b) => vocab.get(a)! - vocab.get(b)!)) {
    added.push(addedToken(vocab.get(s)!, s));
  }
  const clsId = vocab.get(cls);
  const sepId = vocab.get(sep);
  const vocabObj: JsonObject = {};
  for (const [t, i] of vocab) vocabObj[t] = i;
  const sa = config.strip_accents;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars !== false,
      strip_accents: typeof sa === 'boolean' ? sa : null,
      lowercase: config.do_lower_case !== false,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor:
      clsId === undefined || sepId === undefined
        ? null
        : {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: cls, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: sep, type_id: 0 } }],
            pair: [
              { SpecialToken: { id: cls, type_id: 0 } },
              { Sequence: { id: 'A', type_id: 0 } },
              { SpecialToken: { id: sep, type_id: 0 } },
              { Sequence: { id: 'B', type_id: 1 } },
              { SpecialToken: { id: sep, type_id: 1 } },
            ],
            special_tokens: {
              [cls]: { id: cls, ids: [clsId], tokens: [cls] },
              [sep]: { id: sep, ids: [sepId], tokens: [sep] },
            },
          },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: tok('unk', '[UNK]'), continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: vocabObj },
  };
}

/**
 * Parses merges.txt ("#version" header, one "a b" pair per line).
 * @example parseMergesTxt('#version: 0.2\nĠ t\n') // [['Ġ', 't']]
 */
export function parseMergesTxt(text: string, file = 'merges.txt'): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#version')) return;
    const parts = line.split(' ');
    if (parts.length !== 2) throw new FileFormatError(file, `expected two tokens separated by one space, got ${JSON.stringify(line)}`, i + 1);
    out.push([parts[0]!, parts[1]!]);
  });
  return out;
}

/**
 * The tokenizer.json that transformers' GPT2Converter / RobertaConverter builds.
 * @example const json = byteLevelBpeJson(vocabJson, parseMergesTxt(mergesText), { roberta: true });
 */
export function byteLevelBpeJson(vocab: JsonObject, merges: Array<[string, string]>, opts: LegacyOptions = {}): JsonObject {
  const config = opts.config ?? {};
  const addPrefixSpace = config.add_prefix_space === true;
  const roberta = opts.roberta ?? false;
  const names = roberta ? ['<s>', '<pad>', '</s>', '<unk>', '<mask>'] : [tokenString(config.eos_token) ?? '<|endoftext|>'];
  for (const n of SPECIAL_TOKEN_NAMES) {
    const t = tokenString(config[`${n}_token`]);
    if (t !== undefined && !names.includes(t)) names.push(t);
  }
  const added = names
    .filter((n) => typeof vocab[n] === 'number')
    .map((n) => {
      const t = addedToken(vocab[n] as number, n);
      if (roberta && n === '<mask>') t.lstrip = true;
      return t;
    })
    .sort((a, b) => (a.id as number) - (b.id as number));
  const cls = tokenString(config.cls_token) ?? '<s>';
  const sep = tokenString(config.sep_token) ?? '</s>';
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: roberta
      ? { type: 'RobertaProcessing', sep: [sep, vocab[sep] ?? 2], cls: [cls, vocab[cls] ?? 0], trim_offsets: true, add_prefix_space: addPrefixSpace }
      : { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}

/** Applies transformers' tokenizer-class overrides (do_lower_case, Llama's add_bos/eos_token). */
function applyConfigOverrides(json: JsonObject, config: JsonObject): void {
  const norm = json.normalizer;
  if (isObject(norm) && norm.type === 'BertNormalizer') {
    if (typeof config.do_lower_case === 'boolean') norm.lowercase = config.do_lower_case;
    if (typeof config.strip_accents === 'boolean' || config.strip_accents === null) norm.strip_accents = config.strip_accents;
    if (typeof config.tokenize_chinese_chars === 'boolean') norm.handle_chinese_chars = config.tokenize_chinese_chars;
  }
  const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
  if (/^(Code)?LlamaTokenizer(Fast)?$/.test(cls) && ('add_bos_token' in config || 'add_eos_token' in config)) {
    const bos = tokenString(config.bos_token) ?? '<s>';
    const eos = tokenString(config.eos_token) ?? '</s>';
    const addBos = config.add_bos_token !== false;
    const addEos = config.add_eos_token === true;
    const vocab = isObject(json.model) && isObject(json.model.vocab) ? json.model.vocab : {};
    const sp = (t: string, typeId: number): Json => ({ SpecialToken: { id: t, type_id: typeId } });
    const seq = (id: string, typeId: number): Json => ({ Sequence: { id, type_id: typeId } });
    const single: Json[] = [...(addBos ? [sp(bos, 0)] : []), seq('A', 0), ...(addEos ? [sp(eos, 0)] : [])];
    const pair: Json[] = [...single, ...(addBos ? [sp(bos, 1)] : []), seq('B', 1), ...(addEos ? [sp(eos, 1)] : [])];
    const specials: JsonObject = {};
    if (addBos) specials[bos] = { id: bos, ids: [vocab[bos] ?? 1], tokens: [bos] };
    if (addEos) specials[eos] = { id: eos, ids: [vocab[eos] ?? 2], tokens: [eos] };
    json.post_processor = { type: 'TemplateProcessing', single, pair, special_tokens: specials };
  }
}

/** Guesses special tokens that no config names, from the vocabulary (transformers' class defaults). */
function inferSpecialTokens(json: JsonObject, has: (t: string) => boolean): Partial<Record<SpecialTokenName, string>> {
  const out: Partial<Record<SpecialTokenName, string>> = {};
  const model = isObject(json.model) ? json.model : {};
  const pp = isObject(json.post_processor) ? json.post_processor : {};
  const set = (n: SpecialTokenName, t: string): void => {
    if (has(t)) out[n] = t;
  };
  if (model.type === 'WordPiece' || ('continuing_subword_prefix' in model && model.type === undefined) || (has('[CLS]') && has('[SEP]'))) {
    set('pad', '[PAD]');
    set('unk', '[UNK]');
    set('cls', '[CLS]');
    set('sep', '[SEP]');
    set('mask', '[MASK]');
  } else if (pp.type === 'RobertaProcessing' || has('<mask>')) {
    for (const [n, t] of [['bos', '<s>'], ['cls', '<s>'], ['eos', '</s>'], ['sep', '</s>'], ['pad', '<pad>'], ['unk', '<unk>'], ['mask', '<mask>']] as const) set(n, t);
  } else if (has('<|endoftext|>')) {
    for (const n of ['bos', 'eos', 'unk'] as const) set(n, '<|endoftext|>');
  } else {
    for (const [n, t] of [['bos', '<s>'], ['eos', '</s>'], ['unk', '<unk>'], ['pad', '<pad>']] as const) set(n, t);
  }
  return out;
}

/**
 * Reads transformers' tokenizer settings from tokenizer_config.json + special_tokens_map.json;
 * with `json`, special tokens no config names are inferred from the vocabulary.
 * @example new Tokenizer(json, configFrom({ model_max_length: 512 }, {}, json))
 */
export function configFrom(config: JsonObject, specialMap: JsonObject = {}, json: JsonObject | null = null, chatTemplateFile: string | null = null): TokenizerConfig {
  const specialTokens: Partial<Record<SpecialTokenName, string>> = {};
  for (const n of SPECIAL_TOKEN_NAMES) {
    const t = tokenString(config[`${n}_token`]) ?? tokenString(specialMap[`${n}_token`]);
    if (t !== undefined) specialTokens[n] = t;
  }
  const additional: string[] = [];
  for (const key of ['additional_special_tokens', 'extra_special_tokens']) {
    const v = config[key] ?? specialMap[key];
    if (Array.isArray(v)) for (const x of v) {
      const t = tokenString(x);
      if (t !== undefined) additional.push(t);
    }
  }
  let chatTemplate: string | null = chatTemplateFile;
  const ct = config.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct)) {
    const named = ct.filter(isObject);
    const pick = named.find((x) => x.name === 'default') ?? named[0];
    if (pick && typeof pick.template === 'string') chatTemplate = pick.template;
  }
  const mml = config.model_max_length;
  const side = (v: Json | undefined, key: string): Direction => {
    if (v === undefined || v === null) return 'right';
    if (v === 'left' || v === 'right') return v;
    throw new FileFormatError('tokenizer_config.json', `"${key}" must be "left" or "right", got ${JSON.stringify(v)}`);
  };
  const out: TokenizerConfig = {
    modelMaxLength: typeof mml === 'number' && mml < 1e15 ? mml : null,
    paddingSide: side(config.padding_side, 'padding_side'),
    truncationSide: side(config.truncation_side, 'truncation_side'),
    cleanUpTokenizationSpaces: config.clean_up_tokenization_spaces === true,
    chatTemplate,
    specialTokens,
    additionalSpecialTokens: additional,
    extra: config,
  };
  if (json) {
    const vocab = modelVocab(json);
    const addedContents = new Set((Array.isArray(json.added_tokens) ? json.added_tokens : []).filter(isObject).map((t) => t.content));
    const has = (t: string): boolean => typeof vocab[t] === 'number' || addedContents.has(t);
    for (const [n, t] of Object.entries(inferSpecialTokens(json, has))) {
      const name = n as SpecialTokenName;
      if (out.specialTokens[name] === undefined) out.specialTokens[name] = t;
    }
  }
  return out;
}

/** token → id of the model vocabulary (an object for WordPiece/BPE/WordLevel, [piece, score] pairs for Unigram). */
function modelVocab(json: JsonObject): JsonObject {
  const v = isObject(json.model) ? json.model.vocab : undefined;
  if (isObject(v)) return v;
  const out: JsonObject = {};
  if (Array.isArray(v)) v.forEach((e, i) => {
    if (Array.isArray(e) && typeof e[0] === 'string' && !(e[0] in out)) out[e[0]] = i;
  });
  return out;
}

/** Makes configured special tokens that exist in the model vocab into added tokens (as transformers). */
function registerSpecials(json: JsonObject, cfg: TokenizerConfig): void {
  const added = Array.isArray(json.added_tokens) ? json.added_tokens : (json.added_tokens = []);
  const have = new Set(added.filter(isObject).map((t) => t.content));
  const vocab = modelVocab(json);
  for (const t of [...Object.values(cfg.specialTokens), ...cfg.additionalSpecialTokens]) {
    const id = vocab[t];
    if (t === undefined || have.has(t) || typeof id !== 'number') continue;
    added.push(addedToken(id, t));
    have.add(t);
  }
}

/** SentencePiece model file names, as the tokenizer classes name their vocab_file (Llama, DeBERTa-v2, T5/ALBERT, XLM-R). */
const SPM_FILES = ['tokenizer.model', 'spm.model', 'spiece.model', 'sentencepiece.bpe.model'];

/**
 * Loads the tokenizer of a Hugging Face model folder.
 * @example
 * const tok = await loadTokenizer('/models/bert-base-uncased');
 * tok.encode('hello world').ids // [101, 7592, 2088, 102]
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  if (!existsSync(dir)) throw new ModelError(`tokenizer folder ${dir} does not exist`);
  const config = await readOptionalObject(join(dir, 'tokenizer_config.json'));
  const specialMap = await readOptionalObject(join(dir, 'special_tokens_map.json'));
  const modelConfig = await readOptionalObject(join(dir, 'config.json'));
  const chatFile = join(dir, 'chat_template.jinja');
  const chatTemplate = existsSync(chatFile) ? await readFile(chatFile, 'utf8') : null;
  const tokFile = join(dir, 'tokenizer.json');
  const configWithSpecials: JsonObject = { ...specialMap, ...config };
  let json: JsonObject;
  let file: string;
  let specialDefaults: JsonObject = {};
  if (existsSync(tokFile)) {
    const j = await readJson(tokFile);
    if (!isObject(j)) throw new FileFormatError(tokFile, 'must contain a JSON object');
    json = j;
    file = tokFile;
  } else if (existsSync(join(dir, 'vocab.txt'))) {
    file = join(dir, 'vocab.txt');
    json = wordPieceJsonFromVocab(parseVocabTxt(await readFile(file, 'utf8')), configWithSpecials);
  } else if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
    file = join(dir, 'vocab.json');
    const vocab = await readJson(file);
    if (!isObject(vocab)) throw new FileFormatError(file, 'must be a JSON object of token → id');
    const mergesFile = join(dir, 'merges.txt');
    const merges = parseMergesTxt(await readFile(mergesFile, 'utf8'), mergesFile);
    const kind = `${String(config.tokenizer_class ?? '')} ${String(modelConfig.model_type ?? '')}`.toLowerCase();
    json = byteLevelBpeJson(vocab, merges, { config: configWithSpecials, roberta: /roberta|bart|longformer|camembert/.test(kind) });
  } else if (SPM_FILES.some((f) => existsSync(join(dir, f)))) {
    const name = SPM_FILES.find((f) => existsSync(join(dir, f)))!;
    file = join(dir, name);
    const cls = typeof config.tokenizer_class === 'string' ? config.tokenizer_class : '';
    const flavor = spmFlavor(cls, String(modelConfig.model_type ?? ''));
    const conv = convertSentencePiece(await readFile(file), file, flavor, configWithSpecials);
    json = conv.json;
    specialDefaults = conv.defaults;
  } else {
    throw new ModelError(`${dir}: no tokenizer found (expected tokenizer.json, vocab.txt, vocab.json + merges.txt, or a SentencePiece ${SPM_FILES.join(' / ')})`);
  }
  applyConfigOverrides(json, configWithSpecials);
  validateTokenizer(json, file, config, modelConfig, dir);
  const cfg = configFrom({ ...specialDefaults, ...config }, specialMap, json, chatTemplate);
  registerSpecials(json, cfg);
  return new Tokenizer(json, cfg, { file });
}

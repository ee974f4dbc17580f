// SentencePiece `.model` (Unigram or BPE) → tokenizer.json, following transformers'
// convert_slow_tokenizer converters: SpmConverter (generic), XLMRobertaConverter (fairseq ids:
// <s>,<pad>,</s>,<unk> then pieces[3:] shifted by one, <mask> last), DebertaV2Converter ([CLS]/[SEP]
// template), T5Converter (<extra_id_N>), AlbertConverter; Llama-style BPE stays in sentencepiece.ts.
// Returns the class's default special tokens too. Not here: reading folders (load.ts).
//
// Which transformers we follow: 4.x (convert_slow_tokenizer.py's SpmConverter / XLMRobertaConverter /
// DebertaV2Converter), the code that wrote the tokenizer.json files on the Hub and that the
// sentencepiece-referenced tests here pin. transformers 5 drops the slow tokenizers: XLMRobertaTokenizer and
// DebertaV2Tokenizer become TokenizersBackend classes whose __init__ builds the pipeline from the .model's
// pieces (SentencePieceExtractor, then the class's convert_from_spm hook). In its main-branch sources read on
// 2026-12-03 (v5 sources differ between commits; recheck before following them) that pipeline differs:
// - XLM-R: normalizer = Precompiled(charsmap) alone (4.x: Precompiled, Strip right, Replace " {2,}" → "▁"),
//   pre-tokenizer = WhitespaceSplit then Metaspace (4.x: Metaspace alone, split on "▁"), prepend_scheme
//   "always"/"never" from add_prefix_space only (4.x: "first" when tokenizer_config.json has "legacy":
//   false); fairseq ids, unk 3 and the "<s> A </s> </s> B </s>" template are unchanged; whether <mask>
//   keeps lstrip=True was not visible in that source. Effect: runs of spaces and trailing spaces split
//   differently, so ids can differ on such text.
// - DeBERTa-v2/v3: normalizer = [Lowercase if do_lower_case], Replace(\s{2,}|[\n\r\t] → " "), NFC,
//   Strip right (4.x: [Lowercase], Strip both sides, Precompiled(charsmap), Replace " {2,}" → " "): no
//   charsmap, NFC instead of the model's NFKC-based map, tabs/newlines to spaces, no left strip; Metaspace
//   prepend_scheme "first" (not "never") when add_prefix_space is false; unk id from the vocab ("[UNK]"),
//   that __init__ sets no post-processor itself (TokenizersBackend adds the specials). Effect: full-width forms,
//   ligatures and other NFKC-mapped characters, and leading spaces, can give other ids.
// Behaviour here stays 4.x; a folder that ships tokenizer.json is read as it is, whichever version wrote it.

import { ModelError } from '../errors.ts';
import type { Json, JsonObject } from './json.ts';
import { mergesFromScores, parseSentencePieceModel, sentencePieceToTokenizerJson, type SpModel } from './sentencepiece.ts';

export type SpmFlavor = 'generic' | 'xlm-roberta' | 'deberta-v2' | 't5' | 'albert' | 'llama' | 'unsupported';

/** Model types whose transformers converter reorders or extends the vocabulary in ways not done here. */
const UNSUPPORTED_TYPES = /^(camembert|mbart|mbart50|xlnet|pegasus|pegasus_x|barthez|nllb|m2m_100|marian|big_bird|rembert|fnet|seamless_m4t|plbart|gemma\d?)$/;

/**
 * Which transformers converter a folder's tokenizer_class (else config.json model_type) selects;
 * 'unsupported' for classes whose converter is not reproduced here (their ids would differ).
 */
export function spmFlavor(tokenizerClass: string, modelType: string): SpmFlavor {
  const c = tokenizerClass.replace(/Fast$/, '');
  if (c === 'XLMRobertaTokenizer' || (!c && modelType === 'xlm-roberta')) return 'xlm-roberta';
  if (c === 'DebertaV2Tokenizer' || (!c && modelType === 'deberta-v2')) return 'deberta-v2';
  if (c === 'T5Tokenizer' || (!c && (modelType === 't5' || modelType === 'mt5' || modelType === 'umt5'))) return 't5';
  if (c === 'AlbertTokenizer' || (!c && modelType === 'albert')) return 'albert';
  if (/^(Code)?LlamaTokenizer$/.test(c) || (!c && /^(llama|mistral)$/.test(modelType))) return 'llama';
  if (c === '' || c === 'PreTrainedTokenizer' || c === 'ReformerTokenizer' || c === 'BertGenerationTokenizer') {
    return c === '' && UNSUPPORTED_TYPES.test(modelType) ? 'unsupported' : 'generic';
  }
  return 'unsupported';
}

export interface SpmConversion {
  json: JsonObject;
  /** The tokenizer class's default special tokens (tokenizer_config.json entries win over these). */
  defaults: JsonObject;
}

const sp = (id: string, typeId = 0): Json => ({ SpecialToken: { id, type_id: typeId } });
const seq = (id: 'A' | 'B', typeId = 0): Json => ({ Sequence: { id, type_id: typeId } });

function template(single: Json[], pair: Json[], specials: string[], ids: Map<string, number>, file: string): JsonObject {
  const st: JsonObject = {};
  for (const t of specials) {
    const id = ids.get(t);
    if (id === undefined) throw new ModelError(`${file}: special token ${t} is not in the SentencePiece vocabulary; add a tokenizer.json`);
    st[t] = { id: t, ids: [id], tokens: [t] };
  }
  return { type: 'TemplateProcessing', single, pair, special_tokens: st };
}

function base64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function added(id: number, content: string, special: boolean, lstrip = false): JsonObject {
  return { id, content, single_word: false, lstrip, rstrip: false, normalized: false, special };
}

/**
 * Converts a SentencePiece model as transformers does for the given tokenizer class.
 * @example const { json } = convertSentencePiece(bytes, 'spm.model', 'deberta-v2', { do_lower_case: false });
 */
export function convertSentencePiece(bytes: Uint8Array, file: string, flavor: SpmFlavor, config: JsonObject = {}): SpmConversion {
  if (flavor === 'unsupported') {
    const dir = file.replace(/[\\/][^\\/]*$/, '') || '.';
    throw new ModelError(
      `${file}: this tokenizer class converts its SentencePiece model in its own way, which finetune does not reproduce ` +
        `(supported: XLM-RoBERTa, DeBERTa-v2/v3, T5, ALBERT, Llama and plain SentencePiece). Create tokenizer.json once with Python: ` +
        `python -c "from transformers import AutoTokenizer; AutoTokenizer.from_pretrained('${dir}').save_pretrained('${dir}')"`,
    );
  }
  const m = parseSentencePieceModel(bytes, file);
  // LlamaConverter is BPE-only; a Unigram model in such a folder gets the generic SpmConverter. A
  // tokenizer.model named by no class is Llama's when it is BPE without a normalization charsmap.
  const llamaLike = m.modelType === 2 && !(m.hasCharsmap && m.normalizerName !== 'identity') && /(^|[\\/])tokenizer\.model$/.test(file);
  if (m.modelType === 2 && (flavor === 'llama' || (flavor === 'generic' && llamaLike))) return { json: sentencePieceToTokenizerJson(bytes, file), defaults: {} };
  if (m.modelType !== 1 && m.modelType !== 2) {
    throw new ModelError(`${file}: SentencePiece model type ${m.modelType} (word/char) cannot be converted; only Unigram (1) and BPE (2) can`);
  }
  let vocab: Array<[string, number]> = m.pieces.map((p) => [p.piece, p.score]);
  let unkId = m.unkId;
  const defaults: JsonObject = {};
  const extra: Array<[string, boolean]> = []; // tokens appended as added tokens if absent: [content, lstrip]
  if (flavor === 'xlm-roberta') {
    vocab = [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...vocab.slice(3), ['<mask>', 0]];
    unkId = 3;
    Object.assign(defaults, roles('<s>', '</s>', '<s>', '</s>', '<unk>', '<pad>', '<mask>'));
  } else if (flavor === 't5') {
    const n = typeof config.extra_ids === 'number' ? config.extra_ids : 100;
    for (let i = n - 1; i >= 0; i--) vocab.push([`<extra_id_${i}>`, 0]);
    Object.assign(defaults, { eos_token: '</s>', unk_token: '<unk>', pad_token: '<pad>' });
    if (!('additional_special_tokens' in config) && n > 0) {
      defaults.additional_special_tokens = Array.from({ length: n }, (_, i) => `<extra_id_${i}>`);
    }
  } else if (flavor === 'albert') {
    // AlbertConverter: pieces ending in "<non-digit>," are pushed down by 100.
    vocab = vocab.map(([p, s]) => [p, p.length < 2 || !p.endsWith(',') || !/\d/.test(p.at(-2)!) ? s : s - 100]);
    Object.assign(defaults, roles('[CLS]', '[SEP]', '[CLS]', '[SEP]', '<unk>', '<pad>', '[MASK]'));
    extra.push(['[MASK]', true]);
  } else if (flavor === 'deberta-v2') {
    Object.assign(defaults, roles('[CLS]', '[SEP]', '[CLS]', '[SEP]', '[UNK]', '[PAD]', '[MASK]'));
    extra.push(['[MASK]', false]);
  }
  const ids = new Map<string, number>();
  vocab.forEach(([p], i) => {
    if (!ids.has(p)) ids.set(p, i);
  });

  // Added tokens: spm control (special) and user-defined pieces, then the class's special tokens.
  const addedTokens: JsonObject[] = [];
  const seen = new Set<string>();
  const push = (content: string, special: boolean, lstrip = false): void => {
    if (seen.has(content)) return;
    let id = ids.get(content);
    if (id === undefined) {
      id = vocab.length + addedTokens.filter((t) => !ids.has(t.content as string)).length;
    }
    seen.add(content);
    addedTokens.push(added(id, content, special, lstrip));
  };
  m.pieces.forEach((p) => {
    if ((p.type === 3 || p.type === 4) && ids.has(p.piece)) push(p.piece, p.type === 3);
  });
  for (const k of Object.keys(defaults)) {
    const t = defaults[k];
    if (typeof t === 'string' && ids.has(t)) push(t, true, flavor === 'xlm-roberta' && t === '<mask>');
  }
  if (Array.isArray(defaults.additional_special_tokens)) for (const t of defaults.additional_special_tokens) if (typeof t === 'string') push(t, true);
  for (const [t, lstrip] of extra) push(t, true, lstrip);
  addedTokens.sort((a, b) => (a.id as number) - (b.id as number));

  const lower = flavor === 'albert' ? config.do_lower_case !== false : config.do_lower_case === true;
  const charsmap: Json[] = m.hasCharsmap ? [{ type: 'Precompiled', precompiled_charsmap: base64(m.charsmap) }] : [];
  let normalizers: Json[];
  if (flavor === 'deberta-v2') {
    normalizers = [...(lower ? [{ type: 'Lowercase' }] : []), { type: 'Strip', strip_left: true, strip_right: true }, ...charsmap, replaceSpaces(' ')];
  } else if (flavor === 'albert') {
    normalizers = [replace('``', '"'), replace("''", '"')];
    if (config.keep_accents !== true) normalizers.push({ type: 'NFKD' }, { type: 'StripAccents' });
    if (lower) normalizers.push({ type: 'Lowercase' });
    normalizers.push(...charsmap, replaceSpaces(' '));
  } else {
    normalizers = [...charsmap, { type: 'Strip', strip_left: false, strip_right: true }, replaceSpaces('\u2581')];
  }

  const addPrefixSpace = config.add_prefix_space !== false;
  const scheme = !addPrefixSpace ? 'never' : config.legacy === false ? 'first' : 'always';
  const metaspace: JsonObject = { type: 'Metaspace', replacement: '\u2581', prepend_scheme: scheme, split: true };
  const preTokenizer: Json =
    flavor === 'deberta-v2' && config.split_by_punct === true
      ? { type: 'Sequence', pretokenizers: [{ type: 'Punctuation', behavior: 'Isolated' }, metaspace] }
      : metaspace;

  const byteFallback = m.byteFallback;
  const decoder: Json = byteFallback
    ? {
        type: 'Sequence',
        decoders: [replace('\u2581', ' '), { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
      }
    : { ...metaspace };

  let post: Json = null;
  if (flavor === 'xlm-roberta') {
    post = template([sp('<s>'), seq('A'), sp('</s>')], [sp('<s>'), seq('A'), sp('</s>'), sp('</s>'), seq('B'), sp('</s>')], ['<s>', '</s>'], ids, file);
  } else if (flavor === 'deberta-v2' || flavor === 'albert') {
    post = template([sp('[CLS]'), seq('A'), sp('[SEP]')], [sp('[CLS]'), seq('A'), sp('[SEP]'), seq('B', 1), sp('[SEP]', 1)], ['[CLS]', '[SEP]'], ids, file);
  } else if (flavor === 't5') {
    post = template([seq('A'), sp('</s>')], [seq('A'), sp('</s>'), seq('B'), sp('</s>')], ['</s>'], ids, file);
  }

  const json: JsonObject = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: preTokenizer,
    post_processor: post,
    decoder,
    model: modelJson(m, vocab, unkId, byteFallback),
  };
  return { json, defaults };
}

/** Special-token roles as tokenizer_config.json spells them. */
function roles(bos: string, eos: string, cls: string, sep: string, unk: string, pad: string, mask: string): JsonObject {
  return { bos_token: bos, eos_token: eos, cls_token: cls, sep_token: sep, unk_token: unk, pad_token: pad, mask_token: mask };
}

function replace(from: string, to: string): Json {
  return { type: 'Replace', pattern: { String: from }, content: to };
}

function replaceSpaces(to: string): Json {
  return { type: 'Replace', pattern: { Regex: ' {2,}' }, content: to };
}

function modelJson(m: SpModel, vocab: Array<[string, number]>, unkId: number, byteFallback: boolean): JsonObject {
  if (m.modelType === 1) return { type: 'Unigram', unk_id: unkId, vocab: vocab.map(([p, s]) => [p, s]), byte_fallback: byteFallback };
  const v: JsonObject = {};
  vocab.forEach(([p], i) => {
    if (!(p in v)) v[p] = i;
  });
  return {
    type: 'BPE',
    dropout: null,
    unk_token: m.unkPiece,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: true,
    byte_fallback: byteFallback,
    ignore_merges: false,
    vocab: v,
    merges: mergesFromScores(vocab).map(([a, b]) => [a, b]),
  };
}

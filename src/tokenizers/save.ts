// Writes a tokenizer as a Hugging Face folder that Python transformers loads: tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, plus vocab.txt (WordPiece) or vocab.json +
// merges.txt (BPE). Each file is written to a temporary name and renamed (atomic). Not here: loading.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../errors.ts';
import { type Json, type JsonObject, isObject } from './json.ts';
import { SPECIAL_TOKEN_NAMES, type Tokenizer } from './tokenizer.ts';

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, path);
}

/** The tokenizer_config.json transformers needs to rebuild this tokenizer. */
export function tokenizerConfigJson(tok: Tokenizer): JsonObject {
  const cfg = tok.config;
  const out: JsonObject = { ...cfg.extra };
  const norm = isObject(tok.json.normalizer) ? tok.json.normalizer : null;
  const isWordPiece = tok.model.type === 'WordPiece';
  if (typeof out.tokenizer_class !== 'string') {
    out.tokenizer_class = isWordPiece && norm?.type === 'BertNormalizer' ? 'BertTokenizerFast' : 'PreTrainedTokenizerFast';
  }
  if (norm?.type === 'BertNormalizer') out.do_lower_case = norm.lowercase !== false;
  if (cfg.modelMaxLength !== null) out.model_max_length = cfg.modelMaxLength;
  out.padding_side = cfg.paddingSide;
  out.truncation_side = cfg.truncationSide;
  out.clean_up_tokenization_spaces = cfg.cleanUpTokenizationSpaces;
  for (const n of SPECIAL_TOKEN_NAMES) {
    const t = cfg.specialTokens[n];
    if (t !== undefined) out[`${n}_token`] = t;
  }
  if (cfg.additionalSpecialTokens.length > 0 && !('extra_special_tokens' in out)) out.additional_special_tokens = cfg.additionalSpecialTokens;
  if (cfg.chatTemplate !== null) out.chat_template = cfg.chatTemplate;
  const decoder: JsonObject = {};
  for (const t of tok.added.tokens) {
    decoder[String(t.id)] = { content: t.content, lstrip: t.lstrip, normalized: t.normalized, rstrip: t.rstrip, single_word: t.singleWord, special: t.special };
  }
  out.added_tokens_decoder = decoder;
  return out;
}

/** special_tokens_map.json: role → token. */
export function specialTokensMapJson(tok: Tokenizer): JsonObject {
  const out: JsonObject = {};
  for (const n of SPECIAL_TOKEN_NAMES) {
    const t = tok.config.specialTokens[n];
    if (t !== undefined) out[`${n}_token`] = t;
  }
  if (tok.config.additionalSpecialTokens.length > 0) out.additional_special_tokens = tok.config.additionalSpecialTokens;
  return out;
}

/** The WordPiece vocabulary as vocab.txt (line N = id N); ids must be 0..n-1 without gaps. */
export function vocabTxt(tok: Tokenizer): string {
  const entries = [...tok.model.vocab.entries()].sort((a, b) => a[1] - b[1]);
  entries.forEach(([t, id], i) => {
    if (id !== i) throw new ModelError(`cannot write vocab.txt: vocabulary ids are not contiguous (token ${JSON.stringify(t)} has id ${id}, expected ${i})`);
  });
  return entries.map(([t]) => t + '\n').join('');
}

/**
 * Saves `tok` into `dir` (created if needed) in the layout `AutoTokenizer.from_pretrained` reads.
 * @example await saveTokenizer(tok, 'out/model'); // then in Python: AutoTokenizer.from_pretrained('out/model')
 */
export async function saveTokenizer(tok: Tokenizer, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: Array<[string, string]> = [
    ['tokenizer.json', JSON.stringify(tok.json, null, 2)],
    ['tokenizer_config.json', JSON.stringify(tokenizerConfigJson(tok), null, 2) + '\n'],
    ['special_tokens_map.json', JSON.stringify(specialTokensMapJson(tok), null, 2) + '\n'],
  ];
  if (tok.model.type === 'WordPiece') files.push(['vocab.txt', vocabTxt(tok)]);
  if (tok.model.type === 'BPE') {
    const model = tok.json.model as JsonObject;
    const vocab: JsonObject = {};
    for (const [t, id] of [...tok.model.vocab.entries()].sort((a, b) => a[1] - b[1])) vocab[t] = id;
    const merges = Array.isArray(model.merges) ? model.merges : [];
    const lines = merges.map((m: Json) => (Array.isArray(m) ? m.join(' ') : String(m)));
    files.push(['vocab.json', JSON.stringify(vocab)], ['merges.txt', '#version: 0.2\n' + lines.map((l) => l + '\n').join('')]);
  }
  for (const [name, text] of files) await writeAtomic(join(dir, name), text);
  return files.map(([name]) => join(dir, name));
}

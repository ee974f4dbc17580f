// Tiny deterministic datasets for the task-pipeline tests: NER word lists with BIO tags, SQuAD-style
// question/context/answers rows, and unlabelled domain text, written as JSONL/TXT files. Also a
// WordPiece tokenizer with a hand-written vocabulary, so expected tokens can be worked out by hand.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFrom, wordPieceJsonFromVocab } from '../../src/tokenizers/load.ts';
import { Tokenizer } from '../../src/tokenizers/tokenizer.ts';
import type { JsonObject } from '../../src/tokenizers/json.ts';

export const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
export const CITIES = [['paris'], ['london'], ['new', 'york'], ['berlin'], ['san', 'francisco'], ['rome']];
const VERBS = ['lives in', 'moved to', 'visited', 'works in'];

/** n sentences "<person> <verb> <city> ." with B-PER / B-LOC I-LOC / O tags. */
export function nerRows(n: number): { tokens: string[]; ner_tags: string[] }[] {
  const rows = [];
  for (let i = 0; i < n; i++) {
    const person = PEOPLE[i % PEOPLE.length] as string;
    const city = CITIES[(i * 5 + Math.floor(i / 6)) % CITIES.length] as string[];
    const verb = (VERBS[(i * 3) % VERBS.length] as string).split(' ');
    const tokens = [person, ...verb, ...city, '.'];
    const ner_tags = ['B-PER', ...verb.map(() => 'O'), ...city.map((_, k) => (k === 0 ? 'B-LOC' : 'I-LOC')), 'O'];
    rows.push({ tokens, ner_tags });
  }
  return rows;
}

/** n SQuAD-style rows: a two-sentence context, a question about one person, the city as the answer. */
export function qaRows(n: number): { id: string; context: string; question: string; answers: { text: string[]; answer_start: number[] } }[] {
  const rows = [];
  for (let i = 0; i < n; i++) {
    const a = PEOPLE[i % PEOPLE.length] as string;
    const b = PEOPLE[(i + 1) % PEOPLE.length] as string;
    const ca = (CITIES[(i * 5) % CITIES.length] as string[]).join(' ');
    const cb = (CITIES[(i * 5 + 1) % CITIES.length] as string[]).join(' ');
    const context = `${a} lives in ${ca} . ${b} lives in ${cb} .`;
    const askFirst = i % 2 === 0;
    const who = askFirst ? a : b;
    const answer = askFirst ? ca : cb;
    const start = askFirst ? context.indexOf(ca) : context.lastIndexOf(cb);
    rows.push({ id: `q${i}`, context, question: `where does ${who} live ?`, answers: { text: [answer], answer_start: [start] } });
  }
  return rows;
}

/** n lines of unlabelled "domain" text. */
export function textLines(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = PEOPLE[i % PEOPLE.length] as string;
    const c = (CITIES[(i * 7) % CITIES.length] as string[]).join(' ');
    out.push(`${p} ${VERBS[i % VERBS.length]} ${c} and ${PEOPLE[(i + 2) % PEOPLE.length]} stayed home .`);
  }
  return out;
}

export function writeJsonl(dir: string, name: string, rows: readonly object[]): string {
  const file = join(dir, name);
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

/**
 * A BERT-style (lower-casing, [CLS] A [SEP] B [SEP]) WordPiece tokenizer over exactly these tokens, after
 * the five specials [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 — so every token id is known in advance.
 */
export function fixedVocabTokenizer(tokens: readonly string[], modelMaxLength = 512): Tokenizer {
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const vocab = new Map<string, number>();
  for (const t of [...specials, ...tokens]) vocab.set(t, vocab.size);
  const config: JsonObject = { do_lower_case: true, model_max_length: modelMaxLength, tokenizer_class: 'BertTokenizerFast', pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]' };
  const json = wordPieceJsonFromVocab(vocab, config);
  json.added_tokens = specials.map((s, id) => ({ id, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return new Tokenizer(json, configFrom(config, {}, json), { file: 'fixedVocabTokenizer' });
}

// Cleaning examples before tokenisation: Unicode normalisation, whitespace cleanup, optional HTML and
// e-mail header stripping, empty-row dropping and deduplication — each counted, with the first few
// lines, in the dataset's `steps` so a user can see what happened to their data.
// Not here: truncation to the model's maximum length (a tokenizer concern) or label checks (labels.ts).
// QA contexts are never rewritten (that would move the answers' character offsets).

import { decodeHTML } from 'entities';
import { MAX_PREP_ORIGINS, StepCounter, type Dataset, type PrepStep } from './types.ts';
import { describeOrigins } from './read.ts';

/** What to clean. Every option is off unless set, except `whitespace` and `dropEmpty` (on). */
export interface PreprocessOptions {
  /** Unicode normalisation form, e.g. 'NFKC' (folds full-width letters, ligatures, ...). */
  normalize?: 'NFC' | 'NFKC' | 'NFD' | 'NFKD' | false;
  /** Trim, collapse runs of spaces, drop zero-width and control characters. Default true. */
  whitespace?: boolean;
  /** Remove HTML tags, scripts, styles and comments; decode entities (&amp; → &). */
  stripHtml?: boolean;
  /** Remove a leading RFC 5322 header block and MIME part headers (raw e-mails). */
  stripEmailHeaders?: boolean;
  /** Drop rows whose text (or text pair, tokens, question/context) is empty. Default true. */
  dropEmpty?: boolean;
  /** Drop repeated rows: same text (and pair), or same text + label. Default off. */
  dedupe?: false | 'text' | 'text+label';
}

// Horizontal whitespace other than ' ' (tab, NBSP, en/em spaces, ideographic space...) and C0/C1
// controls other than \n (NEL U+0085 included) become a space; zero-width characters are removed.
const SPACE_LIKE = /[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u0000-\u0008\u000e-\u001f\u007f-\u009f\u2028\u2029]/g;
const ZERO_WIDTH = /[\u200b-\u200d\u2060\ufeff\u00ad]/g;

/**
 * Whitespace cleanup: CRLF/CR → LF, odd spaces and control characters → space, zero-width characters
 * removed, runs of spaces collapsed, spaces around newlines dropped, 3+ newlines → 2, trimmed.
 *
 * @example
 * cleanWhitespace('  a\u00a0 b \r\n\r\n\r\n c\u200b ') // 'a b\n\nc'
 */
export function cleanWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(ZERO_WIDTH, '')
    .replace(SPACE_LIKE, ' ')
    .replace(/ {2,}/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const BLOCK_TAGS = /<\/?(?:p|div|br|tr|li|ul|ol|table|h[1-6]|blockquote|pre|hr|section|article|header|footer|title)\b[^>]*>/gi;

/**
 * Remove HTML markup, keeping the text: drops comments, <script>/<style>/<head> contents and tags,
 * turns block-level tags into line breaks, decodes entities. Text without tags is returned unchanged
 * (apart from entity decoding when it contains entities and tags).
 *
 * @example
 * stripHtml('<p>Hello <b>world</b> &amp; all</p>') // '\nHello world & all\n'
 */
export function stripHtml(text: string): string {
  if (!/<\/?[a-zA-Z!][^>]*>/.test(text)) return text;
  const out = text
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<(script|style|head)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!DOCTYPE[^>]*>/gi, ' ')
    .replace(BLOCK_TAGS, '\n')
    .replace(/<\/?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^>]*)?\/?>/g, ' ')
    .replace(/<\/?[a-zA-Z][a-zA-Z0-9:-]*(?:\s[^<>]*)?$/, ' '); // a tag cut off at the end of the text
  return decodeHTML(out);
}

// Header names that identify a block as e-mail headers (one must appear for the block to be stripped).
const KNOWN_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'subject', 'date', 'received', 'return-path', 'message-id', 'reply-to', 'sender',
  'delivered-to', 'mime-version', 'content-type', 'content-transfer-encoding', 'in-reply-to', 'references',
  'list-id', 'list-unsubscribe', 'precedence', 'errors-to', 'envelope-to', 'x-mailer', 'user-agent',
]);
const HEADER_LINE = /^([!-9;-~]+):[ \t]?/; // RFC 5322 field name: printable ASCII except ':'
const MBOX_FROM = /^From \S+/;

/** Length (in lines) of a header block starting at `lines[start]`, or 0 when it is not one. */
function headerBlockLength(lines: string[], start: number, requireKnown: (name: string) => boolean): number {
  let i = start;
  let known = false;
  if (MBOX_FROM.test(lines[i] ?? '')) i++;
  let fields = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') break;
    if (/^[ \t]/.test(line) && fields > 0) continue; // folded continuation line
    const m = HEADER_LINE.exec(line);
    if (m === null) return 0;
    fields++;
    if (requireKnown((m[1] as string).toLowerCase())) known = true;
  }
  if (fields === 0 || !known) return 0;
  return i - start + (i < lines.length ? 1 : 0); // include the blank separator line
}

/**
 * Strip e-mail headers: a leading header block (up to the first blank line, only when it contains a
 * standard field such as From/Subject/Received), and MIME part headers after `--boundary` lines.
 *
 * @example
 * stripEmailHeaders('From: a@b.c\nSubject: hi\n\nBody text') // 'Body text'
 */
export function stripEmailHeaders(text: string): string {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let i = headerBlockLength(lines, 0, (n) => KNOWN_HEADERS.has(n) || n.startsWith('x-'));
  const boundaries = new Set<string>();
  while (i < lines.length) {
    const line = (lines[i] as string).trimEnd();
    const m = /^--([^\s]*[^\s-][^\s]*?)(--)?$/.exec(line);
    if (m !== null) {
      const id = m[1] as string;
      // A MIME boundary opens a part whose Content-* headers follow; drop both. A line repeating a
      // known boundary (including the closing `--id--`) is dropped too. Other dashed lines are text.
      const partHeaders = headerBlockLength(lines, i + 1, (n) => n.startsWith('content-'));
      if (partHeaders > 0 || boundaries.has(id)) {
        boundaries.add(id);
        i += 1 + partHeaders;
        continue;
      }
    }
    out.push(lines[i] as string);
    i++;
  }
  return out.join('\n');
}

/** A dataset after preprocessing, and its steps (also appended to `dataset.steps`). */
export interface PreprocessResult {
  dataset: Dataset;
  /** Rows before and after. */
  input: number;
  output: number;
}

/** Apply the text transforms in order: normalise → e-mail headers → HTML → whitespace. */
function makeTransforms(opts: PreprocessOptions): { name: string; fn: (s: string) => string }[] {
  const t: { name: string; fn: (s: string) => string }[] = [];
  if (opts.normalize) {
    const form = opts.normalize;
    t.push({ name: `Unicode ${form} normalisation`, fn: (s) => s.normalize(form) });
  }
  if (opts.stripEmailHeaders) t.push({ name: 'e-mail header stripping', fn: stripEmailHeaders });
  if (opts.stripHtml) t.push({ name: 'HTML stripping', fn: stripHtml });
  if (opts.whitespace ?? true) t.push({ name: 'whitespace cleanup', fn: cleanWhitespace });
  return t;
}

/**
 * Clean a dataset. Returns a new dataset (the input is not modified) whose `steps` record every drop and
 * change with counts and the first few origins.
 *
 * @example
 * const { dataset } = preprocessDataset(ds, { normalize: 'NFKC', stripHtml: true, dedupe: 'text' });
 * console.log(formatPrepSteps(dataset));
 */
export function preprocessDataset(ds: Dataset, opts: PreprocessOptions = {}): PreprocessResult {
  const transforms = makeTransforms(opts);
  const counters = transforms.map((t) => new StepCounter(t.name, 'changed'));
  const apply = (s: string, origin: number, touched: Set<number>): string => {
    let cur = s;
    transforms.forEach((t, k) => {
      const next = t.fn(cur);
      if (next !== cur && !touched.has(k)) {
        touched.add(k);
        (counters[k] as StepCounter).add(origin);
      }
      cur = next;
    });
    return cur;
  };
  const empty = new StepCounter('empty text', 'dropped');
  const dup = new StepCounter('duplicate', 'dropped', opts.dedupe === 'text+label' ? 'same text and label as an earlier row' : 'same text as an earlier row');
  const conflict = new StepCounter('same text as an earlier row but a different label', 'warning', opts.dedupe === 'text' ? 'dropped with the duplicates; the first label was kept' : 'both kept');
  const firstLabel = new Map<string, string>(); // text key → label of its first occurrence
  const seenWithLabel = new Set<string>();
  const dropEmpty = opts.dropEmpty ?? true;
  const input = ds.examples.length;

  /** Returns false when the row is a duplicate (and counts it). */
  const firstOccurrence = (key: string, label: string, origin: number): boolean => {
    if (!opts.dedupe) return true;
    const fullKey = `${key}\u0000${label}`;
    const prev = firstLabel.get(key);
    if (prev === undefined) {
      firstLabel.set(key, label);
      seenWithLabel.add(fullKey);
      return true;
    }
    if (prev !== label) conflict.add(origin);
    if (opts.dedupe === 'text+label' && !seenWithLabel.has(fullKey)) {
      seenWithLabel.add(fullKey);
      return true;
    }
    dup.add(origin);
    return false;
  };

  let result: Dataset;
  if (ds.task === 'token_classification') {
    const examples = [];
    for (const ex of ds.examples) {
      const touched = new Set<number>();
      const tokens = opts.normalize ? ex.tokens.map((tok) => apply(tok, ex.origin, touched)) : ex.tokens;
      if (dropEmpty && tokens.length === 0) {
        empty.add(ex.origin);
        continue;
      }
      if (!firstOccurrence(tokens.join(' '), (ex.tags ?? []).join(' '), ex.origin)) continue;
      examples.push({ ...ex, tokens });
    }
    result = { ...ds, examples };
  } else if (ds.task === 'question_answering') {
    const examples = [];
    for (const ex of ds.examples) {
      const touched = new Set<number>();
      // Only the question is cleaned: rewriting the context would move the answers' offsets.
      const question = apply(ex.question, ex.origin, touched);
      if (dropEmpty && (question.trim() === '' || ex.context.trim() === '')) {
        empty.add(ex.origin);
        continue;
      }
      if (!firstOccurrence(`${question}\u0000${ex.context}`, JSON.stringify(ex.answers), ex.origin)) continue;
      examples.push({ ...ex, question });
    }
    result = { ...ds, examples };
  } else {
    const examples = [];
    for (const ex of ds.examples) {
      const touched = new Set<number>();
      const text = apply(ex.text, ex.origin, touched);
      const textPair = ex.textPair === undefined ? undefined : apply(ex.textPair, ex.origin, touched);
      if (dropEmpty && (text.trim() === '' || (textPair !== undefined && textPair.trim() === ''))) {
        empty.add(ex.origin);
        continue;
      }
      const label = ex.label ?? (ex.labels ? [...ex.labels].sort().join('\u0000') : ex.target !== undefined ? String(ex.target) : '');
      if (!firstOccurrence(textPair === undefined ? text : `${text}\u0000${textPair}`, label, ex.origin)) continue;
      const out = { ...ex, text };
      if (textPair !== undefined) out.textPair = textPair;
      examples.push(out);
    }
    result = { ...ds, examples };
  }
  const steps: PrepStep[] = [
    ...counters.flatMap((c) => c.toSteps()),
    ...empty.toSteps(),
    ...dup.toSteps(),
    ...conflict.toSteps(),
  ];
  result.steps = [...ds.steps, ...steps];
  return { dataset: result, input, output: result.examples.length };
}

/**
 * Human-readable lines describing a dataset's preparation steps.
 *
 * @example
 * formatPrepSteps(ds) // ['train.tsv: dropped 403 rows: duplicate (same text as an earlier row) — lines 104, 155, ...']
 */
export function formatPrepSteps(ds: Dataset): string[] {
  return ds.steps.map((s) => {
    const verb = s.action === 'dropped' ? 'dropped' : s.action === 'changed' ? 'changed' : 'warning:';
    const rows = `${s.count.toLocaleString('en-US')} row${s.count === 1 ? '' : 's'}`;
    const detail = s.detail !== undefined ? ` (${s.detail})` : '';
    const shown = s.origins.slice(0, MAX_PREP_ORIGINS);
    const more = s.count > shown.length ? ', ...' : '';
    return `${ds.file}: ${verb} ${rows}: ${s.step}${detail} — ${describeOrigins(ds.originKind, shown, MAX_PREP_ORIGINS)}${more}`;
  });
}

// Column mapping: which columns of a table hold the text, text pair, label, tokens/tags or SQuAD fields,
// and turning rows into typed examples with strict checks (missing column → the columns that exist;
// blank or malformed label → the file and line). Labels stay strings here; label ids come later
// (labels.ts) so that an evaluation file's unknown labels can be reported against the training set.
// Not here: reading files (read.ts), cleaning text (preprocess.ts), tokenisation.

import { DataError } from '../errors.ts';
import { describeOrigin, describeOrigins, type CellValue, type Row, type Table } from './read.ts';
import {
  StepCounter,
  type ClassificationProblem,
  type Dataset,
  type QaAnswers,
  type QaDataset,
  type QaExample,
  type TextDataset,
  type TextExample,
  type TokenDataset,
  type TokenExample,
} from './types.ts';

/** Columns for sequence classification or regression. */
export interface TextColumns {
  task: ClassificationProblem;
  /** The text column; several columns are joined with `textJoin` (e.g. ['subject', 'body']). */
  text: string | string[];
  /** Separator when `text` lists several columns (default '\n'). */
  textJoin?: string;
  /** Second text of a pair (NLI, paraphrase...). */
  textPair?: string;
  /**
   * The label column. Multi-label: a column holding a list (JSON array, or a string split at
   * `labelDelimiter`), or a list of 0/1 columns, one per label. Leave out for unlabelled data.
   */
  label?: string | string[];
  /** Multi-label: separator inside a string cell (default ','). */
  labelDelimiter?: string;
  /** Names for integer labels (like a Hugging Face ClassLabel): label i is `labelNames[i]`. Strings equal to a name pass. */
  labelNames?: string[];
  /** What to do with a row whose label is blank: 'error' (default) or 'drop' (and report it). */
  blankLabels?: 'error' | 'drop';
}

/** Columns for token classification: a word list and a tag list per row. */
export interface TokenColumns {
  task: 'token_classification';
  /** Column of words: a list, a JSON array string, or a whitespace-separated string. */
  tokens: string;
  /** Column of tags, one per word (strings, or integers with `tagNames`). Leave out for unlabelled data. */
  tags?: string;
  /** Names for integer tags (e.g. conll2003's ner_tags feature names). */
  tagNames?: string[];
}

/** Columns for SQuAD-style extractive question answering. */
export interface QaColumns {
  task: 'question_answering';
  context: string;
  question: string;
  /** {text: string[], answer_start: number[]} (or a JSON string of it). Leave out for unlabelled data. */
  answers?: string;
  /** Example id column (default: the row's line/record number). */
  id?: string;
}

/** How a table's columns map onto a task. */
export type ColumnMapping = TextColumns | TokenColumns | QaColumns;

/**
 * When a CSV/TSV was read with the other delimiter (one column whose name holds tabs or commas), says
 * which format the file looks like, so a wrong --format (or extension) is named as the cause.
 */
export function delimiterHint(table: Table): string {
  if (table.columns.length !== 1) return '';
  const only = table.columns[0] as string;
  if (table.format === 'csv' && only.includes('\t')) return ' The file looks tab-separated: pass --format tsv.';
  if (table.format === 'tsv' && only.includes(',')) return ' The file looks comma-separated: pass --format csv.';
  return '';
}

/** Throw a DataError naming the file, the missing column, and the columns that do exist. */
export function requireColumn(table: Table, column: string, role: string): void {
  if (table.columns.includes(column)) return;
  const close = table.columns.find((c) => c.toLowerCase() === column.toLowerCase());
  const hint = close !== undefined ? ` Did you mean "${close}"?` : '';
  const headerHint =
    table.format === 'csv' || table.format === 'tsv'
      ? ' If the file has no header row, pass --no-header --column-names a,b (config: has_header: false, column_names).'
      : '';
  throw new DataError(`${table.file}: the ${role} column "${column}" does not exist. Columns in the file: ${table.columns.join(', ')}.${delimiterHint(table)}${hint}${headerHint}`);
}

function where(table: Table, i: number): string {
  return `${table.file}: ${describeOrigin(table.originKind, table.origins[i] as number)}`;
}

function isBlank(v: CellValue | undefined): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

function cellText(table: Table, i: number, column: string, v: CellValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new DataError(`${where(table, i)}: column "${column}" holds ${Array.isArray(v) ? 'a list' : 'an object'}, expected text`);
}

/** A label cell → label string (integers through `names` when given). */
function scalarLabel(table: Table, i: number, column: string, v: CellValue, names: string[] | undefined): string {
  if (typeof v === 'boolean') return String(v);
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new DataError(`${where(table, i)}: label column "${column}" holds ${Array.isArray(v) ? 'a list' : 'an object'}; a single-label task needs one label per row (use task multi_label_classification for lists)`);
  }
  const s = typeof v === 'number' ? String(v) : v.trim();
  if (names === undefined || (typeof v === 'string' && names.includes(s))) return s;
  const k = Number(s);
  if (!Number.isInteger(k) || k < 0 || k >= names.length) {
    throw new DataError(`${where(table, i)}: label ${JSON.stringify(s)} is not an index into the ${names.length} label names of --label-names (${names.join(', ')})`);
  }
  return names[k] as string;
}

/** A cell holding a list: an array, a JSON array string, or a string split at `delimiter` (or whitespace). */
function listCell(table: Table, i: number, column: string, v: CellValue, delimiter: string | RegExp): CellValue[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'number' || typeof v === 'boolean') return [v];
  if (typeof v !== 'string') throw new DataError(`${where(table, i)}: column "${column}" holds an object, expected a list`);
  const s = v.trim();
  if (s.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(s);
    } catch (err) {
      throw new DataError(`${where(table, i)}: column "${column}" starts with "[" but is not a valid JSON list (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed)) throw new DataError(`${where(table, i)}: column "${column}" is not a list`);
    return parsed as CellValue[];
  }
  return s.split(delimiter).map((x) => x.trim()).filter((x) => x !== '');
}

function isTruthyFlag(v: CellValue | undefined): boolean {
  if (v === true) return true;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return ['1', 'true', 'yes', '1.0'].includes(v.trim().toLowerCase());
  return false;
}

function buildTextDataset(table: Table, m: TextColumns): TextDataset {
  const textCols = Array.isArray(m.text) ? m.text : [m.text];
  if (textCols.length === 0) throw new DataError(`${table.file}: no text column given`);
  for (const c of textCols) requireColumn(table, c, 'text');
  if (m.textPair !== undefined) requireColumn(table, m.textPair, 'text pair');
  const labelCols = m.label === undefined ? [] : Array.isArray(m.label) ? m.label : [m.label];
  for (const c of labelCols) requireColumn(table, c, 'label');
  if (labelCols.length > 1 && m.task !== 'multi_label_classification') {
    throw new DataError(`${table.file}: several label columns (${labelCols.join(', ')}) only make sense for task multi_label_classification`);
  }
  const joiner = m.textJoin ?? '\n';
  const blank = new StepCounter('blank label', 'dropped');
  const blankOrigins: number[] = [];
  const examples: TextExample[] = [];
  table.rows.forEach((row: Row, i) => {
    const origin = table.origins[i] as number;
    const parts = textCols.map((c) => cellText(table, i, c, row[c]));
    const ex: TextExample = { text: textCols.length === 1 ? (parts[0] as string) : parts.filter((p) => p !== '').join(joiner), origin };
    if (m.textPair !== undefined) ex.textPair = cellText(table, i, m.textPair, row[m.textPair]);
    if (labelCols.length === 1) {
      const col = labelCols[0] as string;
      const v = row[col];
      if (isBlank(v)) {
        blankOrigins.push(origin);
        blank.add(origin);
        return;
      }
      const cell = v as CellValue;
      if (m.task === 'single_label_classification') {
        ex.label = scalarLabel(table, i, col, cell, m.labelNames);
      } else if (m.task === 'multi_label_classification') {
        const items = listCell(table, i, col, cell, m.labelDelimiter ?? ',');
        ex.labels = [...new Set(items.map((x) => scalarLabel(table, i, col, x, m.labelNames)))];
      } else {
        const num = typeof cell === 'number' ? cell : typeof cell === 'string' ? Number(cell.trim()) : NaN;
        if (!Number.isFinite(num)) {
          throw new DataError(`${where(table, i)}: regression target in column "${col}" is ${JSON.stringify(cell)}, not a finite number`);
        }
        ex.target = num;
      }
    } else if (labelCols.length > 1) {
      ex.labels = labelCols.filter((c) => isTruthyFlag(row[c]));
    }
    examples.push(ex);
  });
  if (blank.count > 0 && (m.blankLabels ?? 'error') === 'error') {
    throw new DataError(
      `${table.file}: ${blank.count} row${blank.count === 1 ? ' has' : 's have'} a blank label in column "${labelCols[0]}" (${describeOrigins(table.originKind, blankOrigins)}). ` +
        `Fill them in, remove those rows, or pass --blank-labels drop (config: blank_labels: drop) to skip them.`,
    );
  }
  return { file: table.file, originKind: table.originKind, steps: blank.toSteps(), task: m.task, labelled: labelCols.length > 0, examples };
}

function buildTokenDataset(table: Table, m: TokenColumns): TokenDataset {
  requireColumn(table, m.tokens, 'tokens');
  if (m.tags !== undefined) requireColumn(table, m.tags, 'tags');
  const examples: TokenExample[] = [];
  table.rows.forEach((row, i) => {
    const origin = table.origins[i] as number;
    const tokens = listCell(table, i, m.tokens, row[m.tokens] ?? '', /\s+/).map((t) => cellText(table, i, m.tokens, t));
    const ex: TokenExample = { tokens, origin };
    if (m.tags !== undefined) {
      const v = row[m.tags];
      if (isBlank(v) && tokens.length > 0) {
        throw new DataError(`${where(table, i)}: the tags column "${m.tags}" is blank but the row has ${tokens.length} tokens`);
      }
      const tags = listCell(table, i, m.tags, v ?? '', /\s+/).map((t) => scalarLabel(table, i, m.tags as string, t, m.tagNames));
      if (tags.length !== tokens.length) {
        throw new DataError(`${where(table, i)}: ${tokens.length} tokens but ${tags.length} tags; each word needs exactly one tag`);
      }
      ex.tags = tags;
    }
    examples.push(ex);
  });
  return { file: table.file, originKind: table.originKind, steps: [], task: 'token_classification', labelled: m.tags !== undefined, examples };
}

function parseAnswers(table: Table, i: number, column: string, v: CellValue | undefined): QaAnswers {
  let cell: unknown = v;
  if (typeof cell === 'string') {
    try {
      cell = JSON.parse(cell);
    } catch (err) {
      throw new DataError(`${where(table, i)}: answers column "${column}" is not JSON (${(err as Error).message}); expected {"text": [...], "answer_start": [...]}`);
    }
  }
  // SQuAD's original layout: a list of {text, answer_start} objects.
  if (Array.isArray(cell)) {
    const list = cell as unknown[];
    cell = {
      text: list.map((a) => (a as Record<string, unknown>)?.['text']),
      answer_start: list.map((a) => (a as Record<string, unknown>)?.['answer_start']),
    };
  }
  const obj = cell as Record<string, unknown> | null;
  const text = obj?.['text'];
  const start = obj?.['answer_start'];
  if (!Array.isArray(text) || !Array.isArray(start) || text.length !== start.length) {
    throw new DataError(`${where(table, i)}: answers column "${column}" must be {"text": [...], "answer_start": [...]} with lists of equal length`);
  }
  if (!text.every((t) => typeof t === 'string') || !start.every((s) => Number.isInteger(s) && (s as number) >= 0)) {
    throw new DataError(`${where(table, i)}: answers must have string texts and non-negative integer answer_start values`);
  }
  return { text: text as string[], answerStart: start as number[] };
}

function buildQaDataset(table: Table, m: QaColumns): QaDataset {
  requireColumn(table, m.context, 'context');
  requireColumn(table, m.question, 'question');
  if (m.answers !== undefined) requireColumn(table, m.answers, 'answers');
  if (m.id !== undefined) requireColumn(table, m.id, 'id');
  const mismatch = new StepCounter('answer text differs from the context at answer_start', 'warning', 'kept as given; check the character offsets');
  const examples: QaExample[] = [];
  table.rows.forEach((row, i) => {
    const origin = table.origins[i] as number;
    const context = cellText(table, i, m.context, row[m.context]);
    const ex: QaExample = {
      id: m.id !== undefined ? cellText(table, i, m.id, row[m.id]) : String(origin),
      context,
      question: cellText(table, i, m.question, row[m.question]),
      answers: { text: [], answerStart: [] },
      origin,
    };
    if (m.answers !== undefined) {
      ex.answers = parseAnswers(table, i, m.answers, row[m.answers]);
      let bad = false;
      ex.answers.text.forEach((t, k) => {
        const s = ex.answers.answerStart[k] as number;
        if (s + t.length > context.length) {
          throw new DataError(`${where(table, i)}: answer ${JSON.stringify(t)} at answer_start ${s} runs past the end of the context (${context.length} characters)`);
        }
        if (context.slice(s, s + t.length) !== t) bad = true;
      });
      if (bad) mismatch.add(origin);
    }
    examples.push(ex);
  });
  return { file: table.file, originKind: table.originKind, steps: mismatch.toSteps(), task: 'question_answering', labelled: m.answers !== undefined, examples };
}

/**
 * Turn a table into typed examples for a task.
 *
 * @example
 * const table = await readTable('spam.jsonl');
 * const ds = buildDataset(table, { task: 'single_label_classification', text: ['subject', 'body'], label: 'label' });
 */
export function buildDataset(table: Table, mapping: ColumnMapping): Dataset {
  switch (mapping.task) {
    case 'token_classification':
      return buildTokenDataset(table, mapping);
    case 'question_answering':
      return buildQaDataset(table, mapping);
    default:
      return buildTextDataset(table, mapping);
  }
}

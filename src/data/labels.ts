// Label ↔ id mapping built from training data (sorted, so the same data always gives the same ids),
// in the `id2label`/`label2id` shape transformers keeps in config.json; encoding examples' labels to ids;
// and reporting labels an evaluation file has that training did not — with counts and lines, never guessed.
// Not here: tokenisation or the alignment of word tags to sub-tokens (align.ts).

import { DataError } from '../errors.ts';
import { describeOrigins } from './read.ts';
import type { Dataset } from './types.ts';

/** A fixed label order. `labels[id]` is the name of label `id`. */
export interface LabelMap {
  labels: string[];
  /** transformers' config.json shape: string keys "0", "1", ... */
  id2label: Record<string, string>;
  label2id: Record<string, number>;
}

const INTEGER = /^-?\d+$/;

/**
 * Sort label names deterministically: numerically when every label is an integer ("2" < "10"),
 * otherwise by code point (not locale, so every machine agrees).
 */
export function sortLabels(labels: Iterable<string>): string[] {
  const uniq = [...new Set(labels)];
  if (uniq.length > 0 && uniq.every((l) => INTEGER.test(l))) return uniq.sort((a, b) => Number(a) - Number(b));
  return uniq.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Build a LabelMap from label names. `order` fixes the order explicitly (and may include labels the
 * data lacks); otherwise labels are sorted with {@link sortLabels}.
 *
 * @example
 * buildLabelMap(['spam', 'ham', 'ham']).id2label; // { '0': 'ham', '1': 'spam' }
 */
export function buildLabelMap(labels: Iterable<string>, order?: readonly string[]): LabelMap {
  const list = order !== undefined ? [...order] : sortLabels(labels);
  if (new Set(list).size !== list.length) throw new DataError(`label order has duplicates: ${list.join(', ')}`);
  if (order !== undefined) {
    const known = new Set(list);
    const extra = [...new Set(labels)].filter((l) => !known.has(l));
    if (extra.length > 0) throw new DataError(`labels ${extra.join(', ')} are in the data but not in the given label order (${list.join(', ')})`);
  }
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  list.forEach((l, i) => {
    id2label[String(i)] = l;
    label2id[l] = i;
  });
  return { labels: list, id2label, label2id };
}

/** Every label name used by a dataset's examples (single, multi-label or token tags). */
export function datasetLabels(ds: Dataset): string[] {
  const out: string[] = [];
  if (ds.task === 'token_classification') {
    for (const ex of ds.examples) if (ex.tags) out.push(...ex.tags);
  } else if (ds.task === 'single_label_classification') {
    for (const ex of ds.examples) if (ex.label !== undefined) out.push(ex.label);
  } else if (ds.task === 'multi_label_classification') {
    for (const ex of ds.examples) if (ex.labels) out.push(...ex.labels);
  }
  return out;
}

/**
 * The label map for training data. Throws when the dataset has no classes (regression or QA).
 *
 * @example
 * const map = labelMapFromDataset(train);   // save map.id2label / map.label2id in config.json
 */
export function labelMapFromDataset(ds: Dataset, order?: readonly string[]): LabelMap {
  if (ds.task === 'regression' || ds.task === 'question_answering') {
    throw new DataError(`${ds.file}: task ${ds.task} has no label classes`);
  }
  const labels = datasetLabels(ds);
  if (labels.length === 0 && order === undefined) throw new DataError(`${ds.file}: no labels found to build a label map from`);
  const map = buildLabelMap(labels, order);
  if (ds.task === 'single_label_classification' && map.labels.length < 2) {
    throw new DataError(`${ds.file}: only one label (${map.labels.join(', ')}) in the training data; classification needs at least two`);
  }
  return map;
}

/** Rebuild a LabelMap from a transformers config.json `id2label` (keys "0".."N-1"). */
export function labelMapFromConfig(config: { id2label?: Record<string, string> }): LabelMap {
  const id2label = config.id2label;
  if (id2label === undefined) throw new DataError('config.json has no id2label');
  const n = Object.keys(id2label).length;
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = id2label[String(i)];
    if (name === undefined) throw new DataError(`config.json id2label is missing id ${i} (ids must be 0..${n - 1})`);
    labels.push(name);
  }
  return buildLabelMap(labels, labels);
}

/** One label seen in evaluation data but unknown to the label map. */
export interface UnknownLabel {
  label: string;
  count: number;
  /** First few origins (lines or records). */
  origins: number[];
}

/** Labels in `ds` that `map` does not know, most frequent first. Empty when all are known. */
export function findUnknownLabels(ds: Dataset, map: LabelMap): UnknownLabel[] {
  const found = new Map<string, UnknownLabel>();
  const note = (label: string, origin: number): void => {
    if (label in map.label2id) return;
    let u = found.get(label);
    if (u === undefined) {
      u = { label, count: 0, origins: [] };
      found.set(label, u);
    }
    u.count++;
    if (u.origins.length < 5 && u.origins[u.origins.length - 1] !== origin) u.origins.push(origin);
  };
  if (ds.task === 'token_classification') {
    for (const ex of ds.examples) for (const t of ex.tags ?? []) note(t, ex.origin);
  } else if (ds.task === 'single_label_classification') {
    for (const ex of ds.examples) if (ex.label !== undefined) note(ex.label, ex.origin);
  } else if (ds.task === 'multi_label_classification') {
    for (const ex of ds.examples) for (const l of ex.labels ?? []) note(l, ex.origin);
  }
  return [...found.values()].sort((a, b) => b.count - a.count || (a.label < b.label ? -1 : 1));
}

/** Throw a DataError listing unknown labels with counts and lines, if there are any. */
export function assertKnownLabels(ds: Dataset, map: LabelMap): void {
  const unknown = findUnknownLabels(ds, map);
  if (unknown.length === 0) return;
  const total = unknown.reduce((s, u) => s + u.count, 0);
  const list = unknown
    .slice(0, 10)
    .map((u) => `${JSON.stringify(u.label)} ×${u.count} (${describeOrigins(ds.originKind, u.origins)})`)
    .join('; ');
  throw new DataError(
    `${ds.file}: ${total} label${total === 1 ? '' : 's'} of ${unknown.length} kind${unknown.length === 1 ? '' : 's'} not seen in training ` +
      `(the model knows: ${map.labels.join(', ')}): ${list}${unknown.length > 10 ? '; ...' : ''}. ` +
      `They are not guessed: fix or remove these rows, or map them to known labels.`,
  );
}

/** Single-label ids, one per example. Throws on unknown labels (see {@link assertKnownLabels}). */
export function encodeSingleLabels(ds: Dataset, map: LabelMap): Int32Array {
  if (ds.task !== 'single_label_classification') throw new DataError(`${ds.file}: encodeSingleLabels needs single-label data, got ${ds.task}`);
  assertKnownLabels(ds, map);
  return Int32Array.from(ds.examples, (ex) => {
    if (ex.label === undefined) throw new DataError(`${ds.file}: line ${ex.origin} has no label`);
    return map.label2id[ex.label] as number;
  });
}

/** Multi-hot label vectors (N × numLabels, row-major) for multi-label data. */
export function encodeMultiLabels(ds: Dataset, map: LabelMap): Float32Array {
  if (ds.task !== 'multi_label_classification') throw new DataError(`${ds.file}: encodeMultiLabels needs multi-label data, got ${ds.task}`);
  assertKnownLabels(ds, map);
  const k = map.labels.length;
  const out = new Float32Array(ds.examples.length * k);
  ds.examples.forEach((ex, i) => {
    for (const l of ex.labels ?? []) out[i * k + (map.label2id[l] as number)] = 1;
  });
  return out;
}

/** Tag ids per word for token-classification data. */
export function encodeTags(ds: Dataset, map: LabelMap): Int32Array[] {
  if (ds.task !== 'token_classification') throw new DataError(`${ds.file}: encodeTags needs token-classification data, got ${ds.task}`);
  assertKnownLabels(ds, map);
  return ds.examples.map((ex) => Int32Array.from(ex.tags ?? [], (t) => map.label2id[t] as number));
}

/**
 * Groups of labels that differ only by letter case or surrounding space ("spam", "Spam", " spam "): they
 * are separate classes to the model, which is rarely what the data meant.
 *
 * @example
 * nearDuplicateLabels(['ham', 'Spam', 'spam']); // [['Spam', 'spam']]
 */
export function nearDuplicateLabels(labels: readonly string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const l of labels) {
    const k = l.trim().toLowerCase();
    groups.set(k, [...(groups.get(k) ?? []), l]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/** A warning naming the near-duplicate labels of `labels` (null when there are none). */
export function nearDuplicateLabelsWarning(labels: readonly string[], file: string): string | null {
  const groups = nearDuplicateLabels(labels);
  if (groups.length === 0) return null;
  const named = groups.map((g) => g.map((l) => JSON.stringify(l)).join(' / ')).join('; ');
  return `warning: ${file}: labels that differ only by case or surrounding space will be trained as separate classes: ${named}. If they mean the same class, make them identical in the data and run again.`;
}

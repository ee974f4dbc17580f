// One call from a file path to a clean, typed dataset: read → map columns → preprocess. The CLI and the
// library's train/evaluate entry points use this; each stage is also usable on its own.
// Not here: splitting (split.ts), label ids (labels.ts), tokenisation.

import { buildDataset, type ColumnMapping } from './columns.ts';
import { preprocessDataset, type PreprocessOptions } from './preprocess.ts';
import { readTable, type ReadOptions } from './read.ts';
import type { Dataset } from './types.ts';

/** Everything needed to load a dataset file. */
export interface LoadOptions {
  read?: ReadOptions;
  columns: ColumnMapping;
  /** Cleaning options; by default whitespace cleanup and empty-row dropping only. */
  preprocess?: PreprocessOptions;
}

/**
 * Read a file, map its columns, and clean it. `dataset.steps` lists what was dropped or changed.
 *
 * @example
 * // UCI sentiment sentences: `sentence<TAB>label`, no header, stray quotes — split at the last tab.
 * const ds = await loadDataset('imdb_labelled.txt', {
 *   read: { format: 'tsv', columnNames: ['sentence', 'label'], split: 'last' },
 *   columns: { task: 'single_label_classification', text: 'sentence', label: 'label' },
 * });
 */
export async function loadDataset(file: string, opts: LoadOptions): Promise<Dataset> {
  const table = await readTable(file, opts.read ?? {});
  const ds = buildDataset(table, opts.columns);
  return preprocessDataset(ds, opts.preprocess ?? {}).dataset;
}

// Public surface of the data layer: reading files, column mapping, cleaning, splits, label maps,
// sampling and padding. Import from here rather than from the individual files.
// Not here: tokenizers (src/tokenizers) or tensors.

export { readTable, parseTableText, detectFormat, describeOrigin, describeOrigins } from './read.ts';
export type { ReadOptions, Table, TableFormat, Row, CellValue, OriginKind } from './read.ts';
export { decodeTextFile, findInvalidUtf8, splitLines } from './text-file.ts';
export { parseDelimited } from './csv.ts';
export type { DelimitedOptions, RawTable } from './csv.ts';
export { buildDataset, requireColumn } from './columns.ts';
export type { ColumnMapping, TextColumns, TokenColumns, QaColumns } from './columns.ts';
export { preprocessDataset, formatPrepSteps, cleanWhitespace, stripHtml, stripEmailHeaders } from './preprocess.ts';
export type { PreprocessOptions, PreprocessResult } from './preprocess.ts';
export { loadDataset } from './load.ts';
export type { LoadOptions } from './load.ts';
export { splitIndices, splitDataset } from './split.ts';
export type { SplitOptions, SplitIndices, DatasetSplits } from './split.ts';
export {
  buildLabelMap,
  sortLabels,
  labelMapFromDataset,
  labelMapFromConfig,
  datasetLabels,
  findUnknownLabels,
  assertKnownLabels,
  encodeSingleLabels,
  encodeMultiLabels,
  encodeTags,
  nearDuplicateLabels,
  nearDuplicateLabelsWarning,
} from './labels.ts';
export type { LabelMap, UnknownLabel } from './labels.ts';
export { BatchSampler, lengthGroupedOrder } from './sampler.ts';
export type { SamplerOptions, SamplerState, SampledBatch } from './sampler.ts';
export { collate, alignWordLabels, IGNORE_INDEX } from './collate.ts';
export type { Features, Batch, CollateOptions } from './collate.ts';
export { Rng, deriveSeed } from '../rng.ts';
export type { RngState } from '../rng.ts';
export { MAX_PREP_ORIGINS } from './types.ts';
export type {
  Dataset,
  TextDataset,
  TokenDataset,
  QaDataset,
  TextExample,
  TokenExample,
  QaExample,
  QaAnswers,
  PrepStep,
  DataTask,
  ClassificationProblem,
} from './types.ts';
export { contextWindows, answerTokenPositions } from './qa.ts';

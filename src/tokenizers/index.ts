// Public API of finetune's tokenizer layer: load a Hugging Face tokenizer folder (tokenizer.json,
// legacy vocab files or a SentencePiece .model), encode / decode with HF-exact ids and offsets,
// train a WordPiece vocabulary, save a folder transformers loads.
// Not here: datasets and collation (data/), which build on this.

export { loadTokenizer, wordPieceJsonFromVocab, byteLevelBpeJson, parseVocabTxt, parseMergesTxt, configFrom } from './load.ts';
export type { LegacyOptions } from './load.ts';
export { Tokenizer, SPECIAL_TOKEN_NAMES, cleanUpTokenization } from './tokenizer.ts';
export type {
  BatchEncoding,
  ChatMessage,
  EncodeOptions,
  EncodeResult,
  PaddingOptions,
  SpecialTokenName,
  TextInput,
  TokenizerConfig,
  Truncation,
} from './tokenizer.ts';
export { trainWordPieceTokenizer, bertWords } from './train-wordpiece.ts';
export type { WordPieceTrainOptions } from './train-wordpiece.ts';
export { saveTokenizer } from './save.ts';
export { convertSentencePiece, spmFlavor } from './sentencepiece-convert.ts';
export type { SpmConversion, SpmFlavor } from './sentencepiece-convert.ts';
export { charSlice } from './unicode.ts';
export type { Offsets } from './normalized.ts';
export { alignWordLabels } from './align.ts';

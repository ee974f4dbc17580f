// Fixtures shared by the deploy tests (pipelines, serve, export): paths of the tiny golden BERT model
// folders in test/fixtures, the golden reference batch and logits, the shared goldens' tokenizer, and
// small randomly initialised model folders of any family saved with savePretrained.
// Not a test file (no .test.ts suffix).

import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeHfConfig, type ModelType } from '../../src/models/hf-config.ts';
import type { JsonObject } from '../../src/io/json.ts';
import { readSafetensors, toFloat32, toInt32 } from '../../src/io/safetensors.ts';
import type { PretrainedTaskModel } from '../../src/models/family.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import type { TaskName } from '../../src/models/types.ts';
import { loadTokenizer } from '../../src/tokenizers/index.ts';

export const SEQCLS_DIR = fileURLToPath(new URL('../fixtures/tiny-bert-seqcls', import.meta.url));
export const TOKCLS_DIR = fileURLToPath(new URL('../fixtures/tiny-bert-tokcls', import.meta.url));
/** The goldens' WordPiece tokenizer (its template adds no [CLS]/[SEP]), as the golden batch was tokenized. */
export const GOLDEN_TOKENIZER_DIR = fileURLToPath(new URL('../../../shared/goldens/tokenizers/wordpiece-uncased', import.meta.url));
export const HAVE_GOLDEN_TOKENIZER = existsSync(join(GOLDEN_TOKENIZER_DIR, 'golden_tokenization.json'));
export const NO_SHARED = 'skipped: ../shared/goldens/tokenizers is absent (the golden tokenizer files live there)';

/** Rows of the golden batch whose text tokenizes, untruncated, to exactly that row (golden_tokenization.json "single"). */
export const GOLDEN_ROW_TEXTS: ReadonlyArray<[row: number, text: string]> = [
  [0, 'Hello, world!'],
  [1, 'The quick brown fox jumps over the lazy dog.'],
  [4, '微调是机器学习中一个常见的过程。'],
  [5, 'Numbers 3.14159, 2e-5 and 1,000,000 matter.'],
];

/** The golden batch (B, T) and transformers' logits for it (eval mode). */
export async function goldenReference(dir: string): Promise<{
  B: number; T: number; inputIds: Int32Array; attentionMask: Int32Array; tokenTypeIds: Int32Array; logits: Float32Array; logitsShape: number[];
}> {
  const st = await readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string) => st.tensors.get(k)!;
  const [B, T] = get('input_ids').shape as [number, number];
  return {
    B, T,
    inputIds: toInt32(get('input_ids')),
    attentionMask: toInt32(get('attention_mask')),
    tokenTypeIds: toInt32(get('token_type_ids')),
    logits: toFloat32(get('logits'), { copy: true }),
    logitsShape: get('logits').shape,
  };
}

export async function tmpDir(prefix = 'ft-deploy-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A copy of a fixture model folder whose tokenizer is the goldens' own (needs ../shared). */
export async function withGoldenTokenizer(modelDir: string, into: string): Promise<string> {
  for (const f of ['config.json', 'model.safetensors']) await copyFile(join(modelDir, f), join(into, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt']) await copyFile(join(GOLDEN_TOKENIZER_DIR, f), join(into, f));
  return into;
}

/** Config fields of a tiny model per family (vocabulary of the fixture tokenizer: 1500). */
export function tinyFields(modelType: 'bert' | 'roberta' | 'distilbert', numLabels: number): JsonObject {
  if (modelType === 'distilbert') {
    return { vocab_size: 1500, dim: 16, n_layers: 2, n_heads: 4, hidden_dim: 32, max_position_embeddings: 64, dropout: 0, attention_dropout: 0, num_labels: numLabels };
  }
  return {
    vocab_size: 1500, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 32,
    max_position_embeddings: modelType === 'roberta' ? 66 : 64, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, num_labels: numLabels,
  };
}

/**
 * A randomly initialised model of `modelType` with a `task` head, saved with the fixture tokenizer
 * into `dir` (as training would leave it). Returns the in-memory model (eval mode) too.
 */
export async function makeModelFolder(
  dir: string,
  modelType: 'bert' | 'roberta' | 'distilbert',
  task: TaskName,
  opts: { numLabels?: number; fields?: JsonObject; seed?: number } = {},
): Promise<PretrainedTaskModel> {
  const numLabels = opts.numLabels ?? (task === 'question-answering' ? 2 : 3);
  const model = createModel(makeHfConfig(modelType as ModelType, { ...tinyFields(modelType, numLabels), ...(opts.fields ?? {}) }), task, { seed: opts.seed ?? 7 });
  model.eval();
  const tokenizer = await loadTokenizer(SEQCLS_DIR);
  await savePretrained(model, dir, { tokenizer });
  return model;
}

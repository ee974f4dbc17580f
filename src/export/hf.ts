// `--format hf`: re-writes a model folder as the Hugging Face folder Python transformers loads
// (config.json with architectures/id2label, model.safetensors, tokenizer files), through the same
// fromPretrained → savePretrained path training uses, so the output is normalised (tied weights once,
// float32, transformers' key names). Not here: ONNX (onnx.ts), the save format itself (src/models/pretrained.ts).

import { stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ConfigError, ModelError } from '../errors.ts';
import { isAdapterFolder } from '../lora/config.ts';
import { loraState, mergeLora } from '../lora/inject.ts';
import { describeAdapterFolder } from '../models/adapter-folder.ts';
import { replaceModelFolder } from '../io/atomic.ts';
import { loadPretrained, savePretrained } from '../models/pretrained.ts';
import { loadTokenizer, type Tokenizer } from '../tokenizers/index.ts';

export interface ExportHfResult {
  /** Files written (absolute paths). */
  files: string[];
  /** transformers class written to config.json `architectures`. */
  architecture: string;
  warnings: string[];
}

/** Human-readable description for `finetune export --format hf --help`. */
export const EXPORT_HF_DESCRIPTION =
  'Write the model as a Hugging Face folder (config.json, model.safetensors, tokenizer files) that Python ' +
  'transformers loads with from_pretrained(<out>) — the same layout savePretrained writes.';

/**
 * Re-saves `modelDir` as a Hugging Face folder in `outDir` (which must differ from `modelDir`).
 *
 * @example
 * await exportHf('runs/sst2/best', 'dist/sst2-hf');
 * // Python: AutoModelForSequenceClassification.from_pretrained('dist/sst2-hf')
 */
export async function exportHf(modelDir: string, outDir: string): Promise<ExportHfResult> {
  if (resolve(modelDir) === resolve(outDir)) throw new ConfigError('out', 'the output folder must differ from the model folder');
  const st = await stat(modelDir).catch(() => null);
  if (st === null || !st.isDirectory()) throw new ModelError(`${modelDir}: no such model folder; pass a folder with config.json and model.safetensors`);
  const warnings: string[] = [];
  let tokenizer: Tokenizer | undefined;
  try {
    // A LoRA adapter folder written by PEFT alone has no tokenizer: its base model's is the one it uses.
    tokenizer = await loadTokenizer(isAdapterFolder(modelDir) ? (await describeAdapterFolder(modelDir)).tokenizerDir : modelDir);
  } catch (err) {
    warnings.push(`no tokenizer written: ${(err as Error).message}`);
  }
  // strict: a folder with missing or unused weights is refused, never exported with random values.
  const { model } = await loadPretrained(modelDir, { tokenizer, warn: (m) => warnings.push(m), strict: true });
  try {
    if (loraState(model)) mergeLora(model); // a LoRA adapter folder exports as base + adapter merged (W + scaling·B·A)
    let files: string[] = [];
    // Written beside outDir and swapped in whole: an existing folder is replaced, never left half old, half new.
    await replaceModelFolder(outDir, async (tmp) => void (files = await savePretrained(model, tmp, { tokenizer })));
    return { files: files.map((f) => join(outDir, basename(f))), architecture: model.architecture, warnings };
  } finally {
    model.dispose();
  }
}

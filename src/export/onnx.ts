// ONNX export of a model folder: writes <out>/onnx/model.onnx (encoder + head, dynamic batch and
// sequence axes) beside config.json and the tokenizer files, the layout transformers.js loads.
// Every file is written atomically. Not here: the graph itself (onnx-encoders.ts), protobuf bytes
// (onnx-proto.ts), the Hugging Face folder format (hf.ts).

import { copyFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../errors.ts';
import { writeAll, writeFileAtomic, writeWithAtomicFile } from '../io/atomic.ts';
import { loadCheckpointTensors } from '../io/checkpoint.ts';
import { readHfConfig } from '../models/hf-config.ts';
import { buildEncoderGraph, type EncoderHead } from './onnx-encoders.ts';
import { encodeOnnxModel } from './onnx-proto.ts';

/** ONNX opset the exporter targets (LayerNormalization needs 17). */
export const ONNX_OPSET = 17;
/** IR version matching opset 17. */
export const ONNX_IR_VERSION = 8;

/** Tokenizer and preprocessing files copied beside the model when present. */
export const TOKENIZER_FILES = [
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt', 'added_tokens.json',
] as const;

export interface ExportOnnxOptions {
  /** Text stored in the model's doc_string (default: names the source folder). */
  docString?: string;
}

export interface ExportOnnxResult {
  /** Path of the written model.onnx. */
  modelPath: string;
  /** Every file written, relative to the output folder. */
  files: string[];
  head: EncoderHead;
  inputNames: string[];
  outputNames: string[];
  /** Size of model.onnx in bytes. */
  bytes: number;
  /** Things the user should know (e.g. no tokenizer.json: transformers.js will not load the folder). */
  warnings: string[];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** Human-readable description for `finetune export --help`. */
export const EXPORT_ONNX_DESCRIPTION =
  'Export a fine-tuned encoder (BERT, DistilBERT, RoBERTa, ModernBERT, DeBERTa-v2 with a sequence-classification, token-classification, ' +
  'question-answering, masked-LM or no head) to ONNX (opset 17, float32, dynamic batch and sequence axes): ' +
  '<out>/onnx/model.onnx beside config.json and the tokenizer files, the layout transformers.js and ONNX Runtime load. ' +
  'Inputs: input_ids, attention_mask (and token_type_ids for BERT), int64; outputs: logits (start_logits/end_logits ' +
  'for question answering, last_hidden_state for a bare encoder). Qwen3, Gemma 2/3 and Phi-3 causal LMs export with ' +
  'position_ids and past_key_values.<i>.key/value inputs and present.<i>.* outputs, as transformers.js generates with them.';

/**
 * Exports the model folder `modelDir` (config.json + model.safetensors + tokenizer files) to ONNX.
 *
 * @example
 * const r = await exportOnnx('runs/sst2/best', 'dist/sst2-onnx');
 * // dist/sst2-onnx/onnx/model.onnx, dist/sst2-onnx/config.json, dist/sst2-onnx/tokenizer.json, ...
 * // then in transformers.js: env.localModelPath = 'dist'; await pipeline('text-classification', 'sst2-onnx')
 */
export async function exportOnnx(modelDir: string, outDir: string, options: ExportOnnxOptions = {}): Promise<ExportOnnxResult> {
  if (!(await exists(modelDir))) throw new ModelError(`${modelDir}: no such model folder; pass a folder with config.json and model.safetensors`);
  const cfg = await readHfConfig(modelDir);
  const { tensors } = await loadCheckpointTensors(modelDir);
  const built = buildEncoderGraph(cfg, tensors);
  const { chunks, length } = encodeOnnxModel({
    irVersion: ONNX_IR_VERSION,
    opsetVersion: ONNX_OPSET,
    producerName: 'finetune',
    producerVersion: '0.1.0',
    docString: options.docString ?? `${cfg.model_type} ${built.head} exported by finetune from ${modelDir}`,
    graph: built.graph,
    metadata: { model_type: cfg.model_type, head: built.head },
  });
  if (length >= 2 ** 31) {
    throw new ModelError(`${modelDir}: the ONNX model would be ${length} bytes; protobuf files are limited to 2 GiB (external data is not supported yet)`);
  }
  await mkdir(join(outDir, 'onnx'), { recursive: true });
  const modelPath = join(outDir, 'onnx', 'model.onnx');
  await writeWithAtomicFile(modelPath, async (fh) => {
    for (const c of chunks) await writeAll(fh, c);
  });
  const files = ['onnx/model.onnx'];
  // config.json verbatim: transformers.js reads model_type, id2label and problem_type from it.
  await writeFileAtomic(join(outDir, 'config.json'), await readFile(join(modelDir, 'config.json')));
  files.push('config.json');
  for (const name of TOKENIZER_FILES) {
    const src = join(modelDir, name);
    if (await exists(src)) {
      await copyFile(src, join(outDir, name));
      files.push(name);
    }
  }
  const warnings: string[] = [];
  if (!files.includes('tokenizer.json')) {
    warnings.push(`${modelDir} has no tokenizer.json: ONNX Runtime can run the model, but transformers.js needs tokenizer.json to build its pipeline`);
  } else if (!files.includes('tokenizer_config.json')) {
    // transformers.js requires tokenizer_config.json; an empty one makes it fall back to tokenizer.json alone.
    await writeFileAtomic(join(outDir, 'tokenizer_config.json'), '{}\n');
    files.push('tokenizer_config.json');
  }
  return { modelPath, files, head: built.head, inputNames: built.inputNames, outputNames: built.outputNames, bytes: length, warnings };
}

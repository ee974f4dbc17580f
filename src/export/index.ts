// Public API of model export: ONNX (transformers.js / ONNX Runtime layout) and the Hugging Face folder
// (what Python transformers loads), plus exportModel() choosing by format for the CLI. Not here: CLI
// flag parsing (src/cli/).

import { ConfigError } from '../errors.ts';
import { exportHf, type ExportHfResult } from './hf.ts';
import { exportOnnx, type ExportOnnxResult } from './onnx.ts';

export { exportOnnx, EXPORT_ONNX_DESCRIPTION, ONNX_OPSET, ONNX_IR_VERSION, TOKENIZER_FILES, type ExportOnnxOptions, type ExportOnnxResult } from './onnx.ts';
export { exportHf, EXPORT_HF_DESCRIPTION, type ExportHfResult } from './hf.ts';
export { buildEncoderGraph, detectHead, type EncoderGraph, type EncoderHead } from './onnx-encoders.ts';
export { encodeOnnxModel, encodeOnnxModelBytes, ProtoWriter, type OnnxModel, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx-proto.ts';

/** Export formats. */
export type ExportFormat = 'onnx' | 'hf';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['onnx', 'hf'];

/** Human-readable description for `finetune export --help`. */
export const EXPORT_DESCRIPTION =
  'Export a model folder. --format onnx (default): <out>/onnx/model.onnx (opset 17, dynamic batch and sequence ' +
  'axes) beside config.json and the tokenizer files, as transformers.js and ONNX Runtime load it (BERT, DistilBERT, ' +
  'RoBERTa, ModernBERT, DeBERTa-v2 encoders with their heads; Qwen3, Gemma 2/3, Phi-3 causal LMs with KV-cache inputs). --format hf: the Hugging Face folder Python transformers loads.';

/**
 * Exports `modelDir` to `outDir` in `format`.
 *
 * @example const r = await exportModel('runs/sst2/best', 'dist/sst2', { format: 'onnx' });
 */
export async function exportModel(
  modelDir: string,
  outDir: string,
  options: { format?: ExportFormat } = {},
): Promise<({ format: 'onnx' } & ExportOnnxResult) | ({ format: 'hf' } & ExportHfResult)> {
  const format = options.format ?? 'onnx';
  if (format === 'onnx') return { format, ...(await exportOnnx(modelDir, outDir)) };
  if (format === 'hf') return { format, ...(await exportHf(modelDir, outDir)) };
  throw new ConfigError('format', `unknown export format "${String(format)}"; use one of ${EXPORT_FORMATS.join(', ')}`);
}

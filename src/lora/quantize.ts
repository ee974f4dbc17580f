// QLoRA-style frozen bases: after applyLora, every wrapped Linear's base weight is converted to bf16, int8
// (per-row absmax) or NF4 (bitsandbytes' 4-bit NormalFloat, optional double quantisation) and its fp32
// copy released; the forward and the input gradient dequantise it panel by panel inside the GEMM.
// Adapters, biases and optimizer state stay fp32. Not here: the formats (src/backend/quant.ts).

import { quantize, quantizedBytes, type QuantFormat } from '../backend/quant.ts';
import { ModelError } from '../errors.ts';
import type { Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { toFloat32 } from '../io/safetensors.ts';
import type { PretrainedTaskModel } from '../models/family.ts';
import { EmbeddingTable } from '../models/llama.ts';
import type { ConsumeTensor } from '../models/pretrained.ts';
import { loraState } from './inject.ts';
import type { LoraLinear } from './layer.ts';

/** What quantizeLoraBase did. */
export interface QuantizeReport {
  layers: number;
  fp32Bytes: number;
  storedBytes: number;
}

/**
 * Converts the base weight of every LoRA layer of `model` to `format` and frees the fp32 weights.
 * The model can no longer save or merge full weights afterwards (adapters save as usual).
 * @example quantizeLoraBase(model, 'nf4', { doubleQuant: true });
 */
export function quantizeLoraBase(model: Module, format: QuantFormat, opts: { doubleQuant?: boolean } = {}): QuantizeReport {
  const state = loraState(model);
  if (!state) throw new ModelError('quantised base weights need a LoRA adapter: apply LoRA first (--lora-r), the quantised weights are frozen');
  const report: QuantizeReport = { layers: 0, fp32Bytes: 0, storedBytes: 0 };
  for (const [path, layer] of state.layers) {
    if (layer.quantizedWeight) continue;
    const w = layer.weight;
    if (w.requiresGrad) throw new ModelError(`${path}.weight is trainable; only frozen LoRA base weights can be quantised`);
    if (w.ndim !== 2) throw new ModelError(`${path}.weight has shape [${w.shape.join(', ')}]; expected a 2-D Linear weight`);
    const [rows, cols] = w.shape;
    layer.quantizedWeight = quantize(F.contiguous(w).floatData, rows, cols, format, opts);
    report.layers++;
    report.fp32Bytes += 4 * rows * cols;
    report.storedBytes += quantizedBytes(layer.quantizedWeight);
    w.dispose(); // the fp32 copy: nothing reads it any more
  }
  F.pool.clear(); // let the GC return the released fp32 buffers instead of pooling them
  return report;
}

/** What a streaming quantised load did (see streamingQuantizedLoad). */
export interface StreamingQuantizeReport extends QuantizeReport {
  /** The input embedding (and tied LM head) kept in bf16, or null. */
  embedding: string | null;
  /** Largest fp32 buffer held at once while converting one tensor (bytes). */
  largestFp32Bytes: number;
}

/**
 * The hooks of a streaming load (FromPretrainedOptions.streaming) that build a QLoRA-style model without
 * ever holding the fp32 base: `applyAdapter` runs on the deferred model (applyLora), then every frozen
 * LoRA base weight goes from the checkpoint bytes (f32/bf16/f16) straight to `format`, and a frozen Llama
 * input embedding (tied LM head included) to bf16. Other tensors load as usual.
 * @example const s = streamingQuantizedLoad('nf4', { doubleQuant: true }, (m) => applyLora(m, cfg));
 */
export function streamingQuantizedLoad(
  format: QuantFormat,
  opts: { doubleQuant?: boolean },
  applyAdapter: (model: PretrainedTaskModel) => void,
): { beforeLoad: (model: PretrainedTaskModel) => void; consume: ConsumeTensor; report: StreamingQuantizeReport } {
  const report: StreamingQuantizeReport = { layers: 0, fp32Bytes: 0, storedBytes: 0, embedding: null, largestFp32Bytes: 0 };
  const targets = new Map<string, LoraLinear | EmbeddingTable>();
  const beforeLoad = (model: PretrainedTaskModel): void => {
    applyAdapter(model);
    const state = loraState(model);
    if (!state) throw new ModelError('quantised base weights need a LoRA adapter: apply LoRA first (--lora-r), the quantised weights are frozen');
    for (const [path, layer] of state.layers) targets.set(`${path}.weight`, layer);
    for (const [path, m] of model.namedModules()) if (m instanceof EmbeddingTable && !m.weight.requiresGrad) targets.set(`${path}.weight`, m);
  };
  const consume: ConsumeTensor = (name, p, entry, transpose) => {
    const target = targets.get(name);
    if (!target || p.requiresGrad || p.materialized || entry.shape.length !== 2) return false;
    let w = toFloat32(entry);
    let [rows, cols] = entry.shape;
    if (transpose) {
      const t = new Float32Array(w.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
      w = t;
      [rows, cols] = [cols, rows];
    }
    report.largestFp32Bytes = Math.max(report.largestFp32Bytes, w.byteLength);
    const q = quantize(w, rows, cols, target instanceof EmbeddingTable ? 'bf16' : format, opts);
    if (target instanceof EmbeddingTable) {
      target.bf16 = q;
      report.embedding = name;
    } else {
      target.quantizedWeight = q;
      report.layers++;
      report.fp32Bytes += 4 * rows * cols;
    }
    report.storedBytes += quantizedBytes(q);
    p.dispose(); // deferred: never allocated
    return true;
  };
  return { beforeLoad, consume, report };
}

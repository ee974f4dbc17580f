// QLoRA-style frozen bases: after applyLora, every wrapped Linear's base weight is converted to bf16, int8
// (per-row absmax) or NF4 (bitsandbytes' 4-bit NormalFloat, optional double quantisation) and its fp32
// copy released; the forward and the input gradient dequantise it panel by panel inside the GEMM.
// Adapters, biases and optimizer state stay fp32. Not here: the formats (src/backend/quant.ts).

import { quantize, quantizedBytes, type QuantFormat } from '../backend/quant.ts';
import { ModelError } from '../errors.ts';
import type { Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { loraState } from './inject.ts';

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

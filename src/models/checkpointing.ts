// `--gradient-checkpointing` for every family: each layer of the trunk's layer list (BERT/RoBERTa
// `encoder.layer`, DistilBERT `transformer.layer`, GPT-2 `h`, Llama `layers`: every ModuleList) is
// checkpointed, as transformers' gradient_checkpointing_enable() does per decoder/encoder layer.
// Parameter names and the module tree are unchanged (the layer's forward is wrapped in place).
// Not here: the recompute mechanics (src/nn/checkpoint.ts, src/tensor/checkpoint.ts).

import { checkpointModule } from '../nn/checkpoint.ts';
import type { Module } from '../nn/module.ts';
import { ModuleList } from './common.ts';

/** Checkpoints every layer of every ModuleList in model; returns how many layers were wrapped. */
export function enableGradientCheckpointing(model: Module): number {
  let n = 0;
  for (const [, m] of model.namedModules()) {
    if (!(m instanceof ModuleList)) continue;
    for (const layer of m.items) {
      checkpointModule(layer);
      n++;
    }
  }
  return n;
}

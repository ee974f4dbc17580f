// What each differentiable op records for its backward: one typed variant per op, so the gradient
// rules in gradients.ts read their parameters by name. Tensors here are the node's saved aliases.
// Types only: no code.

import type { UnaryOp } from '../backend/backend.ts';
import type { QuantizedWeight } from '../backend/quant.ts';
import type { MatmulPrecision } from './autocast.ts';
import type { Shape, Tensor } from './tensor.ts';

export type OpRecord =
  | { op: 'unary'; kind: UnaryOp; alpha: number; x: Tensor; y: Tensor }
  | { op: 'add'; aShape: Shape; bShape: Shape }
  | { op: 'sub'; aShape: Shape; bShape: Shape }
  | { op: 'mul'; a: Tensor; b: Tensor }
  | { op: 'div'; a: Tensor; b: Tensor }
  | { op: 'maximum'; a: Tensor; b: Tensor }
  | { op: 'minimum'; a: Tensor; b: Tensor }
  | { op: 'where'; cond: Tensor; aShape: Shape; bShape: Shape }
  | { op: 'dropout'; p: number; seed: number }
  | { op: 'reshape'; inShape: Shape }
  | { op: 'permute'; perm: readonly number[] }
  | { op: 'narrow'; inShape: Shape; dim: number; start: number }
  | { op: 'expand'; inShape: Shape }
  | { op: 'identity' }
  | { op: 'concat'; dim: number; sizes: readonly number[] }
  | { op: 'sum'; inShape: Shape; axes: readonly number[]; scale: number }
  | { op: 'max'; inShape: Shape; axis: number; argmax: Int32Array }
  | { op: 'matmul'; a: Tensor; b: Tensor; precision: MatmulPrecision }
  | { op: 'linear'; x: Tensor; w: Tensor; hasBias: boolean; precision: MatmulPrecision }
  | { op: 'linearQuantized'; w: QuantizedWeight; inShape: Shape; hasBias: boolean; precision: MatmulPrecision }
  | { op: 'checkpoint'; backward: (g: Tensor) => (Tensor | null)[] }
  | { op: 'softmax'; y: Tensor; log: boolean }
  | { op: 'layerNorm'; x: Tensor; gamma: Tensor | null; hasBeta: boolean; mean: Tensor; rstd: Tensor }
  | { op: 'rmsNorm'; x: Tensor; gamma: Tensor | null; rstd: Tensor }
  | {
      op: 'attention';
      q: Tensor;
      k: Tensor;
      v: Tensor;
      keyMask: Tensor | null;
      out: Tensor;
      lse: Tensor;
      causal: boolean;
      scale: number;
      dropoutP: number;
      seed: number;
    }
  | { op: 'embedding'; ids: Tensor; vocab: number }
  | { op: 'crossEntropy'; logits: Tensor; lse: Tensor; targets: Tensor; ignoreIndex: number; rowScale: number; perRow: boolean }
  | { op: 'bceWithLogits'; x: Tensor; y: Tensor; scale: number; perElement: boolean };

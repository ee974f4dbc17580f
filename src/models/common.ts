// Small pieces every encoder family shares: ModuleList (numbered children, as torch.nn.ModuleList),
// activations by their config.json names (transformers' ACT2FN), embedding lookup with torch's
// padding_idx gradient rule, the key mask, first-token selection and mean pooling.
// Not here: model blocks (bert.ts, distilbert.ts, roberta.ts), task heads and losses (heads.ts).

import { ConfigError, ShapeError } from '../errors.ts';
import { Module } from '../nn/module.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';

/** Children registered as "0", "1", ... so their parameters are named `layer.3.attention...`. */
export class ModuleList<M extends Module> extends Module {
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.child(String(i), m));
  }

  /** The registered children in order, read at call time (so a replaced child is the one returned). */
  get items(): readonly M[] {
    return this.namedChildren().map(([, m]) => m as M);
  }
}

/** An elementwise activation. */
export type Activation = (x: Tensor) => Tensor;

/** x * sigmoid(1.702 x), transformers' "quick_gelu". */
const quickGelu: Activation = (x) => F.mul(x, F.sigmoid(F.scale(x, 1.702)));

/** transformers' ACT2FN names → our ops. "gelu" is the exact erf form; the tanh variants are one formula. */
const ACTIVATIONS: Record<string, Activation> = {
  gelu: F.gelu,
  gelu_new: F.geluTanh,
  gelu_pytorch_tanh: F.geluTanh,
  gelu_fast: F.geluTanh,
  quick_gelu: quickGelu,
  relu: F.relu,
  silu: F.silu,
  swish: F.silu,
  tanh: F.tanh,
  sigmoid: F.sigmoid,
  linear: (x) => x,
};

/**
 * The activation a config names (`hidden_act`, `activation`, `activation_function`).
 * @example const act = activation(cfg.hidden_act, 'hidden_act'); const y = act(x);
 */
export function activation(name: string, key: string): Activation {
  const fn = ACTIVATIONS[name];
  if (!fn) throw new ConfigError(key, `activation "${name}" is not supported; use one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  return fn;
}

/**
 * Embedding lookup with torch's `padding_idx` rule: rows are looked up as usual, but the row at
 * `paddingIdx` receives no gradient (torch.nn.Embedding skips it in backward).
 * table: (V, C); ids: int32 of any shape → (...ids.shape, C).
 */
export function embedWithPadding(table: Tensor, ids: Tensor, paddingIdx: number | null): Tensor {
  const out = F.embedding(table, ids);
  if (paddingIdx === null || paddingIdx < 0 || paddingIdx >= table.shape[0] || !out.requiresGrad) return out;
  const idv = F.contiguous(ids).intData;
  let hasPadding = false;
  for (let i = 0; i < idv.length && !hasPadding; i++) hasPadding = idv[i] === paddingIdx;
  if (!hasPadding) return out;
  // where(isPad, constant padding row, looked-up rows): same values, no gradient through padding positions.
  const C = table.shape[1];
  const isPad = new Float32Array(idv.length);
  for (let i = 0; i < idv.length; i++) isPad[i] = idv[i] === paddingIdx ? 1 : 0;
  const cond = F.cast(Tensor.from(isPad, [...ids.shape, 1], 'float32', table.backend), table.dtype);
  const padRow = F.noGrad(() => F.contiguous(F.reshape(F.narrow(table, 0, paddingIdx, 1), [C])));
  return F.where(cond, padRow, out);
}

/** An int32 (B, T) attention mask as the float (B, T) key mask F.attention takes (1 attend, 0 padding). */
export function keyMaskOf(attentionMask: Tensor | undefined, like: Tensor): Tensor | null {
  if (!attentionMask) return null;
  return attentionMask.dtype === like.dtype ? attentionMask : F.cast(attentionMask, like.dtype);
}

/** hidden[:, 0, :] as (B, C): the [CLS] / <s> vector. */
export function firstToken(hidden: Tensor): Tensor {
  const [B, , C] = hidden.shape;
  return F.reshape(F.narrow(hidden, 1, 0, 1), [B, C]);
}

/**
 * Mean of the hidden states over the tokens the attention mask keeps (sentence-transformers'
 * mean pooling: sum(h * m) / max(sum(m), 1e-9)); a plain mean over T without a mask.
 * hidden: (B, T, C), attentionMask: int32 or float (B, T) → (B, C).
 * @example const emb = meanPool(out.hidden, batch.attentionMask);
 */
export function meanPool(hidden: Tensor, attentionMask?: Tensor): Tensor {
  const [B, T] = hidden.shape;
  if (!attentionMask) return F.mean(hidden, 1);
  if (attentionMask.shape.length !== 2 || attentionMask.shape[0] !== B || attentionMask.shape[1] !== T) {
    throw new ShapeError(`meanPool: attention mask ${attentionMask.describe()} does not fit hidden states ${hidden.describe()}`);
  }
  const m = F.reshape(F.cast(attentionMask, hidden.dtype), [B, T, 1]);
  const summed = F.sum(F.mul(hidden, m), 1); // (B, C)
  const counts = F.maximum(F.sum(m, 1), F.scalarLike(hidden, 1e-9)); // (B, 1)
  return F.div(summed, counts);
}

/** Batch and sequence length of int32 (B, T) input ids, with a clear error for anything else. */
export function batchShape(inputIds: Tensor): { B: number; T: number } {
  if (inputIds.ndim !== 2 || inputIds.dtype !== 'int32') {
    throw new ShapeError(`input_ids must be an int32 (batch, sequence) tensor, got ${inputIds.describe()}`);
  }
  return { B: inputIds.shape[0], T: inputIds.shape[1] };
}

/** Checks an optional (B, T) companion tensor (attention mask, token type ids) against the ids. */
export function checkCompanion(name: string, t: Tensor | undefined, B: number, T: number): void {
  if (t && (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T)) {
    throw new ShapeError(`${name} ${t.describe()} does not fit input_ids [${B}, ${T}]`);
  }
}

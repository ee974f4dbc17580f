// Gradient checkpointing (torch.utils.checkpoint): run a block forward without recording, keep only its
// inputs, and in backward run it again under autograd and backpropagate through the recomputed graph.
// The block must be deterministic given its inputs: callers that draw dropout seeds from a generator
// restore its state around the recompute (the `recompute` hook; see src/nn/checkpoint.ts), so masks are
// identical and gradients equal the non-checkpointed run. Parameter gradients accumulate (+=) into .grad
// by the nested backward, exactly as in one big graph. The autocast precision of the first run is reused.
// Not here: choosing which blocks to checkpoint (src/nn/checkpoint.ts).

import { backward, enableGrad, isGradEnabled, noGrad, record, save } from './autograd.ts';
import { autocast, autocastPrecision } from './autocast.ts';
import { tidy } from './memory.ts';
import { Tensor } from './tensor.ts';

/** Wraps fn's second run: called before recomputing; returns the function that undoes its effect. */
export type RecomputeHook = () => () => void;

/**
 * y = fn(...inputs), recording one node instead of fn's whole graph. Non-tensor context fn needs (masks,
 * rotary tables) must stay alive until backward (they normally live in the step's tidy scope).
 * @example const h = checkpoint((x) => layer.forward(x, mask), [x]);
 */
export function checkpoint(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], recompute?: RecomputeHook): Tensor {
  if (!isGradEnabled()) return fn(...inputs);
  const y = tidy(() => noGrad(() => fn(...inputs)));
  const saved = inputs.map(save);
  const wantsGrad = inputs.map((t) => t.requiresGrad);
  const precision = autocastPrecision(); // the recompute runs in backward, outside the caller's autocast scope
  record(
    y,
    {
      op: 'checkpoint',
      backward: (g) => {
        const undo = recompute?.();
        let xs: Tensor[];
        let out: Tensor;
        try {
          xs = saved.map((s, i) => {
            const leaf = s.viewOf(s.shape, s.strides, s.offset);
            leaf.requiresGrad = wantsGrad[i];
            return leaf;
          });
          out = autocast(precision, () => enableGrad(() => fn(...xs)));
        } finally {
          undo?.();
        }
        if (out.requiresGrad) backward(out, g);
        return xs.map((x) => {
          const gx = x.grad;
          x.grad = null;
          return gx;
        });
      },
    },
    inputs,
    saved,
  );
  return y;
}

// Gradient checkpointing for one Module: its forward(x, ...context) runs through F.checkpoint, so only x is
// kept and the module's activations are recomputed in backward. Dropout seeds come from the global
// generator (init.ts), so the recompute restores the generator state the first run started from: the
// masks (counter-based hashes of those seeds) are identical and gradients match the plain run exactly.
// Not here: which modules to wrap (src/models/checkpointing.ts), the op itself (src/tensor/checkpoint.ts).

import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import { getGeneratorState, setGeneratorState } from './init.ts';
import type { Module } from './module.ts';

type Forward = (x: Tensor, ...context: unknown[]) => unknown;
const WRAPPED = Symbol('gradientCheckpointing');

/** Whether m's forward is checkpointed. */
export function isCheckpointed(m: Module): boolean {
  return (m as unknown as Record<symbol, unknown>)[WRAPPED] === true;
}

/**
 * Makes m.forward(x, ...context) recompute its activations in backward. m.forward must return one Tensor
 * and depend only on x, the context and m's parameters (and dropout seeds drawn from init.ts).
 * Outside training (eval, noGrad, generation with a KV cache) the plain forward runs.
 * @example for (const layer of encoder.layer.items) checkpointModule(layer);
 */
export function checkpointModule(m: Module): void {
  if (isCheckpointed(m)) return;
  const target = m as unknown as { forward: Forward } & Record<symbol, unknown>;
  const plain: Forward = target.forward.bind(m);
  target.forward = (x: Tensor, ...context: unknown[]) => {
    if (!(x instanceof Tensor) || !F.isGradEnabled() || !m.training) return plain(x, ...context);
    const seedState = getGeneratorState();
    const run = (xx: Tensor): Tensor => {
      const y = plain(xx, ...context);
      if (!(y instanceof Tensor)) throw new TypeError(`gradient checkpointing: ${m.constructor.name}.forward must return a Tensor`);
      return y;
    };
    return F.checkpoint(run, [x], () => {
      const now = getGeneratorState();
      setGeneratorState(seedState);
      return () => setGeneratorState(now);
    });
  };
  target[WRAPPED] = true;
}

// Global gradient norm and clipping, as torch.nn.utils.clip_grad_norm_: the L2 norm over every
// gradient together; when it exceeds maxNorm, gradients are scaled by maxNorm / (norm + 1e-6).
// Returns the scale instead of rewriting gradients, so the optimizer folds it into its update.

import type { Tensor } from '../tensor/index.ts';

/** The L2 norm of all gradients together (float64 accumulation). */
export function globalGradNorm(params: readonly Tensor[]): number {
  let sq = 0;
  for (const p of params) if (p.grad) sq += p.backend.sumSquares(p.grad.floatData, p.size);
  return Math.sqrt(sq);
}

/** The gradient scale clip_grad_norm_ would apply (1 when no clipping is needed or maxNorm <= 0). */
export function clipScale(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0)) return 1;
  const coef = maxNorm / (norm + 1e-6);
  return coef < 1 ? coef : 1;
}

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

/**
 * The same norm, read asynchronously: on device backends (webgpu) the squares are summed on the device
 * and read back once; on host backends it equals globalGradNorm.
 */
export async function globalGradNormAsync(params: readonly Tensor[]): Promise<number> {
  const withGrad = params.filter((p) => p.grad);
  const be = withGrad[0]?.backend;
  if (!be?.sumSquaresAsync) return globalGradNorm(params);
  return Math.sqrt(await be.sumSquaresAsync(withGrad.map((p) => ({ x: p.grad!.floatData, n: p.size }))));
}

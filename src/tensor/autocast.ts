// Mixed precision scope (torch.autocast('cpu', bfloat16) for matrix products): inside
// `autocast('bf16', fn)`, linear and matmul multiply bf16-rounded operands with fp32 accumulation and
// record that choice, so their backward products use bf16 operands too (as autocast's do). Tensors stay
// fp32 (master weights, activations, gradients); softmax, norms and losses are untouched (fp32).
// Not here: the kernels (Backend.gemmBf16) or the dispatch (ops/lowp.ts).

/** Precision of the matrix products: 'fp32' (default) or 'bf16' (operands rounded, fp32 accumulation). */
export type MatmulPrecision = 'fp32' | 'bf16';

let current: MatmulPrecision = 'fp32';

/** The precision matrix products use now. */
export function autocastPrecision(): MatmulPrecision {
  return current;
}

/**
 * Runs fn with matrix products in `precision`; restores the previous mode afterwards (scopes nest).
 * @example const loss = F.autocast('bf16', () => model.forward(batch).loss);
 */
export function autocast<T>(precision: MatmulPrecision, fn: () => T): T {
  const prev = current;
  current = precision;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/**
 * autocast for an async fn (evaluation loops that await between batches): the precision holds until the
 * promise settles. The mode is process-global, so do not run other tensor work concurrently with it.
 * @example const metrics = await F.autocastAsync('bf16', () => evaluate(model));
 */
export async function autocastAsync<T>(precision: MatmulPrecision, fn: () => Promise<T>): Promise<T> {
  const prev = current;
  current = precision;
  try {
    return await fn();
  } finally {
    current = prev;
  }
}

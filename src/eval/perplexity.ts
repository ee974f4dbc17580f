// Perplexity for (masked or causal) language modelling, streaming: the summed negative log-likelihood
// of the scored tokens and their count, so perplexity = exp(total NLL / tokens) over the whole
// evaluation set — not a mean of per-batch perplexities. Batches may pass a summed NLL from the loss,
// or logits (one row per token) for an exact float64 log-softmax here.
// Not here: the loss used for training (the model computes it on the tensor backend).

import { DataError } from '../errors.ts';
import { IGNORE_INDEX, type MetricValues, type StreamingMetric } from './types.ts';

/**
 * Streaming perplexity.
 *
 * @example
 * const m = new PerplexityMetric();
 * m.update(meanLoss * tokenCount, tokenCount);  // from a batch's mean cross-entropy
 * m.compute(); // { loss, perplexity, tokens }
 */
export class PerplexityMetric implements StreamingMetric {
  private nll = 0;
  private tokens = 0;

  /** Add a batch's summed NLL (natural log) over `tokenCount` scored tokens. */
  update(sumNll: number, tokenCount: number): void {
    if (!Number.isFinite(sumNll) || !(tokenCount >= 0)) throw new DataError(`perplexity update needs a finite NLL sum and a token count, got ${sumNll}, ${tokenCount}`);
    this.nll += sumNll;
    this.tokens += tokenCount;
  }

  /**
   * Add logits (N × V row-major, one row per token) and target ids (N); targets of -100 are skipped.
   * For a causal LM, shift first: row t predicts token t+1.
   */
  updateFromLogits(logits: ArrayLike<number>, targets: ArrayLike<number>): void {
    const n = targets.length;
    if (n === 0) return;
    if (logits.length % n !== 0) throw new DataError(`logits have ${logits.length} values for ${n} targets`);
    const V = logits.length / n;
    let sum = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const y = targets[i] as number;
      if (y === IGNORE_INDEX) continue;
      if (!Number.isInteger(y) || y < 0 || y >= V) throw new DataError(`target id ${y} at position ${i} is outside the vocabulary (0..${V - 1})`);
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, logits[i * V + v] as number);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp((logits[i * V + v] as number) - max);
      sum += max + Math.log(z) - (logits[i * V + y] as number);
      count++;
    }
    this.update(sum, count);
  }

  compute(): MetricValues {
    if (this.tokens === 0) return { loss: NaN, perplexity: NaN, tokens: 0 };
    const loss = this.nll / this.tokens;
    return { loss, perplexity: Math.exp(loss), tokens: this.tokens };
  }

  reset(): void {
    this.nll = 0;
    this.tokens = 0;
  }
}

// The decoding loop, as transformers' generate(): prompts left-padded into one batch, positions from
// the attention mask, one forward pass per new token reading and extending a KV cache (or, as the slow
// twin, recomputing the whole sequence), logits processors and greedy/seeded sampling per row, stop
// tokens, padding of finished rows. Not here: the processors themselves (sampling.ts), tokenisation
// and text output (src/inference/text-generation.ts).

import { ConfigError, DataError } from '../errors.ts';
import * as F from '../tensor/index.ts';
import { intTensor, type CausalLM, type KVCache } from '../models/decoder.ts';
import { nextToken, Rng, validateSampling, type SamplingOptions } from './sampling.ts';

/** Decoding settings; sampling settings as in sampling.ts. */
export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to add per prompt (default 20, transformers' max_length default). */
  maxNewTokens?: number;
  /** Tokens that end a row (default: the model's eos_token_id). The stop token is kept in the output. */
  stopTokenIds?: readonly number[];
  /** Filler for rows that finished early and for left padding (default: pad_token_id, else the first stop token). */
  padTokenId?: number | null;
  /** Seed of the sampling generator (default 0): the same seed gives the same tokens. */
  seed?: number;
  /** Reuse keys/values of earlier positions (default true); false recomputes every step (slow twin). */
  useCache?: boolean;
  /** Extra stop test after each token, e.g. stop strings: return true to finish that row. */
  shouldStop?: (row: number, generated: readonly number[]) => boolean;
}

export type FinishReason = 'stop' | 'length';

export interface GenerateResult {
  /** New tokens per prompt (the stop token included when one ended the row, as transformers). */
  tokens: number[][];
  finishReason: FinishReason[];
}

/**
 * Generates continuations of tokenised prompts (each needs at least one token, e.g. BOS).
 * @example
 * const { tokens } = generate(model, [[1]], { maxNewTokens: 50 }); // greedy
 * const sampled = generate(model, [ids], { doSample: true, temperature: 0.8, topP: 0.95, seed: 7 });
 */
export function generate(model: CausalLM, prompts: readonly (readonly number[])[], opts: GenerateOptions = {}): GenerateResult {
  validateSampling(opts);
  const maxNew = opts.maxNewTokens ?? 20;
  if (!(Number.isInteger(maxNew) && maxNew >= 0)) throw new ConfigError('max_new_tokens', `must be a non-negative integer, got ${maxNew}`);
  if (prompts.length === 0) throw new DataError('generate: no prompts');
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new DataError(`generate: prompt ${i} has no tokens; start it with the BOS token or some text`);
  });
  const stop = new Set(opts.stopTokenIds ?? model.eosTokenIds);
  const pad = opts.padTokenId ?? model.padTokenId ?? [...stop][0] ?? 0;
  const B = prompts.length;
  const T0 = Math.max(...prompts.map((p) => p.length));
  // Left padding: every row's last prompt token sits in the last column.
  const seqs = prompts.map((p) => [...new Array<number>(T0 - p.length).fill(pad), ...p]);
  const masks = prompts.map((p) => [...new Array<number>(T0 - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const padded = prompts.some((p) => p.length < T0);
  const tokens: number[][] = prompts.map(() => []);
  const finishReason: FinishReason[] = prompts.map(() => 'length');
  const finished = prompts.map(() => false);
  const rng = Rng.fromSeed(opts.seed ?? 0);
  const useCache = opts.useCache ?? true;
  const cache: KVCache | null = useCache ? model.newCache() : null;
  try {
    for (let step = 0; step < maxNew && finished.some((f) => !f); step++) {
      const total = seqs[0].length;
      let Tin = cache && step > 0 ? 1 : total;
      if (cache && step > 0 && model.cacheInvalidAt?.(cache.length, total)) {
        cache.dispose(); // the model recomputes every position (Phi-3's longrope switch, as transformers does)
        Tin = total;
      }
      const V = model.vocabSize;
      const rows = F.tidy(() =>
        F.noGrad(() => {
          const ids = seqs.flatMap((s) => s.slice(total - Tin));
          // transformers: position_ids = cumsum(attention_mask) - 1, and 1 where the mask is 0.
          const pos = masks.flatMap((m) => {
            let c = -1;
            const all = m.map((x) => (x === 1 ? ++c : 1));
            return all.slice(total - Tin);
          });
          const logits = model.logits({
            inputIds: intTensor(ids, [B, Tin]),
            attentionMask: padded ? intTensor(masks.flat(), [B, total]) : null,
            positionIds: intTensor(pos, [B, Tin]),
            cache,
            lastOnly: true,
          });
          return Float64Array.from(F.contiguous(logits).data);
        }),
      );
      for (let b = 0; b < B; b++) {
        let id = pad;
        if (!finished[b]) {
          id = nextToken(rows.subarray(b * V, (b + 1) * V), seqs[b], opts, rng);
          tokens[b].push(id);
          if (stop.has(id) || (opts.shouldStop?.(b, tokens[b]) ?? false)) {
            finished[b] = true;
            finishReason[b] = 'stop';
          }
        }
        seqs[b].push(id);
        masks[b].push(1);
      }
    }
  } finally {
    cache?.dispose();
  }
  return { tokens, finishReason };
}

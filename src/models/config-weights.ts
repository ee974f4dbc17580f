// Checks a model folder's config.json against the weights present before the model is built, so a damaged
// config (hidden_size 1e9, num_hidden_layers 100000) fails in milliseconds with the file and field named
// instead of a RangeError or an endless allocation, and a float weight stored as integers (a header that
// says I32/U32) is refused instead of converted. Reads only the safetensors headers' shapes and dtypes.
// Not here: matching every key to a parameter (src/models/pretrained.ts), the per-field checks (hf-config.ts).

import { ModelError } from '../errors.ts';
import type { HfConfig } from './hf-config.ts';
import type { SafetensorsEntry } from '../io/safetensors.ts';

/** Buffers that checkpoints legitimately store as integers or booleans (not trainable weights). */
const INTEGER_BUFFERS = /(position_ids|token_type_ids|\.attn\.bias|\.attn\.masked_bias)$/;
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
/** Layer index in a checkpoint key: BERT `layer.N.`, DistilBERT `layer.N.`, GPT-2 `h.N.`, Llama `layers.N.`. */
const LAYER_INDEX = /(?:^|\.)(?:layer|layers|h)\.(\d+)\./;

function num(cfg: HfConfig, ...names: string[]): number | null {
  const r = cfg as unknown as Record<string, unknown>;
  for (const n of names) if (typeof r[n] === 'number') return r[n] as number;
  return null;
}

/**
 * Refuses a config whose sizes cannot describe the weights in `tensors` (checked before allocating the
 * model): more layers than the checkpoint holds, or a parameter count far beyond the checkpoint's; and any
 * non-buffer tensor whose dtype is not floating point. `configFile` and the weights file are named in the
 * error. Smaller disagreements (a width of 48 for weights of 32) are left to the loader, whose error names
 * every mismatched tensor and shape.
 *
 * @example checkConfigAgainstWeights(cfg, (await loadCheckpointTensors(dir)).tensors, join(dir, 'config.json'));
 */
export function checkConfigAgainstWeights(cfg: HfConfig, tensors: ReadonlyMap<string, SafetensorsEntry>, configFile: string): void {
  let elements = 0;
  let maxLayer = -1;
  let learnedPositions = false; // RoPE models have no position table: max_position_embeddings allocates nothing
  for (const [key, e] of tensors) {
    elements += e.shape.reduce((a, b) => a * b, 1);
    if (!FLOAT_DTYPES.has(e.dtype) && !INTEGER_BUFFERS.test(key)) {
      throw new ModelError(`${e.file}: tensor "${key}" is stored as ${e.dtype}, but it is a weight that must be floating point (F32, F16, BF16 or F64); the file is damaged or was written by a broken converter`);
    }
    const m = LAYER_INDEX.exec(key);
    if (m) maxLayer = Math.max(maxLayer, Number(m[1]));
    if (/(position_embeddings|wpe)\.weight$/.test(key)) learnedPositions = true;
  }
  if (tensors.size === 0) return;
  const layers = num(cfg, 'num_hidden_layers', 'n_layer', 'n_layers');
  if (layers !== null && maxLayer >= 0 && layers > maxLayer + 1) {
    throw new ModelError(`${configFile}: num_hidden_layers is ${layers} but the weights hold ${maxLayer + 1} layers; the config does not belong to these weights (fix the field or use the model's own config.json)`);
  }
  const vocab = num(cfg, 'vocab_size');
  const hidden = num(cfg, 'hidden_size', 'n_embd', 'dim');
  // The parameters the config implies, roughly (embeddings + per-layer attention and feed-forward), against
  // the checkpoint's: a config that needs far more than the weights hold would allocate for nothing.
  if (hidden !== null && layers !== null) {
    const inner = num(cfg, 'intermediate_size', 'hidden_dim', 'n_inner') ?? 4 * hidden;
    const positions = learnedPositions ? num(cfg, 'max_position_embeddings', 'n_positions') ?? 0 : 0;
    const implied = ((vocab ?? 0) + positions) * hidden + layers * (4 * hidden * hidden + 3 * hidden * inner);
    if (implied > 4 * elements + 1e7) {
      throw new ModelError(
        `${configFile}: its sizes (hidden_size ${hidden}, intermediate_size ${inner}, num_hidden_layers ${layers}${vocab !== null ? `, vocab_size ${vocab}` : ''}${positions ? `, max_position_embeddings ${positions}` : ''}) ` +
          `imply about ${implied.toExponential(1)} parameters but the weights hold ${elements}; the config does not belong to these weights`,
      );
    }
  }
}

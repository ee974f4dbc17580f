// Load-time checks of a tokenizer folder that the pipeline itself would only trip over at the first request
// (or never, answering garbage): a vocabulary whose tokens share ids, a non-positive max_input_chars_per_word,
// a post-processor type_id the model has no segment embedding for, a model_max_length that is not a
// positive length. Run by loadTokenizer, so `serve` refuses such a folder at start-up. Not here: parsing.

import { FileFormatError } from '../errors.ts';
import { type Json, type JsonObject, isObject } from './json.ts';

function typeIdsIn(v: Json | undefined, out: number[]): void {
  if (Array.isArray(v)) for (const x of v) typeIdsIn(x, out);
  else if (isObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'type_id' && typeof x === 'number') out.push(x);
      else typeIdsIn(x, out);
    }
  }
}

/**
 * Throws a FileFormatError naming the file and field when the tokenizer cannot encode correctly for its
 * model. `json` is tokenizer.json (or its equivalent built from legacy files), `config` tokenizer_config.json
 * and `modelConfig` the model's config.json ({} when absent).
 */
export function validateTokenizer(json: JsonObject, file: string, config: JsonObject, modelConfig: JsonObject, dir: string): void {
  const model = isObject(json.model) ? json.model : null;
  if (model && isObject(model.vocab)) {
    const byId = new Map<number, string>();
    for (const [tok, id] of Object.entries(model.vocab)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw new FileFormatError(file, `model.vocab["${tok}"] must be a token id (0, 1, 2, ...), got ${JSON.stringify(id)}`);
      const other = byId.get(id);
      if (other !== undefined) {
        throw new FileFormatError(file, `model.vocab gives id ${id} to both "${other}" and "${tok}"; every token needs its own id (the file is damaged)`);
      }
      byId.set(id, tok);
    }
  }
  if (model && 'max_input_chars_per_word' in model) {
    const v = model.max_input_chars_per_word;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new FileFormatError(file, `model.max_input_chars_per_word must be a positive whole number (transformers uses 100), got ${JSON.stringify(v)}`);
    }
  }
  const typeIds: number[] = [];
  typeIdsIn(json.post_processor, typeIds);
  const typeVocab = modelConfig.type_vocab_size;
  for (const t of typeIds) {
    if (!Number.isInteger(t) || t < 0) throw new FileFormatError(file, `post_processor type_id must be a whole number >= 0, got ${t}`);
    // type_vocab_size 0 (DeBERTa-v3) means the model has no segment embedding and ignores type ids.
    if (typeof typeVocab === 'number' && typeVocab > 0 && t >= typeVocab) {
      throw new FileFormatError(file, `post_processor uses type_id ${t} but the model's config.json has type_vocab_size ${typeVocab} (ids 0..${typeVocab - 1}); use the tokenizer saved with this model`);
    }
  }
  const mml = config.model_max_length;
  if (mml !== undefined && mml !== null && (typeof mml !== 'number' || !(mml >= 1) || (mml < 1e15 && !Number.isInteger(mml)))) {
    throw new FileFormatError(`${dir}/tokenizer_config.json`, `model_max_length must be a positive whole number of tokens (e.g. 512), got ${JSON.stringify(mml)}`);
  }
}

// A tiny pretrained-looking base model folder for LoRA tests: a 1-layer BERT (or DistilBERT/RoBERTa)
// with a masked-LM head, seeded random weights and a WordPiece tokenizer trained on the given texts,
// saved with savePretrained as `finetune train --model <folder>` expects. Not a trained model.

import { join } from 'node:path';
import { makeHfConfig } from '../../src/models/hf-config.ts';
import { createModel, savePretrained } from '../../src/models/pretrained.ts';
import { trainWordPieceTokenizer } from '../../src/tokenizers/train-wordpiece.ts';

/** Writes `<dir>/<name>` (config.json BertForMaskedLM, model.safetensors, tokenizer files); returns its path. */
export async function writeTinyBase(dir: string, texts: string[], name = 'base', seed = 7): Promise<string> {
  const tokenizer = trainWordPieceTokenizer(texts, { vocabSize: 120, lowercase: true, modelMaxLength: 64, minFrequency: 1 });
  const config = makeHfConfig('bert', {
    vocab_size: tokenizer.vocabSize,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 64,
    max_position_embeddings: 64,
    pad_token_id: tokenizer.padTokenId ?? 0,
  });
  const model = createModel(config, 'fill-mask', { seed });
  const out = join(dir, name);
  await savePretrained(model, out, { tokenizer });
  model.dispose();
  return out;
}

// Continued pretraining with masked LM on the (unlabelled) training text, to adapt an encoder before
// fine-tuning: BERT's masking (15% of tokens; of those 80% [MASK], 10% random, 10% kept), a
// BertForMaskedLM sharing the config, then the encoder weights copied into the classifier by name.

import type { TextDataset } from '../data/index.ts';
import { Rng } from '../data/index.ts';
import { BERT_FAMILY } from '../models/bert.ts';
import type { Features } from '../data/index.ts';
import { FeatureBatches } from '../train/batches.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../train/args.ts';
import { Trainer } from '../train/trainer.ts';
import type { LoadedClassifier } from './models.ts';
import type { PipelineEvents } from './text-classification.ts';

/** BERT's masking of one sequence: returns masked ids and labels (-100 where not predicted). */
export function maskTokens(ids: ArrayLike<number>, special: Set<number>, maskId: number, vocabSize: number, rng: Rng, prob = 0.15): { inputIds: number[]; labels: number[] } {
  const inputIds = Array.from(ids);
  const labels = new Array<number>(inputIds.length).fill(-100);
  for (let i = 0; i < inputIds.length; i++) {
    if (special.has(inputIds[i]) || rng.nextFloat() >= prob) continue;
    labels[i] = inputIds[i];
    const r = rng.nextFloat();
    if (r < 0.8) inputIds[i] = maskId;
    else if (r < 0.9) inputIds[i] = Math.floor(rng.nextFloat() * vocabSize);
  }
  return { inputIds, labels };
}

/** Runs `epochs` of masked-LM training on the texts and copies the encoder into the classifier. */
export async function maskedLmPretrain(c: LoadedClassifier, train: TextDataset, epochs: number, args: TrainingArguments, ev?: PipelineEvents): Promise<void> {
  const { tokenizer } = c;
  const maskId = tokenizer.maskTokenId;
  if (maskId === null) {
    ev?.message?.('masked-LM pass skipped: the tokenizer has no [MASK] token');
    return;
  }
  const mlm = BERT_FAMILY.build('fill-mask', c.model.hfConfig);
  const special = new Set(tokenizer.allSpecialIds);
  const rng = Rng.fromSeed(args.seed + 1);
  const features: Features[] = train.examples.map((ex) => {
    const enc = tokenizer.encode(ex.text, null, { truncation: 'longest_first', maxLength: args.max_length });
    const m = maskTokens(enc.ids, special, maskId, tokenizer.vocabSize, rng);
    return { inputIds: m.inputIds, tokenLabels: m.labels };
  });
  const batches = new FeatureBatches(features, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true, padTokenId: tokenizer.padTokenId ?? 0 });
  const mlmArgs: TrainingArguments = {
    ...DEFAULT_TRAINING_ARGUMENTS,
    output_dir: `${args.output_dir}/mlm`,
    num_train_epochs: epochs,
    learning_rate: 5e-4,
    warmup_ratio: 0.06,
    eval_strategy: 'no',
    save_strategy: 'no',
    load_best_model_at_end: false,
    logging_steps: 50,
    seed: args.seed,
    report: false,
  };
  ev?.message?.(`masked-LM pass: ${epochs} epoch(s) over ${features.length} texts`);
  const trainer = new Trainer({
    model: mlm,
    args: mlmArgs,
    train: batches,
    saveModel: async () => {},
    loadModel: async () => {},
    events: { onLog: (r) => ev?.message?.(`mlm step ${r.step}: loss ${Number(r.loss).toFixed(4)}`) },
  });
  await trainer.train();
  const source = new Map(mlm.namedParameters());
  let copied = 0;
  for (const [name, p] of c.model.namedParameters()) {
    const s = source.get(name);
    if (s && !name.includes('pooler') && s.size === p.size) {
      (p.data as Float32Array).set(s.data as Float32Array);
      copied++;
    }
  }
  mlm.dispose();
  ev?.message?.(`masked-LM pass done: copied ${copied} encoder tensors into the classifier`);
}

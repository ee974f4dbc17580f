// The short masked-LM pass that adapts a compact scratch encoder to the training text before it is
// fine-tuned (--mlm-pretrain-epochs): a ...ForMaskedLM sharing the config, trained with the dynamic
// masking of fill-mask.ts, then its encoder weights copied into the task model by name.
// Not here: masked-LM as a task of its own (fill-mask.ts).

import type { TextDataset } from '../data/index.ts';
import { BERT_FAMILY } from '../models/bert.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../train/args.ts';
import { Trainer } from '../train/trainer.ts';
import { MaskedLmBatches, maskingFor, mlmFeatures } from './fill-mask.ts';
import type { LoadedClassifier } from './models.ts';
import type { PipelineEvents } from './text-classification.ts';

/** Runs `epochs` of masked-LM training on the texts and copies the encoder into the task model. */
export async function maskedLmPretrain(c: LoadedClassifier, train: TextDataset, epochs: number, args: TrainingArguments, ev?: PipelineEvents): Promise<void> {
  const { tokenizer } = c;
  if (tokenizer.maskTokenId === null) {
    ev?.message?.('masked-LM pass skipped: the tokenizer has no [MASK] token');
    return;
  }
  const mlm = BERT_FAMILY.build('fill-mask', c.model.hfConfig);
  const features = mlmFeatures(train, tokenizer, args.max_length);
  const batches = new MaskedLmBatches(features, { batchSize: args.per_device_train_batch_size, seed: args.seed, shuffle: true, padTokenId: tokenizer.padTokenId ?? 0 }, maskingFor(tokenizer, 0.15));
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
  ev?.message?.(`masked-LM pass: ${epochs} epoch(s) over ${features.length} text windows`);
  const trainer = new Trainer({
    model: mlm,
    args: mlmArgs,
    train: batches,
    saveModel: async () => {},
    loadModel: async () => {},
    signal: ev?.signal,
    events: { onLog: (r) => ev?.message?.(`mlm step ${r.step}: loss ${Number(r.loss).toFixed(4)}`) },
  });
  await trainer.train();
  const source = new Map(mlm.namedParameters());
  let copied = 0;
  for (const [name, p] of c.model.namedParameters()) {
    const s = source.get(name);
    if (s && !name.includes('pooler') && s.size === p.size) {
      p.floatData.set(s.floatData);
      copied++;
    }
  }
  mlm.dispose();
  ev?.message?.(`masked-LM pass done: copied ${copied} encoder tensors into the task model`);
}

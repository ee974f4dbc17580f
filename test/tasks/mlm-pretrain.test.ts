// The masked-LM pass before fine-tuning a scratch model (--mlm-pretrain-epochs): it trains a masked-LM
// twin whose loss ends well below chance, and the classifier starts from its encoder weights (not its own random init).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PIPELINE_CONFIG } from '../../src/tasks/config.ts';
import { trainTextClassifier } from '../../src/tasks/text-classification.ts';
import { DEFAULT_TRAINING_ARGUMENTS } from '../../src/train/args.ts';
import { tempDir, writeSentimentCsv } from '../helpers/cli.ts';

describe('masked-LM pass before fine-tuning', () => {
  it('lowers the masked-LM loss and hands its encoder to the classifier', async () => {
    const dir = tempDir();
    const file = writeSentimentCsv(dir, 96);
    const messages: string[] = [];
    await trainTextClassifier(
      { ...DEFAULT_PIPELINE_CONFIG, train_file: file, scratch_hidden_size: 32, scratch_intermediate_size: 64, scratch_vocab_size: 200, mlm_pretrain_epochs: 25 },
      { ...DEFAULT_TRAINING_ARGUMENTS, output_dir: dir + '/out', max_steps: 2, learning_rate: 1e-3, per_device_train_batch_size: 16, max_length: 16, report: false, save_strategy: 'no', eval_strategy: 'no', load_best_model_at_end: false },
      { message: (m) => messages.push(m) },
    );
    const losses = messages.filter((m) => m.startsWith('mlm step')).map((m) => Number(/loss ([\d.]+)/.exec(m)![1]));
    assert.ok(losses.length >= 1, `no masked-LM log lines in:\n${messages.join('\n')}`);
    // A random model predicts uniformly over the vocabulary: loss ln(V). Training must beat that clearly.
    const vocab = Number(/WordPiece, (\d+) tokens/.exec(messages.join('\n'))![1]);
    assert.ok(losses.at(-1)! < Math.log(vocab) - 0.5, `masked-LM loss ${losses.at(-1)} did not fall below ln(${vocab}) - 0.5`);
    const done = messages.find((m) => m.startsWith('masked-LM pass done'));
    assert.ok(done, 'the pass did not finish');
    const copied = Number(/copied (\d+) encoder tensors/.exec(done)![1]);
    // 2 layers × 16 tensors + 5 embedding tensors: everything but the pooler and the head.
    assert.equal(copied, 2 * 16 + 5, done);
  });
});

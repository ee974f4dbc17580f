// The CLI flags of mixed precision and memory saving: `finetune train --bf16 --gradient-checkpointing`
// trains (2 steps of a compact scratch model) and says which bf16 path runs; --load-in-4bit without LoRA
// is refused naming the flag to add; --load-in-4bit --bf16 on stories260K quantises while reading and
// evaluates; --help lists the flags.
// Not here: numerics (test/tensor/autocast.test.ts, test/nn/checkpoint.test.ts, test/lora/quantize.test.ts).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { sharedPath } from '../generate/helpers.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const HF = sharedPath('data/tinyllamas-stories260K/hf');

const dir = tempDir();
const data = join(dir, 'train.csv');
writeFileSync(
  data,
  'text,label\n' + Array.from({ length: 40 }, (_, i) => (i % 2 ? `win a free prize now ${i},spam` : `see you at lunch ${i},ham`)).join('\n') + '\n',
);

describe('finetune train precision and memory flags', () => {
  it('bf16: true in the config file + --gradient-checkpointing trains and reports the bf16 path and the checkpointed layers', () => {
    const cfg = join(dir, 'settings.json');
    writeFileSync(cfg, JSON.stringify({ bf16: true, scratch_hidden_size: 32, scratch_num_layers: 2, scratch_num_heads: 2, scratch_intermediate_size: 64, scratch_vocab_size: 200 }));
    const r = runCli(['train', '-c', cfg, '--train-file', data, '--output-dir', join(dir, 'out'), '--max-steps', '2', '--gradient-checkpointing',
      '--eval-strategy', 'no', '--save-strategy', 'no', '--no-report'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /bf16: (matrix products on AVX512_BF16|.*will be SLOWER)/);
    assert.match(r.stdout, /gradient checkpointing: 2 layers recompute/);
  });

  it('--load-in-4bit without LoRA is refused with what to do', () => {
    const r = runCli(['train', '--train-file', data, '--output-dir', join(dir, 'out2'), '--max-steps', '1', '--load-in-4bit'], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--load-in-4bit.*--lora-r/s);
  });

  it('--load-in-4bit --bf16 on a pretrained Llama (stories260K) quantises while reading, trains and evaluates', { skip: HF === null ? 'needs ../shared/data/tinyllamas-stories260K/hf' : false }, () => {
    const text = join(dir, 'story.txt');
    writeFileSync(text, 'Once upon a time there was a little cat. The cat liked to play in the sun. One day the cat saw a bird.\n'.repeat(6));
    const r = runCli(['--threads', '1', 'train', '--task', 'text-generation', '--model', HF!, '--train-file', text, '--validation-file', text, '--output-dir', join(dir, 'out3'),
      '--max-steps', '2', '--max-length', '32', '--lora-r', '4', '--lora-target-modules', 'q_proj,v_proj,gate_proj', '--load-in-4bit', '--bnb-4bit-use-double-quant', '--bf16',
      '--eval-strategy', 'steps', '--eval-steps', '1', '--save-strategy', 'no', '--no-report'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /base weights: 15 LoRA base Linear weights in nf4 \(double quant\) and model\.embed_tokens\.weight in bf16, quantised while reading/);
    assert.match(r.stdout, /step 2 \(epoch [\d.]+\): loss [\d.]+/);
  });

  it('--help lists the flags', () => {
    const r = runCli(['train', '--help'], { timeoutMs: 60_000 });
    for (const f of ['--bf16', '--gradient-checkpointing', '--load-in-4bit', '--load-in-8bit', '--bnb-4bit-use-double-quant']) assert.ok(r.stdout.includes(f), f);
  });
});

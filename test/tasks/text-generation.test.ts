// Causal-LM fine-tuning (`finetune train --task text-generation`) on real pretrained weights, stories260K
// from ../shared/data: LoRA through the CLI lowers held-out loss and writes a PEFT adapter folder that
// `evaluate` and `generate --adapter` reload; --merge-lora gives the same model as full weights; LoRA
// checkpoints hold only the adapter and resume exactly; chat data trains through the chat template;
// evaluation loss equals a by-hand NLL over the predicted tokens; the LoRA settings are validated.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../../src/backend/index.ts';
import { lmFeatures, readCausalLmDataset } from '../../src/data/causal-lm.ts';
import { ConfigError, ModelError } from '../../src/errors.ts';
import { readSafetensors, toFloat32 } from '../../src/io/safetensors.ts';
import { DEFAULT_PIPELINE_CONFIG, resolveSettings, type PipelineConfig } from '../../src/tasks/config.ts';
import { evaluateCausalLm, evaluateCausalLmFile, loadCausalLm, trainCausalLm } from '../../src/tasks/text-generation.ts';
import { taskOfModel } from '../../src/tasks/task-run.ts';
import * as F from '../../src/tensor/index.ts';
import { Tensor } from '../../src/tensor/index.ts';
import { DEFAULT_TRAINING_ARGUMENTS, type TrainingArguments } from '../../src/train/args.ts';
import { FeatureBatches } from '../../src/train/batches.ts';
import { fixturePath, sharedPath } from '../generate/helpers.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const HF = sharedPath('data/tinyllamas-stories260K/hf');
const skip = HF === null ? 'needs ../shared/data/tinyllamas-stories260K/hf (stories260K, real pretrained Llama weights); not found' : false;
const tmp = tempDir('finetune-clm-');
after(() => rmSync(tmp, { recursive: true, force: true }));

// A small story the model has never seen (a purple dragon called Zog), and held-out text from the same story.
const TRAIN_TEXT = [
  'Zog was a purple dragon who lived on a hill. Zog liked to eat red apples. Every day Zog flew to the big tree to find red apples.',
  'One day Zog saw a little boy under the big tree. The boy was sad. Zog gave the boy a red apple and the boy smiled. Zog was happy.',
  'Zog and the boy ate red apples under the big tree. Then Zog flew back to the hill. The purple dragon slept with a smile.',
  'The next day the boy came to the hill. He said, "Zog, can we find red apples?" Zog said, "Yes!" The purple dragon and the boy flew to the big tree.',
].join('\n\n');
const HELD_OUT = 'Zog the purple dragon flew to the big tree. Zog liked red apples and Zog gave a red apple to the boy.\n';
const write = (name: string, text: string): string => {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
};
const trainFile = write('zog.txt', TRAIN_TEXT);
const heldOutFile = write('zog-held-out.txt', HELD_OUT);

/** The threads flag keeps runs quick on 2 shared cores; results do not depend on it. */
const cli = (args: string[]) => runCli(['--threads', '1', ...args], { timeoutMs: 60_000 });
function ok(r: ReturnType<typeof runCli>): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const lossOf = (stdout: string): number => Number(/loss\s+([\d.]+)/.exec(stdout)?.[1]);
const LORA = ['--lora-r', '8', '--lora-alpha', '16', '--lora-target-modules', 'q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj'];
const TRAIN = ['train', '--task', 'text-generation', '--train-file', trainFile, '--validation-file', heldOutFile, '--learning-rate', '1e-2', '--max-steps', '10',
  '--max-length', '32', '--per-device-train-batch-size', '4', '--eval-strategy', 'no', '--save-strategy', 'no', '--no-report'];

describe('finetune train --task text-generation with LoRA (stories260K, CLI)', { skip }, () => {
  const adapterDir = join(tmp, 'zog-lora');
  let adapterLoss = NaN;

  it('lowers held-out loss and writes a PEFT adapter folder that evaluate reloads', async () => {
    const base = lossOf(ok(cli(['evaluate', '--model', HF!, '--data', heldOutFile, '--max-length', '32'])));
    const t = ok(cli([...TRAIN, '--model', HF!, ...LORA, '--output-dir', adapterDir]));
    assert.match(t, /LoRA: r 8, alpha 16, dropout 0, 35 layers/);
    assert.match(t, /finetune generate --model .*hf --adapter .*zog-lora/);

    // PEFT layout: adapter_config.json + adapter_model.safetensors with PEFT's key names, no full weights.
    assert.ok(!existsSync(join(adapterDir, 'model.safetensors')), 'only the adapter is saved, no full weights');
    assert.ok(existsSync(join(adapterDir, 'config.json')) && existsSync(join(adapterDir, 'tokenizer.json')), 'config.json and tokenizer: the folder is usable on its own');
    const cfg = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(
      [cfg.peft_type, cfg.task_type, cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.base_model_name_or_path, cfg.bias],
      ['LORA', 'CAUSAL_LM', 8, 16, 0, HF, 'none'],
    );
    assert.deepEqual(cfg.target_modules, ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    const { tensors } = await readSafetensors(join(adapterDir, 'adapter_model.safetensors'));
    assert.equal(tensors.size, 5 * 7 * 2, '5 layers x 7 projections x (A, B)');
    // Shapes from the architecture (README: dim 64, 4 KV heads of 8, SwiGLU hidden 172): A is (r, in), B is (out, r).
    const shape = (k: string) => tensors.get(`base_model.model.model.layers.${k}.weight`)?.shape;
    assert.deepEqual(shape('0.self_attn.q_proj.lora_A'), [8, 64]);
    assert.deepEqual(shape('0.self_attn.k_proj.lora_B'), [32, 8]);
    assert.deepEqual(shape('4.mlp.gate_proj.lora_B'), [172, 8]);
    assert.deepEqual(shape('4.mlp.down_proj.lora_A'), [8, 172]);

    // The adapter folder alone is a model for `evaluate` (base read from adapter_config.json), as --adapter is.
    adapterLoss = lossOf(ok(cli(['evaluate', '--model', adapterDir, '--data', heldOutFile, '--max-length', '32'])));
    assert.ok(adapterLoss < base - 0.5, `held-out loss ${base} → ${adapterLoss} should drop clearly`);
    assert.equal(adapterLoss.toFixed(4), /validation results: perplexity [\d.]+, loss ([\d.]+)/.exec(t)?.[1], 'evaluate agrees with the run');
    assert.equal(lossOf(ok(cli(['evaluate', '--model', HF!, '--adapter', adapterDir, '--data', heldOutFile, '--max-length', '32']))), adapterLoss, '--adapter');
  });

  it('--merge-lora saves full weights equal to base + adapter (loss and greedy text)', () => {
    assert.ok(Number.isFinite(adapterLoss), 'needs the adapter of the previous test');
    const merged = join(tmp, 'zog-merged');
    ok(cli([...TRAIN, '--model', HF!, ...LORA, '--merge-lora', '--output-dir', merged]));
    assert.ok(!existsSync(join(merged, 'adapter_config.json')));
    assert.deepEqual((JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')) as { architectures: string[] }).architectures, ['LlamaForCausalLM']);
    const mergedLoss = lossOf(ok(cli(['evaluate', '--model', merged, '--data', heldOutFile, '--max-length', '32'])));
    assert.ok(Math.abs(mergedLoss - adapterLoss) <= 1e-4, `merged ${mergedLoss} vs adapter ${adapterLoss}`);
    const gen = (model: string[]) => JSON.parse(ok(cli(['generate', ...model, '--prompt', 'Zog', '--greedy', '--max-new-tokens', '24', '--json']))) as { generated_text: string };
    const viaAdapter = gen(['--model', HF!, '--adapter', adapterDir]).generated_text;
    assert.equal(gen(['--model', merged]).generated_text, viaAdapter);
    assert.match(viaAdapter, /^Zog /);
  });

  it('a LoRA target that matches nothing is an error naming the model\'s linear layers', () => {
    const r = cli([...TRAIN, '--model', HF!, '--lora-r', '4', '--lora-target-modules', 'query,value', '--output-dir', join(tmp, 'bad')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /"query","value"\] match no module of this model; its linear layers are named: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/);
  });
});

const p0 = (over: Partial<PipelineConfig>): PipelineConfig => ({ ...DEFAULT_PIPELINE_CONFIG, task: 'text-generation', model: HF, ...over });
const a0 = (over: Partial<TrainingArguments>): TrainingArguments => ({
  ...DEFAULT_TRAINING_ARGUMENTS,
  max_length: 32,
  per_device_train_batch_size: 4,
  eval_strategy: 'no',
  save_strategy: 'no',
  load_best_model_at_end: false,
  report: false,
  ...over,
});

describe('trainCausalLm (stories260K, library)', { skip }, () => {
  it('evaluation loss is the mean NLL over predicted tokens only (completion, not prompt or padding)', async () => {
    const { model, tokenizer } = await loadCausalLm(HF!);
    const rows = [
      { prompt: 'Lily had a red ball.', completion: ' She liked to play with it every day in the park.' },
      { prompt: 'Tom saw a big dog in the garden. The dog was', completion: ' happy.' },
    ];
    const file = write('pc.jsonl', rows.map((r) => JSON.stringify(r)).join('\n'));
    const ds = await readCausalLmDataset(file, tokenizer, { maxLength: 64 });
    assert.equal(ds.kind, 'prompt_completion');
    // By hand, one unpadded example at a time: -log softmax(logits[t-1])[id_t] for every completion token t.
    let nll = 0;
    let count = 0;
    for (const ex of ds.examples) {
      const T = ex.inputIds.length;
      const logits = F.tidy(() => F.noGrad(() => model.forward({ inputIds: Tensor.from(Int32Array.from(ex.inputIds), [1, T], 'int32') }).logits.toArray()));
      const V = model.vocabSize;
      for (let t = 1; t < T; t++) {
        if (ex.labels[t] === -100) continue;
        const row = logits.slice((t - 1) * V, t * V);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
        nll += lse - row[ex.labels[t]!]!;
        count++;
      }
    }
    const completionTokens = rows.reduce((n, r) => n + tokenizer.encode(r.completion, null, { addSpecialTokens: false }).ids.length + 1, 0); // + EOS
    assert.equal(count, completionTokens, 'exactly the completion tokens and EOS are scored');
    // Batched: both rows in one right-padded batch.
    const r = await evaluateCausalLm(model, new FeatureBatches(lmFeatures(ds.examples), { batchSize: 2, seed: 0, shuffle: false, padTokenId: 0 }));
    assert.ok(Math.abs(r.metrics.loss! - nll / count) < 1e-4, `loss ${r.metrics.loss} vs by hand ${nll / count}`);
    assert.ok(Math.abs(r.metrics.perplexity! - Math.exp(nll / count)) < 1e-3 * Math.exp(nll / count));
    model.dispose();
  });

  it('LoRA checkpoints hold only the adapter, and resuming from one ends identical to an uninterrupted run', async () => {
    const p = p0({ train_file: trainFile, validation_file: heldOutFile, lora_r: 4, lora_alpha: 8, lora_dropout: 0.1 });
    const full = join(tmp, 'resume-full');
    await trainCausalLm(p, a0({ output_dir: full, max_steps: 4, learning_rate: 5e-3, save_strategy: 'steps', save_steps: 2 }));
    const ckpt = join(full, 'checkpoint-2');
    assert.ok(existsSync(join(ckpt, 'adapter_model.safetensors')) && existsSync(join(ckpt, 'adapter_config.json')));
    assert.ok(!existsSync(join(ckpt, 'model.safetensors')), 'a LoRA checkpoint does not copy the base weights');
    const resumed = join(tmp, 'resume-resumed');
    await trainCausalLm(p, a0({ output_dir: resumed, max_steps: 4, learning_rate: 5e-3, resume_from_checkpoint: ckpt }));
    const read = async (d: string) => (await readSafetensors(join(d, 'adapter_model.safetensors'))).tensors;
    const [a, b] = [await read(full), await read(resumed)];
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
    for (const [k, e] of a) assert.deepEqual(toFloat32(b.get(k)!), toFloat32(e), `${k} differs after resume`);
    const c2 = await read(ckpt);
    assert.notDeepEqual(toFloat32(c2.get([...c2.keys()][0]!)!), toFloat32(a.get([...c2.keys()][0]!)!), 'steps 3-4 changed the adapter');
  });

  it('chat JSONL trains through the tokenizer\'s chat template (full fine-tuning) and saves a full model', async () => {
    // The stories260K folder plus a chat template: links to its files and a tokenizer_config.json.
    const chatModel = join(tmp, 'stories-chat');
    rmSync(chatModel, { recursive: true, force: true });
    mkdirSync(chatModel);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.model']) symlinkSync(join(HF!, f), join(chatModel, f));
    writeFileSync(join(chatModel, 'tokenizer_config.json'), JSON.stringify({
      chat_template: "{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'] }}\n{% else %}A: {{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}",
    }));
    const chat = (q: string, a: string) => JSON.stringify({ messages: [{ role: 'user', content: q }, { role: 'assistant', content: a }] });
    const train = write('chat-train.jsonl', [
      chat('Who is Zog?', 'Zog is a purple dragon.'), chat('What does Zog eat?', 'Zog eats red apples.'),
      chat('Where does Zog live?', 'Zog lives on a hill.'), chat('What color is Zog?', 'Zog is purple.'),
    ].join('\n'));
    const val = write('chat-val.jsonl', [chat('Tell me about Zog.', 'Zog is a purple dragon who eats red apples.')].join('\n'));
    const out = join(tmp, 'chat-full');
    const args = a0({ output_dir: out, max_steps: 6, learning_rate: 3e-3, per_device_train_batch_size: 2 });
    const p = p0({ model: chatModel, train_file: train, validation_file: val });
    const before = (await evaluateCausalLmFile(chatModel, val, p, args)).result.metrics.loss!;
    const said: string[] = [];
    const run = await trainCausalLm(p, args, { message: (m) => said.push(m) });
    assert.ok(said.some((m) => /^train: 4 chats \(chat template\), \d+ of \d+ tokens learned/.test(m)), said.join('\n'));
    assert.equal(run.adapter, false);
    assert.ok(run.validation!.metrics.loss! < before - 0.1, `validation loss ${before} → ${run.validation!.metrics.loss}`);
    assert.deepEqual((JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { architectures: string[] }).architectures, ['LlamaForCausalLM']);
    assert.ok(existsSync(join(out, 'model.safetensors')) && existsSync(join(out, 'tokenizer.json')) && !existsSync(join(out, 'adapter_config.json')));
    assert.equal(await taskOfModel(out), 'text-generation');
    const reloaded = (await evaluateCausalLmFile(out, val, p, args)).result.metrics.loss!;
    assert.ok(Math.abs(reloaded - run.validation!.metrics.loss!) < 1e-5, `saved model ${reloaded} vs in memory ${run.validation!.metrics.loss}`);
  });

  it('no --model, an encoder checkpoint, or an adapter whose base model is gone: clear errors', async () => {
    await assert.rejects(trainCausalLm(p0({ model: null, train_file: trainFile }), a0({ output_dir: join(tmp, 'x') })), (e: unknown) => e instanceof ConfigError && /pass --model/.test(e.message));
    await assert.rejects(loadCausalLm(fixturePath('tiny-bert-seqcls')), (e: unknown) => e instanceof ConfigError && /BERT models have no "text-generation" head/.test(e.message));
    const orphan = join(tmp, 'orphan-adapter');
    mkdirSync(orphan, { recursive: true });
    writeFileSync(join(orphan, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 4, target_modules: ['q_proj'], base_model_name_or_path: join(tmp, 'gone') }));
    await assert.rejects(loadCausalLm(orphan), (e: unknown) => e instanceof ModelError && /was trained on .*gone, which is not found.*pass --model <base model folder> --adapter/.test(e.message));
  });
});

describe('LoRA settings', () => {
  const resolve = (values: Record<string, unknown>) => resolveSettings([{ values: values.task === 'text-classification' ? values : { model: 'some-model', ...values }, source: 'test.yaml' }]).pipeline;
  it('parses target modules as PEFT takes them: a list of names, one regex, or all-linear', () => {
    assert.deepEqual(resolve({ task: 'text-generation', lora_r: '8', lora_target_modules: 'q_proj, v_proj' }).lora_target_modules, ['q_proj', 'v_proj']);
    assert.deepEqual(resolve({ task: 'text-generation', lora_r: 8, lora_target_modules: ['c_attn'] }).lora_target_modules, ['c_attn']);
    assert.equal(resolve({ task: 'text-generation', lora_r: 8, lora_target_modules: 'all-linear' }).lora_target_modules, 'all-linear');
    assert.equal(resolve({ task: 'text-generation', lora_r: 8, lora_target_modules: '.*\\.(q|v)_proj' }).lora_target_modules, '.*\\.(q|v)_proj');
    const d = resolve({});
    assert.deepEqual([d.lora_r, d.lora_alpha, d.lora_dropout, d.lora_target_modules, d.merge_lora], [0, 8, 0, null, false], 'PEFT defaults; LoRA off');
  });

  it('rejects bad values and combinations naming the key', () => {
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{ task: 'text-generation', lora_r: 2.5 }, 'lora_r', /whole number/],
      [{ task: 'text-generation', lora_r: 8, lora_alpha: 0 }, 'lora_alpha', /above 0/],
      [{ task: 'text-generation', lora_r: 8, lora_dropout: 1 }, 'lora_dropout', /below 1/],
      [{ task: 'text-generation', lora_r: 8, lora_target_modules: 'q_proj,,v_proj' }, 'lora_target_modules', /empty name/],
      [{ task: 'text-classification', lora_r: 8 }, 'lora_r', /--model/],
      [{ task: 'text-generation', merge_lora: true }, 'merge_lora', /set lora_r/],
      [{ task: 'text-generation', lora_alpha: 32 }, 'lora_alpha', /set lora_r/],
      [{ lora_rank: 8 }, 'lora_rank', /did you mean "lora_r"/],
    ];
    for (const [values, key, re] of bad) {
      assert.throws(() => resolve(values), (e: unknown) => e instanceof ConfigError && e.key === key && re.test(e.message), `${JSON.stringify(values)}`);
    }
  });
});

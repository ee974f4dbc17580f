// The text-generation pipeline task. References: src/generate's decoding loop run directly on token ids
// (greedy), textGenerationBatch with the same settings (batches, sampling with a seed), a chat rendered
// by hand, the golden greedy story of the real stories260K weights (an independent numpy llama2.c), and
// the known 64-position limit of the tiny GPT-2. Bad inputs and parameters name their field.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { referenceBackend } from '../../../src/backend/reference.ts';
import { intTensor, type CausalLM } from '../../../src/models/decoder.ts';
import { generate } from '../../../src/generate/generate.ts';
import { textGeneration, textGenerationBatch, type TextGenerationOutput } from '../../../src/inference/text-generation.ts';
import { saveLoraAdapter } from '../../../src/lora/adapter.ts';
import { loraConfig } from '../../../src/lora/config.ts';
import { applyLora } from '../../../src/lora/inject.ts';
import { fromPretrained } from '../../../src/models/pretrained.ts';
import { PipelineInputError, TextPipeline } from '../../../src/inference/index.ts';
import * as F from '../../../src/tensor/index.ts';
import { loadTokenizer, type Tokenizer } from '../../../src/tokenizers/index.ts';
import { tmpDir } from '../fixtures.ts';
import { NO_STORIES, STORIES_DIR, makeGpt2Folder, type StoriesGolden } from '../text-generation-fixtures.ts';

F.setDefaultBackend(referenceBackend);
const quiet = { warn: () => undefined };
type Outputs = TextGenerationOutput[][];

describe('text-generation on the tiny GPT-2 (byte-level BPE)', () => {
  let work: Awaited<ReturnType<typeof tmpDir>>;
  let dir: string;
  let pipe: TextPipeline;
  let model: CausalLM; // an independent copy of the weights, driven with src/generate directly
  let tok: Tokenizer;
  before(async () => {
    work = await tmpDir('ft-textgen-');
    dir = await makeGpt2Folder(join(work.dir, 'gpt2'));
    pipe = await TextPipeline.load(dir, quiet);
    model = (await fromPretrained(dir, quiet)) as unknown as CausalLM;
    model.eval();
    tok = await loadTokenizer(dir);
  });
  after(async () => {
    pipe.dispose();
    await work.cleanup();
  });

  test('the task comes from config.json (GPT2LMHeadModel); the context knows the 64 positions', () => {
    assert.equal(pipe.task, 'text-generation');
    assert.equal(pipe.context.maxLength, 64);
  });

  test('greedy: the prompt followed by the decoded continuation of the decoding loop, as transformers', () => {
    const prompt = 'The cat sat on';
    const ids = tok.encode(prompt, null, { addSpecialTokens: true }).ids;
    const { tokens } = generate(model, [ids], { maxNewTokens: 8 });
    const continuation = tok.decode(tokens[0]!, { skipSpecialTokens: true });
    const reason = tokens[0]!.includes(0) ? 'stop' : 'length'; // eos_token_id 0 (generation_config.json)
    assert.deepEqual(pipe.run(prompt, { max_new_tokens: 8 }), [[{ generated_text: prompt + continuation, finish_reason: reason }]]);
    assert.deepEqual(pipe.run(prompt, { max_new_tokens: 8, return_full_text: false }), [[{ generated_text: continuation, finish_reason: reason }]]);
  });

  test('a list of prompts is one left-padded batch: the same as textGenerationBatch', () => {
    const prompts = ['A', 'The cat sat on the mat and'];
    assert.deepEqual(pipe.run(prompts, { max_new_tokens: 6 }), textGenerationBatch(model, tok, prompts, { maxNewTokens: 6 }));
  });

  test('sampling with a seed repeats, and equals the library with the same settings', () => {
    const params = { do_sample: true, temperature: 0.9, top_k: 20, top_p: 0.95, repetition_penalty: 1.2, seed: 7, max_new_tokens: 8 };
    const got = pipe.run(['Hello', 'Once'], params);
    assert.deepEqual(pipe.run(['Hello', 'Once'], params), got);
    const lib = textGenerationBatch(model, tok, ['Hello', 'Once'], { doSample: true, temperature: 0.9, topK: 20, topP: 0.95, repetitionPenalty: 1.2, seed: 7, maxNewTokens: 8 });
    assert.deepEqual(got, lib);
    // temperature (or top_k, top_p) without do_sample means sampling, as `finetune generate` does.
    assert.deepEqual(pipe.run('Hello', { temperature: 0.9, seed: 3, max_new_tokens: 8 }), [textGeneration(model, tok, 'Hello', { doSample: true, temperature: 0.9, seed: 3, maxNewTokens: 8 })]);
  });

  test('a stop string ends the continuation and is kept', () => {
    const [[free]] = pipe.run('Hello', { max_new_tokens: 12, return_full_text: false }) as Outputs;
    const text = free!.generated_text as string;
    assert.ok(text.length >= 4, `continuation "${text}" is long enough to cut`);
    const stop = text.slice(2, 4);
    const [[cut]] = pipe.run('Hello', { max_new_tokens: 12, return_full_text: false, stop }) as Outputs;
    const got = cut!.generated_text as string;
    assert.ok(got.includes(stop) && text.startsWith(got) && got.indexOf(stop) === got.length - stop.length, `"${got}" should end at the first "${stop}" of "${text}"`);
    assert.equal(cut!.finish_reason, 'stop');
  });

  test('a list of messages is one chat, rendered with the chat template; the reply is appended', () => {
    const chat = [{ role: 'user', content: 'Say hi' }];
    const ids = tok.encode('user: Say hi\nassistant:', null, { addSpecialTokens: false }).ids; // the template, rendered by hand
    const reply = tok.decode(generate(model, [ids], { maxNewTokens: 5 }).tokens[0]!, { skipSpecialTokens: true });
    const out = pipe.run(chat, { max_new_tokens: 5 }) as Outputs;
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]![0]!.generated_text, [...chat, { role: 'assistant', content: reply }]);
    const only = pipe.run([chat, chat], { max_new_tokens: 5, return_full_text: false }) as Outputs;
    assert.deepEqual(only.map((o) => o[0]!.generated_text), [[{ role: 'assistant', content: reply }], [{ role: 'assistant', content: reply }]]);
  });

  test('max_new_tokens defaults to what fits in the 64 positions (or 100, or the limit, whichever is least)', () => {
    const prompt = 'one two three four five six seven';
    const n = tok.encode(prompt, null, { addSpecialTokens: true }).ids.length;
    const prepared = pipe.prepare(prompt);
    assert.equal(prepared.kind, 'generation');
    assert.equal(prepared.kind === 'generation' && (prepared.job.params as { max_new_tokens: number }).max_new_tokens, 64 - n);
  });

  const long = 'word '.repeat(70);
  const BAD: Array<[inputs: unknown, parameters: unknown, field: string, message: RegExp]> = [
    ['a', { max_new_tokens: 0 }, 'parameters.max_new_tokens', /from 1 to 256/],
    ['a', { max_new_tokens: 257 }, 'parameters.max_new_tokens', /from 1 to 256/],
    ['a', { max_new_tokens: 2.5 }, 'parameters.max_new_tokens', /integer/],
    ['The cat sat on the mat', { max_new_tokens: 60 }, 'parameters.max_new_tokens', /exceed the model's 64 positions; ask for at most \d+/],
    ['a', { temperature: 0 }, 'parameters.temperature', /greater than 0/],
    ['a', { temperature: 'hot' }, 'parameters.temperature', /got a string/],
    ['a', { top_k: -1 }, 'parameters.top_k', /from 0/],
    ['a', { top_k: 1.5 }, 'parameters.top_k', /whole number/],
    ['a', { top_p: 0 }, 'parameters.top_p', /greater than 0 and at most 1/],
    ['a', { top_p: 1.5 }, 'parameters.top_p', /at most 1/],
    ['a', { repetition_penalty: 0 }, 'parameters.repetition_penalty', /greater than 0/],
    ['a', { do_sample: 'yes' }, 'parameters.do_sample', /true or false/],
    ['a', { do_sample: false, temperature: 0.7 }, 'parameters.do_sample', /temperature would do nothing/],
    ['a', { seed: -1 }, 'parameters.seed', /from 0/],
    ['a', { seed: 1.5 }, 'parameters.seed', /whole number/],
    ['a', { stop: '' }, 'parameters.stop', /empty/],
    ['a', { stop: ['x', 1] }, 'parameters.stop', /string or a list of strings/],
    ['a', { stop: Array.from({ length: 17 }, () => 'x') }, 'parameters.stop', /17 strings; the limit is 16/],
    ['a', { return_full_text: 'no' }, 'parameters.return_full_text', /true or false/],
    ['a', { max_tokens: 5 }, 'parameters.max_tokens', /unknown parameter; this task takes max_new_tokens/],
    ['a', [1], 'parameters', /expected an object/],
    [5, undefined, 'inputs', /expected a prompt string or a chat/],
    [['a', 5], undefined, 'inputs[1]', /expected a prompt string or a chat/],
    [{ role: 'user', content: 'x' }, undefined, 'inputs', /send a chat as a list of messages/],
    [[{ role: 'user' }], undefined, 'inputs[0].content', /is required/],
    [[{ role: 'user', content: 'x', name: 'y' }], undefined, 'inputs[0].name', /unknown field/],
    [[{ role: '', content: 'x' }], undefined, 'inputs[0].role', /role name/],
    [[[]], undefined, 'inputs[0]', /no messages/],
    ['', undefined, 'inputs', /encodes to no tokens/],
    [long, undefined, 'inputs', /the model takes at most 64 positions, leaving no room/],
    [[], undefined, 'inputs', /the list is empty/],
  ];
  for (const [inputs, parameters, field, message] of BAD) {
    test(`${JSON.stringify(inputs).slice(0, 40)} with ${JSON.stringify(parameters)?.slice(0, 60)} → PipelineInputError at ${field}`, () => {
      assert.throws(
        () => pipe.prepare(inputs, parameters),
        (e: unknown) => e instanceof PipelineInputError && e.field === field && message.test(e.message),
      );
    });
  }

  test('chat messages without a chat template are refused, naming the input', async () => {
    const plain = await TextPipeline.load(await makeGpt2Folder(join(work.dir, 'no-template'), { chatTemplate: false }), quiet);
    try {
      assert.throws(() => plain.prepare([{ role: 'user', content: 'hi' }]), (e: unknown) => e instanceof PipelineInputError && e.field === 'inputs' && /no chat template/.test(e.message));
      assert.equal((plain.run('hi', { max_new_tokens: 2 }) as Outputs).length, 1); // text still works
    } finally {
      plain.dispose();
    }
  });

  test('a LoRA adapter (PEFT layout) is applied on top: outputs equal the adapted model\'s', async () => {
    const adapted = (await fromPretrained(dir, quiet)) as unknown as CausalLM;
    applyLora(adapted, loraConfig({ target_modules: ['c_attn'], r: 4, lora_alpha: 8, init_lora_weights: false })); // random B: a visible change
    adapted.eval();
    const adapterDir = join(work.dir, 'adapter');
    await saveLoraAdapter(adapted, adapterDir, { baseModelNameOrPath: dir });
    const withAdapter = await TextPipeline.load(dir, { adapter: adapterDir, ...quiet });
    try {
      const ids = tok.encode('The cat', null, { addSpecialTokens: true }).ids;
      const logits = (m: CausalLM) => F.tidy(() => F.noGrad(() => F.contiguous(m.logits({ inputIds: intTensor(ids, [1, ids.length]) })).toArray()));
      assert.notDeepEqual(logits(withAdapter.model as unknown as CausalLM), logits(model), 'the adapter changes the logits');
      assert.deepEqual(logits(withAdapter.model as unknown as CausalLM), logits(adapted));
      assert.deepEqual(withAdapter.run('The cat', { max_new_tokens: 6 }), [textGeneration(adapted, tok, 'The cat', { maxNewTokens: 6 })]);
    } finally {
      withAdapter.dispose();
    }
  });
});

describe('text-generation on stories260K (real Llama weights, SentencePiece BPE)', { skip: STORIES_DIR === null ? NO_STORIES : false }, () => {
  let pipe: TextPipeline;
  let golden: StoriesGolden;
  before(async () => {
    pipe = await TextPipeline.load(join(STORIES_DIR!, 'hf'), quiet);
    golden = JSON.parse(readFileSync(join(STORIES_DIR!, 'golden.json'), 'utf8')) as StoriesGolden;
  });
  after(() => pipe.dispose());

  test('an empty prompt starts from BOS: the greedy text is the golden story\'s beginning', () => {
    const [[out]] = pipe.run('', { max_new_tokens: 60 }) as Outputs;
    const text = out!.generated_text as string;
    assert.equal(text, pipe.tokenizer.decode(golden.greedy_ids.slice(0, 60), { skipSpecialTokens: true }));
    assert.ok(text.length > 150 && golden.greedy_text.startsWith(text), `"${text}" is not the start of the golden story`);
    assert.equal(out!.finish_reason, 'length');
  });

  test('continuing the story\'s own first words gives the story (prompt kept in front)', () => {
    const [[out]] = pipe.run('Once upon a time', { max_new_tokens: 30 }) as Outputs;
    const text = out!.generated_text as string;
    assert.ok(text.length > 'Once upon a time'.length + 60 && golden.greedy_text.startsWith(text), `"${text}" is not the start of the golden story`);
  });
});

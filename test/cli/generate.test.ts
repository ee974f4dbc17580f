// `finetune generate`, run as a user would (the real bin in a child process) on stories260K's real
// weights from ../shared/data: greedy decoding from BOS prints the documented greedy story (golden.json);
// --adapter applies a PEFT adapter folder and generates what the adapted model generates in memory;
// sampling flags, the seed and --stop reach the decoder (streamed text = the final text); --chat goes
// through the chat template; bad flags are clear errors; --help has examples.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../../src/backend/index.ts';
import type { CausalLM } from '../../src/models/decoder.ts';
import { textGeneration, type TextGenerationOptions } from '../../src/inference/text-generation.ts';
import { saveLoraAdapter } from '../../src/lora/adapter.ts';
import { loraConfig } from '../../src/lora/config.ts';
import { applyLora } from '../../src/lora/inject.ts';
import { fromPretrained } from '../../src/models/pretrained.ts';
import { manualSeed } from '../../src/nn/init.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import type { ChatMessage } from '../../src/tokenizers/tokenizer.ts';
import { sharedPath } from '../generate/helpers.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const DATA = sharedPath('data/tinyllamas-stories260K');
const HF = DATA === null ? '' : join(DATA, 'hf');
const skip = DATA === null ? 'needs ../shared/data/tinyllamas-stories260K (stories260K, real pretrained Llama weights); not found' : false;
const tmp = tempDir('finetune-generate-');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The threads flag keeps runs quick on 2 shared cores; results do not depend on it. */
const cli = (args: string[]) => runCli(['--threads', '1', 'generate', ...args], { timeoutMs: 60_000 });
function ok(r: ReturnType<typeof runCli>): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
interface JsonOut {
  prompt: string | ChatMessage[];
  generated_text: string | ChatMessage[];
  finish_reason: string;
}
const jsonLines = (stdout: string): JsonOut[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonOut);

async function stories() {
  const tok = await loadTokenizer(HF);
  const model = (await fromPretrained(HF, { task: 'text-generation' })) as unknown as CausalLM;
  model.eval();
  return { tok, model };
}

describe('finetune generate (stories260K)', { skip }, () => {
  it('--greedy from BOS prints the documented greedy story (golden.greedy_ids)', async () => {
    const g = JSON.parse(readFileSync(join(DATA!, 'golden.json'), 'utf8')) as { greedy_ids: number[]; greedy_text: string };
    const tok = await loadTokenizer(HF);
    const expected = tok.decode(g.greedy_ids.slice(0, 60), { skipSpecialTokens: true });
    assert.ok(g.greedy_text.startsWith(expected) && expected.length > 150, 'the golden ids decode to the golden text');

    const streamed = ok(cli(['--model', HF, '--greedy', '--max-new-tokens', '60'])); // no prompt: from BOS
    assert.equal(streamed, `${expected}\n`);
    assert.match(streamed, /^Once upon a time, there was a little girl named Lily\./);
    const [j] = jsonLines(ok(cli(['--model', HF, '--prompt', '', '--greedy', '--max-new-tokens', '60', '--json'])));
    assert.deepEqual(j, { prompt: '', generated_text: expected, finish_reason: 'length' });
  });

  it('--adapter applies a PEFT adapter folder; the folder alone names its base model', async () => {
    const { tok, model } = await stories();
    const base = textGeneration(model, tok, 'Lily', { maxNewTokens: 20 })[0].generated_text;
    manualSeed(3);
    // init_lora_weights false: A and B both random, so the adapter changes the outputs without training.
    applyLora(model, loraConfig({ r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'], init_lora_weights: false, task_type: 'CAUSAL_LM' }));
    const adapted = textGeneration(model, tok, 'Lily', { maxNewTokens: 20 })[0].generated_text;
    assert.notEqual(adapted, base, 'the adapter changes the greedy text');
    const dir = join(tmp, 'random-adapter');
    await saveLoraAdapter(model, dir, { baseModelNameOrPath: HF });
    model.dispose();

    const [viaFlag] = jsonLines(ok(cli(['--model', HF, '--adapter', dir, '--prompt', 'Lily', '--greedy', '--max-new-tokens', '20', '--json'])));
    assert.equal(viaFlag.generated_text, adapted);
    const [viaFolder] = jsonLines(ok(cli(['--model', dir, '--prompt', 'Lily', '--greedy', '--max-new-tokens', '20', '--json'])));
    assert.equal(viaFolder.generated_text, adapted);
  });

  it('sampling flags, --seed and --stop reach the decoder; the streamed text equals the final text', async () => {
    const { tok, model } = await stories();
    const flags = ['--model', HF, '--prompt', 'Lily saw a dog', '--temperature', '0.9', '--top-k', '40', '--top-p', '0.95', '--repetition-penalty', '1.1', '--seed', '11', '--stop', '.', '--max-new-tokens', '60'];
    const opts: TextGenerationOptions = { doSample: true, temperature: 0.9, topK: 40, topP: 0.95, repetitionPenalty: 1.1, seed: 11, stopStrings: ['.'], maxNewTokens: 60 };
    const [want] = textGeneration(model, tok, 'Lily saw a dog', opts);
    const [j] = jsonLines(ok(cli([...flags, '--json'])));
    assert.equal(j.generated_text, want.generated_text);
    assert.equal(j.finish_reason, want.finish_reason);
    if (j.finish_reason === 'stop') assert.ok((j.generated_text as string).endsWith('.'), 'a stop string ends the text and is kept');
    assert.equal(ok(cli(flags)), `${want.generated_text as string}\n`, 'streamed output');
    model.dispose();
  });

  it('--chat renders the tokenizer\'s chat template; a tokenizer without one is refused', async () => {
    const chatModel = join(tmp, 'stories-chat');
    mkdirSync(chatModel, { recursive: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.model']) symlinkSync(join(HF, f), join(chatModel, f));
    writeFileSync(join(chatModel, 'tokenizer_config.json'), JSON.stringify({
      chat_template: "{% for m in messages %}{% if m['role'] == 'user' %}Q: {{ m['content'] }}\n{% else %}A: {{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}A:{% endif %}",
    }));
    const messages: ChatMessage[] = [{ role: 'user', content: 'Who is Lily?' }];
    const chatFile = join(tmp, 'chat.json');
    writeFileSync(chatFile, JSON.stringify({ messages }));
    const tok = await loadTokenizer(chatModel);
    const model = (await fromPretrained(chatModel, { task: 'text-generation' })) as unknown as CausalLM;
    const [want] = textGeneration(model, tok, messages, { maxNewTokens: 20 });
    const [j] = jsonLines(ok(cli(['--model', chatModel, '--chat', chatFile, '--greedy', '--max-new-tokens', '20', '--json'])));
    assert.deepEqual(j.generated_text, want.generated_text);
    assert.equal((j.generated_text as ChatMessage[]).at(-1)?.role, 'assistant');
    model.dispose();

    const r = cli(['--model', HF, '--chat', chatFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hf: the tokenizer has no chat template, so --chat cannot be rendered; pass --chat-template FILE, add "chat_template" .* or give the text with --prompt/);
  });

  it('bad flags and folders are clear errors with a non-zero exit', () => {
    const bad: [string[], RegExp][] = [
      [['--greedy', '--temperature', '0.7'], /--greedy takes the most likely token, so --temperature would do nothing/],
      [['--top-p', 'high'], /--top-p must be a number, got "high"/],
      [['--temperature', '-0.5'], /--temperature must be >= 0 \(0 means greedy\)/], // 0 itself is greedy (generate-context.test.ts)
      [['--adapter', tmp], /no adapter_config\.json; --adapter takes a PEFT adapter folder/],
    ];
    for (const [flags, re] of bad) {
      const r = cli(['--model', HF, ...flags]);
      assert.equal(r.code, 1, `${flags.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});

describe('finetune generate --help', () => {
  it('lists the flags with examples', () => {
    const out = ok(runCli(['generate', '--help']));
    for (const flag of ['--model', '--adapter', '--prompt', '--chat', '--max-new-tokens', '--temperature', '--top-k', '--top-p', '--repetition-penalty', '--stop', '--seed', '--greedy']) {
      assert.ok(out.includes(flag), `${flag} missing from --help`);
    }
    assert.match(out, /Examples:\n\s+\$ finetune generate --model/);
  });
});

// The text-generation task with a real byte-level BPE tokenizer (goldens/tokenizers/bpe-gpt2) and the
// golden GPT-2 model (same 1,200-token vocabulary): transformers' output shape (prompt + continuation,
// or only the continuation; chats get the assistant reply appended), stop strings, generation_config
// defaults, and a chat template that fails to render.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { referenceBackend } from '../../src/backend/reference.ts';
import { DataError } from '../../src/errors.ts';
import type { CausalLM } from '../../src/models/decoder.ts';
import { generate } from '../../src/generate/generate.ts';
import { textGeneration, textGenerationBatch } from '../../src/inference/text-generation.ts';
import { fromPretrained } from '../../src/models/pretrained.ts';
import * as F from '../../src/tensor/index.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.ts';
import { fixturePath } from '../generate/helpers.ts';

F.setDefaultBackend(referenceBackend);
const tmp = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const TEMPLATE =
  "{% for m in messages %}{{ m.role }}: {{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}" +
  '{% if add_generation_prompt %}assistant:{% endif %}';

let model: CausalLM;
let tok: Tokenizer;
before(async () => {
  copyFileSync(fixturePath('goldens/tokenizers/bpe-gpt2/tokenizer.json'), join(tmp, 'tokenizer.json'));
  writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>', chat_template: TEMPLATE }));
  tok = await loadTokenizer(tmp);
  model = (await fromPretrained(fixturePath('goldens/gpt2-clm'))) as unknown as CausalLM;
  model.eval();
});

describe('text-generation', () => {
  it('returns the prompt followed by the decoded continuation, as transformers', () => {
    const prompt = 'The cat sat on';
    const ids = tok.encode(prompt, null, { addSpecialTokens: true }).ids;
    const { tokens } = generate(model, [ids], { maxNewTokens: 6 });
    const [out] = textGeneration(model, tok, prompt, { maxNewTokens: 6 });
    assert.equal(out.generated_text, prompt + tok.decode(tokens[0], { skipSpecialTokens: true }));
    const [only] = textGeneration(model, tok, prompt, { maxNewTokens: 6, returnFullText: false });
    assert.equal(only.generated_text, tok.decode(tokens[0], { skipSpecialTokens: true }));
    assert.equal(only.finish_reason, tokens[0].includes(0) ? 'stop' : 'length');
  });

  it('stops at a stop string (kept in the text)', () => {
    const [free] = textGeneration(model, tok, 'Hello', { maxNewTokens: 12, returnFullText: false, stopTokenIds: [] });
    const text = free.generated_text as string;
    assert.ok(text.length >= 4, `continuation "${text}" is long enough to cut`);
    const stop = text.slice(2, 4);
    const [cut] = textGeneration(model, tok, 'Hello', { maxNewTokens: 12, returnFullText: false, stopTokenIds: [], stopStrings: [stop] });
    const got = cut.generated_text as string;
    assert.ok(got.includes(stop) && got.length <= text.length && text.startsWith(got), `"${got}" should end at "${stop}" within "${text}"`);
    assert.equal(cut.finish_reason, 'stop');
  });

  it('chat input: rendered with the template and a generation prompt, reply appended', () => {
    const messages = [{ role: 'user', content: 'Say hi' }];
    const [out] = textGeneration(model, tok, messages, { maxNewTokens: 5 });
    const rendered = 'user: Say hi\nassistant:';
    const { tokens } = generate(model, [tok.encode(rendered, null, { addSpecialTokens: false }).ids], { maxNewTokens: 5 });
    assert.deepEqual(out.generated_text, [...messages, { role: 'assistant', content: tok.decode(tokens[0], { skipSpecialTokens: true }) }]);
  });

  it('generation_config.json supplies defaults that options override', () => {
    const generationConfig = { do_sample: true, temperature: 0.7, top_k: 5, eos_token_id: 0 };
    const a = textGenerationBatch(model, tok, ['A', 'Bb'], { maxNewTokens: 6, seed: 3, generationConfig });
    const b = textGenerationBatch(model, tok, ['A', 'Bb'], { maxNewTokens: 6, seed: 3, doSample: true, temperature: 0.7, topK: 5, stopTokenIds: [0] });
    assert.deepEqual(a, b);
    const greedy = textGeneration(model, tok, 'A', { maxNewTokens: 6, generationConfig, doSample: false });
    assert.deepEqual(greedy, textGeneration(model, tok, 'A', { maxNewTokens: 6 }));
  });

  it('a chat template that fails to render is a DataError', () => {
    const broken: Tokenizer = Object.create(tok) as Tokenizer;
    broken.applyChatTemplate = (messages, opts = {}) => tok.applyChatTemplate(messages, { ...opts, chatTemplate: '{{ raise_exception("no system role") }}' });
    assert.throws(() => textGeneration(model, broken, [{ role: 'system', content: 'x' }]), (e: unknown) => e instanceof DataError && /chat template failed to render/.test(e.message));
  });
});

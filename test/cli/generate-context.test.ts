// `finetune generate` on stories260K (real weights from ../shared/data, context 512 tokens): asking for
// more new tokens than the context has room for stops exactly at the context length with a note on
// stderr (finish_reason "length"); --temperature 0 is greedy decoding (same output as --greedy, no seed
// message); a negative temperature is an error naming the flag.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import { sharedPath } from '../generate/helpers.ts';
import { runCli } from '../helpers/cli.ts';

const DATA = sharedPath('data/tinyllamas-stories260K');
const HF = DATA === null ? '' : join(DATA, 'hf');
const skip = DATA === null ? 'needs ../shared/data/tinyllamas-stories260K; not found' : false;
const cli = (args: string[]) => runCli(['--threads', '1', 'generate', '--model', HF, ...args], { timeoutMs: 120_000 });

describe('finetune generate limits and greedy temperature', { skip }, () => {
  it('stops at the model context length with a message', async () => {
    const prompt = 'Once upon a time';
    const r = cli(['--prompt', prompt, '--greedy', '--max-new-tokens', '2000', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /stopped at the model's context length: 512 tokens \(prompt \d+ \+ \d+ new\); --max-new-tokens 2000 did not fit/);
    const out = JSON.parse(r.stdout.trim()) as { generated_text: string; finish_reason: string };
    assert.equal(out.finish_reason, 'length');
    const tok = await loadTokenizer(HF);
    const total = tok.encode(out.generated_text, null, { addSpecialTokens: true }).ids.length;
    assert.ok(total <= 512 && total > 400, `prompt + continuation is ${total} tokens (context 512)`);
  });

  it('--temperature 0 is greedy', () => {
    const greedy = cli(['--prompt', 'Lily saw a dog', '--greedy', '--max-new-tokens', '20', '--json']);
    const t0 = cli(['--prompt', 'Lily saw a dog', '--temperature', '0', '--max-new-tokens', '20', '--json']);
    assert.equal(t0.code, 0, t0.stderr);
    assert.equal(t0.stdout, greedy.stdout);
    assert.doesNotMatch(t0.stderr, /sampling with seed/);
  });

  it('--chat-template FILE renders a chat for a tokenizer without a template', () => {
    const tpl = join(tmpdir(), `finetune-chat-${process.pid}.jinja`);
    writeFileSync(tpl, "{% for m in messages %}{{ m['content'] }} {% endfor %}");
    const chat = join(tmpdir(), `finetune-chat-${process.pid}.json`);
    writeFileSync(chat, JSON.stringify([{ role: 'user', content: 'Lily saw a dog' }]));
    const r = cli(['--chat', chat, '--chat-template', tpl, '--greedy', '--max-new-tokens', '10', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { generated_text: { role: string; content: string }[] };
    assert.equal(out.generated_text.at(-1)?.role, 'assistant');
    assert.ok((out.generated_text.at(-1)?.content ?? '').length > 0);
  });

  it('a negative temperature names the flag', () => {
    const r = cli(['--temperature', '-1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--temperature must be >= 0 \(0 means greedy\)/);
  });
});

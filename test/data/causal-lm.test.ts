// Causal-LM data with a real byte-level BPE tokenizer (goldens/tokenizers/bpe-gpt2): text packed into
// blocks that tile the token stream; prompt/completion examples learn only the completion (+ EOS); chat
// examples learn only the assistant turns located through the chat template; files are read by kind
// and bad records or a failing template are errors naming the line.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collate } from '../../src/data/collate.ts';
import {
  chatExamples, lmFeatures, packTexts, promptCompletionExamples, readCausalLmDataset, splitDocuments, type LmTokenizer,
} from '../../src/data/causal-lm.ts';
import { DataError } from '../../src/errors.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';
import type { Tokenizer } from '../../src/tokenizers/tokenizer.ts';
import { fixturePath } from '../generate/helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'causal-lm-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const TEMPLATE =
  "{% for m in messages %}{{ m.role }}: {{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}" +
  '{% if add_generation_prompt %}assistant:{% endif %}';

let tok: Tokenizer;
before(async () => {
  copyFileSync(fixturePath('goldens/tokenizers/bpe-gpt2/tokenizer.json'), join(tmp, 'tokenizer.json'));
  writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', chat_template: TEMPLATE }));
  tok = await loadTokenizer(tmp);
});
const enc = (s: string) => tok.encode(s, null, { addSpecialTokens: false }).ids;
const learned = (ids: number[], labels: number[]) => tok.decode(ids.filter((_, i) => labels[i] !== -100), { skipSpecialTokens: false });

describe('causal LM data', () => {
  it('packs documents + EOS into blocks that tile the token stream', () => {
    const docs = ['The cat sat.', 'A dog ran far away.', 'Birds sing.'];
    const stream = docs.flatMap((d) => [...tok.encode(d, null, { addSpecialTokens: true }).ids, 0]);
    const blocks = packTexts(tok, docs, { blockSize: 5 });
    assert.deepEqual(blocks.flatMap((b) => b.inputIds), stream);
    assert.ok(blocks.slice(0, -1).every((b) => b.inputIds.length === 5));
    assert.ok(blocks.every((b) => b.labels.join() === b.inputIds.join()));
    const dropped = packTexts(tok, docs, { blockSize: 5, dropRemainder: true });
    assert.equal(dropped.length, Math.floor(stream.length / 5));
    assert.deepEqual(splitDocuments('a\nb\n\n\nc\n \nd', 'paragraph'), ['a\nb', 'c', 'd']);
  });

  it('prompt/completion: loss on the completion and EOS only; truncation is recorded', () => {
    const { examples, steps } = promptCompletionExamples(tok, [
      { prompt: 'Q: capital of France?\nA:', completion: ' Paris', origin: 1 },
      { prompt: 'x '.repeat(40), completion: ' y', origin: 2 },
    ], { maxLength: 32 });
    assert.equal(examples.length, 1);
    const [ex] = examples;
    assert.deepEqual(ex.inputIds, [...enc('Q: capital of France?\nA:'), ...enc(' Paris'), 0]);
    assert.equal(learned(ex.inputIds, ex.labels), ' Paris<|endoftext|>');
    assert.deepEqual(steps.map((s) => [s.step, s.count, s.origins]), [['truncated to max length', 1, [2]], ['no completion tokens', 1, [2]]]);
  });

  it('chat: only assistant turns are learned, located through the template', () => {
    const messages = [
      { role: 'user', content: 'Hi there' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'See you.' },
    ];
    const { examples } = chatExamples(tok, [{ messages, origin: 3 }], { maxLength: 256 });
    const [ex] = examples;
    assert.equal(tok.decode(ex.inputIds, { skipSpecialTokens: false }), tok.applyChatTemplate(messages));
    // (jinja's trim_blocks drops the newline after {% endif %}, so each turn ends at the EOS token)
    assert.equal(learned(ex.inputIds, ex.labels), ' Hello!<|endoftext|> See you.<|endoftext|>');
    const all = chatExamples(tok, [{ messages, origin: 3 }], { maxLength: 256, lossOn: 'all' }).examples[0];
    assert.ok(all.labels.every((l) => l !== -100));
  });

  it('reads jsonl files by their columns and pads batches with -100 labels', async () => {
    const chat = join(tmp, 'chat.jsonl');
    writeFileSync(chat, `${JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] })}\n`);
    const pc = join(tmp, 'pc.jsonl');
    writeFileSync(pc, `${JSON.stringify({ prompt: 'p', completion: ' q' })}\n${JSON.stringify({ prompt: 'pp pp', completion: ' qq' })}\n`);
    const txt = join(tmp, 'story.txt');
    writeFileSync(txt, 'One day.\n\nThe end.\n');
    assert.equal((await readCausalLmDataset(chat, tok, { maxLength: 64 })).kind, 'chat');
    const ds = await readCausalLmDataset(pc, tok, { maxLength: 64 });
    assert.equal(ds.kind, 'prompt_completion');
    assert.equal((await readCausalLmDataset(txt, tok, { maxLength: 4 })).kind, 'text');
    const batch = collate(lmFeatures(ds.examples), { padTokenId: 0 });
    const [a, b] = ds.examples;
    assert.equal(batch.seqLen, Math.max(a.inputIds.length, b.inputIds.length));
    assert.deepEqual([...batch.labels!.slice(0, batch.seqLen)], [...a.labels, ...new Array(batch.seqLen - a.labels.length).fill(-100)]);
  });

  it('bad chat records and failing templates are DataErrors naming the line', async () => {
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify({ messages: [{ role: 'user', content: 'ok' }] })}\n${JSON.stringify({ messages: [{ role: 'user' }] })}\n`);
    await assert.rejects(readCausalLmDataset(bad, tok, { maxLength: 64 }), (e: unknown) => e instanceof DataError && /line 2: messages\[0\]/.test(e.message));
    const failing: LmTokenizer = {
      encode: (t, p, o) => tok.encode(t, p, o),
      eosTokenId: 0,
      applyChatTemplate: (m, o) => tok.applyChatTemplate(m, { ...o, chatTemplate: '{{ messages[0].content | nosuchfilter }}' }),
    };
    const ok = join(tmp, 'ok.jsonl');
    writeFileSync(ok, `${JSON.stringify({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] })}\n`);
    await assert.rejects(readCausalLmDataset(ok, failing, { maxLength: 64 }), (e: unknown) => e instanceof DataError && /line 1: chat template failed to render/.test(e.message));
  });
});

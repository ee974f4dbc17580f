// `finetune train --task text-generation` (LoRA on stories260K's real weights): report.html shows sample
// greedy generations of the trained adapter for prompts taken from the training text, and the model card
// says library_name peft.

import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sharedPath } from '../generate/helpers.ts';
import { runCli, tempDir } from '../helpers/cli.ts';

const DATA = sharedPath('data/tinyllamas-stories260K');
const skip = DATA === null ? 'needs ../shared/data/tinyllamas-stories260K; not found' : false;
const dir = tempDir('finetune-genreport-');
after(() => rmSync(dir, { recursive: true, force: true }));

describe('text-generation report', { skip }, () => {
  it('has sample generations and a peft model card', () => {
    const lines = ['Once upon a time there was a little girl named Lily.', 'The sun was shining and the birds were singing.'];
    writeFileSync(join(dir, 'stories.txt'), Array.from({ length: 16 }, (_, i) => lines[i % 2]).join('\n') + '\n');
    const out = join(dir, 'adapter');
    const r = runCli(['--threads', '1', 'train', '--task', 'text-generation', '--model', join(DATA as string, 'hf'), '--train-file', join(dir, 'stories.txt'), '--max-steps', '1', '--lora-r', '4', '--max-length', '32', '--output-dir', out], { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const section = html.slice(html.indexOf('<h2>Sample generations</h2>'), html.indexOf('<h2>Run details</h2>'));
    assert.match(section, /<td>Once upon a time<\/td><td>[^<]{10,}<\/td>/);
    assert.match(section, /<td>The sun was shining<\/td>/);
    assert.match(readFileSync(join(out, 'README.md'), 'utf8'), /^---\nlibrary_name: peft\npipeline_tag: text-generation/);
  });
});

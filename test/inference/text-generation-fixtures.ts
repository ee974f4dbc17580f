// Fixtures for the text-generation pipeline and server tests: a model folder built from the golden tiny
// GPT-2 (test/fixtures/goldens/gpt2-clm: config, weights, generation_config) plus the byte-level BPE
// tokenizer it was made with (goldens/tokenizers/bpe-gpt2), with or without a chat template, and the
// path of the real stories260K Llama folder in ../shared (null when absent). Not a test file.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const GPT2_DIR = fileURLToPath(new URL('../fixtures/goldens/gpt2-clm', import.meta.url));
const BPE_TOKENIZER = fileURLToPath(new URL('../fixtures/goldens/tokenizers/bpe-gpt2/tokenizer.json', import.meta.url));

/** A chat template in the usual shape: "role: content" lines, then "assistant:" as the generation prompt. */
export const CHAT_TEMPLATE =
  "{% for m in messages %}{{ m.role }}: {{ m.content }}{% if m.role == 'assistant' %}{{ eos_token }}{% endif %}\n{% endfor %}" +
  '{% if add_generation_prompt %}assistant:{% endif %}';

/** Writes the tiny GPT-2 model folder into `dir` (created); with a chat template unless told otherwise. */
export async function makeGpt2Folder(dir: string, opts: { chatTemplate?: boolean; weights?: boolean } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  const files = ['config.json', 'generation_config.json', ...(opts.weights === false ? [] : ['model.safetensors'])];
  for (const f of files) await copyFile(join(GPT2_DIR, f), join(dir, f));
  await copyFile(BPE_TOKENIZER, join(dir, 'tokenizer.json'));
  const config: Record<string, string> = { eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' };
  if (opts.chatTemplate !== false) config['chat_template'] = CHAT_TEMPLATE;
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  return dir;
}

/** ../shared/data/tinyllamas-stories260K (real pretrained Llama weights + golden greedy story), or null. */
export const STORIES_DIR: string | null = (() => {
  const p = fileURLToPath(new URL('../../../shared/data/tinyllamas-stories260K', import.meta.url));
  return existsSync(join(p, 'hf', 'model.safetensors')) && existsSync(join(p, 'golden.json')) ? p : null;
})();
export const NO_STORIES = 'skipped: ../shared/data/tinyllamas-stories260K is absent (real Llama weights and their golden greedy story)';

/** golden.json of stories260K: the greedy continuation of BOS from an independent numpy llama2.c. */
export interface StoriesGolden {
  bos_id: number;
  greedy_ids: number[];
  greedy_text: string;
}

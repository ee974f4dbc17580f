// `finetune serve` (HTTP inference service) and `finetune export` (ONNX for transformers.js and ONNX
// Runtime, or a Hugging Face folder for Python): thin shells over src/serve and src/export.

import type { Command } from 'commander';
import { cp, mkdir } from 'node:fs/promises';
import { EXPORT_ONNX_DESCRIPTION, exportOnnx } from '../export/onnx.ts';
import { ConfigError } from '../errors.ts';

export function registerDeploy(program: Command): void {
  program
    .command('export')
    .description('export a fine-tuned model: ONNX (transformers.js / ONNX Runtime) or a Hugging Face folder')
    .argument('<model>', 'model folder written by `finetune train`')
    .argument('<out>', 'output folder')
    .option('--format <fmt>', 'onnx | hf', 'onnx')
    .addHelpText('after', `\n${EXPORT_ONNX_DESCRIPTION}\n\nExamples:\n  $ finetune export --format onnx finetune-demo demo-onnx\n  $ finetune export --format hf finetune-demo demo-hf\n`)
    .action(async (model: string, out: string, o: { format: string }) => {
      if (o.format === 'onnx') {
        const r = await exportOnnx(model, out);
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        process.stdout.write(`wrote ${r.modelPath} (${(r.bytes / 1e6).toFixed(1)} MB; inputs ${r.inputNames.join(', ')}; outputs ${r.outputNames.join(', ')})\n`);
        process.stdout.write(`files: ${r.files.join(', ')}\n`);
      } else if (o.format === 'hf') {
        await mkdir(out, { recursive: true });
        for (const f of ['config.json', 'model.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'vocab.json', 'merges.txt']) {
          await cp(`${model}/${f}`, `${out}/${f}`).catch(() => undefined);
        }
        process.stdout.write(`wrote a Hugging Face folder to ${out}; in Python: AutoModelForSequenceClassification.from_pretrained("${out}")\n`);
      } else {
        throw new ConfigError('format', `must be onnx or hf, got "${o.format}"`);
      }
    });
}

// `finetune serve` (HTTP inference service) and `finetune export` (ONNX for transformers.js and ONNX
// Runtime, or a Hugging Face folder for Python): thin shells over src/serve and src/export.

import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPORT_DESCRIPTION, exportHf, exportModel } from '../export/index.ts';
import { isAdapterFolder } from '../lora/config.ts';
import { loadPretrained } from '../models/pretrained.ts';
import { ConfigError } from '../errors.ts';
import { SERVE_DESCRIPTION, installSignalHandlers, startServer } from '../serve/index.ts';
import type { TaskName } from '../models/types.ts';

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got "${v}"`);
    return n;
  };
}

/** The bearer token: --token, else the first line of --api-token-file, else $FINETUNE_API_TOKEN (undefined: none). */
export function resolveApiToken(flag: string | undefined, file: string | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined && file !== undefined) throw new ConfigError('api_token_file', 'give either --token or --api-token-file, not both');
  if (flag !== undefined) return flag;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError('api_token_file', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); --api-token-file takes a file holding the token`);
    }
    const first = text.split(/\r?\n/)[0]!.trim();
    if (first === '') throw new ConfigError('api_token_file', `${file} is empty; put the token on its first line`);
    return first;
  }
  const e = env?.trim();
  return e === undefined || e === '' ? undefined : e;
}

export function registerDeploy(program: Command): void {
  program
    .command('serve')
    .description('serve a model folder over HTTP (POST /v1/predict, GET /health /ready /metrics)')
    .argument('<model>', 'model folder written by `finetune train`')
    .option('--host <addr>', 'interface to bind (0.0.0.0 exposes it to the network)', '127.0.0.1')
    .option('--port <n>', 'TCP port (0 = any free port)', int('port'), 8080)
    .addOption(new Option('--task <task>', 'task to serve (default: the one the model was trained for)').choices(['text-classification', 'token-classification', 'question-answering', 'fill-mask', 'feature-extraction', 'text-generation']))
    .option('--max-batch-size <n>', 'most rows per forward pass', int('max-batch-size'), 32)
    .option('--max-wait-ms <n>', 'longest wait for a fuller batch', int('max-wait-ms'), 5)
    .option('--max-queue <n>', 'waiting requests before answering 503', int('max-queue'), 256)
    .option('--body-limit <bytes>', 'largest request body', int('body-limit'), 1024 * 1024)
    .option('--max-text-length <n>', 'longest text in characters', int('max-text-length'), 20_000)
    .option('--timeout-ms <n>', 'time allowed per request (504 beyond)', int('timeout-ms'), 30_000)
    .option('--header-timeout-ms <n>', 'time a client has to send its request headers', int('header-timeout-ms'), 10_000)
    .option('--request-timeout-ms <n>', 'time a client has to send the whole request (slow bodies are cut)', int('request-timeout-ms'), 30_000)
    .option('--keep-alive-timeout-ms <n>', 'how long an idle keep-alive connection stays open', int('keep-alive-timeout-ms'), 5_000)
    .option('--max-connections <n>', 'most open connections (new ones beyond it are closed; default 512, less under a lower ulimit -n)', int('max-connections'))
    .option('--token <secret>', 'require "Authorization: Bearer <secret>" on /v1/predict and /metrics (visible in ps: prefer --api-token-file or FINETUNE_API_TOKEN)')
    .option('--api-token-file <file>', 'read the bearer token from this file (first line)')
    .option('--serve-threads <n>', 'kernel threads for inference (1 often serves small models best)', int('serve-threads'))
    .option('--max-new-tokens <n>', 'text-generation: the most tokens one request may ask for', int('max-new-tokens'), 256)
    .option('--adapter <dir>', 'text-generation: a LoRA adapter folder (PEFT layout) applied to the model')
    .addHelpText('after', `\n${SERVE_DESCRIPTION}\n\nExample:\n  $ finetune serve finetune-demo --port 8080\n  $ curl -s localhost:8080/v1/predict -H 'content-type: application/json' -d '{"inputs": ["Win a free prize now!"]}'\n`)
    .action(
      async (
        model: string,
        o: {
          host: string; port: number; task?: TaskName; maxBatchSize: number; maxWaitMs: number; maxQueue: number; bodyLimit: number;
          maxTextLength: number; timeoutMs: number; headerTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number; maxConnections?: number;
          token?: string; apiTokenFile?: string; serveThreads?: number; maxNewTokens: number; adapter?: string;
        },
      ) => {
        const log = (line: string): void => void process.stderr.write(`${line}\n`);
        const token = resolveApiToken(o.token, o.apiTokenFile, process.env.FINETUNE_API_TOKEN);
        const server = await startServer(model, {
          host: o.host,
          port: o.port,
          ...(o.task ? { task: o.task } : {}),
          maxBatchSize: o.maxBatchSize,
          maxWaitMs: o.maxWaitMs,
          maxQueue: o.maxQueue,
          bodyLimit: o.bodyLimit,
          maxTextLength: o.maxTextLength,
          timeoutMs: o.timeoutMs,
          headersTimeoutMs: o.headerTimeoutMs,
          requestTimeoutMs: o.requestTimeoutMs,
          keepAliveTimeoutMs: o.keepAliveTimeoutMs,
          ...(o.maxConnections !== undefined ? { maxConnections: o.maxConnections } : {}),
          ...(token !== undefined ? { token } : {}),
          ...(o.serveThreads ? { numThreads: o.serveThreads } : {}),
          maxNewTokens: o.maxNewTokens,
          ...(o.adapter ? { adapter: o.adapter } : {}),
          log,
        });
        installSignalHandlers(server, log);
        log(`POST ${server.url}/v1/predict {"inputs": [...]}; GET /health /ready /metrics; Ctrl-C stops after in-flight requests`);
      },
    );

  program
    .command('export')
    .description('export a fine-tuned model: ONNX (transformers.js / ONNX Runtime) or a Hugging Face folder')
    .argument('<model>', 'model folder written by `finetune train`')
    .argument('<out>', 'output folder')
    .addOption(new Option('--format <fmt>', 'onnx or hf').choices(['onnx', 'hf']).default('onnx'))
    .addHelpText('after', `\n${EXPORT_DESCRIPTION}\n\nExamples:\n  $ finetune export --format onnx finetune-demo demo-onnx\n  $ finetune export --format hf finetune-demo demo-hf\n`)
    .action(async (model: string, out: string, o: { format: 'onnx' | 'hf' }) => {
      let source = model;
      let merged: string | null = null;
      if (o.format === 'onnx') {
        if (isAdapterFolder(model)) {
          // ONNX takes plain weights: merge the adapter into its base first (W + scaling·B·A), then export that.
          merged = await mkdtemp(join(tmpdir(), 'finetune-merged-'));
          await exportHf(model, merged);
          source = merged;
          process.stderr.write(`${model} is a LoRA adapter: exporting its base model with the adapter merged\n`);
        } else {
          // The ONNX writer reads tensors by name: refuse a folder whose weights do not fit its config first.
          (await loadPretrained(model, { strict: true, warn: () => {} })).model.dispose();
        }
      }
      let r: Awaited<ReturnType<typeof exportModel>>;
      try {
        r = await exportModel(source, out, { format: o.format });
      } finally {
        if (merged !== null) await rm(merged, { recursive: true, force: true });
      }
      if (r.format === 'onnx') {
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        process.stdout.write(`wrote ${r.modelPath} (${(r.bytes / 1e6).toFixed(1)} MB; inputs ${r.inputNames.join(', ')}; outputs ${r.outputNames.join(', ')})\n`);
        process.stdout.write(`files in ${out}: ${r.files.join(', ')}\n`);
        process.stdout.write(`use it from JavaScript: pipeline('${r.head === 'sequence-classification' ? 'text-classification' : 'feature-extraction'}', '${out}') with @huggingface/transformers (env.localModelPath, allowRemoteModels = false)\n`);
      } else {
        process.stdout.write(`wrote a Hugging Face folder to ${out}; in Python: AutoModelForSequenceClassification.from_pretrained("${out}")\n`);
      }
    });
}

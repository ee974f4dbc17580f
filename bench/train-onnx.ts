// Inference beside ONNX Runtime for `npm run bench`: exports each benchmarked model (the same weights
// file the training benchmark wrote) with finetune's ONNX exporter (src/export) and times
// onnxruntime-node (a devDependency) on the same batch in a child process, next to finetune's own
// inference time from the training run. Skips with a message when the exporter or the runtime is absent.
// Not here: training (train-finetune.ts), PyTorch (torch_train.py).
// Child mode: node --import tsx bench/train-onnx.ts --run MODEL.onnx BATCH.safetensors STEPS THREADS

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { hfConfigToString, makeHfConfig } from '../src/models/hf-config.ts';
import { readSafetensors, toInt32 } from '../src/io/safetensors.ts';
import { hfFields, median, type BenchConfig } from './train-configs.ts';
import type { FinetuneReport } from './train-finetune.ts';

const SELF = fileURLToPath(import.meta.url);

/** Child: time ORT inference on the batch; prints {ms: number[]} as JSON. */
async function runChild(model: string, batchFile: string, steps: number, threads: number): Promise<void> {
  const ort = await import('onnxruntime-node');
  const opts: Record<string, unknown> = { graphOptimizationLevel: 'all', executionMode: 'sequential' };
  if (threads > 0) opts.intraOpNumThreads = threads;
  const session = await ort.InferenceSession.create(model, opts);
  const st = await readSafetensors(batchFile);
  const entry = (name: string) => {
    const e = st.tensors.get(name);
    if (!e) throw new Error(`${batchFile}: no tensor ${name}`);
    return e;
  };
  const ids = entry('input_ids');
  const [B, T] = ids.shape;
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const name of session.inputNames) {
    const v = toInt32(entry(name));
    feeds[name] = new ort.Tensor('int64', BigInt64Array.from(v, (x) => BigInt(x)), [B, T]);
  }
  const ms: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    if (i >= 2) ms.push(performance.now() - t0);
  }
  process.stdout.write(`${JSON.stringify({ ms, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
}

export interface OnnxRow {
  key: string;
  finetuneMs: number;
  ortMs: number | null;
  note?: string;
}

/** Exports each model and prints finetune vs ONNX Runtime inference. */
export async function onnxInference(
  rows: { c: BenchConfig; ours: FinetuneReport }[],
  dir: string,
  f: { steps: number; threads: number },
): Promise<OnnxRow[]> {
  let exportOnnx: (modelDir: string, outDir: string) => Promise<{ modelPath: string }>;
  try {
    ({ exportOnnx } = await import('../src/export/index.ts'));
    await import('onnxruntime-node');
  } catch (e) {
    console.log(`\nONNX Runtime comparison skipped: ${(e as Error).message.split('\n')[0]}`);
    return [];
  }
  const out: OnnxRow[] = [];
  console.log('\nInference vs ONNX Runtime (onnxruntime-node, graph optimisations on, same batch, median)');
  for (const { c, ours } of rows) {
    const folder = join(dir, `${c.key}-hf`);
    mkdirSync(folder, { recursive: true });
    const weights = join(dir, `${c.key}.safetensors`);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(folder, 'config.json'), hfConfigToString(makeHfConfig('bert', hfFields(c)), { architectures: ['BertForSequenceClassification'] }));
    if (!existsSync(join(folder, 'model.safetensors'))) copyFileSync(weights, join(folder, 'model.safetensors'));
    const finetuneMs = median(ours.inferMs);
    let row: OnnxRow = { key: c.key, finetuneMs, ortMs: null };
    try {
      const { modelPath } = await exportOnnx(folder, join(dir, `${c.key}-onnx`));
      const r = spawnSync(process.execPath, ['--import', 'tsx', SELF, '--run', modelPath, join(dir, `${c.key}.batch.safetensors`), String(f.steps), String(f.threads)], { encoding: 'utf8', maxBuffer: 1 << 24 });
      const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { ms: number[] };
      row = { ...row, ortMs: median(parsed.ms) };
    } catch (e) {
      row.note = (e as Error).message.split('\n')[0];
    }
    out.push(row);
    const ort = row.ortMs === null ? `failed: ${row.note}` : `${((c.batch * 1000) / row.ortMs).toFixed(2)} samples/s`;
    const ratio = row.ortMs === null ? '' : `  finetune/ORT speed ${(row.ortMs / finetuneMs).toFixed(2)}x`;
    console.log(`${c.label.padEnd(22)} load ${loadavg()[0].toFixed(2)} | finetune ${((c.batch * 1000) / finetuneMs).toFixed(2)} samples/s | ORT ${ort}${ratio}`);
  }
  return out;
}

if (process.argv[2] === '--run') {
  const [model, batch, steps, threads] = process.argv.slice(3);
  runChild(model, batch, Number(steps), Number(threads)).catch((e: unknown) => {
    process.stdout.write(`${JSON.stringify({ error: String(e) })}\n`);
    process.exitCode = 1;
  });
}

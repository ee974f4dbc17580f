// Gradient checkpointing cost and saving on one small model: a Llama (hidden 256, 8 layers, seq 256, batch 4)
// training step with and without `--gradient-checkpointing`, each in its own process: median step time,
// peak tracked tensor bytes (the engine's allocator) and peak RSS. A script, not a test.
//
// Usage: node --import tsx bench/checkpointing.ts [--steps 3]

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { nativeAvailable, nativeBackend } from '../src/backend/native.ts';
import { makeHfConfig } from '../src/models/hf-config.ts';
import { enableGradientCheckpointing } from '../src/models/checkpointing.ts';
import { createModel } from '../src/models/pretrained.ts';
import * as F from '../src/tensor/index.ts';
import { Tensor } from '../src/tensor/index.ts';

const [B, T, V] = [4, 256, 4096];

function child(ck: boolean, steps: number): void {
  if (nativeAvailable()) F.setDefaultBackend(nativeBackend);
  const model = createModel(makeHfConfig('llama', { vocab_size: V, hidden_size: 256, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1024 }), 'text-generation', { seed: 0 });
  if (ck) enableGradientCheckpointing(model);
  model.train();
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % V);
  const base = F.memoryStats().allocatedBytes;
  F.pool.peakAllocatedBytes = base;
  const times: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t = performance.now();
    F.tidy(() => {
      const out = model.forward({ inputIds: Tensor.from(ids, [B, T], 'int32'), labels: Tensor.from(ids, [B, T], 'int32') });
      out.loss!.backward();
    });
    for (const p of model.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
    if (s > 0) times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const peak = F.memoryStats().peakAllocatedBytes - base;
  process.stdout.write(`REPORT ${JSON.stringify({ ck, ms: times[Math.floor(times.length / 2)], peakTensorMiB: peak / 2 ** 20, rssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

const argv = process.argv.slice(2);
const steps = argv.includes('--steps') ? Number(argv[argv.indexOf('--steps') + 1]) : 3;
if (argv.includes('--child')) child(argv[argv.indexOf('--child') + 1] === 'on', steps);
else {
  console.log(`Llama hidden 256, 8 layers, intermediate 1024, vocab ${V}, batch ${B} x seq ${T}: one training step (forward + backward)`);
  for (const ck of ['off', 'on']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', ck, '--steps', String(steps)], { encoding: 'utf8' });
    const line = r.stdout.split('\n').find((l) => l.startsWith('REPORT '));
    if (!line) {
      console.log(`checkpointing ${ck}: failed\n${r.stderr.slice(-1500)}`);
      continue;
    }
    const x = JSON.parse(line.slice(7)) as { ms: number; peakTensorMiB: number; rssMiB: number };
    console.log(`gradient checkpointing ${ck.padEnd(3)}: ${x.ms.toFixed(0)} ms/step, peak tensor bytes ${x.peakTensorMiB.toFixed(1)} MiB, peak RSS ${x.rssMiB.toFixed(0)} MiB`);
  }
}

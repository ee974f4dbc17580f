// End to end on the device: `finetune train --device webgpu` on a tiny scratch BERT for a few steps
// (with a checkpoint, so parameters and AdamW moments are read back from the device) logs the same
// losses as `--device cpu` and saves weights equal to the CPU run's within 1e-4. Slow on SwiftShader
// (tens of seconds); skips with how to enable it when no adapter is found.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { webgpuAvailability } from '../../../src/backend/webgpu/node.ts';
import { readSafetensors, toFloat32 } from '../../../src/io/safetensors.ts';
import { runCli, tempDir, writeSentimentCsv } from '../../helpers/cli.ts';

const gpu = await webgpuAvailability();
const skip = gpu.ok ? false : `no WebGPU adapter (${gpu.reason}); install chromium + libvulkan1 (SwiftShader) or a GPU driver`;

const ARGS = ['--max-steps', '3', '--per-device-train-batch-size', '4', '--max-length', '12', '--learning-rate', '1e-3', '--logging-steps', '1',
  '--eval-strategy', 'no', '--save-strategy', 'steps', '--save-steps', '3', '--no-report', '--mlm-pretrain-epochs', '0', '--load-best-model-at-end', 'false'];

function losses(dir: string): number[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number }).filter((r) => r.loss !== undefined).map((r) => r.loss!);
}

describe('finetune train --device webgpu', { skip }, () => {
  it('logs the CPU run losses and saves the same weights (1e-4)', async () => {
    const dir = tempDir();
    writeSentimentCsv(dir, 40);
    const base = ['train', '--train-file', join(dir, 'train.csv'), ...ARGS];
    const cpu = runCli([...base, '--device', 'cpu', '--output-dir', join(dir, 'cpu')]);
    assert.equal(cpu.code, 0, cpu.stderr + cpu.stdout);
    const wg = runCli([...base, '--device', 'webgpu', '--output-dir', join(dir, 'gpu')], { timeoutMs: 600_000 });
    assert.equal(wg.code, 0, wg.stderr + wg.stdout);
    assert.match(wg.stderr, /device: webgpu/);
    const lc = losses(join(dir, 'cpu'));
    const lg = losses(join(dir, 'gpu'));
    assert.equal(lg.length, lc.length);
    lg.forEach((l, i) => assert.ok(Math.abs(l - lc[i]) <= 1e-4 * Math.max(1, Math.abs(lc[i])), `step ${i + 1}: loss ${l} vs cpu ${lc[i]}`));
    const a = (await readSafetensors(join(dir, 'cpu', 'model.safetensors'))).tensors;
    const b = (await readSafetensors(join(dir, 'gpu', 'model.safetensors'))).tensors;
    for (const [name, t] of a) {
      const x = toFloat32(t);
      const y = toFloat32(b.get(name)!);
      let max = 0;
      let err = 0;
      for (let i = 0; i < x.length; i++) {
        max = Math.max(max, Math.abs(x[i]));
        err = Math.max(err, Math.abs(x[i] - y[i]));
      }
      // Floor 1e-6: attention key biases get only rounding noise as gradient (softmax ignores a shift).
      assert.ok(err <= 1e-4 * Math.max(max, 1e-2), `${name}: max difference ${err} (largest |w| ${max})`);
    }
  });
});

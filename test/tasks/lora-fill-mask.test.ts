// LoRA with fill-mask through the real CLI: `finetune train --task fill-mask --lora-r` on a tiny BERT base
// writes a PEFT adapter folder (task_type null, as PEFT for a masked LM, LoRA on query/value), and
// `finetune predict` on that folder gives the same fill-mask answers as predict on the --merge-lora output
// of the same run (same seed), which is a plain BertForMaskedLM folder; and both differ from the base's.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/cli.ts';
import { writeTinyBase } from '../helpers/tiny-base.ts';
import { textLines } from './tiny-data.ts';

const dir = tempDir('finetune-lora-mlm-');
after(() => rmSync(dir, { recursive: true, force: true }));

function ok(r: ReturnType<typeof runCli>): string {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

type Fill = { score: number; token: number; token_str: string; sequence: string };
/** predict's JSON lines: one record per text, {text, predictions: [{score, token, token_str, sequence}, ...]}. */
function fills(stdout: string): Fill[][] {
  return stdout.trim().split('\n').map((l) => {
    const list = (JSON.parse(l) as { predictions?: Fill[] }).predictions;
    assert.ok(Array.isArray(list) && list.length > 0, `a list of candidates in ${l}`);
    return list;
  });
}

function assertSameFills(a: Fill[][], b: Fill[][], tol: number): void {
  assert.equal(a.length, b.length);
  a.forEach((row, i) => {
    const other = b[i] as Fill[];
    assert.deepEqual(row.map((f) => f.token_str), other.map((f) => f.token_str), `text ${i}: same candidates in the same order`);
    row.forEach((f, k) => assert.ok(Math.abs(f.score - (other[k] as Fill).score) <= tol, `text ${i} candidate ${k}: ${f.score} vs ${(other[k] as Fill).score}`));
  });
}

describe('finetune train --task fill-mask --lora-r (CLI)', () => {
  it('predict on the adapter folder equals predict on the --merge-lora output', async () => {
    const lines = textLines(48);
    const base = await writeTinyBase(dir, lines);
    const data = join(dir, 'domain.txt');
    writeFileSync(data, lines.join('\n') + '\n');
    const common = ['--threads', '1', 'train', '--task', 'fill-mask', '--model', base, '--train-file', data, '--lora-r', '4', '--lora-alpha', '16', '--max-steps', '4',
      '--learning-rate', '5e-2', '--per-device-train-batch-size', '8', '--max-length', '32', '--save-strategy', 'no', '--no-report', '--seed', '3'];
    const adapter = join(dir, 'mlm-lora');
    const merged = join(dir, 'mlm-merged');
    ok(runCli([...common, '--output-dir', adapter], { timeoutMs: 120_000 }));
    ok(runCli([...common, '--merge-lora', '--output-dir', merged], { timeoutMs: 120_000 }));

    const cfg = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.task_type, null);
    assert.equal(cfg.r, 4);
    assert.ok(existsSync(join(adapter, 'adapter_model.safetensors')));
    assert.ok(existsSync(join(merged, 'model.safetensors')) && !existsSync(join(merged, 'adapter_config.json')), 'the merged run is a plain model folder');
    assert.deepEqual((JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')) as { architectures: string[] }).architectures, ['BertForMaskedLM']);

    const texts = ['alice lives in [MASK] .', 'bob [MASK] to london and carol stayed home .'];
    const predictArgs = (model: string) => ['--threads', '1', 'predict', '--model', model, '--text', ...texts];
    const viaAdapter = fills(ok(runCli(predictArgs(adapter))));
    const viaMerged = fills(ok(runCli(predictArgs(merged))));
    assertSameFills(viaAdapter, viaMerged, 1e-5);
    // The adapter changed the model: the base's scores differ.
    const viaBase = fills(ok(runCli(predictArgs(base))));
    const moved = viaBase.some((row, i) => row.some((f, k) => f.token_str !== viaAdapter[i]![k]!.token_str || Math.abs(f.score - viaAdapter[i]![k]!.score) > 1e-4));
    assert.ok(moved, 'LoRA training changed the fill-mask scores');
  });
});

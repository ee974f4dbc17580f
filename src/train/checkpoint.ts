// Training checkpoints: `checkpoint-<step>/` holds the model (via the model's own saver, so it is a
// loadable Hugging Face folder), optimizer.safetensors (AdamW moments, float32, exact) and
// trainer_state.json (step, epoch, data position, RNG state, best metric, log history).
// A checkpoint is written into a temporary folder and renamed into place, so a killed run never
// leaves a half-written checkpoint; rotation deletes old ones but never the best.

import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '../errors.ts';
import { readJsonFile } from '../io/json.ts';
import { writeJsonAtomic } from '../io/atomic.ts';
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import type { SamplerState } from '../data/index.ts';

export interface TrainerState {
  global_step: number;
  epoch: number; // fractional epochs done
  sampler: SamplerState;
  rng_state: string; // the global generator (dropout seeds)
  best_metric: number | null;
  best_model_checkpoint: string | null;
  evals_without_improvement: number;
  log_history: Record<string, number | string>[];
  /** Optimizer settings the moments belong to (checked on resume). */
  optimizer_step: number;
}

export const TRAINER_STATE_NAME = 'trainer_state.json';
export const OPTIMIZER_NAME = 'optimizer.safetensors';

/** Writes a checkpoint atomically: fill a temp folder, then rename it to `dir`. */
export async function writeCheckpoint(
  dir: string,
  saveModel: (dir: string) => Promise<void>,
  optimizer: { m: Float32Array[]; v: Float32Array[] },
  state: TrainerState,
): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await saveModel(tmp);
  const tensors: Record<string, TensorToWrite> = {};
  optimizer.m.forEach((m, i) => (tensors[`exp_avg.${i}`] = { dtype: 'F32', shape: [m.length], data: m }));
  optimizer.v.forEach((v, i) => (tensors[`exp_avg_sq.${i}`] = { dtype: 'F32', shape: [v.length], data: v }));
  await writeSafetensors(join(tmp, OPTIMIZER_NAME), tensors);
  await writeJsonAtomic(join(tmp, TRAINER_STATE_NAME), state);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

export async function readCheckpoint(dir: string): Promise<{ state: TrainerState; optimizer: { m: Float32Array[]; v: Float32Array[]; step: number } }> {
  const statePath = join(dir, TRAINER_STATE_NAME);
  const parsed = await readJsonFile(statePath);
  const state = parsed.value as unknown as TrainerState;
  if (typeof state !== 'object' || state === null || typeof state.global_step !== 'number' || !state.sampler) {
    throw new FileFormatError(statePath, 'not a finetune trainer state (global_step / sampler missing)');
  }
  const opt = await readSafetensors(join(dir, OPTIMIZER_NAME));
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (let i = 0; opt.tensors.has(`exp_avg.${i}`); i++) {
    m.push(toFloat32(opt.tensors.get(`exp_avg.${i}`)!, { copy: true }));
    const vi = opt.tensors.get(`exp_avg_sq.${i}`);
    if (!vi) throw new FileFormatError(join(dir, OPTIMIZER_NAME), `exp_avg_sq.${i} missing`);
    v.push(toFloat32(vi, { copy: true }));
  }
  return { state, optimizer: { m, v, step: state.optimizer_step } };
}

/** checkpoint-N folders in `outDir`, oldest (lowest N) first. Temp folders are ignored. */
export async function listCheckpoints(outDir: string): Promise<{ step: number; dir: string }[]> {
  let names: string[];
  try {
    names = await readdir(outDir);
  } catch {
    return [];
  }
  const out: { step: number; dir: string }[] = [];
  for (const n of names) {
    const m = /^checkpoint-(\d+)$/.exec(n);
    if (!m) continue;
    const dir = join(outDir, n);
    try {
      await stat(join(dir, TRAINER_STATE_NAME));
      out.push({ step: Number(m[1]), dir });
    } catch {
      // incomplete (should not happen with atomic rename); skip it
    }
  }
  return out.sort((a, b) => a.step - b.step);
}

/** Deletes the oldest checkpoints beyond `limit`, never the best one. Also sweeps stale temp folders. */
export async function rotateCheckpoints(outDir: string, limit: number, best: string | null): Promise<void> {
  const names = await readdir(outDir).catch(() => [] as string[]);
  for (const n of names) if (/^checkpoint-\d+\.tmp-\d+$/.test(n) && !n.endsWith(`.tmp-${process.pid}`)) await rm(join(outDir, n), { recursive: true, force: true });
  if (limit <= 0) return;
  const all = await listCheckpoints(outDir);
  let excess = all.length - limit;
  for (const c of all) {
    if (excess <= 0) break;
    if (c.dir === best) continue;
    await rm(c.dir, { recursive: true, force: true });
    excess--;
  }
}

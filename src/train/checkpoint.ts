// Training checkpoints: `checkpoint-<step>/` holds the model (via the model's own saver, so it is a
// loadable Hugging Face folder), optimizer.safetensors (AdamW moments, float32, exact) and
// trainer_state.json (step, epoch, data position, RNG state, best metric, log history).
// A checkpoint is written into a temporary folder and renamed into place, so a killed run never
// leaves a half-written checkpoint; rotation deletes old ones but never the best. Every checkpoint
// carries its run's identity (run_id, random per run, kept across resumes): rotation only deletes this
// run's checkpoints and resume refuses another run's.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, FileFormatError } from '../errors.ts';
import { readJsonFile } from '../io/json.ts';
import { writeFileAtomicSync, writeJsonAtomic } from '../io/atomic.ts';
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
  /** The run this state belongs to (random per run, kept on resume). Absent in checkpoints of older versions. */
  run_id?: string;
}

/** A new random run identity. */
export function newRunId(): string {
  return randomBytes(8).toString('hex');
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
  try {
    await mkdir(tmp);
    await saveModel(tmp);
    const tensors: Record<string, TensorToWrite> = {};
    optimizer.m.forEach((m, i) => (tensors[`exp_avg.${i}`] = { dtype: 'F32', shape: [m.length], data: m }));
    optimizer.v.forEach((v, i) => (tensors[`exp_avg_sq.${i}`] = { dtype: 'F32', shape: [v.length], data: v }));
    await writeSafetensors(join(tmp, OPTIMIZER_NAME), tensors);
    await writeJsonAtomic(join(tmp, TRAINER_STATE_NAME), state);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }); // e.g. disk full: leave no half checkpoint behind
    throw err;
  }
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
    const mi = opt.tensors.get(`exp_avg.${i}`)!;
    const vi = opt.tensors.get(`exp_avg_sq.${i}`);
    if (!vi) throw new FileFormatError(join(dir, OPTIMIZER_NAME), `exp_avg_sq.${i} missing`);
    for (const [name, e] of [[`exp_avg.${i}`, mi], [`exp_avg_sq.${i}`, vi]] as const) {
      // finetune writes the moments as F32; anything else is a damaged file, not something to convert.
      if (e.dtype !== 'F32') throw new FileFormatError(join(dir, OPTIMIZER_NAME), `${name} is stored as ${e.dtype}, expected F32 (AdamW moments); the checkpoint is damaged`);
    }
    m.push(toFloat32(mi, { copy: true }));
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

/** The run_id in a checkpoint's trainer_state.json (null: none recorded or unreadable). */
export async function runIdOf(dir: string): Promise<string | null> {
  try {
    const v = JSON.parse(await readFile(join(dir, TRAINER_STATE_NAME), 'utf8')) as { run_id?: unknown };
    return typeof v.run_id === 'string' ? v.run_id : null;
  } catch {
    return null;
  }
}

/**
 * Deletes the oldest checkpoints beyond `limit`, never the best one, and only those of run `runId` (another
 * run's checkpoints in the same folder are not this run's to delete). Also sweeps stale temp folders.
 */
export async function rotateCheckpoints(outDir: string, limit: number, best: string | null, runId?: string): Promise<void> {
  const names = await readdir(outDir).catch(() => [] as string[]);
  for (const n of names) if (/^checkpoint-\d+\.tmp-\d+$/.test(n) && !n.endsWith(`.tmp-${process.pid}`)) await rm(join(outDir, n), { recursive: true, force: true });
  if (limit <= 0) return;
  let all = await listCheckpoints(outDir);
  if (runId !== undefined) {
    const ours: { step: number; dir: string }[] = [];
    for (const c of all) if ((await runIdOf(c.dir)) === runId) ours.push(c);
    all = ours;
  }
  let excess = all.length - limit;
  for (const c of all) {
    if (excess <= 0) break;
    if (c.dir === best) continue;
    await rm(c.dir, { recursive: true, force: true });
    excess--;
  }
}

/**
 * The checkpoint folder to resume from: `from` itself, or with "latest" the newest checkpoint-N in
 * `outDir`. Refuses (ConfigError naming --resume-from-checkpoint) when the folder's checkpoints belong to
 * more than one run, or when `from` belongs to another run than the checkpoints already in `outDir`.
 */
export async function resolveResumeCheckpoint(outDir: string, from: string): Promise<string> {
  const key = 'resume_from_checkpoint';
  const all = await listCheckpoints(outDir);
  const ids = new Map<string, string>(); // checkpoint dir → run id ('' when none recorded)
  for (const c of all) ids.set(c.dir, (await runIdOf(c.dir)) ?? '');
  const runs = new Set(ids.values());
  if (from === 'latest') {
    if (all.length === 0) throw new ConfigError(key, `no checkpoint-N folder in ${outDir} to resume from`);
    if (runs.size > 1) {
      throw new ConfigError(key, `${outDir} holds checkpoints of ${runs.size} different runs (${all.map((c) => `${c.dir.split(/[\\/]/).pop()}: run ${ids.get(c.dir) || 'unknown'}`).join(', ')}); pass the checkpoint folder to --resume-from-checkpoint instead of "latest"`);
    }
    return all[all.length - 1].dir;
  }
  if (!existsSync(join(from, TRAINER_STATE_NAME))) {
    throw new ConfigError(key, `${from} is not a checkpoint folder (no ${TRAINER_STATE_NAME}); pass a checkpoint-N folder or "latest"`);
  }
  const mine = (await runIdOf(from)) ?? '';
  const others = [...runs].filter((r) => r !== mine);
  if (others.length > 0 && !all.some((c) => c.dir === from)) {
    throw new ConfigError(key, `${from} belongs to run ${mine || 'unknown'}, but ${outDir} holds checkpoints of run ${others.join(', ')}; resume into the run's own --output-dir, or choose another --output-dir`);
  }
  if (others.length > 0) {
    throw new ConfigError(key, `${outDir} holds checkpoints of more than one run (${[mine, ...others].map((r) => r || 'unknown').join(', ')}); move the other run's checkpoints away before resuming`);
  }
  return from;
}

/**
 * Cuts `metrics.jsonl` back to the records of steps ≤ `step` (the resumed checkpoint's), so a resumed run
 * does not log the lost steps twice. Lines that are not JSON records with a numeric step are dropped too.
 */
export function truncateMetricsLog(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const rec = JSON.parse(line) as { step?: unknown };
        return typeof rec.step === 'number' && rec.step <= step;
      } catch {
        return false; // a half-written last line of the killed run
      }
    });
  writeFileAtomicSync(path, kept.map((l) => `${l}\n`).join(''));
}

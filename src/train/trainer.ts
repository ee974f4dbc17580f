// The Trainer: the training loop with injected model, data, evaluation, saver and logger (so it can be
// tested without the CLI). AdamW with Hugging Face's no-decay groups, warmup schedules, gradient
// accumulation and clipping, epochs or max steps, evaluation and checkpoints by strategy, early
// stopping, best-model tracking, and exact resume: model, optimizer moments, schedule position, RNG
// state and data position are restored, so a resumed run ends bitwise identical to an uninterrupted one.
// Not here: data loading and tokenisation (src/data, src/tasks), metrics (src/eval), the CLI.

import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { TaskModel } from '../models/types.ts';
import type { DataParallel } from '../distributed/data-parallel.ts';
import { enableGradientCheckpointing } from '../models/checkpointing.ts';
import { getGeneratorState, setDropoutSampleKeys, setGeneratorState } from '../nn/init.ts';
import { AdamW, decayGroups } from '../optim/adamw.ts';
import { clipScale, globalGradNormAsync } from '../optim/clip.ts';
import { learningRate, warmupStepsFor } from '../optim/schedules.ts';
import * as F from '../tensor/index.ts';
import { ConfigError } from '../errors.ts';
import { greaterIsBetter, type TrainingArguments } from './args.ts';
import type { FeatureBatches } from './batches.ts';
import { newRunId, readCheckpoint, resolveResumeCheckpoint, rotateCheckpoints, writeCheckpoint, type TrainerState } from './checkpoint.ts';

/** One line of the training log (also a row of metrics.jsonl). */
export interface LogRecord {
  step: number;
  epoch: number;
  loss?: number;
  learning_rate?: number;
  grad_norm?: number;
  /** Evaluation metrics, prefixed eval_ as transformers does. */
  [key: string]: number | string | undefined;
}

export interface TrainerEvents {
  /** Called after every optimizer step (progress bars). */
  onStep?: (info: { step: number; totalSteps: number; loss: number; lr: number; epoch: number; examples: number; tokens: number }) => void;
  /** Called for every log record (JSONL writer, console). */
  onLog?: (rec: LogRecord) => void;
  /** Called for human-readable messages (checkpoint saved, early stop...). */
  onMessage?: (msg: string) => void;
}

export interface TrainerOptions {
  model: TaskModel;
  args: TrainingArguments;
  train: FeatureBatches;
  /** Evaluates the model on the validation split; returns metrics without the eval_ prefix. */
  evaluate?: (model: TaskModel) => Promise<Record<string, number>>;
  /** Writes the model (a Hugging Face folder) into dir. */
  saveModel: (dir: string) => Promise<void>;
  /** Loads model weights from a folder written by saveModel. */
  loadModel: (dir: string) => Promise<void>;
  events?: TrainerEvents;
  /** Cancels training cleanly (checked between steps), e.g. on SIGINT. */
  signal?: AbortSignal;
  /** Data-parallel rank (src/distributed): gradients and loss are averaged; only rank 0 evaluates and saves. */
  dataParallel?: DataParallel;
  /** Dropout masks keyed to each sample's dataset index (on for both sides of an exact data-parallel comparison). */
  keyDropoutBySample?: boolean;
}

export interface TrainResult {
  globalStep: number;
  epochs: number;
  trainLoss: number;
  bestMetric: number | null;
  bestCheckpoint: string | null;
  stoppedEarly: boolean;
  /** Set when the signal stopped training: the last completed step and its resumable checkpoint (null before step 1). */
  interrupted: { step: number; checkpoint: string | null } | null;
  logHistory: LogRecord[];
  seconds: number;
}

export class Trainer {
  readonly optimizer: AdamW;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  private readonly stepsPerEpoch: number;
  private state: TrainerState;
  /** global_step of the last checkpoint written (-1: none yet in this process). */
  private lastSavedStep = -1;

  constructor(private readonly o: TrainerOptions) {
    const { args, model, train } = o;
    if (o.dataParallel) train.shard(o.dataParallel.rank, o.dataParallel.worldSize);
    this.stepsPerEpoch = Math.max(1, Math.ceil(train.batchesPerEpoch / args.gradient_accumulation_steps));
    this.totalSteps = args.max_steps > 0 ? args.max_steps : Math.ceil(this.stepsPerEpoch * args.num_train_epochs);
    this.warmupSteps = warmupStepsFor(this.totalSteps, args.warmup_steps, args.warmup_ratio);
    const groups = decayGroups(model.trainableParameters(), args.weight_decay);
    this.optimizer = new AdamW(groups, { lr: args.learning_rate, betas: [args.adam_beta1, args.adam_beta2], eps: args.adam_epsilon });
    o.events?.onMessage?.(
      `optimizer: AdamW, ${groups[0].params.length} tensors with weight decay ${args.weight_decay}, ${groups[1].params.length} without (biases, norm weights); ` +
        `${this.totalSteps} steps, warmup ${this.warmupSteps}, schedule ${args.lr_scheduler_type}`,
    );
    if (args.gradient_checkpointing) {
      const n = enableGradientCheckpointing(model);
      o.events?.onMessage?.(`gradient checkpointing: ${n} layers recompute their activations in backward`);
    }
    this.state = {
      global_step: 0,
      epoch: 0,
      sampler: train.getState(),
      rng_state: getGeneratorState(),
      best_metric: null,
      best_model_checkpoint: null,
      evals_without_improvement: 0,
      log_history: [],
      optimizer_step: 0,
      run_id: newRunId(),
    };
  }

  /** Restores everything from a checkpoint folder ("latest" = the newest in output_dir). */
  async resume(from: string): Promise<number> {
    const dir = await resolveResumeCheckpoint(this.o.args.output_dir, from);
    const { state, optimizer } = await readCheckpoint(dir);
    state.run_id ??= newRunId();
    await this.o.loadModel(dir);
    this.optimizer.loadStateArrays(optimizer);
    this.o.train.setState(state.sampler);
    setGeneratorState(state.rng_state);
    this.state = state;
    this.o.events?.onMessage?.(`resumed from ${dir} at step ${state.global_step}`);
    return state.global_step;
  }

  private lrAt(step: number): number {
    return learningRate(step, { name: this.o.args.lr_scheduler_type, baseLr: this.o.args.learning_rate, warmupSteps: this.warmupSteps, totalSteps: this.totalSteps });
  }

  /**
   * One optimizer step over gradient_accumulation_steps micro-batches; returns the mean loss. The loss
   * and the gradient norm are the only host reads (asynchronous, so device backends fit).
   */
  private async step(): Promise<{ loss: number; gradNorm: number; lr: number; examples: number; tokens: number }> {
    const { model, args, train } = this.o;
    const accum = args.gradient_accumulation_steps;
    let lossSum = 0;
    let examples = 0;
    let tokens = 0;
    const params = this.optimizer.groups.flatMap((g) => g.params);
    const dp = this.o.dataParallel;
    const overlap = dp !== undefined && accum === 1; // with accumulation: one synchronous allreduce after the last micro-batch
    if (overlap) dp.beginOverlap(params);
    for (let micro = 0; micro < accum; micro++) {
      const next = train.next();
      examples += next.size;
      tokens += next.tokens;
      if (this.o.keyDropoutBySample || this.o.dataParallel) setDropoutSampleKeys(next.indices ?? null);
      const loss = F.tidy(() => {
        // --bf16: the forward's matrix products (and, as recorded, their backward) on bf16 operands.
        const out = F.autocast(args.bf16 ? 'bf16' : 'fp32', () => model.forward(next.batch));
        if (!out.loss) throw new ConfigError('labels', 'the training data has no labels for this task');
        const scaled = accum === 1 ? out.loss : F.scale(out.loss, 1 / accum);
        scaled.backward();
        return out.loss;
      });
      lossSum += await loss.readItem();
      loss.dispose();
      if (train.getState().batch === 0 && micro < accum - 1) break; // an epoch ended mid-accumulation
    }
    setDropoutSampleKeys(null);
    if (dp) {
      if (overlap) dp.finishOverlap();
      else dp.allreduceGradients(params);
      lossSum = dp.mean(lossSum);
    }
    const gradNorm = await globalGradNormAsync(params);
    const lr = this.lrAt(this.state.global_step);
    this.optimizer.lr = lr;
    this.optimizer.update(clipScale(gradNorm, args.max_grad_norm));
    this.optimizer.zeroGrad();
    return { loss: lossSum / accum, gradNorm, lr, examples, tokens };
  }

  private log(rec: LogRecord): void {
    this.state.log_history.push(rec as Record<string, number | string>);
    this.o.events?.onLog?.(rec);
  }

  private async evaluateNow(): Promise<Record<string, number> | null> {
    if (!this.o.evaluate || (this.o.dataParallel && !this.o.dataParallel.isMain)) return null;
    this.o.model.eval();
    const evaluate = this.o.evaluate;
    // --bf16 evaluates under autocast too (as Trainer with bf16=True does).
    const metrics = await F.autocastAsync(this.o.args.bf16 ? 'bf16' : 'fp32', () => evaluate(this.o.model));
    this.o.model.train();
    const rec: LogRecord = { step: this.state.global_step, epoch: this.state.epoch };
    for (const [k, v] of Object.entries(metrics)) rec[`eval_${k}`] = v;
    this.log(rec);
    return metrics;
  }

  /** Updates best-metric bookkeeping; returns whether this evaluation is the new best. */
  private track(metrics: Record<string, number>): boolean {
    const { args } = this.o;
    const key = args.metric_for_best_model.replace(/^eval_/, '');
    const value = metrics[key];
    if (value === undefined) {
      throw new ConfigError('metric_for_best_model', `"${args.metric_for_best_model}" is not computed for this task; available: ${Object.keys(metrics).join(', ')}`);
    }
    const best = this.state.best_metric;
    const gib = greaterIsBetter(args);
    const improved = best === null || (gib ? value > best + args.early_stopping_threshold : value < best - args.early_stopping_threshold);
    if (improved) {
      this.state.best_metric = value;
      this.state.evals_without_improvement = 0;
    } else {
      this.state.evals_without_improvement++;
    }
    return improved;
  }

  private async saveCheckpoint(isBest: boolean): Promise<string> {
    const { args } = this.o;
    const dir = join(args.output_dir, `checkpoint-${this.state.global_step}`);
    if (this.o.dataParallel && !this.o.dataParallel.isMain) return dir; // rank 0 writes it
    if (isBest) this.state.best_model_checkpoint = dir;
    this.state.sampler = this.o.train.getState();
    this.state.rng_state = getGeneratorState();
    this.state.optimizer_step = this.optimizer.step;
    await this.optimizer.syncHost();
    await writeCheckpoint(dir, this.o.saveModel, this.optimizer.stateArrays(), this.state);
    await rotateCheckpoints(args.output_dir, args.save_total_limit, this.state.best_model_checkpoint, this.state.run_id);
    this.lastSavedStep = this.state.global_step;
    this.o.events?.onMessage?.(`saved ${dir}${isBest ? ' (best so far)' : ''}`);
    return dir;
  }

  /** Runs training to the end (or early stop / abort). */
  async train(): Promise<TrainResult> {
    const { args, model, train } = this.o;
    const t0 = performance.now();
    await mkdir(args.output_dir, { recursive: true });
    model.train();
    let stoppedEarly = false;
    let windowLoss = 0;
    let windowSteps = 0;
    let lossTotal = 0;
    let lossCount = 0;
    let aborted = false;
    while (this.state.global_step < this.totalSteps) {
      if (this.o.signal?.aborted) {
        aborted = true;
        break;
      }
      const epochBefore = train.getState().epoch;
      const s = await this.step();
      this.state.global_step++;
      const pos = train.getState();
      this.state.epoch = pos.epoch + pos.batch / train.batchesPerEpoch;
      windowLoss += s.loss;
      windowSteps++;
      lossTotal += s.loss;
      lossCount++;
      this.o.events?.onStep?.({ step: this.state.global_step, totalSteps: this.totalSteps, loss: s.loss, lr: s.lr, epoch: this.state.epoch, examples: s.examples, tokens: s.tokens });
      const step = this.state.global_step;
      const last = step === this.totalSteps;
      if (step % args.logging_steps === 0 || last) {
        this.log({ step, epoch: round(this.state.epoch), loss: windowLoss / windowSteps, learning_rate: s.lr, grad_norm: s.gradNorm });
        windowLoss = 0;
        windowSteps = 0;
      }
      const epochEnded = pos.epoch > epochBefore;
      const evalNow = (args.eval_strategy === 'steps' && step % args.eval_steps === 0) || (args.eval_strategy === 'epoch' && epochEnded) || (args.eval_strategy !== 'no' && last);
      let isBest = false;
      let evaluated = false;
      if (evalNow) {
        const metrics = await this.evaluateNow();
        if (metrics) {
          isBest = this.track(metrics);
          evaluated = true;
        }
      }
      const saveNow =
        (args.save_strategy === 'steps' && step % args.save_steps === 0) ||
        (args.save_strategy === 'epoch' && epochEnded) ||
        (args.save_strategy === 'best' && isBest) ||
        (args.save_strategy !== 'no' && isBest && args.load_best_model_at_end);
      if (saveNow) await this.saveCheckpoint(isBest);
      let stopNow = evaluated && args.early_stopping_patience > 0 && this.state.evals_without_improvement >= args.early_stopping_patience;
      if (this.o.dataParallel && evalNow && args.early_stopping_patience > 0) stopNow = this.o.dataParallel.broadcast([stopNow ? 1 : 0])[0] === 1;
      if (stopNow) {
        this.o.events?.onMessage?.(`early stopping: ${args.metric_for_best_model} did not improve for ${args.early_stopping_patience} evaluations`);
        stoppedEarly = true;
        break;
      }
      await new Promise((r) => setImmediate(r)); // let signals and I/O through between steps
    }
    if (aborted) return this.interrupted(t0, lossTotal, lossCount);
    if (args.load_best_model_at_end && this.state.best_model_checkpoint) {
      await this.o.loadModel(this.state.best_model_checkpoint);
      this.o.events?.onMessage?.(`loaded the best model from ${this.state.best_model_checkpoint} (${args.metric_for_best_model} = ${this.state.best_metric})`);
    }
    return {
      globalStep: this.state.global_step,
      epochs: this.state.epoch,
      trainLoss: lossCount ? lossTotal / lossCount : NaN,
      bestMetric: this.state.best_metric,
      bestCheckpoint: this.state.best_model_checkpoint,
      stoppedEarly,
      interrupted: null,
      logHistory: this.state.log_history as LogRecord[],
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /**
   * Stopped by the signal at a step boundary: writes a resumable checkpoint of the last completed step
   * (unless one was just written), never loads or saves a "final" model.
   */
  private async interrupted(t0: number, lossTotal: number, lossCount: number): Promise<TrainResult> {
    const step = this.state.global_step;
    let checkpoint: string | null = null;
    if (step > 0) {
      checkpoint = this.lastSavedStep === step ? join(this.o.args.output_dir, `checkpoint-${step}`) : await this.saveCheckpoint(false);
    }
    this.o.events?.onMessage?.(`interrupted at step ${step} of ${this.totalSteps}${checkpoint ? `; resumable checkpoint: ${checkpoint}` : ' (before the first step: nothing to resume)'}`);
    return {
      globalStep: step,
      epochs: this.state.epoch,
      trainLoss: lossCount ? lossTotal / lossCount : NaN,
      bestMetric: this.state.best_metric,
      bestCheckpoint: this.state.best_model_checkpoint,
      stoppedEarly: false,
      interrupted: { step, checkpoint },
      logHistory: this.state.log_history as LogRecord[],
      seconds: (performance.now() - t0) / 1000,
    };
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

// Task-head losses with transformers' semantics, shared by every encoder family: sequence
// classification (problem_type chosen exactly as transformers chooses it), token classification and
// masked LM (-100 ignored), extractive question answering (positions clamped, ignored_index = T), plus
// the label checks that turn a label the head cannot hold into a clear DataError.
// Not here: the head modules themselves (each family file builds its own, with transformers' names).

import { ConfigError, DataError, ShapeError } from '../errors.ts';
import type { HfConfig, ProblemType } from './hf-config.ts';
import * as F from '../tensor/index.ts';
import { Tensor } from '../tensor/index.ts';
import type { ModelBatch, ModelOutput } from './types.ts';

/** transformers' IGNORE_INDEX for token-level labels. */
export const IGNORE_INDEX = -100;

/**
 * The problem type transformers uses for a batch: `config.problem_type` when set, else regression for
 * one label, single-label classification for integer labels, multi-label classification otherwise.
 */
export function resolveProblemType(config: HfConfig, labels: Tensor): ProblemType {
  if (config.problem_type !== null) return config.problem_type;
  if (config.num_labels === 1) return 'regression';
  return labels.dtype === 'int32' ? 'single_label_classification' : 'multi_label_classification';
}

function checkClassIds(what: string, ids: Int32Array, numLabels: number, allowIgnore: boolean): void {
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i];
    if ((v >= 0 && v < numLabels) || (allowIgnore && v === IGNORE_INDEX)) continue;
    throw new DataError(
      `${what}: label ${v} at position ${i} does not fit the model's ${numLabels} labels (0..${numLabels - 1}` +
        `${allowIgnore ? `, or ${IGNORE_INDEX} to ignore` : ''}); set num_labels / id2label to cover every label`,
    );
  }
}

/** Per-class loss weights of a model, keyed by its config object (set by setClassWeights). */
const CLASS_WEIGHTS = new WeakMap<HfConfig, readonly number[]>();

/**
 * Weights the single-label classification loss of the model owning `config` per class, as PyTorch's
 * CrossEntropyLoss(weight=w): sum_i w[y_i] * CE_i / sum_i w[y_i] (token classification too, once
 * useTokenClassWeights wraps the model). Training only: nothing is saved, and `null` removes the weights.
 * (For imbalanced labels; see src/tasks/class-weights.ts.)
 * @example setClassWeights(model.hfConfig, [0.57, 4.1]);
 */
export function setClassWeights(config: HfConfig, weights: readonly number[] | null): void {
  if (weights === null) {
    CLASS_WEIGHTS.delete(config);
    return;
  }
  if (weights.length !== config.num_labels || weights.some((w) => !(w >= 0) || !Number.isFinite(w))) {
    throw new ConfigError('class_weights', `needs ${config.num_labels} finite weights >= 0 (one per label), got ${JSON.stringify(weights)}`);
  }
  CLASS_WEIGHTS.set(config, [...weights]);
}

/** PyTorch's weighted cross-entropy (mean over the weight of the rows' classes), composed from differentiable ops. */
export function weightedCrossEntropy(logits: Tensor, targets: Tensor, weights: readonly number[]): Tensor {
  const ids = F.contiguous(targets).intData;
  const rowW = Float64Array.from(ids, (y) => weights[y] ?? 0);
  const total = rowW.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new DataError(`class_weights: every label in this batch has weight 0 (labels ${[...new Set(ids)].join(', ')})`);
  const perRow = F.crossEntropy(logits, targets, { ignoreIndex: IGNORE_INDEX, reduction: 'none' });
  const w = Tensor.from(rowW.map((x) => x / total), [ids.length], logits.dtype, logits.backend);
  return F.sum(F.mul(perRow, w));
}

/**
 * Sequence-classification loss as transformers computes it. Sets `config.problem_type` when it was
 * null (transformers does the same on the first batch with labels, and saves it).
 * logits: (B, N); labels: int32 (B) for single-label, float (B, N) for multi-label, float (B) or (B, 1)
 * for regression with one label.
 * @example const loss = sequenceClassificationLoss(logits, batch.labels, model.hfConfig);
 */
export function sequenceClassificationLoss(logits: Tensor, labels: Tensor, config: HfConfig): Tensor {
  const [B, N] = logits.shape;
  const problem = resolveProblemType(config, labels);
  if (config.problem_type === null) config.problem_type = problem;
  if (problem === 'single_label_classification') {
    if (labels.dtype !== 'int32') {
      throw new DataError(`single-label classification needs integer class ids as labels, got ${labels.describe()}; for several labels per example set problem_type "multi_label_classification"`);
    }
    if (labels.size !== B) throw new DataError(`single-label classification needs one label per example: labels ${labels.describe()} for ${B} examples`);
    const flat = F.reshape(labels, [B]);
    checkClassIds('text-classification', F.contiguous(flat).intData, N, false);
    const weights = CLASS_WEIGHTS.get(config);
    return weights ? weightedCrossEntropy(logits, flat, weights) : F.crossEntropy(logits, flat, { ignoreIndex: IGNORE_INDEX });
  }
  const target = labels.dtype === logits.dtype ? labels : F.cast(labels, logits.dtype);
  if (problem === 'regression') {
    if (N === 1) {
      // transformers: MSELoss()(logits.squeeze(), labels.squeeze())
      if (target.size !== B) throw new DataError(`regression with one output needs one value per example: labels ${labels.describe()} for ${B} examples`);
      return F.mse(F.reshape(logits, [B]), F.reshape(target, [B]));
    }
    if (target.size !== B * N) throw new DataError(`regression with ${N} outputs needs labels [${B}, ${N}], got ${labels.describe()}`);
    return F.mse(logits, F.reshape(target, [B, N]));
  }
  if (target.size !== B * N) {
    throw new DataError(`multi-label classification needs a 0/1 vector of ${N} labels per example: labels [${B}, ${N}], got ${labels.describe()}`);
  }
  return F.bceWithLogits(logits, F.reshape(target, [B, N]));
}

/**
 * Cross-entropy over the last axis with -100 ignored, for token classification and masked LM; with
 * `weights` (one per class), PyTorch's CrossEntropyLoss(weight=w, ignore_index=-100): the -100 positions
 * count in neither the sum nor the total weight.
 * logits: (B, T, N); labels: int32 (B, T).
 * @example const loss = tokenLevelLoss('token-classification', logits, batch.labels);
 */
export function tokenLevelLoss(task: string, logits: Tensor, labels: Tensor, weights: readonly number[] | null = null): Tensor {
  const N = logits.shape[logits.ndim - 1];
  const rows = logits.size / N;
  if (labels.dtype !== 'int32') throw new DataError(`${task} needs integer labels (class ids, -100 to ignore), got ${labels.describe()}`);
  if (labels.size !== rows) throw new DataError(`${task}: labels ${labels.describe()} do not fit logits ${logits.describe()}; give one label per token`);
  const flat = F.reshape(labels, [rows]);
  checkClassIds(task, F.contiguous(flat).intData, N, true);
  if (weights) return weightedCrossEntropy(F.reshape(logits, [rows, N]), flat, weights); // -100 rows weigh 0
  return F.crossEntropy(F.reshape(logits, [rows, N]), flat, { ignoreIndex: IGNORE_INDEX });
}

/** Token classifiers whose forward already reads the class weights (see useTokenClassWeights). */
const WEIGHTED_TOKEN_MODELS = new WeakSet<object>();

/**
 * Makes a token-classification model's loss use the class weights set on its config with setClassWeights
 * (read at every forward, so later changes apply; with none set, the plain loss). The model's own forward
 * runs without labels (logits only) and the loss is tokenLevelLoss with the weights, so every family is
 * covered without its file knowing. Training only, like setClassWeights: nothing is saved.
 * @example setClassWeights(model.hfConfig, [1, 4, 4, 0.3]); useTokenClassWeights(model);
 */
export function useTokenClassWeights(model: { readonly task: string; readonly hfConfig: HfConfig; forward(batch: ModelBatch): ModelOutput }): void {
  if (model.task !== 'token-classification') throw new ConfigError('class_weights', `applies to text-classification and token-classification, not ${model.task}`);
  if (WEIGHTED_TOKEN_MODELS.has(model)) return;
  WEIGHTED_TOKEN_MODELS.add(model);
  const own = model.forward.bind(model);
  model.forward = (batch: ModelBatch): ModelOutput => {
    const { labels, ...inputs } = batch;
    const out = own(inputs);
    return labels ? { ...out, loss: tokenLevelLoss(model.task, out.logits, labels, CLASS_WEIGHTS.get(model.hfConfig) ?? null) } : out;
  };
}

/** Splits QA logits (B, T, 2) into start and end logits, (B, T) each. */
export function splitQaLogits(logits: Tensor): { start: Tensor; end: Tensor } {
  const [B, T, two] = logits.shape;
  if (two !== 2) throw new ShapeError(`question answering needs 2 logits per token (start, end), got ${logits.describe()}`);
  return {
    start: F.reshape(F.narrow(logits, 2, 0, 1), [B, T]),
    end: F.reshape(F.narrow(logits, 2, 1, 1), [B, T]),
  };
}

/** Positions clamped to [0, T] as transformers does; T (ignored_index) means "answer not in this window". */
function clampPositions(what: string, positions: Tensor, B: number, T: number): Tensor {
  if (positions.dtype !== 'int32') throw new DataError(`question answering: ${what} must be integer token positions, got ${positions.describe()}`);
  if (positions.size !== B) throw new DataError(`question answering: ${what} ${positions.describe()} needs one position per example (${B})`);
  const src = F.contiguous(positions).intData;
  const out = new Int32Array(B);
  for (let i = 0; i < B; i++) out[i] = Math.min(Math.max(src[i], 0), T);
  return Tensor.from(out, [B], 'int32', positions.backend);
}

/**
 * Extractive QA loss: (CE(start) + CE(end)) / 2 with positions clamped to [0, T] and
 * ignore_index = T, exactly as transformers' question-answering heads.
 * @example const loss = questionAnsweringLoss(start, end, batch.startPositions, batch.endPositions);
 */
export function questionAnsweringLoss(startLogits: Tensor, endLogits: Tensor, startPositions: Tensor, endPositions: Tensor): Tensor {
  const [B, T] = startLogits.shape;
  const s = clampPositions('start_positions', startPositions, B, T);
  const e = clampPositions('end_positions', endPositions, B, T);
  const startLoss = F.crossEntropy(startLogits, s, { ignoreIndex: T });
  const endLoss = F.crossEntropy(endLogits, e, { ignoreIndex: T });
  return F.scale(F.add(startLoss, endLoss), 0.5);
}

/** Checks the label count a task head needs (QA: exactly 2 outputs; classification: at least 1). */
export function checkHeadLabels(task: string, numLabels: number): void {
  if (task === 'question-answering' && numLabels !== 2) {
    throw new ConfigError('num_labels', `question answering heads output start and end logits, so num_labels must be 2, got ${numLabels}`);
  }
  if ((task === 'text-classification' || task === 'token-classification') && !(Number.isInteger(numLabels) && numLabels >= 1)) {
    throw new ConfigError('num_labels', `${task} needs at least one label, got ${numLabels}`);
  }
}

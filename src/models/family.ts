// What a model family (bert.ts, distilbert.ts, roberta.ts, gpt2.ts, llama.ts) tells the generic
// from_pretrained / save_pretrained machinery (pretrained.ts): how to build each task model, the
// transformers class names, base_model_prefix, and the per-class checkpoint exceptions (tied weights,
// transposed weights, keys transformers ignores). Types and one helper only; no loading code here.

import { ConfigError } from '../errors.ts';
import { hfConfigToJson, type HfConfig, type ModelType } from './hf-config.ts';
import type { JsonObject } from '../io/json.ts';
import type { TaskModel, TaskName } from './types.ts';

/**
 * Per-class checkpoint exceptions, as transformers declares them on each class
 * (`_tied_weights_keys`, `_keys_to_ignore_on_load_unexpected`, `_keys_to_ignore_on_load_missing`).
 * Exceptions common to every family (legacy `gamma`/`beta` names, buffers some checkpoints carry,
 * the base_model_prefix rule) live in one list in pretrained.ts.
 */
export interface CheckpointRules {
  /**
   * Checkpoint names that are the same tensor as a parameter (tied weights): alias → parameter name.
   * Aliases are never saved (transformers drops tied duplicates) and are accepted when loading; when a
   * checkpoint has only the alias, the parameter is loaded from it.
   */
  tied?: Readonly<Record<string, string>>;
  /** Parameters whose checkpoint tensor is the 2-D transpose of ours (GPT-2's Conv1D), by name pattern. */
  transposed?: readonly RegExp[];
  /** Checkpoint keys not reported as unexpected (transformers' `_keys_to_ignore_on_load_unexpected`). */
  ignoreUnexpected?: readonly RegExp[];
  /** Parameters not reported as missing (transformers' `_keys_to_ignore_on_load_missing`). */
  ignoreMissing?: readonly RegExp[];
}

/** A task model that pretrained.ts can load, save and re-create. */
export interface PretrainedTaskModel extends TaskModel {
  /** The typed config the model was built from; label edits go here and are saved with the model. */
  readonly hfConfig: HfConfig;
  /** The transformers class this model is, written to config.json `architectures` (e.g. "BertForTokenClassification"). */
  readonly architecture: string;
  /**
   * transformers' `base_model_prefix` ("bert"): task models hold the bare model under this name; the
   * bare model itself has the same prefix but no parameter starts with it.
   */
  readonly baseModelPrefix: string;
  readonly checkpointRules: CheckpointRules;
}

/** Options a family's builder receives beyond the config. */
export interface BuildOptions {
  /** Build without the pooler (transformers' add_pooling_layer=False); families without one ignore it. */
  addPoolingLayer?: boolean;
}

/** One model family: the config.json model types it builds and its task models. */
export interface ModelFamily {
  /** config.json `model_type` values this family builds. */
  readonly modelTypes: readonly ModelType[];
  /** transformers' base_model_prefix of the task models ("bert", "roberta", "distilbert", "transformer", "model"). */
  readonly baseModelPrefix: string;
  /** Tasks the family has heads for. */
  readonly tasks: readonly TaskName[];
  /**
   * transformers class name → task, used to pick the task from config.json `architectures` when the
   * caller names none (e.g. "BertForSequenceClassification" → "text-classification").
   */
  readonly architectures: Readonly<Record<string, TaskName>>;
  /** Builds a freshly initialised model (transformers' `_init_weights`) for `task`. */
  build(task: TaskName, config: HfConfig, options?: BuildOptions): PretrainedTaskModel;
}

/** Narrows a config to the types a family builds, or throws a ConfigError naming the family. */
export function expectModelType<T extends HfConfig['model_type']>(config: HfConfig, family: string, types: readonly T[]): Extract<HfConfig, { model_type: T }> {
  if (!(types as readonly string[]).includes(config.model_type)) {
    throw new ConfigError('model_type', `the ${family} family builds ${types.join(', ')}, not "${config.model_type}"`);
  }
  return config as Extract<HfConfig, { model_type: T }>;
}

/** The ConfigError for a task a family has no head for. */
export function unsupportedTask(family: string, task: TaskName, tasks: readonly TaskName[]): ConfigError {
  return new ConfigError('task', `${family} models have no "${task}" head; supported tasks: ${tasks.join(', ')}`);
}

/** config.json contents of a model of class `architecture` (what save_pretrained would write). */
export function configJsonFor(config: HfConfig, architecture: string): JsonObject {
  const withArch: HfConfig = { ...config, architectures: [architecture] };
  return hfConfigToJson(withArch);
}

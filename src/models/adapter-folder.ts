// Loading a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, no weights of its own)
// as a model: the base model named by base_model_name_or_path with the adapter and its modules_to_save
// applied, as transformers' from_pretrained does with PEFT installed. The folder's own config.json (written
// by finetune) gives the task head and labels; without one, the PEFT task_type and the head's rows do.
// Not here: reading a plain folder (pretrained.ts passes its loaders in, so there is no import cycle).

import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { ModelError } from '../errors.ts';
import { readSafetensors } from '../io/safetensors.ts';
import { loadLoraAdapter, PEFT_PREFIX } from '../lora/adapter.ts';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, readLoraConfig } from '../lora/config.ts';
import type { PretrainedTaskModel } from './family.ts';
import type { FromPretrainedOptions, LoadingInfo } from './pretrained.ts';
import type { TaskName } from './types.ts';

/** The plain-folder loaders of pretrained.ts this file builds on. */
export interface FolderLoaders {
  loadFolder(
    configDir: string,
    weightsDir: string,
    options: FromPretrainedOptions,
  ): Promise<{ model: PretrainedTaskModel; info: LoadingInfo; configFile: string; savedTask: TaskName | undefined }>;
  checkTask(dir: string, configFile: string, saved: TaskName | undefined, requested: TaskName | undefined): void;
  checkNothingMissing(model: PretrainedTaskModel, dir: string, info: LoadingInfo, covered: readonly string[]): void;
}

const shapeOf = (s: readonly number[]) => `[${s.join(', ')}]`;

/** The task a PEFT task_type trains (used when an adapter folder has no config.json of its own). */
const TASK_OF_PEFT_TYPE: Partial<Record<string, TaskName>> = {
  SEQ_CLS: 'text-classification',
  TOKEN_CLS: 'token-classification',
  QUESTION_ANS: 'question-answering',
  CAUSAL_LM: 'text-generation',
  FEATURE_EXTRACTION: 'feature-extraction',
};

/** The base model folder an adapter names: resolved by the caller (Hub ids), else as written, else relative to the adapter. */
async function adapterBase(dir: string, base: string, resolveBase: FromPretrainedOptions['resolveBase']): Promise<string> {
  const isDir = (p: string) => stat(p).then((st) => st.isDirectory(), () => false);
  if (resolveBase) {
    try {
      return await resolveBase(base);
    } catch (err) {
      if (!isAbsolute(base) && (await isDir(join(dir, base)))) return join(dir, base);
      throw new ModelError(`${join(dir, ADAPTER_CONFIG_NAME)}: the base model "${base}" (base_model_name_or_path) cannot be loaded: ${(err as Error).message}`, { cause: err });
    }
  }
  if (await isDir(base)) return base;
  if (!isAbsolute(base) && (await isDir(join(dir, base)))) return join(dir, base);
  throw new ModelError(
    `${join(dir, ADAPTER_CONFIG_NAME)}: the base model "${base}" (base_model_name_or_path) is not a folder here; ` +
      'run from the folder training ran in, or edit base_model_name_or_path to the base model folder',
  );
}

/** Where an adapter folder's config and tokenizer come from, and the task and label count its adapter implies. */
export interface AdapterFolderInfo {
  /** The folder whose config.json describes the model: the adapter's own (written by finetune), else the base's. */
  configDir: string;
  /** The folder whose tokenizer files to use: the adapter's when it has them, else the base's. */
  tokenizerDir: string;
  /** Without a config.json of its own: the task of the PEFT task_type, and the head's rows (label count). */
  task?: TaskName;
  numLabels?: number;
}

/**
 * How to read an adapter folder without loading weights (the request side of serve and predict): a folder
 * PEFT wrote alone has no config.json or tokenizer, so both come from the base model.
 */
export async function describeAdapterFolder(dir: string, resolveBase?: FromPretrainedOptions['resolveBase']): Promise<AdapterFolderInfo> {
  const cfg = await readLoraConfig(dir);
  const base = cfg.base_model_name_or_path;
  if (!base) throw new ModelError(`${join(dir, ADAPTER_CONFIG_NAME)} names no base model (base_model_name_or_path); set it to the base model folder the adapter was trained on`);
  const baseDir = await adapterBase(dir, base, resolveBase);
  const has = (f: string) => stat(join(dir, f)).then((st) => st.isFile(), () => false);
  const ownConfig = await has('config.json');
  const ownTokenizer = (await has('tokenizer.json')) || (await has('vocab.txt')) || (await has('tokenizer.model')) || (await has('vocab.json'));
  const info: AdapterFolderInfo = { configDir: ownConfig ? dir : baseDir, tokenizerDir: ownTokenizer ? dir : baseDir };
  if (!ownConfig) {
    const task = cfg.task_type !== null ? TASK_OF_PEFT_TYPE[cfg.task_type] : undefined;
    if (task !== undefined) info.task = task;
    const rows = await headRows(dir);
    if (rows !== null) info.numLabels = rows;
  }
  return info;
}

/** Loads the base model an adapter folder names (strict: nothing left random, the head's task as saved), with the adapter (and its task head) applied. */
export async function loadAdapterFolder(
  dir: string,
  options: FromPretrainedOptions,
  { loadFolder, checkTask, checkNothingMissing }: FolderLoaders,
): Promise<{ model: PretrainedTaskModel; info: LoadingInfo }> {
  const cfg = await readLoraConfig(dir);
  const base = cfg.base_model_name_or_path;
  if (!base) throw new ModelError(`${join(dir, ADAPTER_CONFIG_NAME)} names no base model (base_model_name_or_path); set it to the base model folder the adapter was trained on`);
  const baseDir = await adapterBase(dir, base, options.resolveBase);
  const ownConfig = await stat(join(dir, 'config.json')).then((st) => st.isFile(), () => false);
  const extra: FromPretrainedOptions = {};
  if (!ownConfig && options.task === undefined && cfg.task_type !== null) {
    const t = TASK_OF_PEFT_TYPE[cfg.task_type];
    if (t !== undefined) extra.task = t;
  }
  if (!ownConfig && options.numLabels === undefined && options.id2label === undefined) {
    const rows = await headRows(dir);
    if (rows !== null) extra.numLabels = rows;
  }
  if (options.strict) {
    const saved = ownConfig ? undefined : cfg.task_type !== null ? TASK_OF_PEFT_TYPE[cfg.task_type] : undefined;
    checkTask(dir, join(dir, ADAPTER_CONFIG_NAME), saved, options.task);
  }
  // The head of a base checkpoint may have another size: the adapter's modules_to_save replace it.
  const { model, info, configFile, savedTask } = await loadFolder(ownConfig ? dir : baseDir, baseDir, { ...options, ...extra, ignoreMismatchedSizes: true });
  try {
    if (options.strict && ownConfig) checkTask(dir, configFile, savedTask, options.task);
    const state = await loadLoraAdapter(model, dir);
    if (options.strict) checkNothingMissing(model, `${dir} (base model ${baseDir})`, info, state.savedModuleParams);
    const notReplaced = info.mismatchedKeys.filter((m) => !state.savedModuleParams.includes(m.key));
    if (notReplaced.length > 0) {
      throw new ModelError(`${baseDir}: checkpoint tensors do not fit the model of ${dir}: ${notReplaced.map((m) => `"${m.key}" ${shapeOf(m.checkpointShape)} vs ${shapeOf(m.modelShape)}`).join(', ')}`);
    }
    const covered = new Set(state.savedModuleParams);
    return { model, info: { ...info, missingKeys: info.missingKeys.filter((k) => !covered.has(k)), mismatchedKeys: [], adapter: { dir, baseDir, config: state.config } } };
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/** Rows of the classification head an adapter file carries (the label count), or null. */
async function headRows(dir: string): Promise<number | null> {
  const file = join(dir, ADAPTER_WEIGHTS_NAME);
  if (!(await stat(file).then((st) => st.isFile(), () => false))) return null;
  const { tensors } = await readSafetensors(file);
  for (const key of ['classifier.out_proj.weight', 'classifier.weight', 'score.weight']) {
    const e = tensors.get(`${PEFT_PREFIX}${key}`);
    if (e && e.shape.length === 2) return e.shape[0]!;
  }
  return null;
}


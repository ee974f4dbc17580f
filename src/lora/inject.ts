// Putting LoRA adapters into a model the way PEFT's LoraModel does: module paths matched against
// target_modules (suffix match, one full-path regex, or "all-linear"), exclude_modules,
// layers_to_transform, rank/alpha patterns; every other parameter frozen except modules_to_save;
// merging the updates back into the base weights. Layers are swapped with Module.replaceChild, which
// keeps the module tree the one source of truth, so every model family runs the wrapped layer.
// Not here: the wrapped layer (layer.ts), adapter files (adapter.ts).

import { ModelError } from '../errors.ts';
import { Linear, type Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/index.ts';
import type { LoraConfig, PeftTaskType } from './config.ts';
import { LoraLinear } from './layer.ts';

/** What applyLora did, kept with the model so save/merge know the config. */
export interface LoraState {
  config: LoraConfig;
  /** Module path → wrapped layer, in model order. */
  layers: Map<string, LoraLinear>;
  /** Parameter names trained in full (modules_to_save). */
  savedModuleParams: string[];
}

const states = new WeakMap<Module, LoraState>();

/** The LoRA state of a model, or null when no adapter is applied. */
export function loraState(model: Module): LoraState | null {
  return states.get(model) ?? null;
}

/** Classification heads PEFT adds to modules_to_save for SEQ_CLS (PeftModelForSequenceClassification). */
export const SEQ_CLS_HEAD_NAMES = ['classifier', 'score'];

/**
 * The head modules PEFT's task models add to modules_to_save (trained in full, saved with the adapter):
 * PeftModelForSequenceClassification and ...ForTokenClassification "classifier"/"score",
 * ...ForQuestionAnswering "qa_outputs"; CAUSAL_LM and FEATURE_EXTRACTION none.
 */
export const TASK_HEAD_MODULES: Readonly<Record<PeftTaskType, readonly string[]>> = {
  SEQ_CLS: SEQ_CLS_HEAD_NAMES,
  TOKEN_CLS: SEQ_CLS_HEAD_NAMES,
  QUESTION_ANS: ['qa_outputs'],
  CAUSAL_LM: [],
  FEATURE_EXTRACTION: [],
};

/**
 * PEFT's _set_trainable rule: a module is saved when its path ends with a modules_to_save name as a plain
 * string (so "classifier" also takes DistilBERT's "pre_classifier", as PEFT does); its parameters with it.
 */
function savedModulePaths(paths: readonly string[], modulesToSave: readonly string[]): string[] {
  return paths.filter((p) => p !== '' && modulesToSave.some((n) => p.endsWith(n)));
}

function suffixMatch(names: readonly string[], path: string): boolean {
  return names.some((n) => path === n || path.endsWith(`.${n}`));
}

/** PEFT's check_target_module_exists minus the layer filter: a list matches by suffix, a string as a full regex. */
function matches(spec: string[] | string, path: string): boolean {
  return typeof spec === 'string' ? new RegExp(`^(?:${spec})$`).test(path) : suffixMatch(spec, path);
}

/** PEFT's layers_to_transform: the index after layers_pattern (or the first numbered segment). */
function layerAllowed(cfg: LoraConfig, path: string): boolean {
  const allowed = cfg.layers_to_transform;
  if (allowed === null || (Array.isArray(allowed) && allowed.length === 0)) return true;
  const patterns = cfg.layers_pattern === null ? [] : typeof cfg.layers_pattern === 'string' ? [cfg.layers_pattern] : cfg.layers_pattern;
  let m: RegExpMatchArray | null = null;
  if (patterns.length === 0) m = path.match(/^.*?\.[^.]*\.(\d+)\./);
  else for (const p of patterns) if ((m = path.match(new RegExp(`^.*?\\.${p}\\.(\\d+)\\.`))) !== null) break;
  if (m === null) return false;
  const idx = Number(m[1]);
  return typeof allowed === 'number' ? idx === allowed : allowed.includes(idx);
}

/** PEFT's get_pattern_key: the first pattern that matches a suffix of the path. */
function patternValue(patterns: Record<string, number>, path: string): number | undefined {
  for (const [k, v] of Object.entries(patterns)) if (new RegExp(`^(.*\\.)?(${k})$`).test(path)) return v;
  return undefined;
}

/**
 * Wraps the target Linear layers of `model` with LoRA adapters (in place) and freezes every parameter
 * except the adapters and the modules_to_save. Throws a ModelError when the targets match nothing or
 * match something that is not a Linear layer.
 * @example
 * applyLora(model, loraConfig({ r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], task_type: 'CAUSAL_LM' }));
 * const trainable = model.trainableParameters(); // lora_A / lora_B only
 */
export function applyLora(model: Module, settings: LoraConfig): LoraState {
  if (states.has(model)) throw new ModelError('this model already has a LoRA adapter; merge it (mergeLora) or load the base model again');
  // PeftModelForSequenceClassification trains and saves the classification head along with the adapter.
  const heads = settings.task_type ? TASK_HEAD_MODULES[settings.task_type] : [];
  const cfg: LoraConfig = heads.length > 0
    ? { ...settings, modules_to_save: [...new Set([...(settings.modules_to_save ?? []), ...heads])] }
    : settings;
  const modulesToSave = cfg.modules_to_save ?? [];
  const all = model.namedModules();
  const saved = savedModulePaths(all.map(([p]) => p), modulesToSave);
  const inSaved = (path: string): boolean => saved.some((m) => path === m || path.startsWith(`${m}.`));
  const byPath = new Map(all);
  const allLinear = typeof cfg.target_modules === 'string' && cfg.target_modules.toLowerCase() === 'all-linear';
  const targets: [string, Linear][] = [];
  for (const [path, m] of all) {
    if (path === '' || inSaved(path)) continue;
    if (cfg.exclude_modules !== null && matches(cfg.exclude_modules, path)) continue;
    const hit = allLinear
      ? m instanceof Linear && path !== 'lm_head' && !SEQ_CLS_HEAD_NAMES.includes(path)
      : matches(cfg.target_modules, path) && layerAllowed(cfg, path);
    if (!hit) continue;
    if (!(m instanceof Linear)) {
      throw new ModelError(
        `LoRA target "${path}" is a ${m.constructor.name}, not a Linear layer; target_modules must name linear projections ` +
          '(e.g. q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj; c_attn, c_proj, c_fc for GPT-2)',
      );
    }
    targets.push([path, m]);
  }
  if (targets.length === 0) {
    const linearNames = [...new Set(all.filter(([p, m]) => p !== '' && m instanceof Linear).map(([p]) => p.split('.').at(-1) ?? p))];
    throw new ModelError(
      `LoRA target_modules ${JSON.stringify(cfg.target_modules)} match no module of this model; ` +
        `its linear layers are named: ${linearNames.join(', ')}`,
    );
  }
  const layers = new Map<string, LoraLinear>();
  for (const [path, linear] of targets) {
    const cut = path.lastIndexOf('.');
    const parent = byPath.get(cut < 0 ? '' : path.slice(0, cut));
    if (!parent) throw new ModelError(`LoRA: no parent module for "${path}"`);
    const wrapped = new LoraLinear(linear, {
      r: patternValue(cfg.rank_pattern, path) ?? cfg.r,
      alpha: patternValue(cfg.alpha_pattern, path) ?? cfg.lora_alpha,
      dropout: cfg.lora_dropout,
      rslora: cfg.use_rslora,
      init: cfg.init_lora_weights,
    });
    parent.replaceChild(path.slice(cut + 1), wrapped);
    layers.set(path, wrapped);
  }
  const savedModuleParams: string[] = [];
  for (const [name, p] of model.namedParameters()) {
    const isAdapter = /\.lora_[AB]\.weight$/.test(name);
    const isSaved = !isAdapter && inSaved(name.slice(0, name.lastIndexOf('.')));
    if (isSaved) savedModuleParams.push(name);
    p.requiresGrad = isAdapter || isSaved;
  }
  const state: LoraState = { config: cfg, layers, savedModuleParams };
  states.set(model, state);
  return state;
}

/** The adapter parameters (lora_A / lora_B) with their model paths. */
export function loraParameters(model: Module): [string, Tensor][] {
  return model.namedParameters().filter(([n]) => /\.lora_[AB]\.weight$/.test(n));
}

/**
 * Folds every adapter into its base weight (W += scaling · B A) and removes the adapters, leaving a
 * plain model whose parameters are all trainable again (PEFT's merge_and_unload).
 * @example mergeLora(model); await savePretrained(model, 'out/merged');
 */
export function mergeLora(model: Module): void {
  const state = states.get(model);
  if (!state) throw new ModelError('this model has no LoRA adapter to merge');
  const byPath = new Map(model.namedModules());
  for (const [path, layer] of state.layers) {
    layer.merge();
    const cut = path.lastIndexOf('.');
    byPath.get(cut < 0 ? '' : path.slice(0, cut))!.replaceChild(path.slice(cut + 1), layer.base);
    layer.loraA.dispose();
    layer.loraB.dispose();
  }
  for (const p of model.parameters()) p.requiresGrad = true;
  states.delete(model);
}

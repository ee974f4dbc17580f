// LoRA in the training pipelines, for every task: PEFT's settings from the run's flags (--lora-r,
// --lora-alpha, --lora-dropout, --lora-target-modules; PEFT's default targets per family; the task type
// that decides which head PEFT trains in full as modules_to_save), and how a LoRA run writes checkpoints
// and its final folder (the PEFT adapter + config.json with the head's labels + tokenizer, or with
// --merge-lora the merged full model). Not here: the LoRA layer and files (src/lora).

import { ConfigError } from '../errors.ts';
import { replaceModelFolder } from '../io/atomic.ts';
import { loadLoraAdapterWeights, saveLoraAdapter } from '../lora/adapter.ts';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, DEFAULT_LORA_TARGET_MODULES, loraConfig, type LoraConfig, type PeftTaskType } from '../lora/config.ts';
import { applyLora, loraState, mergeLora, TASK_HEAD_MODULES } from '../lora/inject.ts';
import { saveModelConfig, savePretrained } from '../models/pretrained.ts';
import { saveTokenizer } from '../tokenizers/save.ts';
import type { PipelineConfig, PipelineTask } from './config.ts';
import type { LoadedClassifier } from './models.ts';
import type { PipelineEvents } from './text-classification.ts';

/** The PEFT task type of each pipeline task (null: PEFT's plain PeftModel, no head saved). */
export const PEFT_TASK_TYPE: Readonly<Record<PipelineTask, PeftTaskType | null>> = {
  'text-classification': 'SEQ_CLS',
  'token-classification': 'TOKEN_CLS',
  'question-answering': 'QUESTION_ANS',
  'text-generation': 'CAUSAL_LM',
  'fill-mask': null,
};

/**
 * The LoRA settings of a run (PEFT's LoraConfig): rank, alpha, dropout and target modules from the
 * pipeline settings, PEFT's per-family default targets when none are given, the task's PEFT task type.
 *
 * @example
 * const cfg = loraSettings({ ...DEFAULT_PIPELINE_CONFIG, lora_r: 8 }, 'bert', 'models/bert-tiny', 'text-classification');
 * cfg.target_modules; // ['query', 'value']; cfg.task_type: 'SEQ_CLS'
 */
export function loraSettings(p: PipelineConfig, modelType: string, baseModel: string, task: PipelineTask = 'text-generation'): LoraConfig {
  const targets = p.lora_target_modules ?? DEFAULT_LORA_TARGET_MODULES[modelType];
  if (!targets) {
    throw new ConfigError('lora_target_modules', `no default LoRA targets for model_type "${modelType}"; name them, e.g. --lora-target-modules q_proj,v_proj (or all-linear)`);
  }
  return loraConfig({
    r: p.lora_r,
    lora_alpha: p.lora_alpha,
    lora_dropout: p.lora_dropout,
    target_modules: typeof targets === 'string' ? targets : [...targets],
    task_type: PEFT_TASK_TYPE[task],
    base_model_name_or_path: baseModel,
  });
}

/** How a LoRA run writes and reads its model (the shape of task-run's ModelPersistence). */
export interface AdapterPersistence {
  checkpoint(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  final(dir: string): Promise<string>;
}

/**
 * Checkpoints and output of a LoRA run: checkpoints hold the adapter (PEFT layout); the final folder holds
 * the adapter, config.json (architectures, id2label: the head it trained) and the tokenizer, so predict,
 * evaluate, serve and export load it on its own; with `merge`, the merged full model instead.
 */
export function adapterPersistence(loaded: LoadedClassifier, baseModel: string, merge: boolean): AdapterPersistence {
  const { model, tokenizer } = loaded;
  return {
    checkpoint: (dir) => saveLoraAdapter(model, dir, { baseModelNameOrPath: baseModel }),
    load: (dir) => loadLoraAdapterWeights(model, dir),
    final: async (dir) => {
      // The folder is swapped in whole (replaceModelFolder): a kill never leaves new weights beside old files.
      if (merge) {
        mergeLora(model);
        await replaceModelFolder(dir, async (tmp) => void (await savePretrained(model, tmp, { tokenizer })));
        return `LoRA merged into the weights: config.json with ${model.architecture}, model.safetensors, tokenizer files`;
      }
      await replaceModelFolder(dir, async (tmp) => {
        await saveLoraAdapter(model, tmp, { baseModelNameOrPath: baseModel });
        await saveModelConfig(model, tmp);
        await saveTokenizer(tokenizer, tmp);
      });
      return `LoRA adapter in PEFT layout: ${ADAPTER_CONFIG_NAME}, ${ADAPTER_WEIGHTS_NAME}, config.json with ${model.architecture}, tokenizer files; base model ${baseModel}`;
    },
  };
}

/**
 * With `p.lora_r` > 0: wraps the model's target layers (everything else frozen but the task head PEFT
 * saves), says what it did, and returns how the run saves; otherwise undefined (full fine-tuning).
 */
export function setUpLora(p: PipelineConfig, loaded: LoadedClassifier, task: PipelineTask, ev?: PipelineEvents): AdapterPersistence | undefined {
  if (p.lora_r === 0) return undefined;
  if (!p.model) throw new ConfigError('lora_r', 'LoRA adapts a pretrained model: pass --model <folder or Hub id> with --lora-r (a model built from scratch trains in full)');
  const { model } = loaded;
  let cfg = loraSettings(p, model.hfConfig.model_type, p.model, task);
  // A layer the base checkpoint lacks (e.g. BERT's pooler under a masked-LM checkpoint) starts random; frozen
  // and unsaved, the adapter could never be reloaded with the same values, so it trains and saves in full too.
  const heads = new Set(cfg.task_type ? TASK_HEAD_MODULES[cfg.task_type] : []);
  const fresh = [...new Set((loaded.newlyInitialized ?? []).map((n) => n.slice(0, n.lastIndexOf('.'))))].filter(
    (m) => m !== '' && ![...heads].some((h) => m.endsWith(h) || m.split('.').some((_, i, parts) => parts.slice(0, i + 1).join('.').endsWith(h))),
  );
  if (fresh.length > 0) {
    cfg = { ...cfg, modules_to_save: [...(cfg.modules_to_save ?? []), ...fresh] };
    ev?.message?.(`LoRA: ${fresh.join(', ')} not in the base checkpoint (newly initialised): trained in full and saved with the adapter (modules_to_save)`);
  }
  const state = loraState(model) ?? applyLora(model, cfg); // already applied when the base was quantised while loading
  const trainable = model.trainableParameters().reduce((n, [, t]) => n + t.size, 0);
  const head = state.config.modules_to_save?.length ? `; trained in full and saved with it (modules_to_save): ${[...new Set(state.savedModuleParams.map((n) => n.slice(0, n.lastIndexOf('.'))))].join(', ') || 'none'}` : '';
  ev?.message?.(
    `LoRA: r ${cfg.r}, alpha ${cfg.lora_alpha}, dropout ${cfg.lora_dropout}, ${state.layers.size} layers (${JSON.stringify(cfg.target_modules)}), scaling alpha/r = ${+(cfg.lora_alpha / cfg.r).toPrecision(4)}${head}; ` +
      `${trainable.toLocaleString('en-US')} trainable of ${model.numParameters().toLocaleString('en-US')} parameters`,
  );
  return adapterPersistence(loaded, p.model, p.merge_lora);
}

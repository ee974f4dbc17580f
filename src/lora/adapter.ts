// PEFT adapter folders: adapter_config.json + adapter_model.safetensors with PEFT's key names
// (`base_model.model.<module path>.lora_A.weight`, `...lora_B.weight`, and modules_to_save parameters as
// `base_model.model.<path>.weight`), so Python `PeftModel.from_pretrained(base, dir)` loads what we save
// and we load what PEFT saves. Not here: the LoRA layer (layer.ts) and injection rules (inject.ts).

import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelError } from '../errors.ts';
import { pickleRefusal } from '../io/checkpoint.ts';
import { readSafetensors, toFloat32, writeSafetensors, type SafetensorsEntry, type TensorToWrite } from '../io/safetensors.ts';
import type { Module } from '../nn/module.ts';
import type { Tensor } from '../tensor/index.ts';
import { ADAPTER_WEIGHTS_NAME, readLoraConfig, writeLoraConfig, type LoraConfig } from './config.ts';
import { applyLora, loraParameters, loraState, type LoraState } from './inject.ts';

/** The prefix PEFT puts before every module path (PeftModel.base_model = LoraModel, .model = the model). */
export const PEFT_PREFIX = 'base_model.model.';

/** A model that declares parameters stored transposed in checkpoints (GPT-2's Conv1D), as PretrainedTaskModel does. */
interface WithRules {
  checkpointRules?: { transposed?: readonly RegExp[] };
}

function transposedIn(model: Module, name: string): boolean {
  return ((model as Module & WithRules).checkpointRules?.transposed ?? []).some((re) => re.test(name));
}

function values(p: Tensor): Float32Array {
  return Float32Array.from(p.data as Float32Array | Float64Array);
}

function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/**
 * Writes the model's LoRA adapter (and modules_to_save) to `dir` in PEFT's layout.
 * @example await saveLoraAdapter(model, 'out/adapter', { baseModelNameOrPath: 'models/stories260K' });
 */
export async function saveLoraAdapter(model: Module, dir: string, opts: { baseModelNameOrPath?: string } = {}): Promise<void> {
  const state = loraState(model);
  if (!state) throw new ModelError('this model has no LoRA adapter to save; apply one with applyLora or loadLoraAdapter');
  const fanInFanOut = [...state.layers.keys()].some((path) => transposedIn(model, `${path}.weight`));
  const cfg: LoraConfig = {
    ...state.config,
    fan_in_fan_out: fanInFanOut,
    base_model_name_or_path: opts.baseModelNameOrPath ?? state.config.base_model_name_or_path,
  };
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, p] of loraParameters(model)) tensors[PEFT_PREFIX + name] = { dtype: 'F32', shape: [...p.shape], data: values(p) };
  const params = new Map(model.namedParameters());
  for (const name of state.savedModuleParams) {
    const p = params.get(name)!;
    tensors[PEFT_PREFIX + name] = transposedIn(model, name)
      ? { dtype: 'F32', shape: [p.shape[1], p.shape[0]], data: transpose2d(values(p), p.shape[0], p.shape[1]) }
      : { dtype: 'F32', shape: [...p.shape], data: values(p) };
  }
  await mkdir(dir, { recursive: true });
  await writeLoraConfig(dir, cfg);
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS_NAME), tensors, { format: 'pt' });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/**
 * Applies the PEFT adapter in `dir` to `model` (the base model it was trained on) and loads its
 * weights. Throws a ModelError when the adapter does not fit the model (a missing or extra tensor,
 * another shape), naming the tensor.
 * @example const state = await loadLoraAdapter(model, 'out/adapter'); mergeLora(model);
 */
export async function loadLoraAdapter(model: Module, dir: string): Promise<LoraState> {
  const cfg = await readLoraConfig(dir);
  const file = join(dir, ADAPTER_WEIGHTS_NAME);
  if (!(await exists(file))) {
    if (await exists(join(dir, 'adapter_model.bin'))) throw new ModelError(pickleRefusal(dir, 'adapter_model.bin'));
    throw new ModelError(`${dir}: no ${ADAPTER_WEIGHTS_NAME} beside adapter_config.json`);
  }
  const { tensors } = await readSafetensors(file);
  const state = applyLora(model, cfg);
  const mismatch = (detail: string): ModelError =>
    new ModelError(`${file}: ${detail}; is this adapter for this base model${cfg.base_model_name_or_path ? ` (${cfg.base_model_name_or_path})` : ''}?`);
  copyAdapterTensors(model, state, tensors, mismatch);
  return state;
}

/**
 * Loads adapter weights written by saveLoraAdapter into a model that already has the same adapter
 * (checkpoints during training: resume, best model at the end). Every lora_A/lora_B and modules_to_save
 * tensor must be present.
 */
export async function loadLoraAdapterWeights(model: Module, dir: string): Promise<void> {
  const state = loraState(model);
  if (!state) throw new ModelError(`${dir}: this model has no LoRA adapter to load weights into`);
  const file = join(dir, ADAPTER_WEIGHTS_NAME);
  const { tensors } = await readSafetensors(file);
  copyAdapterTensors(model, state, tensors, (detail) => new ModelError(`${file}: ${detail}; was the checkpoint written with other LoRA settings?`));
}

/** Copies PEFT-named tensors into the adapter and modules_to_save parameters; every one must be present and fit. */
function copyAdapterTensors(model: Module, state: LoraState, tensors: Map<string, SafetensorsEntry>, mismatch: (detail: string) => ModelError): void {
  const params = new Map(model.namedParameters());
  const expected = new Set([...loraParameters(model).map(([n]) => n), ...state.savedModuleParams]);
  for (const [key, entry] of tensors) {
    if (!key.startsWith(PEFT_PREFIX)) throw mismatch(`tensor "${key}" does not start with "${PEFT_PREFIX}" as PEFT names adapter tensors`);
    // PEFT strips the adapter name ("default") when saving; accept files that kept it.
    const name = key
      .slice(PEFT_PREFIX.length)
      .replace(/\.(lora_[AB])\.default\.weight$/, '.$1.weight')
      .replace(/\.modules_to_save\.default\./, '.');
    const p = params.get(name);
    if (!p || !expected.has(name)) throw mismatch(`tensor "${key}" has no place in the model with this adapter_config.json`);
    const transposed = transposedIn(model, name) && state.savedModuleParams.includes(name);
    const want = transposed ? [...p.shape].reverse() : [...p.shape];
    if (entry.shape.length !== want.length || entry.shape.some((s, i) => s !== want[i])) {
      throw mismatch(`tensor "${key}" has shape [${entry.shape.join(', ')}] but the model expects [${want.join(', ')}] (r = ${state.config.r})`);
    }
    let v = toFloat32(entry);
    if (transposed) v = transpose2d(v, entry.shape[0], entry.shape[1]);
    (p.data as Float32Array | Float64Array).set(v);
    expected.delete(name);
  }
  if (expected.size > 0) {
    const missing = [...expected];
    throw mismatch(
      `${missing.length} adapter tensor(s) are missing (${missing.slice(0, 4).map((n) => `"${PEFT_PREFIX}${n}"`).join(', ')}${missing.length > 4 ? ', ...' : ''}); ` +
        'without them the adapted layers or the task head would keep random values',
    );
  }
}

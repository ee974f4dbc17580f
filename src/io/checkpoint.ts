// Finds and reads the weights of a Hugging Face model folder: `model.safetensors`, or a sharded
// checkpoint (`model.safetensors.index.json` + shards), else `pytorch_model.bin` (or its sharded index)
// through the weights-only reader (torch-bin.ts: tensors only, nothing executed). Other pickle files
// (`*.pt`, `*.ckpt`, `*.pth`) are refused, never unpickled, with the Python one-liner that converts them.
// Not here: mapping tensors onto model parameters (src/models), downloading (src/hub).

import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { FileFormatError, ModelError } from '../errors.ts';
import { isJsonObject, readJsonFile } from './json.ts';
import { readSafetensors, readSafetensorsLazy, type SafetensorsEntry } from './safetensors.ts';
import { readTorchBin, readTorchBinIndex } from './torch-bin.ts';

/** Weights of a checkpoint, merged across shards. */
export interface CheckpointTensors {
  /** Every tensor by checkpoint key. */
  tensors: Map<string, SafetensorsEntry>;
  /** The safetensors files read, in order. */
  files: string[];
  /** `__metadata__` of the (first) safetensors file. */
  metadata: Record<string, string>;
}

export const SAFETENSORS_WEIGHTS_NAME = 'model.safetensors';
export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';
const PICKLE_RE = /(^pytorch_model.*\.bin$|\.bin\.index\.json$|\.pt$|\.pth$|\.ckpt$)/;

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** The message for a folder or file that only has pickle weights. */
export function pickleRefusal(where: string, found: string): string {
  return (
    `${where}: found ${found}, a PyTorch pickle file. finetune never unpickles files (loading a pickle can run ` +
    `arbitrary code). Convert the folder to safetensors once with Python:\n` +
    `  python -c "from transformers import AutoModel; AutoModel.from_pretrained('${where}').save_pretrained('${where}', safe_serialization=True)"\n` +
    `(use the AutoModelFor... class of your task to keep its head), then run again.`
  );
}

/**
 * Reads a sharded checkpoint: `model.safetensors.index.json` (its `weight_map` names the shard of
 * every tensor) and the shards beside it. Every listed tensor must be in the shard the index names,
 * and no tensor may appear in two shards.
 *
 * @example const { tensors, files } = await readSafetensorsIndex('/models/llama-7b');
 */
export async function readSafetensorsIndex(dir: string, indexName = SAFETENSORS_INDEX_NAME, lazy = false): Promise<CheckpointTensors> {
  const indexPath = join(dir, indexName);
  const { value } = await readJsonFile(indexPath);
  if (!isJsonObject(value) || !isJsonObject(value['weight_map'])) {
    throw new FileFormatError(indexPath, 'expected an object with a "weight_map" object (tensor name → shard file)');
  }
  const weightMap = value['weight_map'];
  const shardOf = new Map<string, string>();
  const shardNames: string[] = [];
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || normalize(shard).startsWith('..')) {
      throw new FileFormatError(indexPath, `weight_map["${name}"] must be a shard file name inside the folder, got ${JSON.stringify(shard)}`);
    }
    if (PICKLE_RE.test(basename(shard))) throw new ModelError(pickleRefusal(dir, shard));
    shardOf.set(name, shard);
    if (!shardNames.includes(shard)) shardNames.push(shard);
  }
  if (shardNames.length === 0) throw new FileFormatError(indexPath, 'weight_map is empty');
  const tensors = new Map<string, SafetensorsEntry>();
  const files: string[] = [];
  let metadata: Record<string, string> = {};
  for (const shard of shardNames) {
    const path = join(dir, shard);
    if (!(await isFile(path))) {
      throw new FileFormatError(indexPath, `shard "${shard}" listed in weight_map is missing from ${dir}; download it again`);
    }
    const st = await (lazy ? readSafetensorsLazy : readSafetensors)(path);
    if (files.length === 0) metadata = st.metadata;
    files.push(path);
    for (const [name, entry] of st.tensors) {
      const prev = tensors.get(name);
      if (prev !== undefined) {
        throw new FileFormatError(path, `tensor "${name}" is also in ${basename(prev.file)}; a tensor must be in one shard only`);
      }
      tensors.set(name, entry);
    }
  }
  for (const [name, shard] of shardOf) {
    const e = tensors.get(name);
    if (e === undefined) throw new FileFormatError(indexPath, `tensor "${name}" is listed in weight_map (shard "${shard}") but no shard holds it`);
    if (e.file !== join(dir, shard)) {
      throw new FileFormatError(indexPath, `tensor "${name}" is listed in shard "${shard}" but found in ${basename(e.file)}`);
    }
  }
  return { tensors, files, metadata };
}

/**
 * Loads the weights of a model folder (or a single `.safetensors` file): `model.safetensors`, else
 * the sharded `model.safetensors.index.json`, else `pytorch_model.bin` or its `.bin.index.json` (weights-only
 * reader: tensors only, nothing executed). A folder with only `*.pt` / `*.ckpt`
 * / `*.pth` gets a ModelError explaining how to convert it with Python.
 *
 * @example
 * const { tensors } = await loadCheckpointTensors('/models/bert-base-uncased');
 * tensors.get('bert.embeddings.word_embeddings.weight')?.shape; // [30522, 768]
 */
export async function loadCheckpointTensors(path: string, opts: { lazy?: boolean } = {}): Promise<CheckpointTensors> {
  const lazy = opts.lazy === true; // headers only: each entry's data is read from disk when accessed
  const read = lazy ? readSafetensorsLazy : readSafetensors;
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ModelError(`${path}: no such file or folder; pass a model folder with config.json and model.safetensors`);
  }
  if (st.isFile()) {
    if (/\.bin\.index\.json$/.test(path)) return { ...(await readTorchBinIndex(dirname(path), basename(path))), metadata: {} };
    if (path.endsWith('.bin')) return { tensors: await readTorchBin(path), files: [path], metadata: {} };
    if (PICKLE_RE.test(basename(path))) throw new ModelError(pickleRefusal(dirname(path), basename(path)));
    if (basename(path).endsWith('.index.json')) return readSafetensorsIndex(dirname(path), basename(path), lazy);
    const file = await read(path);
    return { tensors: file.tensors, files: [path], metadata: file.metadata };
  }
  const single = join(path, SAFETENSORS_WEIGHTS_NAME);
  if (await isFile(single)) {
    const file = await read(single);
    return { tensors: file.tensors, files: [single], metadata: file.metadata };
  }
  if (await isFile(join(path, SAFETENSORS_INDEX_NAME))) return readSafetensorsIndex(path, SAFETENSORS_INDEX_NAME, lazy);
  const bin = join(path, 'pytorch_model.bin');
  if (await isFile(bin)) return { tensors: await readTorchBin(bin), files: [bin], metadata: {} };
  if (await isFile(join(path, 'pytorch_model.bin.index.json'))) return { ...(await readTorchBinIndex(path)), metadata: {} };
  const names = await readdir(path);
  const pickles = names.filter((n) => PICKLE_RE.test(n));
  if (pickles.length > 0) throw new ModelError(pickleRefusal(path, pickles.join(', ')));
  const others = names.filter((n) => n.endsWith('.safetensors'));
  const hint = others.length > 0
    ? ` It has ${others.join(', ')}: pass that file's path, or rename it to ${SAFETENSORS_WEIGHTS_NAME}.`
    : names.some((n) => n.endsWith('.h5') || n.endsWith('.msgpack'))
      ? ' It has TensorFlow/Flax weights only; convert them with Python transformers (from_pretrained(..., from_tf=True / from_flax=True), then save_pretrained(dir, safe_serialization=True)).'
      : '';
  throw new ModelError(`${path}: no ${SAFETENSORS_WEIGHTS_NAME} or ${SAFETENSORS_INDEX_NAME} found.${hint}`);
}

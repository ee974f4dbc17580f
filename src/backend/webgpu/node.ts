/// <reference types="@webgpu/types" />
// The webgpu backend in Node: loads Dawn (the npm package `webgpu`, a devDependency/optional) and
// creates one backend per process. When no adapter is found, VK_ICD_FILENAMES is unset and Debian's
// SwiftShader ICD exists, it retries on SwiftShader (a CPU Vulkan: correct, slow). Node-only.

import { existsSync } from 'node:fs';

import { createBackendOn, NO_ADAPTER_HELP, NoAdapterError } from './device.ts';
import type { WebGpuBackend } from './backend.ts';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let cached: Promise<WebGpuBackend> | null = null;
const gpuKeep: GPU[] = []; // dawn.node crashes when a GPU object is garbage-collected while a device lives

async function loadGpu(): Promise<() => GPU> {
  let mod: { create: (opts: string[]) => GPU; globals: object };
  try {
    mod = (await import('webgpu')) as unknown as typeof mod;
  } catch (e) {
    throw new NoAdapterError(`the npm package "webgpu" (Dawn for Node) is not installed (${e instanceof Error ? e.message : String(e)}): npm install webgpu; ${NO_ADAPTER_HELP}`);
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ...
  return () => {
    const gpu = mod.create([]);
    gpuKeep.push(gpu);
    return gpu;
  };
}

async function create(): Promise<WebGpuBackend> {
  const newGpu = await loadGpu();
  try {
    return await createBackendOn(newGpu());
  } catch (e) {
    if (!(e instanceof NoAdapterError) || process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) throw e;
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD; // read by the Vulkan loader when the next instance starts
    return createBackendOn(newGpu());
  }
}

/** The webgpu backend in Node, created once (throws NoAdapterError, saying what to install, when none). */
export function webgpuNodeBackend(): Promise<WebGpuBackend> {
  if (cached) return cached;
  cached = create();
  cached.catch(() => {
    cached = null;
  });
  return cached;
}

/** Whether a webgpu adapter is available here (false, with the reason, instead of throwing). */
export async function webgpuAvailability(): Promise<{ ok: true; backend: WebGpuBackend } | { ok: false; reason: string }> {
  try {
    return { ok: true, backend: await webgpuNodeBackend() };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

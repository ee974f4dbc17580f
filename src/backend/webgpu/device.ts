/// <reference types="@webgpu/types" />
// Getting a WebGPU device: from the browser's navigator.gpu, or in Node from a GPU object the caller
// supplies (src/backend/webgpu/node.ts loads Dawn's dawn.node). One backend per process is cached.
// Not here: Node-only loading (node.ts), kernels (backend.ts).

import { FinetuneError } from '../../errors.ts';
import { createWebGpuBackend, type WebGpuBackend } from './backend.ts';
import { GpuRuntime } from './runtime.ts';

/** Raised when no WebGPU adapter can be found; the message says how to get one. */
export class NoAdapterError extends FinetuneError {}

export const NO_ADAPTER_HELP =
  'no WebGPU adapter found. On Linux install a Vulkan driver (for a CPU fallback: apt-get install chromium libvulkan1, ' +
  'then set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json); in a browser enable WebGPU; or use --device cpu';

/** Creates the webgpu backend on the first adapter of `gpu` (throws NoAdapterError when there is none). */
export async function createBackendOn(gpu: GPU): Promise<WebGpuBackend> {
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new NoAdapterError(NO_ADAPTER_HELP);
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
    },
  });
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || 'unknown adapter';
  return createWebGpuBackend(new GpuRuntime(device, name, gpu));
}

let cached: Promise<WebGpuBackend> | null = null;

/** The browser's webgpu backend (navigator.gpu), created once. */
export function browserWebGpuBackend(): Promise<WebGpuBackend> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) return Promise.reject(new NoAdapterError(NO_ADAPTER_HELP));
  cached ??= createBackendOn(nav.gpu);
  return cached;
}

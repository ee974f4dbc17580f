// Device selection for Node entry points (the CLI, library users): 'cpu' is the native backend (or the
// reference one when the addon is missing), 'webgpu' the WGSL backend on the first adapter, 'auto'
// webgpu when an adapter exists, else cpu. Installs the choice as the default backend.
// Not here: the backends themselves; browsers call src/backend/webgpu/device.ts directly.

import { ConfigError } from '../errors.ts';
import { setDefaultBackend } from './default.ts';
import type { Backend } from './backend.ts';
import { nativeAvailable, nativeBackend } from './native.ts';
import { referenceBackend } from './reference.ts';

export type DeviceName = 'cpu' | 'webgpu' | 'auto';
export const DEVICES: readonly DeviceName[] = ['cpu', 'webgpu', 'auto'];

/**
 * Chooses and installs the compute backend for `device`; returns it and a line saying what was chosen.
 * @example const { backend } = await useDevice('auto'); // webgpu when an adapter exists
 */
export async function useDevice(device: DeviceName): Promise<{ backend: Backend; message: string }> {
  if (!DEVICES.includes(device)) throw new ConfigError('device', `"${String(device)}" is not one of ${DEVICES.join(', ')} (flag --device)`);
  const cpu = nativeAvailable() ? nativeBackend : referenceBackend;
  if (device === 'cpu') {
    setDefaultBackend(cpu);
    return { backend: cpu, message: `device: cpu (${cpu.name} backend)` };
  }
  const { webgpuNodeBackend } = await import('./webgpu/node.ts');
  try {
    const gpu = await webgpuNodeBackend();
    setDefaultBackend(gpu);
    return { backend: gpu, message: `device: webgpu (${gpu.runtime.adapterName})` };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    if (device === 'webgpu') throw new ConfigError('device', `--device webgpu: ${reason}`);
    setDefaultBackend(cpu);
    return { backend: cpu, message: `device: cpu (--device auto found no WebGPU adapter: ${reason})` };
  }
}

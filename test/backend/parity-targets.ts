// The backends the table-driven parity harness (parity-backends.test.ts) runs against the reference:
// native (when the addon is built) and webgpu (when an adapter is found), each with how to move
// buffers to it and back. Not a test file itself (no .test.ts suffix).

import type { Backend } from '../../src/backend/backend.ts';
import { nativeBackend } from '../../src/backend/native.ts';
import { webgpuAvailability } from '../../src/backend/webgpu/node.ts';
import { skipWithoutNative } from './parity-helpers.ts';

/** A backend under test and how to move buffers to it and back (identity for host backends). */
export interface Target {
  name: string;
  be: Backend;
  skip: string | false;
  /** A buffer on this backend holding a copy of `host`. */
  put<T extends Float32Array | Int32Array>(host: T): T;
  /** The elements of a buffer of this backend, on the host. */
  get<T extends Float32Array | Int32Array>(arr: T): Promise<T>;
}

/**
 * Every backend the parity table runs against the reference: native (when the addon is built) and
 * webgpu (when an adapter is found; on Linux without a GPU set VK_ICD_FILENAMES to SwiftShader's ICD
 * from Debian's chromium package, which the webgpu loader does by itself when the file exists).
 */
export async function parityTargets(): Promise<Target[]> {
  const gpu = await webgpuAvailability();
  const host = {
    put: <T extends Float32Array | Int32Array>(h: T): T => h.slice() as T,
    get: <T extends Float32Array | Int32Array>(a: T): Promise<T> => Promise.resolve(a),
  };
  const targets: Target[] = [{ name: 'native', be: nativeBackend, skip: skipWithoutNative(), ...host }];
  if (gpu.ok) {
    const mem = gpu.backend.memory!;
    targets.push({
      name: 'webgpu',
      be: gpu.backend,
      skip: false,
      put: <T extends Float32Array | Int32Array>(h: T): T => mem.upload(h.slice()) as T,
      get: async <T extends Float32Array | Int32Array>(a: T): Promise<T> => {
        await mem.download(a);
        return (a instanceof Int32Array ? Int32Array.from(a) : Float32Array.from(a)) as T;
      },
    });
  } else {
    targets.push({
      name: 'webgpu',
      be: nativeBackend,
      skip: `no WebGPU adapter (${gpu.reason}); to run: apt-get install chromium libvulkan1 (SwiftShader), or set VK_ICD_FILENAMES to a Vulkan ICD`,
      ...host,
    });
  }
  return targets;
}

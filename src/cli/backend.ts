// Chooses the compute backend and thread count for a CLI run, and says so when the native addon is
// missing (training then runs on the slow reference backend).

import { nativeAvailable, nativeBackend, nativeLoadError, referenceBackend, setNumThreads } from '../backend/index.ts';
import { setDefaultBackend } from '../tensor/index.ts';
import { useDevice, type DeviceName } from '../backend/select.ts';
import { ConfigError } from '../errors.ts';

/** Commands whose host reads are not asynchronous yet: they refuse --device webgpu instead of failing midway. */
const CPU_ONLY = new Set(['predict', 'serve', 'generate', 'search', 'export']);

/** Applies --device (after --backend/--threads): webgpu or auto installs the WebGPU backend when possible. */
export async function setupDevice(device: DeviceName, command: string): Promise<void> {
  const { backend, message } = await useDevice(device);
  if (backend.name === 'webgpu' && CPU_ONLY.has(command)) {
    if (device === 'webgpu') throw new ConfigError('device', `\`finetune ${command}\` does not run on --device webgpu yet (it reads results synchronously); use --device cpu`);
    await useDevice('cpu');
    process.stderr.write(`device: cpu (\`finetune ${command}\` does not run on webgpu yet)\n`);
    return;
  }
  process.stderr.write(`${message}\n`);
}

export function setupBackend(name: string, threads?: number): void {
  if (name === 'reference') {
    setDefaultBackend(referenceBackend);
    return;
  }
  if (!nativeAvailable()) {
    process.stderr.write(
      `warning: the native addon did not load (${nativeLoadError() ?? 'unknown reason'}); using the slow reference backend. ` +
        'Rebuild it with `npm rebuild` (needs g++ and python3; libopenblas-dev makes it faster).\n',
    );
    setDefaultBackend(referenceBackend);
    return;
  }
  setDefaultBackend(nativeBackend);
  if (threads !== undefined && Number.isInteger(threads) && threads > 0) setNumThreads(threads);
}

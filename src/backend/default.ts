// Which backend new tensors use. The default is the native backend when its addon loads, else the
// reference backend; callers (the CLI, tests, benchmarks) may switch it. No environment variables are
// read here: the entry points decide.

import type { Backend } from './backend.ts';
import { referenceBackend } from './reference.ts';

let defaultBackend: Backend | null = null;
let nativeLoader: (() => Backend | null) | null = null;

/** Installs a lazy loader for the native backend (src/backend/index.ts does this). */
export function registerNativeLoader(loader: () => Backend | null): void {
  nativeLoader = loader;
}

export function getDefaultBackend(): Backend {
  if (defaultBackend === null) defaultBackend = nativeLoader?.() ?? referenceBackend;
  return defaultBackend;
}

export function setDefaultBackend(backend: Backend): void {
  defaultBackend = backend;
}

/** Runs fn with `backend` as the default, restoring the previous default afterwards. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const prev = defaultBackend;
  defaultBackend = backend;
  try {
    return fn();
  } finally {
    defaultBackend = prev;
  }
}

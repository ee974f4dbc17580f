// Chooses the compute backend and thread count for a CLI run, and says so when the native addon is
// missing (training then runs on the slow reference backend).

import { nativeAvailable, nativeBackend, nativeLoadError, referenceBackend, setNumThreads } from '../backend/index.ts';
import { setDefaultBackend } from '../tensor/index.ts';

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

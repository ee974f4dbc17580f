// Backend selection: installs the native backend (C++ addon) as the default when it loads, so
// `import '../backend/index.ts'` once at an entry point is all it takes. The reference backend stays
// available for float64 and for checking.

import { registerNativeLoader } from './default.ts';
import { loadNativeBackend } from './native.ts';

registerNativeLoader(loadNativeBackend);

export { referenceBackend } from './reference.ts';
export { nativeBackend, nativeAvailable, nativeLoadError, nativeBuildInfo, setNumThreads, getNumThreads } from './native.ts';

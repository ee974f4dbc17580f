// Public entry point of the Hub layer: resolve a model id or local path to a folder, plus the
// settings and cache helpers callers may need. Not here: implementation (resolve.ts, http.ts, cache.ts).

export { resolveModel, MODEL_SIDE_FILES, type ResolveOptions, type ResolveProgress } from './resolve.ts';
export {
  hubSettingsFromEnv, repoCacheFolder, findCompleteSnapshot, isCompleteSnapshot, validateRepoId, type HubSettings,
} from './cache.ts';

// Public API of the inference server: startServer / installSignalHandlers, their options and the
// --help description, plus the micro-batcher and the generation worker for embedding elsewhere. Not here: CLI flag parsing (src/cli/).

export { startServer, installSignalHandlers, SERVE_DESCRIPTION, type ServeOptions, type RunningServer } from './server.ts';
export { MicroBatcher, QueueFullError, TimeoutError, ShuttingDownError, type BatcherOptions } from './batcher.ts';
export { ServerMetrics } from './metrics.ts';
export { GenerationWorker, GenerationFailedError } from './generator.ts';

// Entry point of the server's generation worker thread: loads the model folder as a text-generation
// TextPipeline (the native backend when its addon loads) and runs the prepared jobs that
// GenerationWorker (generator.ts) posts, one at a time, answering each with its outputs or a serialised
// error. Decoding here keeps the server's event loop (and so /health) free during long generations.
// Not here: request validation (done on the server's thread), queueing and timeouts (batcher.ts), HTTP.

import { parentPort, workerData } from 'node:worker_threads';
import { nativeAvailable, setNumThreads } from '../backend/index.ts';
import { TextPipeline } from '../inference/pipeline.ts';
import type { FromWorker, ToWorker, WorkerInit } from './generator.ts';

function serialise(err: unknown): { name: string; message: string } {
  return err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('generation-worker.ts runs as a worker thread (see GenerationWorker in generator.ts)');
  const init = workerData as WorkerInit;
  const send = (m: FromWorker) => port.postMessage(m);
  if (init.numThreads !== undefined && nativeAvailable()) setNumThreads(init.numThreads); // OpenMP settings are per thread
  let pipe: TextPipeline;
  try {
    pipe = await TextPipeline.load(init.modelDir, { ...init.options, warn: (line) => send({ type: 'log', line }) });
  } catch (err) {
    send({ type: 'load-failed', error: serialise(err) });
    return;
  }
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'run') return;
    try {
      send({ type: 'done', id: m.id, outputs: pipe.generate(m.job, { deadline: m.deadline }) });
    } catch (err) {
      send({ type: 'failed', id: m.id, error: serialise(err) });
    }
  });
  send({ type: 'ready' });
}

void main();

// The HTTP inference service (fastify): POST /v1/predict runs a model folder's pipeline with dynamic
// micro-batching (encoder tasks) or, for text-generation, one request at a time in a worker thread;
// GET /health, /ready and /metrics (Prometheus) for operations. Limits on body size, text length, items
// per request, new tokens, queue length and time per request; optional bearer token; binds 127.0.0.1 by
// default; graceful close finishes in-flight requests. Every error is a JSON body {error: {code,
// message, field?}} with a 4xx/5xx status. Not here: the pipelines (src/inference/), batching
// (batcher.ts), the generation thread (generator.ts), metric definitions (metrics.ts), CLI flags (src/cli/).

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, resolve } from 'node:path';
import { installBodyChecks } from './body.ts';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
// The server is an entry point: use the native backend when its addon loads (the reference one otherwise).
import { nativeAvailable, setNumThreads } from '../backend/index.ts';
import { setPoolLimit, trimPool } from '../tensor/memory.ts';
import { ConfigError, FinetuneError, ModelError } from '../errors.ts';
import type { TaskName } from '../models/types.ts';
import { isRecord } from '../inference/parse.ts';
import { DEFAULT_MAX_NEW_TOKENS_LIMIT, DEFAULT_MAX_TEXT_LENGTH, RequestPreparer, TextPipeline, type PipelineOptions, type PreparedRequest } from '../inference/pipeline.ts';
import { PIPELINE_TASK_NAMES, isGenerationHandler } from '../inference/tasks/index.ts';
import { PipelineInputError, type GenerationJob, type PipelineOutput, type RowOutput } from '../inference/types.ts';
import type { EncodeResult } from '../tokenizers/index.ts';
import { MicroBatcher, QueueFullError, ShuttingDownError, TimeoutError } from './batcher.ts';
import { GenerationFailedError, GenerationWorker } from './generator.ts';
import { ServerMetrics } from './metrics.ts';

/** Options of {@link startServer} (CLI flags map 1:1). */
export interface ServeOptions {
  /** Interface to bind (default 127.0.0.1; "0.0.0.0" exposes the service to the network). */
  host?: string;
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Task to serve; default: the one the folder's config.json names. */
  task?: TaskName;
  /**
   * Most model rows per forward pass (default 32). text-generation ignores it (and maxWaitMs): it runs one
   * request at a time, that request's prompts decoded together as one left-padded batch, so a request's
   * output never depends on other traffic (a seed reproduces it; greedy equals TextPipeline.run).
   */
  maxBatchSize?: number;
  /** Longest wait for a fuller batch, ms (default 5). */
  maxWaitMs?: number;
  /** Most predict requests waiting; beyond it: 503 + Retry-After (default 256). */
  maxQueue?: number;
  /** Largest request body, bytes (default 1 MiB). */
  bodyLimit?: number;
  /** Longest text, characters (default 20,000). */
  maxTextLength?: number;
  /** Most inputs in one request (default 64). */
  maxItemsPerRequest?: number;
  /** Time allowed per predict request, ms (default 30,000); beyond it: 504 (a generation stops at its next token). */
  timeoutMs?: number;
  /** Time a client has to send all request headers, ms (default 10,000); beyond it the connection is closed. */
  headersTimeoutMs?: number;
  /** Time a client has to send the whole request (headers and body), ms (default 30,000): slow bodies are cut. */
  requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, ms (default 5,000). */
  keepAliveTimeoutMs?: number;
  /** Most open connections; beyond it new ones are closed at once (default 512, or less under a lower `ulimit -n`). */
  maxConnections?: number;
  /** text-generation: the most new tokens a request may ask for with parameters.max_new_tokens (default 256). */
  maxNewTokens?: number;
  /** A LoRA adapter folder (PEFT layout) applied on top of the model. */
  adapter?: string;
  /** When set, /v1/predict and /metrics need `Authorization: Bearer <token>`. */
  token?: string;
  /** Threads of the native kernels (default: the backend's own choice). 1 often serves small models best. */
  numThreads?: number;
  /** Log lines (start, stop, server errors); default: none. */
  log?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  host: string;
  port: number;
  task: TaskName;
  /** Validation and tokenization of requests (on the server's thread). */
  requests: RequestPreparer;
  /** The in-process pipeline; null for text-generation, whose model lives in a worker thread. */
  pipeline: TextPipeline | null;
  app: FastifyInstance;
  /** Stops accepting connections, finishes in-flight requests, frees the model. Idempotent. */
  close(): Promise<void>;
}

/** Human-readable description for `finetune serve --help`. */
export const SERVE_DESCRIPTION =
  'Serve a model folder over HTTP. POST /v1/predict with {"inputs": <item or list>, "parameters": {...}} returns ' +
  '{"task", "model", "outputs": [...]} in Hugging Face pipeline shapes: text-classification {label, score, scores} ' +
  '(items: "text" or {"text", "text_pair"}), token-classification entities with character spans ' +
  '(parameters.aggregation_strategy: none|simple|first|average|max), question-answering {score, start, end, answer} ' +
  '(items: {"question", "context"}), fill-mask candidates, feature-extraction embeddings, text-generation ' +
  '[{generated_text, finish_reason}] (items: a prompt, or a chat as a list of {"role", "content"} messages when the ' +
  'tokenizer has a chat template; parameters: max_new_tokens, do_sample, temperature, top_k, top_p, ' +
  'repetition_penalty, seed, stop, return_full_text). GET /health, /ready, /metrics (Prometheus). Concurrent ' +
  'requests share forward passes (micro-batching); text-generation runs one request at a time (its prompts as one ' +
  'batch) in a worker thread, so /health stays responsive. A full queue answers 503 with Retry-After. Binds ' +
  '127.0.0.1 unless --host says otherwise; SIGTERM/SIGINT finish in-flight requests, then exit.';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatchSize: 32,
  maxWaitMs: 5,
  maxQueue: 256,
  bodyLimit: 1024 * 1024,
  maxTextLength: DEFAULT_MAX_TEXT_LENGTH,
  maxItemsPerRequest: 64,
  timeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxNewTokens: DEFAULT_MAX_NEW_TOKENS_LIMIT,
} as const;

/** The soft limit on open files (Linux /proc/self/limits; null elsewhere), so the connection cap fits under it. */
function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Default connection cap: 512, but below `ulimit -n` (64 descriptors kept for the process's own files),
 * so a flood of idle or half-sent connections is refused at the cap instead of exhausting descriptors.
 */
function defaultMaxConnections(): number {
  const limit = openFileLimit();
  return limit === null ? 512 : Math.max(8, Math.min(512, limit - 64));
}

function checkInt(key: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(key, `must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/** JSON error body. */
function sendError(reply: FastifyReply, status: number, code: string, message: string, field?: string): FastifyReply {
  return reply.code(status).type('application/json; charset=utf-8').send({ error: field === undefined ? { code, message } : { code, message, field } });
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Maps fastify's own errors (body parsing, limits, media type) to a status, code and message. */
function describeFastifyError(err: { code?: string; statusCode?: number; message: string }, bodyLimit: number): [number, string, string] {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [413, 'body_too_large', `the request body is larger than ${bodyLimit} bytes`];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json'];
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, 'invalid_json', 'the body is empty; send {"inputs": ...}'];
    case 'FT_UNSUPPORTED_CHARSET':
    case 'FT_UNSUPPORTED_ENCODING':
      return [415, 'unsupported_media_type', err.message];
    case 'FT_INVALID_UTF8':
      return [400, 'invalid_utf8', err.message];
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return [400, 'bad_request', 'the Content-Length header does not match the body'];
    default:
      if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return [400, 'invalid_json', `the body is not valid JSON: ${err.message}`];
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return [err.statusCode, 'bad_request', err.message];
      return [500, 'internal_error', 'internal server error'];
  }
}

/**
 * Loads `modelDir` and starts serving it. Rejects (without listening) when the folder cannot be
 * loaded, with a ModelError/ConfigError saying what is wrong.
 *
 * @example
 * const server = await startServer('runs/sst2/best', { port: 8080 });
 * // curl -s localhost:8080/v1/predict -H 'content-type: application/json' -d '{"inputs": ["great film"]}'
 * await server.close();
 */
export async function startServer(modelDir: string, options: ServeOptions = {}): Promise<RunningServer> {
  const o: Required<Omit<ServeOptions, 'task' | 'token' | 'log' | 'numThreads' | 'adapter'>> & ServeOptions = {
    ...DEFAULTS,
    maxConnections: defaultMaxConnections(),
    ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ServeOptions),
  };
  checkInt('port', o.port, 0, 65535);
  checkInt('maxBatchSize', o.maxBatchSize, 1, 4096);
  checkInt('maxWaitMs', o.maxWaitMs, 0, 60_000);
  checkInt('maxQueue', o.maxQueue, 1);
  checkInt('bodyLimit', o.bodyLimit, 1024);
  checkInt('maxTextLength', o.maxTextLength, 1);
  checkInt('maxItemsPerRequest', o.maxItemsPerRequest, 1);
  checkInt('timeoutMs', o.timeoutMs, 1);
  checkInt('maxNewTokens', o.maxNewTokens, 1, 1_000_000);
  checkInt('headersTimeoutMs', o.headersTimeoutMs, 100, 3_600_000);
  checkInt('requestTimeoutMs', o.requestTimeoutMs, 100, 3_600_000);
  checkInt('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 0, 3_600_000);
  checkInt('maxConnections', o.maxConnections, 1, 1_000_000);
  if (o.headersTimeoutMs > o.requestTimeoutMs) throw new ConfigError('headersTimeoutMs', `(--header-timeout-ms ${o.headersTimeoutMs}) must not exceed --request-timeout-ms (${o.requestTimeoutMs})`);
  if (typeof o.host !== 'string' || o.host === '') throw new ConfigError('host', 'must be an interface address such as 127.0.0.1');
  if (o.token !== undefined && o.token.length < 8) throw new ConfigError('token', 'a bearer token needs at least 8 characters');
  const log = o.log ?? (() => undefined);
  if (o.numThreads !== undefined) {
    checkInt('numThreads', o.numThreads, 1, 1024);
    if (nativeAvailable()) setNumThreads(o.numThreads);
  }

  const pipelineOptions: PipelineOptions = {
    maxTextLength: o.maxTextLength,
    maxItems: o.maxItemsPerRequest,
    maxNewTokens: o.maxNewTokens,
    ...(o.task !== undefined ? { task: o.task } : {}),
    ...(o.adapter !== undefined ? { adapter: o.adapter } : {}),
  };
  let requests: RequestPreparer;
  let pipe: TextPipeline | null = null;
  let worker: GenerationWorker | null = null;
  try {
    requests = await RequestPreparer.load(modelDir, pipelineOptions);
    if (isGenerationHandler(requests.handler)) {
      // Decoding runs for seconds: off this thread, so /health, /metrics and 4xx answers never wait for it.
      worker = await GenerationWorker.start(modelDir, { options: { ...pipelineOptions, task: requests.task }, ...(o.numThreads !== undefined ? { numThreads: o.numThreads } : {}) }, log);
    } else {
      pipe = await TextPipeline.withModel(requests, { warn: log, ...pipelineOptions });
    }
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof FinetuneError) throw new ModelError(`cannot serve ${modelDir}: ${msg}`, { cause: err });
    throw new ModelError(`cannot serve ${modelDir}: unexpected error while loading: ${msg}`, { cause: err });
  }
  const task = requests.task;
  const modelName = basename(resolve(modelDir));
  // The tensor buffer pool keeps at most twice the model's size in free buffers (plus 64 MiB), and is
  // emptied when the server has been idle for a while, so resident memory follows the load, not its history.
  if (pipe !== null) setPoolLimit(2 * 4 * pipe.model.numParameters() + 64 * 2 ** 20);
  let idleTimer: NodeJS.Timeout | null = null;
  const IDLE_TRIM_MS = 2000;
  const armIdleTrim = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      if ((rowBatcher ?? genBatcher)!.depth === 0) trimPool();
    }, IDLE_TRIM_MS);
    idleTimer.unref();
  };
  const metrics = new ServerMetrics(() => (rowBatcher ?? genBatcher)!.depth);
  const batchOptions = { maxQueue: o.maxQueue, timeoutMs: o.timeoutMs };
  const rowBatcher: MicroBatcher<EncodeResult, RowOutput> | null =
    pipe === null
      ? null
      : new MicroBatcher((rows) => pipe.forward(rows), {
          ...batchOptions,
          maxBatchSize: o.maxBatchSize,
          maxWaitMs: o.maxWaitMs,
          onBatch: ({ rows, seconds }) => {
            metrics.batchSize.observe(rows);
            metrics.batchSeconds.observe(seconds);
            armIdleTrim();
          },
        });
  // text-generation: one request per "batch" (its prompts decode together, left-padded, exactly as
  // TextPipeline.run would); the batcher supplies the bounded queue, timeouts and draining.
  const genBatcher: MicroBatcher<{ job: GenerationJob; deadline: number }, PipelineOutput[]> | null =
    worker === null
      ? null
      : new MicroBatcher(
          async ([r]) => {
            metrics.batchSize.observe(r!.job.items.length);
            return [await worker.run(r!.job, r!.deadline)];
          },
          { ...batchOptions, maxBatchSize: 1, maxWaitMs: 0, onBatch: ({ seconds }) => metrics.batchSeconds.observe(seconds) },
        );
  const depth = (): number => (rowBatcher ?? genBatcher)!.depth;
  const tokenDigest = o.token === undefined ? null : digest(o.token);
  let closing = false;

  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Our own http.Server: fastify's defaults (no timeouts, 30 s checks) let slow or half-sent requests hold
    // connections forever; here headers, whole requests and idle keep-alives are bounded, checked every second.
    serverFactory: (handler) => {
      const server = createServer(
        { headersTimeout: o.headersTimeoutMs, requestTimeout: o.requestTimeoutMs, keepAliveTimeout: o.keepAliveTimeoutMs, connectionsCheckingInterval: Math.min(1000, o.headersTimeoutMs) },
        handler,
      );
      server.maxConnections = o.maxConnections;
      return server;
    },
  });
  installBodyChecks(app, o.bodyLimit);

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    const [status, code, message] = describeFastifyError(err, o.bodyLimit);
    if (status >= 500) log(`error: ${err.stack ?? err.message}`);
    return sendError(reply, status, code, message);
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url}; use POST /v1/predict, GET /health, /ready or /metrics`));

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (tokenDigest === null || req.url === '/health' || req.url === '/ready') return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(h);
    if (!m || !timingSafeEqual(digest(m[1]!.trim()), tokenDigest)) {
      reply.header('WWW-Authenticate', 'Bearer');
      return sendError(reply, 401, 'unauthorized', 'send Authorization: Bearer <token> (the token the server was started with)');
    }
  });
  // While closing, answer with Connection: close so keep-alive clients do not hold the server open.
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_req, reply) => {
    if (closing) return sendError(reply, 503, 'shutting_down', 'the server is shutting down');
    if (worker !== null && !worker.ready) return sendError(reply, 503, 'not_ready', 'the generation worker is (re)loading the model; retry shortly');
    return { status: 'ready', task, model: modelName, queue_depth: depth() };
  });
  app.get('/metrics', async (_req, reply) => {
    const { contentType, body } = await metrics.render();
    return reply.type(contentType).send(body);
  });

  app.post('/v1/predict', async (req: FastifyRequest, reply: FastifyReply) => {
    const body = req.body;
    if (typeof body === 'string') return sendError(reply, 415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
    if (!isRecord(body)) return sendError(reply, 400, 'bad_request', 'the body must be a JSON object: {"inputs": <item or list>, "parameters": {...}}');
    for (const k of Object.keys(body)) {
      if (k !== 'inputs' && k !== 'parameters' && k !== 'task') return sendError(reply, 400, 'bad_request', 'unknown field; allowed: inputs, parameters, task', k);
    }
    const asked = body['task'];
    if (asked !== undefined) {
      if (typeof asked !== 'string') return sendError(reply, 400, 'bad_request', 'expected a task name string', 'task');
      if (!(PIPELINE_TASK_NAMES as string[]).includes(asked)) {
        return sendError(reply, 400, 'unknown_task', `unknown task "${asked}"; known tasks: ${PIPELINE_TASK_NAMES.join(', ')}`, 'task');
      }
      if (asked !== task) return sendError(reply, 400, 'wrong_task', `this server serves ${task}, not ${asked}`, 'task');
    }
    let prepared: PreparedRequest;
    try {
      prepared = await requests.prepareAsync(body['inputs'], body['parameters']); // yields between items: /health stays responsive
    } catch (err) {
      if (err instanceof PipelineInputError) return sendError(reply, 400, 'invalid_input', err.message, err.field);
      throw err;
    }
    try {
      const outputs =
        prepared.kind === 'generation'
          ? (await genBatcher!.submit([{ job: prepared.job, deadline: Date.now() + o.timeoutMs }]))[0]!
          : prepared.finish(await rowBatcher!.submit(prepared.rows));
      return { task, model: modelName, outputs };
    } catch (err) {
      if (err instanceof QueueFullError) {
        metrics.rejected.inc({ reason: 'queue_full' });
        reply.header('Retry-After', '1');
        return sendError(reply, 503, 'queue_full', err.message);
      }
      if (err instanceof ShuttingDownError) {
        metrics.rejected.inc({ reason: 'shutting_down' });
        reply.header('Retry-After', '5');
        return sendError(reply, 503, 'shutting_down', err.message);
      }
      if (err instanceof TimeoutError) {
        metrics.rejected.inc({ reason: 'timeout' });
        return sendError(reply, 504, 'timeout', err.message);
      }
      if (err instanceof GenerationFailedError || err instanceof ModelError) {
        log(`error: ${err.message}`);
        return sendError(reply, 500, 'generation_failed', err.message);
      }
      throw err;
    }
  });

  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (err) {
    pipe?.dispose();
    await worker?.close();
    throw new ConfigError('port', `cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : o.port;
  const hostForUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `http://${hostForUrl}:${port}`;
  log(`serving ${modelDir} (${task}) at ${url}`);

  let closed: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      log('shutting down: finishing in-flight requests');
      const stopped = app.close();
      await (rowBatcher ?? genBatcher)!.drain();
      // Connections that went idle after their last in-flight response would otherwise wait out keep-alive.
      app.server.closeIdleConnections();
      await stopped;
      if (idleTimer) clearTimeout(idleTimer);
      pipe?.dispose();
      await worker?.close();
      log('stopped');
    })();
    return closed;
  };
  return { url, host: o.host, port, task, requests, pipeline: pipe, app, close };
}

/**
 * Closes `server` on SIGTERM or SIGINT (finishing in-flight requests); a second signal exits at once.
 * Returns a function that removes the handlers.
 *
 * @example const off = installSignalHandlers(server, console.log);
 */
export function installSignalHandlers(server: RunningServer, log: (line: string) => void = () => undefined): () => void {
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count += 1;
    if (count > 1) {
      log(`${sig} again: exiting now`);
      process.exit(1);
    }
    log(`${sig}: closing`);
    server.close().then(
      () => {
        process.exitCode = 0;
        setTimeout(() => process.exit(0), 1000).unref();
      },
      (err: unknown) => {
        log(`error while closing: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

// Prometheus metrics of the inference server (prom-client, a private registry per server): requests by
// route and status, request latency, forward-pass batch sizes and durations, queue depth, rejections,
// and resident memory. Rendered as Prometheus text by GET /metrics. Not here: HTTP routing (server.ts).

import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's metric set; `render()` gives the Prometheus text exposition. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly batchSize: Histogram;
  readonly batchSeconds: Histogram;
  readonly rejected: Counter<'reason'>;

  constructor(queueDepth: () => number) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'finetune_http_requests_total',
      help: 'HTTP requests by route and status code',
      labelNames: ['route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'finetune_http_request_duration_seconds',
      help: 'Time from request arrival to response, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.batchSize = new Histogram({
      name: 'finetune_batch_size',
      help: 'Model rows per forward pass (rows from concurrent requests are batched together)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.batchSeconds = new Histogram({
      name: 'finetune_forward_duration_seconds',
      help: 'Duration of one batched forward pass',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.rejected = new Counter({
      name: 'finetune_rejected_requests_total',
      help: 'Predict requests refused before running: queue_full, timeout, shutting_down',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'finetune_queue_depth',
      help: 'Predict requests waiting for a forward pass',
      registers,
      collect() {
        this.set(queueDepth());
      },
    });
    new Gauge({
      name: 'finetune_process_resident_memory_bytes',
      help: 'Resident set size of the server process',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  /** Prometheus text format (version 0.0.4). */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

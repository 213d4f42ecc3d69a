/**
 * The operator's Prometheus metrics (controller-runtime names for the runtime, sipflow_operator_*
 * for the config it produces) on its own registry, and the HTTP server for /metrics, /healthz
 * and /readyz.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReconcileMetrics } from './runtime/controller.js';
import type { InformerMetrics } from './runtime/informer.js';
import type { WorkQueueMetrics } from './runtime/workqueue.js';

export interface ConfigSummary {
  generation: string;
  applications: number;
  bytes: number;
  routingShards: number;
  credentialShards: number;
}

export class OperatorMetrics implements WorkQueueMetrics, ReconcileMetrics, InformerMetrics {
  readonly registry = new Registry();
  private readonly reconcileTotal: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;
  private readonly wqDepth: Gauge<'name'>;
  private readonly wqAdds: Counter<'name'>;
  private readonly wqRetries: Counter<'name'>;
  private readonly wqQueueDuration: Histogram<'name'>;
  private readonly generationInfo: Gauge<'generation'>;
  private readonly applications: Gauge;
  private readonly bytes: Gauge;
  private readonly shards: Gauge<'kind'>;
  private readonly leaderGauge: Gauge;
  private readonly informerRestarts: Counter<'resource' | 'cause'>;
  private readonly writes: Counter<'kind' | 'verb'>;
  private readonly events: Counter<'outcome'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Reconciliations per controller and result.', labelNames: ['controller', 'result'], registers });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Reconciliations that failed.', labelNames: ['controller'], registers });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds', help: 'Time per reconciliation.', labelNames: ['controller'], registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    });
    this.wqDepth = new Gauge({ name: 'workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['name'], registers });
    this.wqAdds = new Counter({ name: 'workqueue_adds_total', help: 'Keys added to the work queue.', labelNames: ['name'], registers });
    this.wqRetries = new Counter({ name: 'workqueue_retries_total', help: 'Keys re-queued after a failure.', labelNames: ['name'], registers });
    this.wqQueueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds', help: 'Time a key waits in the queue before a worker takes it.', labelNames: ['name'], registers,
      buckets: [0.001, 0.01, 0.1, 1, 10, 100, 1000],
    });
    this.generationInfo = new Gauge({ name: 'sipflow_operator_config_generation_info', help: 'The config generation last written (value 1).', labelNames: ['generation'], registers });
    this.applications = new Gauge({ name: 'sipflow_operator_config_applications', help: 'SipApplications served by the current config.', registers });
    this.bytes = new Gauge({ name: 'sipflow_operator_config_bytes', help: 'Bytes of the current config (index plus shards).', registers });
    this.shards = new Gauge({ name: 'sipflow_operator_config_shards', help: 'Shards of the current config.', labelNames: ['kind'], registers });
    this.leaderGauge = new Gauge({ name: 'sipflow_operator_leader', help: '1 while this instance is the leader (or runs without election).', registers });
    this.informerRestarts = new Counter({ name: 'sipflow_operator_informer_restarts_total', help: 'Informer restarts after an error or a silent watch.', labelNames: ['resource', 'cause'], registers });
    this.writes = new Counter({ name: 'sipflow_operator_api_writes_total', help: 'Writes the operator made to the API.', labelNames: ['kind', 'verb'], registers });
    this.events = new Counter({
      name: 'sipflow_operator_events_total',
      help: 'Kubernetes Events by outcome: sent, failed, dropped (queue full or cleared), folded (into an identical queued one).',
      labelNames: ['outcome'], registers,
    });
  }

  // ReconcileMetrics
  reconciled(controller: string, result: 'success' | 'error' | 'requeue_after', seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }
  // WorkQueueMetrics
  depth(name: string, depth: number): void { this.wqDepth.set({ name }, depth); }
  add(name: string): void { this.wqAdds.inc({ name }); }
  retry(name: string): void { this.wqRetries.inc({ name }); }
  queueDuration(name: string, seconds: number): void { this.wqQueueDuration.observe({ name }, seconds); }
  // InformerMetrics
  restart(resource: string, cause: 'error' | 'watchdog'): void { this.informerRestarts.inc({ resource, cause }); }

  wrote(kind: string, verb: 'apply' | 'delete' | 'status'): void { this.writes.inc({ kind, verb }); }
  // EventMetrics
  event(outcome: 'sent' | 'failed' | 'dropped' | 'folded', count = 1): void { this.events.inc({ outcome }, count); }
  setLeader(leading: boolean): void { this.leaderGauge.set(leading ? 1 : 0); }
  setConfig(c: ConfigSummary): void {
    this.generationInfo.reset();
    this.generationInfo.set({ generation: c.generation }, 1);
    this.applications.set(c.applications);
    this.bytes.set(c.bytes);
    this.shards.set({ kind: 'routing' }, c.routingShards);
    this.shards.set({ kind: 'credentials' }, c.credentialShards);
  }
}

export interface ProbeResult { ok: boolean; detail: string }

export interface ProbeServerOptions {
  host: string;
  port: number;
  metrics: OperatorMetrics;
  healthz: () => ProbeResult;
  readyz: () => ProbeResult;
}

export interface ProbeServer {
  server: Server;
  /** host:port actually bound (port 0 picks one). */
  address: string;
  close(): Promise<void>;
}

export async function startProbeServer(opts: ProbeServerOptions): Promise<ProbeServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      opts.metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end('metrics collection failed\n'),
      );
      return;
    }
    const probe = path === '/healthz' || path === '/livez' ? opts.healthz : path === '/readyz' ? opts.readyz : undefined;
    if (!probe) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const r = probe();
    res.writeHead(r.ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' }).end(`${r.ok ? 'ok' : 'not ok'}: ${r.detail}\n`);
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * The media pod's HTTP side: /metrics for Prometheus, /healthz (the process and its event
 * loop are alive) and /readyz (config loaded, SIP listening, not draining), which is what
 * Kubernetes and a SIP load balancer act on.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface ProbeState {
  /** Null when ready; otherwise why not, for the probe body. */
  notReadyReason(): string | null;
  /** Null when healthy; otherwise why not. */
  unhealthyReason(): string | null;
}

export interface StatusHttpServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

export async function startStatusHttpServer(host: string, port: number, registry: Registry, probes: ProbeState): Promise<StatusHttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/healthz') {
      const why = probes.unhealthyReason();
      return why ? send(503, `unhealthy: ${why}\n`) : send(200, 'ok\n');
    }
    if (path === '/readyz') {
      const why = probes.notReadyReason();
      return why ? send(503, `not ready: ${why}\n`) : send(200, 'ready\n');
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, text, registry.contentType),
        (err: unknown) => send(500, `metrics failed: ${(err as Error).message}\n`),
      );
      return;
    }
    send(404, 'not found\n');
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 10000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

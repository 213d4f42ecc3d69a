/**
 * A scripted fake API server on 127.0.0.1 in the style of kube-rs's ApiServerVerifier: the test
 * lists the HTTP calls it expects, in order, with their answers; any other call fails the test.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: unknown;
}

export interface Expectation {
  method: string;
  path: string;
  /** Extra assertions on the request; throw to fail. */
  check?: (req: SeenRequest) => void;
  status?: number;
  /** Response body; default echoes the request body (what SSA returns, near enough). */
  respond?: (req: SeenRequest) => unknown;
}

export class ApiServerVerifier {
  readonly seen: SeenRequest[] = [];
  readonly failures: string[] = [];
  private expected: Expectation[] = [];
  private server: Server | undefined;
  private url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(({ status, body }) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((r) => {
      s.close(() => r());
      s.closeAllConnections();
    });
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-real-token' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  expect(...e: Expectation[]): void { this.expected.push(...e); }

  /** Every expected call happened and nothing else did. */
  verify(): void {
    const left = this.expected.map((e) => `${e.method} ${e.path}`);
    if (this.failures.length || left.length) {
      throw new Error(`API verifier: ${[...this.failures, ...left.map((l) => `expected but not seen: ${l}`)].join('; ')}`);
    }
  }

  calls(): string[] { return this.seen.map((s) => `${s.method} ${s.path}`); }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown }> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://x');
    const seen: SeenRequest = {
      method: req.method ?? '', path: u.pathname, query: u.searchParams,
      contentType: String(req.headers['content-type'] ?? ''), body: text ? (JSON.parse(text) as unknown) : undefined,
    };
    this.seen.push(seen);
    const next = this.expected.shift();
    if (!next || next.method !== seen.method || next.path !== seen.path) {
      this.failures.push(`unexpected ${seen.method} ${seen.path}${next ? ` (expected ${next.method} ${next.path})` : ''}`);
      return { status: 500, body: { kind: 'Status', status: 'Failure', message: 'unexpected request', code: 500 } };
    }
    try {
      next.check?.(seen);
    } catch (e) {
      this.failures.push(`${seen.method} ${seen.path}: ${(e as Error).message}`);
    }
    const status = next.status ?? 200;
    const body = next.respond
      ? next.respond(seen)
      : status >= 400
        ? { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: status, message: 'scripted failure' }
        : seen.body === undefined ? { kind: 'Status', apiVersion: 'v1', status: 'Success' } : withRv(seen.body);
    return { status, body };
  }
}

let rv = 1000;
function withRv(body: unknown): unknown {
  if (!body || typeof body !== 'object') return body;
  const b = body as { metadata?: Record<string, unknown> };
  return { ...b, metadata: { ...b.metadata, resourceVersion: String(++rv) } };
}

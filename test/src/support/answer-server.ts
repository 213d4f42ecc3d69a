/**
 * A real HTTP answer server for tests: each route returns XML (built by the test, usually with
 * Plivo's own SDK) and every request is recorded with its parameters and headers, so tests can
 * assert what the media pod sent to answer_url, hangup_url and action URLs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  path: string;
  method: string;
  params: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export type RouteHandler = (req: RecordedRequest) => { status?: number; body: string; contentType?: string; delayMs?: number } | Promise<{ status?: number; body: string; contentType?: string; delayMs?: number }>;

export interface TestAnswerServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Sets what a path answers. Unknown paths answer 200 "ok". */
  route(path: string, handler: RouteHandler | string): void;
  /** Resolves with the first recorded request on `path` matching `pred` (bounded wait). */
  waitFor(path: string, pred?: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export async function startTestAnswerServer(): Promise<TestAnswerServer> {
  const requests: RecordedRequest[] = [];
  const routes = new Map<string, RouteHandler>();
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://test');
      const params: Record<string, string> = Object.fromEntries(url.searchParams);
      let body = '';
      for await (const chunk of req) { body += chunk; if (body.length > 1 << 20) break; }
      if (req.method === 'POST') for (const [k, v] of new URLSearchParams(body)) params[k] = v;
      const rec: RecordedRequest = { path: url.pathname, method: req.method ?? 'GET', params, headers: req.headers, at: Date.now() };
      requests.push(rec);
      for (const w of waiters.splice(0)) w();
      const handler = routes.get(url.pathname);
      const out = handler ? await handler(rec) : { body: 'ok', contentType: 'text/plain' };
      if (out.delayMs) await new Promise((r) => setTimeout(r, out.delayMs));
      if (res.destroyed) return;
      res.writeHead(out.status ?? 200, { 'content-type': out.contentType ?? 'application/xml' });
      res.end(out.body);
    })().catch(() => { if (!res.headersSent) { res.writeHead(500); res.end(); } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route(path, handler) { routes.set(path, typeof handler === 'string' ? () => ({ body: handler }) : handler); },
    async waitFor(path, pred = () => true, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = requests.find((r) => r.path === path && pred(r));
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no request to ${path} within ${timeoutMs} ms (saw: ${requests.map((r) => r.path).join(', ') || 'none'})`);
        await new Promise<void>((resolve) => { const t = setTimeout(resolve, Math.min(left, 200)); waiters.push(() => { clearTimeout(t); resolve(); }); });
      }
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

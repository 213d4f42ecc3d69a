/**
 * One HTTP exchange for Plivo-style callbacks over node:http/https, with the precise
 * connect/read timeouts of Plivo's `#ct=..&rt=..` URL fragment, a response-size cap,
 * bounded redirect following, V3 signing per hop and one retry on transient failures.
 * Both the answer-URL client and the fire-and-forget notifier are built on it.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { signedHeaders } from './signatureV3.js';

export type HttpMethod = 'GET' | 'POST';

export type CallbackFailureCause =
  | 'bad_url' | 'connect_timeout' | 'read_timeout' | 'refused' | 'network'
  | 'http_status' | 'too_large' | 'bad_content' | 'redirect_loop';

export interface UrlTimeouts { connectMs: number; readMs: number }

export const DEFAULT_TIMEOUTS: Readonly<UrlTimeouts> = { connectMs: 2000, readMs: 40_000 };
const CT_RANGE = [100, 10_000] as const;
const RT_RANGE = [100, 40_000] as const;

function clamp(v: string | null, [lo, hi]: readonly [number, number], dflt: number): number {
  if (v === null || !/^\d+$/.test(v.trim())) return dflt;
  return Math.min(hi, Math.max(lo, Number(v)));
}

/**
 * Splits Plivo's timeout fragment off a callback URL: `https://x/a#ct=2000&rt=40000`.
 * The fragment never goes on the wire and is not part of the signed URL. Out-of-range
 * values are clamped to the documented ranges; unparseable ones fall back to defaults.
 */
export function parseUrlTimeouts(url: string): { url: string; timeouts: UrlTimeouts } {
  const hash = url.indexOf('#');
  if (hash < 0) return { url, timeouts: { ...DEFAULT_TIMEOUTS } };
  const frag = new URLSearchParams(url.slice(hash + 1));
  return {
    url: url.slice(0, hash),
    timeouts: {
      connectMs: clamp(frag.get('ct'), CT_RANGE, DEFAULT_TIMEOUTS.connectMs),
      readMs: clamp(frag.get('rt'), RT_RANGE, DEFAULT_TIMEOUTS.readMs),
    },
  };
}

/** scheme://host/path only: queries and userinfo may carry secrets, so logs never see them. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[unparseable url]';
  }
}

export interface CallbackRequest {
  /** Callback URL; may carry the `#ct=&rt=` fragment. */
  url: string;
  method: HttpMethod;
  params: Readonly<Record<string, string>>;
  /** When set, requests carry X-Plivo-Signature-V3 headers signed with it. */
  authToken?: string;
}

interface AttemptInfo {
  elapsedMs: number;
  /** 1, or 2 when the first attempt failed transiently and was retried. */
  attempts: number;
  /** Why the first attempt failed, when there was a retry. */
  retriedAfter?: CallbackFailureCause;
}

export type ExchangeResult =
  | ({ ok: true; status: number; body: Buffer; contentType: string | undefined; url: string } & AttemptInfo)
  | ({ ok: false; cause: CallbackFailureCause; detail: string; status?: number; url: string } & AttemptInfo);

export interface CallbackTransportOptions {
  clock?: Clock;
  /** Response bodies above this abort the request with `too_large` (default 100 KiB). */
  maxResponseBytes?: number;
  /** Redirects followed before `redirect_loop` (default 5). */
  maxRedirects?: number;
  /** Pause before the single retry (default 0). */
  retryDelayMs?: number;
  userAgent?: string;
  /** Pooled sockets per origin (default 32). */
  maxSocketsPerOrigin?: number;
}

type SendResult =
  | { ok: true; status: number; headers: http.IncomingHttpHeaders; body: Buffer }
  | { ok: false; cause: CallbackFailureCause; detail: string; status?: number };

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function isRetryable(r: { cause: CallbackFailureCause; status?: number }): boolean {
  switch (r.cause) {
    case 'connect_timeout': case 'read_timeout': case 'refused': case 'network': return true;
    case 'http_status': return (r.status ?? 0) >= 500;
    default: return false;
  }
}

export class CallbackTransport {
  readonly clock: Clock;
  private readonly maxBytes: number;
  private readonly maxRedirects: number;
  private readonly retryDelayMs: number;
  private readonly userAgent: string;
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(opts: CallbackTransportOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.maxBytes = opts.maxResponseBytes ?? 100 * 1024;
    this.maxRedirects = opts.maxRedirects ?? 5;
    this.retryDelayMs = opts.retryDelayMs ?? 0;
    this.userAgent = opts.userAgent ?? 'sipflow-media-pod';
    const maxSockets = opts.maxSocketsPerOrigin ?? 32;
    // Idle sockets are kept up to the in-use bound: with fewer, a burst of callbacks ended by
    // closing the surplus and the next burst paid TCP connects again (seen in the bench profile).
    const agentOpts = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(agentOpts);
  }

  /** Closes pooled connections. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** Sends the request, following redirects, retrying once on a transient failure. Never throws. */
  async exchange(req: CallbackRequest, readBody = true): Promise<ExchangeResult> {
    const start = this.clock.now();
    const first = await this.followRedirects(req, readBody);
    if (first.ok || !isRetryable(first)) return { ...first, elapsedMs: Math.round(this.clock.now() - start), attempts: 1 };
    if (this.retryDelayMs > 0) await this.sleep(this.retryDelayMs);
    const second = await this.followRedirects(req, readBody);
    return { ...second, elapsedMs: Math.round(this.clock.now() - start), attempts: 2, retriedAfter: first.cause };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => { this.clock.setTimeout(resolve, ms); });
  }

  private async followRedirects(req: CallbackRequest, readBody: boolean): Promise<
    | { ok: true; status: number; body: Buffer; contentType: string | undefined; url: string }
    | { ok: false; cause: CallbackFailureCause; detail: string; status?: number; url: string }
  > {
    const { url: firstUrl, timeouts } = parseUrlTimeouts(req.url);
    let url = firstUrl;
    let method = req.method;
    for (let hop = 0; ; hop++) {
      let target: URL;
      try { target = new URL(url); } catch { return { ok: false, cause: 'bad_url', detail: `not a valid URL: ${redactUrl(url)}`, url }; }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        return { ok: false, cause: 'bad_url', detail: `unsupported scheme ${target.protocol}`, url };
      }
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, Accept: 'application/xml, text/xml, */*;q=0.5' };
      let body: Buffer | undefined;
      const form = new URLSearchParams(req.params).toString();
      if (method === 'GET') {
        if (form) target.search = target.search ? `${target.search}&${form}` : `?${form}`;
      } else {
        body = Buffer.from(form, 'utf8');
        headers['Content-Type'] = 'application/x-www-form-urlencoded';
      }
      if (req.authToken) Object.assign(headers, signedHeaders({ url, method, params: req.params, authToken: req.authToken }));
      const r = await this.sendOnce(target, method, headers, body, timeouts, readBody);
      if (!r.ok) return { ...r, url };
      const location = r.headers.location;
      if (REDIRECTS.has(r.status) && location) {
        if (hop + 1 > this.maxRedirects) {
          return { ok: false, cause: 'redirect_loop', detail: `more than ${this.maxRedirects} redirects`, status: r.status, url };
        }
        try { url = new URL(location, url).toString(); } catch {
          return { ok: false, cause: 'bad_url', detail: 'unparseable Location header', status: r.status, url };
        }
        // 301/302/303 become GET (as browsers do) but keep the parameters, now in the query
        // string, so the application still learns which call it is answering.
        if (r.status !== 307 && r.status !== 308) method = 'GET';
        continue;
      }
      if (r.status < 200 || r.status > 299) return { ok: false, cause: 'http_status', detail: `HTTP ${r.status}`, status: r.status, url };
      const ct = r.headers['content-type'];
      return { ok: true, status: r.status, body: r.body, contentType: ct, url };
    }
  }

  private sendOnce(target: URL, method: HttpMethod, headers: Record<string, string>, body: Buffer | undefined,
    timeouts: UrlTimeouts, readBody: boolean): Promise<SendResult> {
    return new Promise<SendResult>((resolve) => {
      const isHttps = target.protocol === 'https:';
      let settled = false;
      let timer: TimerHandle | undefined;
      const finish = (r: SendResult): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (!r.ok) req.destroy();
        resolve(r);
      };
      if (body) headers['Content-Length'] = String(body.length);
      const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
      const auth = target.username ? `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}` : undefined;
      const req = (isHttps ? https : http).request({
        protocol: target.protocol, host, port: target.port || undefined, path: `${target.pathname}${target.search}`,
        method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent, ...(auth ? { auth } : {}),
      });
      timer = this.clock.setTimeout(() => finish({ ok: false, cause: 'connect_timeout', detail: `no connection within ${timeouts.connectMs} ms` }), timeouts.connectMs);
      const connected = (): void => {
        if (settled) return;
        this.clock.clearTimeout(timer);
        timer = this.clock.setTimeout(() => finish({ ok: false, cause: 'read_timeout', detail: `no complete response within ${timeouts.readMs} ms` }), timeouts.readMs);
      };
      req.on('socket', (s: Socket) => {
        // A pooled keep-alive socket is already connected.
        if (!s.connecting) connected();
        else s.once(isHttps ? 'secureConnect' : 'connect', connected);
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? '';
        if (code === 'ECONNREFUSED') finish({ ok: false, cause: 'refused', detail: 'connection refused' });
        else finish({ ok: false, cause: 'network', detail: `${code || err.name}: ${err.message}`.slice(0, 200) });
      });
      req.on('response', (res: http.IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const declared = Number(res.headers['content-length']);
        const tooLarge = (): void => finish({ ok: false, cause: 'too_large', detail: `response larger than ${this.maxBytes} bytes`, status });
        if (Number.isFinite(declared) && declared > this.maxBytes) { tooLarge(); return; }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBytes) { tooLarge(); return; }
          if (readBody) chunks.push(c);
        });
        res.on('end', () => finish({ ok: true, status, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (err) => finish({ ok: false, cause: 'network', detail: `response aborted: ${err.message}`.slice(0, 200), status }));
        res.on('close', () => { if (!res.complete) finish({ ok: false, cause: 'network', detail: 'connection closed mid-response', status }); });
      });
      req.end(body);
    });
  }
}

/**
 * One HTTP(S) exchange with hard limits on time and on bytes read, for fetching <Play> files
 * and calling external TTS services: the whole exchange (redirects included) has one deadline,
 * and the body is refused as soon as Content-Length or the running count passes `maxBytes`.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { systemClock, type Clock } from '../clock.js';
import { AudioFileError } from './errors.js';

export interface BoundedRequest {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  maxBytes: number;
  /** Deadline for the whole exchange, redirects and body included. */
  timeoutMs: number;
  /** Redirects followed for GET (default 3); POST redirects are returned as-is. */
  maxRedirects?: number;
  clock?: Clock;
}

export interface BoundedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body for 2xx answers; empty for any other status (it is not read). */
  body: Buffer;
  /** The URL that finally answered (after redirects), redacted like `redactUrl`. */
  finalUrl: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A URL fit for logs and error messages: no user-info, no query (presigned URLs carry signatures there). */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

const DISCARD_LIMIT = 64 * 1024;

/**
 * Drain a body we do not want. Destroying a short response that has already been read to the
 * end can kill a socket the keep-alive agent has just pooled, so the next request on it fails
 * with "socket hang up"; only bodies past a small limit are cut off.
 */
function discard(res: http.IncomingMessage): void {
  let n = 0;
  res.on('data', (c: Buffer) => { n += c.length; if (n > DISCARD_LIMIT) res.destroy(); });
  res.on('error', () => undefined);
  res.resume();
}

/**
 * Perform the request. Rejects with AudioFileError `unreachable` (bad URL, network error,
 * deadline, too many redirects) or `too_large`; any HTTP status is resolved, not thrown.
 */
export function fetchBounded(req: BoundedRequest): Promise<BoundedResponse> {
  const clock = req.clock ?? systemClock;
  const method = req.method ?? 'GET';
  let shownUrl = redactUrl(req.url);
  return new Promise<BoundedResponse>((resolve, reject) => {
    let settled = false;
    let current: http.ClientRequest | undefined;
    const settle = (err: AudioFileError | null, res?: BoundedResponse): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      if (err) { current?.destroy(); reject(err); } else resolve(res!);
    };
    const fail = (cause: 'unreachable' | 'too_large', detail: string, timedOut = false): void => settle(new AudioFileError(cause, detail, { url: shownUrl, timedOut }));
    const timer = clock.setTimeout(() => fail('unreachable', `no complete response within ${req.timeoutMs} ms`, true), req.timeoutMs);

    const attempt = (raw: string, redirectsLeft: number, retriedStale = false): void => {
      let url: URL;
      try { url = new URL(raw); } catch { fail('unreachable', 'invalid URL'); return; }
      shownUrl = redactUrl(url.href);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') { fail('unreachable', `unsupported URL scheme ${url.protocol}`); return; }
      const mod = url.protocol === 'https:' ? https : http;
      const headers: Record<string, string> = { 'user-agent': 'sipflow-media', 'accept-encoding': 'identity', ...req.headers };
      let responded = false;
      const r = mod.request(url, { method, headers }, (res) => {
        responded = true;
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECTS.has(status) && method === 'GET' && location) {
          discard(res);
          if (redirectsLeft <= 0) { fail('unreachable', `more than ${req.maxRedirects ?? 3} redirects`); return; }
          attempt(new URL(location, url).href, redirectsLeft - 1);
          return;
        }
        if (status < 200 || status > 299) {
          discard(res);
          settle(null, { status, headers: res.headers, body: Buffer.alloc(0), finalUrl: shownUrl });
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > req.maxBytes) {
          fail('too_large', `Content-Length ${declared} exceeds the ${req.maxBytes}-byte limit`);
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (c: Buffer) => {
          received += c.length;
          if (received > req.maxBytes) { fail('too_large', `body exceeds the ${req.maxBytes}-byte limit`); return; }
          chunks.push(c);
        });
        res.on('end', () => settle(null, { status, headers: res.headers, body: Buffer.concat(chunks, received), finalUrl: shownUrl }));
        res.on('error', (e) => fail('unreachable', `response broke off: ${e.message}`));
        res.on('aborted', () => fail('unreachable', 'response broke off'));
      });
      current = r;
      r.on('error', (e: NodeJS.ErrnoException) => {
        // A pooled keep-alive socket the server has since closed fails on first use; Node's
        // documented remedy is to retry once on a fresh connection.
        if (r.reusedSocket && e.code === 'ECONNRESET' && !responded && !retriedStale && !settled) { attempt(raw, redirectsLeft, true); return; }
        fail('unreachable', e.code ? `${e.code}: ${e.message}` : e.message);
      });
      r.end(req.body);
    };
    attempt(req.url, req.maxRedirects ?? 3);
  });
}

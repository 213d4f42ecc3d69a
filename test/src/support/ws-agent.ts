/**
 * A real WebSocket agent for tests, on the `ws` server the way pipecat or a Plivo SDK agent
 * listens: it records every frame the media pod sends (parsed, with its arrival time) per
 * connection, and sends playAudio / checkpoint / clearAudio / sendDTMF when the test says so.
 */
import type { AddressInfo } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export interface AgentMessage {
  /** performance.now() when the frame arrived. */
  at: number;
  /** Date.now() when the frame arrived. */
  wallAt: number;
  isBinary: boolean;
  raw: string;
  /** The parsed JSON (undefined when the frame was not JSON). */
  json: Record<string, unknown> | undefined;
  event: string | undefined;
}

export interface AgentConnection {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly messages: AgentMessage[];
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
  readonly isOpen: boolean;
  /** The streamId from `start`, once it arrived. */
  readonly streamId: string | undefined;
  send(msg: unknown): void;
  /** Queues μ-law audio in playAudio messages of at most `chunkBytes` payload bytes each. */
  playAudio(audio: Uint8Array, opts?: { contentType?: string; sampleRate?: number | string; chunkBytes?: number; withStreamId?: boolean }): void;
  checkpoint(name: string): void;
  clearAudio(): void;
  sendDtmf(digits: string): void;
  close(code?: number, reason?: string): void;
  /** The first message (from index `from`) matching `pred`, waiting at most `timeoutMs`. */
  waitFor(pred: (m: AgentMessage) => boolean, timeoutMs?: number, from?: number): Promise<AgentMessage>;
  waitForEvent(event: string, timeoutMs?: number, from?: number): Promise<AgentMessage>;
  byEvent(event: string): AgentMessage[];
}

export interface WsAgent {
  /** ws://127.0.0.1:PORT — append the path (e.g. `/agent`). */
  readonly baseUrl: string;
  readonly connections: AgentConnection[];
  nextConnection(timeoutMs?: number): Promise<AgentConnection>;
  close(): Promise<void>;
}

const MAX_MESSAGES = 200_000;

export async function startWsAgent(): Promise<WsAgent> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 20 });
  await new Promise<void>((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
  const port = (wss.address() as AddressInfo).port;
  const connections: AgentConnection[] = [];
  const connWaiters: Array<(c: AgentConnection) => void> = [];

  wss.on('connection', (ws: WebSocket, req) => {
    const conn = wrap(ws, req.url ?? '/', req.headers);
    connections.push(conn);
    for (const w of connWaiters.splice(0)) w(conn);
  });

  return {
    baseUrl: `ws://127.0.0.1:${port}`,
    connections,
    nextConnection(timeoutMs = 10_000) {
      const taken = connections.length;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no WebSocket connection within ${timeoutMs} ms`)), timeoutMs);
        const check = (c: AgentConnection): void => { clearTimeout(t); resolve(c); };
        if (connections.length > taken) { check(connections[taken]!); return; }
        connWaiters.push(check);
      });
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function wrap(ws: WebSocket, path: string, headers: IncomingHttpHeaders): AgentConnection {
  const messages: AgentMessage[] = [];
  const waiters = new Set<() => void>();
  let streamId: string | undefined;
  let open = true;
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) => { open = false; resolve({ code, reason: reason.toString('utf8'), at: performance.now() }); for (const w of [...waiters]) w(); });
  });
  ws.on('error', () => { /* the close event follows */ });
  ws.on('message', (data, isBinary) => {
    const at = performance.now();
    const raw = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
    let json: Record<string, unknown> | undefined;
    try { const v: unknown = JSON.parse(raw); if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>; } catch { /* recorded raw */ }
    const event = typeof json?.event === 'string' ? json.event : undefined;
    if (event === 'start') {
      const s = json?.start as Record<string, unknown> | undefined;
      if (typeof s?.streamId === 'string') streamId = s.streamId;
    }
    if (messages.length < MAX_MESSAGES) messages.push({ at, wallAt: Date.now(), isBinary, raw, json, event });
    for (const w of [...waiters]) w();
  });

  const send = (msg: unknown): void => { if (ws.readyState === ws.OPEN) ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)); };

  const conn: AgentConnection = {
    path, headers, messages, closed,
    get isOpen() { return open; },
    get streamId() { return streamId; },
    send,
    playAudio(audio, opts = {}) {
      const chunk = opts.chunkBytes ?? 8000;
      for (let off = 0; off < audio.length; off += chunk) {
        const part = Buffer.from(audio.buffer, audio.byteOffset + off, Math.min(chunk, audio.length - off));
        send({
          event: 'playAudio',
          media: { contentType: opts.contentType ?? 'audio/x-mulaw', sampleRate: opts.sampleRate ?? 8000, payload: part.toString('base64') },
          ...(opts.withStreamId && streamId ? { streamId } : {}),
        });
      }
    },
    checkpoint(name) { send({ event: 'checkpoint', streamId, name }); },
    clearAudio() { send({ event: 'clearAudio', streamId }); },
    sendDtmf(digits) { send({ event: 'sendDTMF', dtmf: digits }); },
    close(code = 1000, reason = '') { ws.close(code, reason); },
    waitFor(pred, timeoutMs = 10_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (let i = from; i < messages.length; i++) {
            if (pred(messages[i]!)) { done(); resolve(messages[i]!); return true; }
          }
          if (!open) { done(); reject(new Error(`socket closed before the awaited message (saw ${summary(messages)})`)); return true; }
          return false;
        };
        const t = setTimeout(() => { done(); reject(new Error(`awaited message not seen within ${timeoutMs} ms (saw ${summary(messages)})`)); }, timeoutMs);
        const done = (): void => { clearTimeout(t); waiters.delete(waiter); };
        const waiter = (): void => { check(); };
        if (check()) return;
        waiters.add(waiter);
      });
    },
    waitForEvent(event, timeoutMs, from) { return conn.waitFor((m) => m.event === event, timeoutMs, from); },
    byEvent(event) { return messages.filter((m) => m.event === event); },
  };
  return conn;
}

function summary(messages: readonly AgentMessage[]): string {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(m.event ?? '?', (counts.get(m.event ?? '?') ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k}×${v}`).join(', ') || 'nothing';
}

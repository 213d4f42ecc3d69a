/**
 * A WebSocket agent that misbehaves on purpose, for the agent-fault tests: it can refuse the
 * upgrade (403) or cut the TCP connection before answering, and once connected it can vanish
 * without a close frame, stop reading (the raw socket paused, as a wedged agent would) or flood
 * playAudio. Upgrade attempts and every frame the media pod sends are recorded.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/** What to do with the next upgrade request. */
export type UpgradePolicy = 'accept' | 'reject403' | 'destroy';

export interface FaultConnection {
  readonly path: string;
  /** Parsed JSON frames from the pod, in order (capped). */
  readonly frames: Array<{ event: string | undefined; json: Record<string, unknown> }>;
  readonly closed: Promise<{ code: number }>;
  readonly isOpen: boolean;
  /** The TCP connection goes away without a close frame (the pod sees 1006). */
  terminate(): void;
  /** A normal close handshake with this code. */
  close(code: number, reason?: string): void;
  /** Stops reading from the socket: the pod's writes back up in its buffers. */
  stopReading(): void;
  /** Sends each message as fast as the socket takes it. */
  sendAll(messages: readonly string[]): void;
  waitForEvent(event: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  count(event: string): number;
}

export interface FaultAgent {
  /** ws://127.0.0.1:PORT */
  readonly baseUrl: string;
  /** Every upgrade request, with what was done to it. */
  readonly attempts: Array<{ path: string; policy: UpgradePolicy; at: number }>;
  readonly connections: FaultConnection[];
  /** The policy for upgrades from now on. */
  setPolicy(p: UpgradePolicy): void;
  nextConnection(timeoutMs?: number): Promise<FaultConnection>;
  close(): Promise<void>;
}

const MAX_FRAMES = 50_000;

export async function startFaultAgent(): Promise<FaultAgent> {
  let policy: UpgradePolicy = 'accept';
  const attempts: FaultAgent['attempts'] = [];
  const connections: FaultConnection[] = [];
  const connWaiters: Array<(c: FaultConnection) => void> = [];
  const sockets = new Set<Duplex>();
  const server = http.createServer((_req, res) => { res.writeHead(426); res.end(); });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });

  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => { /* the pod went away */ });
    const path = req.url ?? '/';
    attempts.push({ path, policy, at: Date.now() });
    if (policy === 'destroy') { socket.destroy(); return; }
    if (policy === 'reject403') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = wrap(ws, socket, path);
      connections.push(conn);
      for (const w of connWaiters.splice(0)) w(conn);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;

  return {
    baseUrl: `ws://127.0.0.1:${port}`,
    attempts, connections,
    setPolicy(p) { policy = p; },
    nextConnection(timeoutMs = 10_000) {
      const taken = connections.length;
      return new Promise((resolve, reject) => {
        if (connections.length > taken) { resolve(connections[taken]!); return; }
        const t = setTimeout(() => reject(new Error(`no WebSocket connection within ${timeoutMs} ms (${attempts.length} upgrade attempts)`)), timeoutMs);
        connWaiters.push((c) => { clearTimeout(t); resolve(c); });
      });
    },
    async close() {
      for (const s of sockets) s.destroy();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function wrap(ws: WebSocket, socket: Duplex, path: string): FaultConnection {
  const frames: FaultConnection['frames'] = [];
  const waiters = new Set<() => void>();
  let open = true;
  const closed = new Promise<{ code: number }>((resolve) => {
    ws.on('close', (code) => { open = false; resolve({ code }); for (const w of [...waiters]) w(); });
  });
  ws.on('error', () => { /* close follows */ });
  ws.on('message', (data) => {
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data).toString('utf8');
    let json: Record<string, unknown> = {};
    try { const v: unknown = JSON.parse(text); if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>; } catch { /* not JSON */ }
    if (frames.length < MAX_FRAMES) frames.push({ event: typeof json.event === 'string' ? json.event : undefined, json });
    for (const w of [...waiters]) w();
  });
  return {
    path, frames, closed,
    get isOpen() { return open; },
    terminate() { ws.terminate(); },
    close(code, reason) { ws.close(code, reason); },
    stopReading() { socket.pause(); },
    sendAll(messages) { for (const m of messages) if (ws.readyState === ws.OPEN) ws.send(m); },
    count(event) { return frames.filter((f) => f.event === event).length; },
    waitForEvent(event, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const hit = frames.find((f) => f.event === event);
          if (hit) { done(); resolve(hit.json); return true; }
          if (!open) { done(); reject(new Error(`socket closed before a ${event} frame`)); return true; }
          return false;
        };
        const t = setTimeout(() => { done(); reject(new Error(`no ${event} frame within ${timeoutMs} ms`)); }, timeoutMs);
        const done = (): void => { clearTimeout(t); waiters.delete(waiter); };
        const waiter = (): void => { check(); };
        if (check()) return;
        waiters.add(waiter);
      });
    },
  };
}

/** playAudio messages carrying `totalBytes` of μ-law (8 kHz) in chunks of `chunkBytes` (each message stays under 64 KB). */
export function playAudioFlood(totalBytes: number, chunkBytes = 40_000): string[] {
  const chunk = Buffer.alloc(chunkBytes, 0x55).toString('base64');
  const out: string[] = [];
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    const payload = sent + chunkBytes <= totalBytes ? chunk : Buffer.alloc(totalBytes - sent, 0x55).toString('base64');
    out.push(JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload } }));
  }
  return out;
}

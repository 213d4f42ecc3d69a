/**
 * Test fixtures for the stream bridge: a real `ws` agent server on loopback that records what
 * the platform sends, and a logger that keeps lines in memory.
 */

import type { IncomingMessage } from 'node:http';
import { WebSocketServer, WebSocket } from 'ws';
import type { Fields, Logger } from '@sipflow/operator/log';

export interface LogLine { level: string; msg: string; fields: Fields }

export function memoryLogger(lines: LogLine[] = [], base: Fields = {}): Logger {
  const write = (level: string) => (msg: string, fields?: Fields): void => { lines.push({ level, msg, fields: { ...base, ...fields } }); };
  return {
    debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error'),
    child: (f: Fields) => memoryLogger(lines, { ...base, ...f }),
  };
}

export interface ReceivedFrame { text: string; json: unknown; binary: boolean }

/** One agent-side connection, with everything it received in order. */
export class AgentConnection {
  readonly frames: ReceivedFrame[] = [];
  closeCode: number | undefined;
  closeReason: string | undefined;
  readonly closedPromise: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket, readonly request: IncomingMessage) {
    ws.on('message', (data, binary) => {
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      let json: unknown;
      try { json = JSON.parse(text); } catch { json = undefined; }
      this.frames.push({ text, json, binary });
      this.wake();
    });
    ws.on('error', () => { /* the close event carries what tests look at */ });
    this.closedPromise = new Promise((resolve) => ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
      this.wake();
      resolve();
    }));
  }

  get messages(): Record<string, unknown>[] { return this.frames.map((f) => f.json as Record<string, unknown>); }
  events(): string[] { return this.messages.map((m) => String(m['event'])); }

  /** Resolves once `n` frames have arrived (the test's own timeout bounds the wait). */
  async waitForFrames(n: number): Promise<Record<string, unknown>[]> {
    while (this.frames.length < n) {
      if (this.closeCode !== undefined) throw new Error(`agent connection closed (${this.closeCode}) after ${this.frames.length} of ${n} frames`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.messages;
  }

  /** Resolves once a message with this event has arrived; returns it. */
  async waitForEvent(event: string, nth = 1): Promise<Record<string, unknown>> {
    for (;;) {
      const found = this.messages.filter((m) => m['event'] === event);
      if (found.length >= nth) return found[nth - 1]!;
      await this.waitForFrames(this.frames.length + 1);
    }
  }

  send(obj: unknown): void { this.ws.send(JSON.stringify(obj)); }
  sendRaw(data: string | Buffer, binary = false): void { this.ws.send(data, { binary }); }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** A WebSocket agent on 127.0.0.1 with an ephemeral port. */
export class TestAgentServer {
  readonly connections: AgentConnection[] = [];
  attempts = 0;
  private readonly wss: WebSocketServer;
  private waiters: (() => void)[] = [];

  private constructor(opts: { refuse?: boolean; maxPayload?: number }) {
    this.wss = new WebSocketServer({
      host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: opts.maxPayload ?? 1 << 20,
      verifyClient: (_info, cb) => { this.attempts++; cb(!opts.refuse, 401, 'Unauthorized'); },
    });
    this.wss.on('connection', (ws, req) => {
      this.connections.push(new AgentConnection(ws, req));
      const w = this.waiters; this.waiters = [];
      for (const f of w) f();
    });
  }

  static async start(opts: { refuse?: boolean; maxPayload?: number } = {}): Promise<TestAgentServer> {
    const server = new TestAgentServer(opts);
    await new Promise<void>((resolve, reject) => { server.wss.once('listening', resolve); server.wss.once('error', reject); });
    return server;
  }

  get url(): string {
    const addr = this.wss.address();
    if (typeof addr === 'string' || addr === null) throw new Error('server not listening on TCP');
    return `ws://127.0.0.1:${addr.port}/ws?body=abc`;
  }

  /** The i-th accepted connection (0-based), once it exists. */
  async connection(i = 0): Promise<AgentConnection> {
    while (this.connections.length <= i) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.connections[i]!;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/** Polls a condition between event-loop turns; bounded by `maxTurns` (real I/O needs a few ms). */
export async function waitUntil(cond: () => boolean, what: string, maxTurns = 5000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`gave up waiting for ${what}`);
}

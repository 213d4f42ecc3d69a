/**
 * A SIP peer on one TLS connection for the SIP-over-TLS tests: it writes hand-built messages and
 * keeps every message the pod sends on that connection (framed by Content-Length, bounded), so a
 * test can check that responses and the pod's own requests all come back on it.
 */
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { parseSipMessage, type SipMessage } from '@sipflow/media-pod/sip/message/index';
import { TcpFramer } from '@sipflow/media-pod/sip/transport/index';

const MAX_KEPT = 1000;

export class TlsSipClient {
  readonly received: SipMessage[] = [];
  readonly closed: Promise<void>;
  private readonly framer = new TcpFramer(64 * 1024);
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      const r = this.framer.push(chunk);
      for (const m of r.messages) {
        const p = parseSipMessage(m);
        if (!p.ok) continue;
        if (this.received.length >= MAX_KEPT) this.received.shift();
        this.received.push(p.message);
      }
      for (const w of [...this.waiters]) w();
    });
    socket.on('error', () => { /* surfaces as a wait timing out or `closed` */ });
    this.closed = new Promise((r) => socket.once('close', () => { for (const w of [...this.waiters]) w(); r(); }));
  }

  /** Opens a verified TLS connection (the pod's certificate must chain to `o.ca`). */
  static open(port: number, o: ConnectionOptions): Promise<TlsSipClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ...o });
      const t = setTimeout(() => { s.destroy(); reject(new Error(`TLS connect to :${port} timed out`)); }, 10_000);
      s.once('secureConnect', () => { clearTimeout(t); resolve(new TlsSipClient(s)); });
      s.once('error', (err) => { clearTimeout(t); reject(err); });
    });
  }

  get localPort(): number { return this.socket.localPort ?? 0; }

  send(text: string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(text, (err) => (err ? reject(err) : resolve())));
  }

  /** The first message received (from index `from` on) matching `pred`, within `timeoutMs`. */
  waitFor(what: string, pred: (m: SipMessage) => boolean, timeoutMs = 15_000, from = 0): Promise<SipMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.received.slice(from).find(pred);
        if (!hit) return false;
        done();
        resolve(hit);
        return true;
      };
      const timer = setTimeout(() => { done(); reject(new Error(`${what}: not received within ${timeoutMs} ms; got ${this.summary()}`)); }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.waiters.delete(waiter); };
      const waiter = (): void => { check(); };
      this.waiters.add(waiter);
      check();
    });
  }

  summary(): string {
    return this.received.map((m) => (m.kind === 'request' ? m.method : String(m.status))).join(', ') || 'nothing';
  }

  close(): void { this.socket.destroy(); }
}

/**
 * The SIP transport layer: UDP and TCP listeners on one host:port, TCP framing with per-connection
 * bounds (idle timeout, message-completion timeout, buffered bytes, connection cap), Via stamping
 * on the way in, stateless 4xx for malformed requests, and response routing on the way out.
 */
import { EventEmitter } from 'node:events';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIPv6, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import { DEFAULT_PARSE_LIMITS, parseSipMessage, serializeMessage, type ParseLimits, type SipMessage, type SipResponse } from '../message/index.js';
import { buildErrorResponse, normalizeAddress, responseDestination, stampTopVia } from './routing.js';
import { TcpFramer } from './tcp-framer.js';
import {
  SipTransportError, type AdvertisedAddress, type ConnectionCloseReason, type SipDestination, type SipSource,
  type SipTransport, type SipTransportEvents,
} from './types.js';

export interface SipTransportOptions {
  /** Listen address: an IPv4 or IPv6 literal (`0.0.0.0`, `::`, `127.0.0.2`, `::1`). */
  host: string;
  /** Listen port; 0 picks a free port (the same one for UDP and TCP when possible). */
  port: number;
  udp?: boolean;
  tcp?: boolean;
  /** Address for Contact/Via/SDP. Defaults to the listen host (or a local interface for wildcards) and the bound port. */
  advertised?: { host: string; port?: number };
  limits?: Partial<ParseLimits>;
  /** Close a TCP connection after this long without traffic either way. Default 60 s. */
  tcpIdleTimeoutMs?: number;
  /** Once a message's first byte arrives, all of it must arrive within this time (slowloris). Default 10 s. */
  tcpMessageTimeoutMs?: number;
  /** Accepted plus outbound TCP connections. Default 1024. */
  maxTcpConnections?: number;
  tcpConnectTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface TcpConnection {
  id: string;
  socket: Socket;
  framer: TcpFramer;
  source: SipSource;
  key: string;
  idleTimer?: TimerHandle;
  messageTimer?: TimerHandle;
  closed: boolean;
}

function isWildcard(host: string): boolean { return host === '0.0.0.0' || host === '::'; }

function firstInterfaceAddress(v6: boolean): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && (a.family === 'IPv6') === v6) return a.address;
  }
  return undefined;
}

export class SipTransportLayer extends EventEmitter<SipTransportEvents> implements SipTransport {
  private readonly opts: Required<Omit<SipTransportOptions, 'advertised' | 'limits' | 'logger' | 'clock'>>;
  private readonly limits: ParseLimits;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly family: 4 | 6;
  private udp?: UdpSocket;
  private server?: Server;
  private readonly connections = new Map<string, TcpConnection>();
  private readonly byRemote = new Map<string, TcpConnection>();
  private readonly connecting = new Map<string, Promise<TcpConnection>>();
  private readonly lingering = new Set<Socket>();
  private nextConnId = 1;
  private boundPorts: { udp?: number; tcp?: number } = {};
  private adv?: AdvertisedAddress;
  private closing = false;

  constructor(private readonly options: SipTransportOptions) {
    super();
    this.opts = {
      host: options.host, port: options.port, udp: options.udp ?? true, tcp: options.tcp ?? true,
      tcpIdleTimeoutMs: options.tcpIdleTimeoutMs ?? 60_000, tcpMessageTimeoutMs: options.tcpMessageTimeoutMs ?? 10_000,
      maxTcpConnections: options.maxTcpConnections ?? 1024, tcpConnectTimeoutMs: options.tcpConnectTimeoutMs ?? 10_000,
    };
    this.limits = { ...DEFAULT_PARSE_LIMITS, ...(options.limits ?? {}) };
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? createLogger('sip.transport');
    this.family = isIPv6(options.host) ? 6 : 4;
  }

  /** Creates a transport and waits until it listens. */
  static async listen(options: SipTransportOptions): Promise<SipTransportLayer> {
    const t = new SipTransportLayer(options);
    await t.listen();
    return t;
  }

  /** Bound ports (useful with port 0). */
  get ports(): { udp?: number; tcp?: number } { return { ...this.boundPorts }; }

  get advertised(): AdvertisedAddress {
    if (!this.adv) throw new Error('SipTransportLayer.advertised read before listen()');
    return this.adv;
  }

  get tcpConnectionCount(): number { return this.connections.size; }

  async listen(): Promise<void> {
    if (!this.opts.udp && !this.opts.tcp) throw new Error('SipTransportLayer: enable at least one of udp/tcp');
    const requested = this.opts.port;
    for (let attempt = 0; ; attempt++) {
      if (this.opts.udp) await this.bindUdp(requested);
      if (!this.opts.tcp) break;
      const tcpPort = requested === 0 && this.boundPorts.udp !== undefined ? this.boundPorts.udp : requested;
      try {
        await this.bindTcp(tcpPort);
        break;
      } catch (err) {
        // With an ephemeral port the TCP twin of the UDP port may be taken; try another pair.
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (!inUse || requested !== 0 || attempt >= 8 || !this.opts.udp) { await this.close(); throw err; }
        await this.closeUdp();
      }
    }
    const port = this.options.advertised?.port ?? this.boundPorts.udp ?? this.boundPorts.tcp ?? 0;
    const host = this.options.advertised?.host
      ?? (isWildcard(this.opts.host) ? (firstInterfaceAddress(this.family === 6) ?? (this.family === 6 ? '::1' : '127.0.0.1')) : this.opts.host);
    this.adv = { host, port };
    this.log.info('sip transport listening', { host: this.opts.host, udpPort: this.boundPorts.udp, tcpPort: this.boundPorts.tcp, advertised: `${host}:${port}` });
  }

  private bindUdp(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({ type: this.family === 6 ? 'udp6' : 'udp4' });
      const onError = (err: Error): void => { sock.close(); reject(err); };
      sock.once('error', onError);
      sock.bind(port, this.opts.host, () => {
        sock.off('error', onError);
        sock.on('error', (err) => this.log.warn('udp socket error', { err }));
        sock.on('message', (msg, rinfo) => {
          const n = normalizeAddress(rinfo.address);
          this.handleInbound(msg, { transport: 'udp', address: n.address, port: rinfo.port, family: n.family });
        });
        this.udp = sock;
        this.boundPorts.udp = sock.address().port;
        resolve();
      });
    });
  }

  private closeUdp(): Promise<void> {
    const sock = this.udp;
    this.udp = undefined;
    delete this.boundPorts.udp;
    if (!sock) return Promise.resolve();
    return new Promise((resolve) => sock.close(() => resolve()));
  }

  private bindTcp(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true });
      const onError = (err: Error): void => { server.close(); reject(err); };
      server.once('error', onError);
      server.listen({ port, host: this.opts.host, ipv6Only: this.opts.host === '::' ? false : undefined }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.warn('tcp server error', { err }));
        server.on('connection', (socket) => this.acceptTcp(socket));
        this.server = server;
        const addr = server.address();
        this.boundPorts.tcp = typeof addr === 'object' && addr ? addr.port : port;
        resolve();
      });
    });
  }

  private acceptTcp(socket: Socket): void {
    if (this.closing || this.connections.size >= this.opts.maxTcpConnections) {
      const n = normalizeAddress(socket.remoteAddress ?? '');
      socket.destroy();
      this.emit('connectionClosed', 'rejected', 'limit', { transport: 'tcp', address: n.address, port: socket.remotePort ?? 0, family: n.family });
      return;
    }
    this.registerTcp(socket);
  }

  private registerTcp(socket: Socket, remote?: { address: string; port: number }): TcpConnection {
    const n = normalizeAddress(remote?.address ?? socket.remoteAddress ?? '');
    const id = `tcp-${this.nextConnId++}`;
    const port = remote?.port ?? socket.remotePort ?? 0;
    const conn: TcpConnection = {
      id, socket, framer: new TcpFramer(this.limits.maxMessageBytes), closed: false,
      source: { transport: 'tcp', address: n.address, port, family: n.family, connectionId: id },
      key: `${n.address}|${port}`,
    };
    this.connections.set(id, conn);
    this.byRemote.set(conn.key, conn);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onTcpData(conn, chunk));
    socket.on('error', (err) => { this.log.debug('tcp connection error', { connectionId: id, err }); this.dropTcp(conn, 'error'); });
    socket.on('close', () => this.dropTcp(conn, 'peer'));
    this.touch(conn);
    return conn;
  }

  private touch(conn: TcpConnection): void {
    this.clock.clearTimeout(conn.idleTimer);
    conn.idleTimer = this.clock.setTimeout(() => this.dropTcp(conn, 'idle'), this.opts.tcpIdleTimeoutMs);
  }

  private onTcpData(conn: TcpConnection, chunk: Buffer): void {
    if (conn.closed) return;
    this.touch(conn);
    const r = conn.framer.push(chunk);
    if (r.pings > 0) conn.socket.write('\r\n'.repeat(r.pings));
    for (const m of r.messages) {
      if (conn.closed) return;
      this.handleInbound(m, conn.source);
    }
    if (r.error) {
      if (r.badFrame) this.handleInbound(r.badFrame, conn.source);
      this.log.debug('tcp framing error', { connectionId: conn.id, error: r.error });
      // Let a queued 400 flush before the connection goes.
      conn.socket.end();
      this.dropTcp(conn, r.error === 'too_large' ? 'oversize' : 'framing', false);
      return;
    }
    if (conn.framer.buffered > 0) {
      conn.messageTimer ??= this.clock.setTimeout(() => this.dropTcp(conn, 'slow'), this.opts.tcpMessageTimeoutMs);
    } else {
      this.clock.clearTimeout(conn.messageTimer);
      conn.messageTimer = undefined;
    }
  }

  private dropTcp(conn: TcpConnection, reason: ConnectionCloseReason, destroy = true): void {
    if (conn.closed) return;
    conn.closed = true;
    this.clock.clearTimeout(conn.idleTimer);
    this.clock.clearTimeout(conn.messageTimer);
    this.connections.delete(conn.id);
    if (this.byRemote.get(conn.key) === conn) this.byRemote.delete(conn.key);
    if (destroy) {
      conn.socket.destroy();
    } else {
      // Half-closed after a final error response: give the peer a moment to read it, never forever.
      const sock = conn.socket;
      this.lingering.add(sock);
      const t = this.clock.setTimeout(() => { this.lingering.delete(sock); sock.destroy(); }, 2000);
      sock.once('close', () => { this.clock.clearTimeout(t); this.lingering.delete(sock); });
    }
    this.emit('connectionClosed', conn.id, reason, conn.source);
  }

  private handleInbound(buf: Buffer, source: SipSource): void {
    if (this.closing) return;
    // Bare CRLF keep-alives over UDP are not messages.
    if (buf.length <= 4 && /^[\r\n]*$/.test(buf.toString('latin1'))) return;
    const r = parseSipMessage(buf, this.limits);
    if (!r.ok) {
      this.emit('parseError', r.error, source);
      if (r.error.respondable && r.error.partial) {
        const res = buildErrorResponse(r.error.partial, r.error.status, r.error.reason, source);
        this.sendResponse(res, source).catch((err: unknown) => this.log.debug('could not send error response', { err, reason: r.error.reason }));
      }
      return;
    }
    const msg = r.message;
    if (msg.kind === 'request') {
      stampTopVia(msg.headers, source);
      this.emit('request', msg, source);
    } else {
      this.emit('response', msg, source);
    }
  }

  async send(message: SipMessage | Buffer, dest: SipDestination): Promise<void> {
    const bytes = Buffer.isBuffer(message) ? message : serializeMessage(message);
    if (this.closing) throw new SipTransportError('transport closed', dest);
    if (dest.transport === 'udp') {
      const sock = this.udp;
      if (!sock) throw new SipTransportError('UDP transport not enabled', dest);
      await new Promise<void>((resolve, reject) => {
        sock.send(bytes, dest.port, dest.address, (err) => err ? reject(new SipTransportError(`UDP send to ${dest.address}:${dest.port} failed: ${err.message}`, dest, { cause: err })) : resolve());
      });
      return;
    }
    const conn = await this.tcpFor(dest);
    this.touch(conn);
    await new Promise<void>((resolve, reject) => {
      conn.socket.write(bytes, (err) => err ? reject(new SipTransportError(`TCP send on ${conn.id} failed: ${err.message}`, dest, { cause: err })) : resolve());
    });
  }

  sendResponse(res: SipResponse, source?: SipSource): Promise<void> {
    const dest = responseDestination(res, source);
    if (!dest) return Promise.reject(new SipTransportError('response has no usable Via', { transport: 'udp', address: '', port: 0 }));
    return this.send(res, dest);
  }

  private async tcpFor(dest: SipDestination): Promise<TcpConnection> {
    if (!this.opts.tcp) throw new SipTransportError('TCP transport not enabled', dest);
    if (dest.connectionId) {
      const c = this.connections.get(dest.connectionId);
      if (c && !c.closed) return c;
    }
    const n = normalizeAddress(dest.address);
    const existing = this.byRemote.get(`${n.address}|${dest.port}`);
    if (existing && !existing.closed) return existing;
    const pending = this.connecting.get(`${n.address}|${dest.port}`);
    if (pending) return pending;
    if (this.connections.size >= this.opts.maxTcpConnections) throw new SipTransportError('TCP connection limit reached', dest);
    const p = this.connectTcp(dest);
    const key = `${n.address}|${dest.port}`;
    this.connecting.set(key, p);
    try { return await p; } finally { this.connecting.delete(key); }
  }

  private connectTcp(dest: SipDestination): Promise<TcpConnection> {
    return new Promise<TcpConnection>((resolve, reject) => {
      const socket = connect({ host: dest.address, port: dest.port, noDelay: true });
      const timer = this.clock.setTimeout(() => {
        socket.destroy();
        reject(new SipTransportError(`TCP connect to ${dest.address}:${dest.port} timed out`, dest));
      }, this.opts.tcpConnectTimeoutMs);
      socket.once('error', (err) => {
        this.clock.clearTimeout(timer);
        reject(new SipTransportError(`TCP connect to ${dest.address}:${dest.port} failed: ${err.message}`, dest, { cause: err }));
      });
      socket.once('connect', () => {
        this.clock.clearTimeout(timer);
        if (this.closing) { socket.destroy(); reject(new SipTransportError('transport closed', dest)); return; }
        resolve(this.registerTcp(socket, { address: dest.address, port: dest.port }));
      });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const c of [...this.connections.values()]) this.dropTcp(c, 'shutdown');
    for (const s of this.lingering) s.destroy();
    this.lingering.clear();
    const server = this.server;
    this.server = undefined;
    await Promise.all([
      this.closeUdp(),
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve(),
    ]);
  }
}

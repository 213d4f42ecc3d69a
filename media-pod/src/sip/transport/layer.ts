/**
 * The SIP transport layer: UDP and TCP listeners on one host:port and an optional TLS listener on
 * its own port (RFC 3261 §26.2), stream framing with per-connection bounds shared by TCP and TLS
 * (idle timeout, message-completion timeout, buffered bytes, connection cap), Via stamping on the
 * way in, stateless 4xx for malformed requests, and response routing on the way out.
 */
import { EventEmitter } from 'node:events';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, isIP, isIPv6, type Server, type Socket } from 'node:net';
import {
  connect as tlsConnect, createSecureContext, createServer as createTlsServer, rootCertificates,
  type Server as TlsServer, type TLSSocket,
} from 'node:tls';
import { networkInterfaces } from 'node:os';
import { createLogger, type Logger } from '@sipflow/operator/log';
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import { DEFAULT_PARSE_LIMITS, parseSipMessage, serializeMessage, type ParseLimits, type SipMessage, type SipResponse } from '../message/index.js';
import { buildErrorResponse, normalizeAddress, responseDestination, stampTopVia } from './routing.js';
import { TcpFramer } from './tcp-framer.js';
import {
  SipTransportError, type AdvertisedAddress, type ConnectionCloseReason, type SipDestination, type SipSource,
  type SipTransport, type SipTransportEvents, type SipTransportProtocol,
} from './types.js';

export interface SipTlsOptions {
  /** Listen port for SIP over TLS on the same host as UDP/TCP; 0 picks a free port. */
  port: number;
  cert: string | Buffer;
  key: string | Buffer;
  /**
   * Extra trusted CAs. Inbound client certificates (with requestClientCert) are checked against
   * these alone when given, else Node's bundled roots; outbound servers against the roots plus these.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Default TLSv1.2. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Mutual TLS: ask every client for a certificate and refuse the handshake without a valid one. Default false. */
  requestClientCert?: boolean;
  /** A handshake must finish within this time or the connection is closed. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Outbound connections verify the server certificate. Default true; false is for tests only. */
  rejectUnauthorized?: boolean;
}

export interface SipTransportOptions {
  /** Listen address: an IPv4 or IPv6 literal (`0.0.0.0`, `::`, `127.0.0.2`, `::1`). */
  host: string;
  /** Listen port; 0 picks a free port (the same one for UDP and TCP when possible). */
  port: number;
  udp?: boolean;
  tcp?: boolean;
  /** SIP over TLS on its own port; off when absent. */
  tls?: SipTlsOptions;
  /** Address for Contact/Via/SDP. Defaults to the listen host (or a local interface for wildcards) and the bound ports. */
  advertised?: { host: string; port?: number; tlsPort?: number };
  limits?: Partial<ParseLimits>;
  /** Close a TCP connection after this long without traffic either way. Default 60 s. */
  tcpIdleTimeoutMs?: number;
  /** Once a message's first byte arrives, all of it must arrive within this time (slowloris). Default 10 s. */
  tcpMessageTimeoutMs?: number;
  /** Accepted (TLS: also those still in their handshake) plus outbound TCP and TLS connections. Default 1024. */
  maxTcpConnections?: number;
  tcpConnectTimeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

type StreamProtocol = Exclude<SipTransportProtocol, 'udp'>;

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

/** A remote peer of a TLS connection still in its handshake; `failure` is why it failed, once known. */
interface PendingHandshake { raw: Socket; source: SipSource; failure?: { code: string; reason: string } }

const HANDSHAKE_LOG_WINDOW_MS = 10_000;
const HANDSHAKE_LOGS_PER_WINDOW = 20;

function remoteKey(transport: StreamProtocol, address: string, port: number): string { return `${transport}|${address}|${port}`; }

function isWildcard(host: string): boolean { return host === '0.0.0.0' || host === '::'; }

function firstInterfaceAddress(v6: boolean): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (!a.internal && (a.family === 'IPv6') === v6) return a.address;
  }
  return undefined;
}

export class SipTransportLayer extends EventEmitter<SipTransportEvents> implements SipTransport {
  private readonly opts: Required<Omit<SipTransportOptions, 'advertised' | 'limits' | 'logger' | 'clock' | 'tls'>>;
  private readonly limits: ParseLimits;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly family: 4 | 6;
  private udp?: UdpSocket;
  private server?: Server;
  private tlsServer?: TlsServer;
  private tlsCreds?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | Array<string | Buffer> };
  private readonly handshaking = new Map<string, PendingHandshake>();
  private handshakeLog = { windowStart: -Infinity, logged: 0, suppressed: 0 };
  private readonly connections = new Map<string, TcpConnection>();
  private readonly byRemote = new Map<string, TcpConnection>();
  private readonly connecting = new Map<string, Promise<TcpConnection>>();
  private readonly lingering = new Set<Socket>();
  private nextConnId = 1;
  private boundPorts: { udp?: number; tcp?: number; tls?: number } = {};
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
    if (options.tls) this.tlsCreds = { cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca } : {}) };
  }

  /** Creates a transport and waits until it listens. */
  static async listen(options: SipTransportOptions): Promise<SipTransportLayer> {
    const t = new SipTransportLayer(options);
    await t.listen();
    return t;
  }

  /** Bound ports (useful with port 0). */
  get ports(): { udp?: number; tcp?: number; tls?: number } { return { ...this.boundPorts }; }

  get advertised(): AdvertisedAddress {
    if (!this.adv) throw new Error('SipTransportLayer.advertised read before listen()');
    return this.adv;
  }

  advertisedFor(transport: SipTransportProtocol): AdvertisedAddress {
    const adv = this.advertised;
    if (transport !== 'tls') return adv;
    const port = this.options.advertised?.tlsPort ?? this.boundPorts.tls;
    if (port === undefined) throw new Error('SipTransportLayer.advertisedFor(tls): TLS is not enabled');
    return { host: adv.host, port };
  }

  get tlsEnabled(): boolean { return this.tlsServer !== undefined; }

  /** Open TCP and TLS connections (TLS handshakes in progress not included). */
  get tcpConnectionCount(): number { return this.connections.size; }

  /** TLS connections still in their handshake. */
  get tlsHandshakeCount(): number { return this.handshaking.size; }

  /**
   * New certificate and key (and CA) for connections accepted and opened from now on; open
   * connections keep theirs. Throws (and keeps the current ones) when they do not parse or match.
   */
  reloadTlsCredentials(creds: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | Array<string | Buffer> }): void {
    const server = this.tlsServer;
    if (!server) throw new Error('SipTransportLayer.reloadTlsCredentials: TLS is not enabled');
    const next = { cert: creds.cert, key: creds.key, ...(creds.ca ? { ca: creds.ca } : {}) };
    // createSecureContext throws on a bad or mismatched pair before anything is swapped.
    createSecureContext(this.serverTlsOptions(next));
    server.setSecureContext(this.serverTlsOptions(next));
    this.tlsCreds = next;
  }

  private serverTlsOptions(c: NonNullable<SipTransportLayer['tlsCreds']>): {
    cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | Array<string | Buffer>; minVersion: 'TLSv1.2' | 'TLSv1.3';
  } {
    return { cert: c.cert, key: c.key, ...(c.ca ? { ca: c.ca } : {}), minVersion: this.options.tls?.minVersion ?? 'TLSv1.2' };
  }

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
    if (this.options.tls) {
      try {
        await this.bindTls(this.options.tls);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    const port = this.options.advertised?.port ?? this.boundPorts.udp ?? this.boundPorts.tcp ?? 0;
    const host = this.options.advertised?.host
      ?? (isWildcard(this.opts.host) ? (firstInterfaceAddress(this.family === 6) ?? (this.family === 6 ? '::1' : '127.0.0.1')) : this.opts.host);
    this.adv = { host, port };
    this.log.info('sip transport listening', {
      host: this.opts.host, udpPort: this.boundPorts.udp, tcpPort: this.boundPorts.tcp, tlsPort: this.boundPorts.tls, advertised: `${host}:${port}`,
    });
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

  private bindTls(tls: SipTlsOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      const requestCert = tls.requestClientCert ?? false;
      const server = createTlsServer({
        ...this.serverTlsOptions(this.tlsCreds!),
        // The client certificate is checked in acceptTlsSecure, so a refusal can be logged with its reason.
        requestCert, rejectUnauthorized: false, handshakeTimeout: tls.handshakeTimeoutMs ?? 10_000, noDelay: true,
      });
      const onError = (err: Error): void => { server.close(); reject(err); };
      server.once('error', onError);
      server.listen({ port: tls.port, host: this.opts.host, ipv6Only: this.opts.host === '::' ? false : undefined }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.warn('tls server error', { err }));
        server.on('connection', (raw: Socket) => this.acceptTlsRaw(raw));
        server.on('secureConnection', (socket: TLSSocket) => this.acceptTlsSecure(socket));
        server.on('tlsClientError', (err: Error, socket: TLSSocket) => this.onTlsHandshakeError(err, socket));
        this.tlsServer = server;
        const addr = server.address();
        this.boundPorts.tls = typeof addr === 'object' && addr ? addr.port : tls.port;
        resolve();
      });
    });
  }

  private get streamCount(): number { return this.connections.size + this.handshaking.size; }

  /** A TCP connection arrived at the TLS port: counted against the cap while its handshake runs. */
  private acceptTlsRaw(raw: Socket): void {
    const n = normalizeAddress(raw.remoteAddress ?? '');
    const source: SipSource = { transport: 'tls', address: n.address, port: raw.remotePort ?? 0, family: n.family };
    if (this.closing || this.streamCount >= this.opts.maxTcpConnections) {
      raw.destroy();
      this.emit('connectionClosed', 'rejected', 'limit', source);
      return;
    }
    const key = `${source.address}|${source.port}`;
    const pending: PendingHandshake = { raw, source };
    this.handshaking.set(key, pending);
    // Still pending when the socket closes means the handshake never finished.
    raw.once('close', () => {
      if (this.handshaking.get(key) !== pending) return;
      this.handshaking.delete(key);
      this.logHandshakeFailure(source, pending.failure ?? { code: 'closed', reason: 'the peer closed the connection during the handshake' });
      this.emit('connectionClosed', 'handshake', 'tls_handshake', source);
    });
  }

  private acceptTlsSecure(socket: TLSSocket): void {
    const n = normalizeAddress(socket.remoteAddress ?? '');
    const key = `${n.address}|${socket.remotePort ?? 0}`;
    const pending = this.handshaking.get(key);
    if (this.closing || !pending || socket.destroyed) { socket.destroy(); return; }
    if (this.options.tls?.requestClientCert && !socket.authorized) {
      const code = String(socket.authorizationError ?? 'NO_CLIENT_CERTIFICATE');
      pending.failure = { code, reason: 'client certificate refused' };
      socket.destroy();
      return;
    }
    this.handshaking.delete(key);
    this.registerTcp(socket, undefined, 'tls');
  }

  private onTlsHandshakeError(err: Error, socket: TLSSocket): void {
    // Node leaves a timed-out handshake's socket open; every failure ends it here.
    socket.destroy();
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    if (!socket.remoteAddress) return; // gone already; its close reports it
    const pending = this.handshaking.get(`${normalizeAddress(socket.remoteAddress).address}|${socket.remotePort ?? 0}`);
    if (pending) pending.failure ??= { code, reason: err.message.slice(0, 200) };
  }

  /** One line per failed handshake, at most HANDSHAKE_LOGS_PER_WINDOW per window (scanners hit TLS ports a lot). */
  private logHandshakeFailure(source: SipSource, failure: { code: string; reason: string }): void {
    const now = this.clock.now();
    const w = this.handshakeLog;
    if (now - w.windowStart >= HANDSHAKE_LOG_WINDOW_MS) { w.windowStart = now; w.logged = 0; }
    if (w.logged >= HANDSHAKE_LOGS_PER_WINDOW) { w.suppressed++; return; }
    w.logged++;
    this.log.info('tls handshake failed; connection closed', {
      remote: `${source.address}:${source.port}`, code: failure.code, reason: failure.reason,
      ...(w.suppressed > 0 ? { suppressedBefore: w.suppressed } : {}),
    });
    w.suppressed = 0;
  }

  private acceptTcp(socket: Socket): void {
    if (this.closing || this.streamCount >= this.opts.maxTcpConnections) {
      const n = normalizeAddress(socket.remoteAddress ?? '');
      socket.destroy();
      this.emit('connectionClosed', 'rejected', 'limit', { transport: 'tcp', address: n.address, port: socket.remotePort ?? 0, family: n.family });
      return;
    }
    this.registerTcp(socket);
  }

  private registerTcp(socket: Socket, remote?: { address: string; port: number }, transport: StreamProtocol = 'tcp'): TcpConnection {
    const n = normalizeAddress(remote?.address ?? socket.remoteAddress ?? '');
    const id = `${transport}-${this.nextConnId++}`;
    const port = remote?.port ?? socket.remotePort ?? 0;
    const conn: TcpConnection = {
      id, socket, framer: new TcpFramer(this.limits.maxMessageBytes), closed: false,
      source: { transport, address: n.address, port, family: n.family, connectionId: id },
      key: remoteKey(transport, n.address, port),
    };
    this.connections.set(id, conn);
    this.byRemote.set(conn.key, conn);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onTcpData(conn, chunk));
    socket.on('error', (err) => { this.log.debug(`${transport} connection error`, { connectionId: id, err }); this.dropTcp(conn, 'error'); });
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
      conn.socket.write(bytes, (err) => err ? reject(new SipTransportError(`${dest.transport.toUpperCase()} send on ${conn.id} failed: ${err.message}`, dest, { cause: err })) : resolve());
    });
  }

  sendResponse(res: SipResponse, source?: SipSource): Promise<void> {
    const dest = responseDestination(res, source);
    if (!dest) return Promise.reject(new SipTransportError('response has no usable Via', { transport: 'udp', address: '', port: 0 }));
    return this.send(res, dest);
  }

  private async tcpFor(dest: SipDestination): Promise<TcpConnection> {
    const transport: StreamProtocol = dest.transport === 'tls' ? 'tls' : 'tcp';
    if (transport === 'tcp' && !this.opts.tcp) throw new SipTransportError('TCP transport not enabled', dest);
    if (transport === 'tls' && !this.tlsServer) throw new SipTransportError('TLS transport not enabled', dest);
    if (dest.connectionId) {
      const c = this.connections.get(dest.connectionId);
      // Never a TLS message on a plain TCP connection (SDES keys would leave in clear), nor the reverse.
      if (c && !c.closed && c.source.transport === transport) return c;
    }
    const n = normalizeAddress(dest.address);
    const key = remoteKey(transport, n.address, dest.port);
    const existing = this.byRemote.get(key);
    if (existing && !existing.closed) return existing;
    const pending = this.connecting.get(key);
    if (pending) return pending;
    if (this.streamCount >= this.opts.maxTcpConnections) throw new SipTransportError(`${transport.toUpperCase()} connection limit reached`, dest);
    const p = transport === 'tls' ? this.connectTls(dest) : this.connectTcp(dest);
    this.connecting.set(key, p);
    try { return await p; } finally { this.connecting.delete(key); }
  }

  private connectTcp(dest: SipDestination): Promise<TcpConnection> {
    return this.connectStream(dest, 'tcp', () => connect({ host: dest.address, port: dest.port, noDelay: true }), 'connect');
  }

  /** RFC 3261 §26.2 / RFC 5922: the server's certificate is verified unless a test turned that off. */
  private connectTls(dest: SipDestination): Promise<TcpConnection> {
    const tls = this.options.tls!;
    const creds = this.tlsCreds!;
    const extraCa = creds.ca === undefined ? [] : Array.isArray(creds.ca) ? creds.ca : [creds.ca];
    const name = dest.tlsServerName ?? (isIP(dest.address) ? undefined : dest.address);
    return this.connectStream(dest, 'tls', () => tlsConnect({
      host: dest.address, port: dest.port,
      // Our own certificate too, for peers that ask for one (mutual TLS trunks).
      cert: creds.cert, key: creds.key,
      ...(extraCa.length > 0 ? { ca: [...rootCertificates, ...extraCa] } : {}),
      ...(name ? { servername: name } : {}),
      minVersion: tls.minVersion ?? 'TLSv1.2',
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    }), 'secureConnect');
  }

  private connectStream(dest: SipDestination, transport: StreamProtocol, open: () => Socket, ready: 'connect' | 'secureConnect'): Promise<TcpConnection> {
    const what = transport.toUpperCase();
    return new Promise<TcpConnection>((resolve, reject) => {
      const socket = open();
      const timer = this.clock.setTimeout(() => {
        socket.destroy();
        reject(new SipTransportError(`${what} connect to ${dest.address}:${dest.port} timed out`, dest));
      }, this.opts.tcpConnectTimeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => {
        this.clock.clearTimeout(timer);
        socket.destroy();
        reject(new SipTransportError(`${what} connect to ${dest.address}:${dest.port} failed: ${err.code ?? ''} ${err.message}`.replace(/ {2}/, ' '), dest, { cause: err }));
      });
      socket.once(ready, () => {
        this.clock.clearTimeout(timer);
        if (this.closing) { socket.destroy(); reject(new SipTransportError('transport closed', dest)); return; }
        resolve(this.registerTcp(socket, { address: dest.address, port: dest.port }, transport));
      });
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const c of [...this.connections.values()]) this.dropTcp(c, 'shutdown');
    for (const p of [...this.handshaking.values()]) p.raw.destroy();
    for (const s of this.lingering) s.destroy();
    this.lingering.clear();
    const server = this.server;
    this.server = undefined;
    const tlsServer = this.tlsServer;
    this.tlsServer = undefined;
    await Promise.all([
      this.closeUdp(),
      server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve(),
      tlsServer ? new Promise<void>((resolve) => tlsServer.close(() => resolve())) : Promise.resolve(),
    ]);
  }
}

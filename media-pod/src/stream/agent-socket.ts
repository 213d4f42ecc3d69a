/**
 * The WebSocket client a `<Stream>` dials its agent with (RFC 6455, client side, no extensions).
 *
 * It exists because the stream's per-frame cost matters: every call sends the agent a message
 * and usually receives one back every 20 ms. So the socket reads with `onread` into one buffer
 * shared by every connection (no buffer allocated per read), parses frames in place and hands
 * each message to the handler as a view into that buffer, and writes each outgoing frame as one
 * buffer, masked while it is copied. Nothing goes through Node's stream machinery beyond the
 * socket's own write.
 *
 * What a client must do is all here: the opening handshake with its accept check and a timeout,
 * masking from a strong random source, fragmented messages, ping/pong, the closing handshake,
 * UTF-8 checks on text, and a size limit applied to a frame's declared length before its payload
 * is buffered. Protocol errors by the server fail the connection with the matching close code.
 */

import net from 'node:net';
import tls from 'node:tls';
import { isUtf8 } from 'node:buffer';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = typeof CONNECTING | typeof OPEN | typeof CLOSING | typeof CLOSED;

export type AgentSocketErrorCode =
  | 'handshake_failed' | 'handshake_timeout' | 'protocol_error' | 'message_too_big' | 'invalid_utf8' | 'socket_error';

export class AgentSocketError extends Error {
  constructor(readonly code: AgentSocketErrorCode, message: string, readonly closeCode?: number) { super(message); }
}

export interface AgentSocketOptions {
  /** ws:// or wss:// (query string kept). */
  readonly url: string;
  /** Extra request headers for the upgrade (e.g. a signature). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest message accepted, in bytes (a larger one fails the connection with 1009). */
  readonly maxPayload: number;
  /** From the start of the connection attempt to the server's 101. */
  readonly handshakeTimeoutMs: number;
  /** wss:// only: trust anchors beyond Node's (tests); default Node's store and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/**
 * Called in this order: `open` once (or never), `message` any number of times, `error` at most
 * once, then `close` exactly once. None is called from inside the constructor.
 */
export interface AgentSocketHandlers {
  open(): void;
  /**
   * A complete message. `data` may be a view into a buffer that is reused as soon as the handler
   * returns: read it there, or copy it.
   */
  message(data: Buffer, isBinary: boolean): void;
  error(err: AgentSocketError): void;
  /** 1006 when the connection ended without a close frame, 1005 when the frame carried no code. */
  close(code: number, reason: string): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A server's handshake response larger than this is not a WebSocket server's. */
const MAX_HANDSHAKE_BYTES = 16 * 1024;
/** After the closing handshake, how long the server gets to close the TCP connection. */
const CLOSE_LINGER_MS = 1000;
/** After our close frame, how long the server gets to answer it before the connection is dropped. */
const CLOSE_ANSWER_MS = 2000;

/** A carry buffer larger than this is let go once it is empty. */
const CARRY_KEEP_BYTES = 16 * 1024;

/** Every connection reads into this; each read is consumed before the next can happen. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Masking keys come from here, refilled from the CSPRNG (RFC 6455 §5.3: unpredictable keys). */
const MASK_POOL = Buffer.allocUnsafe(8192);
let maskAt = MASK_POOL.length;

function nextMask(out: Buffer, at: number): void {
  if (maskAt + 4 > MASK_POOL.length) { randomFillSync(MASK_POOL); maskAt = 0; }
  out[at] = MASK_POOL[maskAt]!;
  out[at + 1] = MASK_POOL[maskAt + 1]!;
  out[at + 2] = MASK_POOL[maskAt + 2]!;
  out[at + 3] = MASK_POOL[maskAt + 3]!;
  maskAt += 4;
}

/**
 * One masked frame: header, key, and `payload` (bytes, or a string written as UTF-8) XORed with
 * the key, in a single buffer. Small frames come out of Node's shared allocation pool.
 */
function buildFrame(opcode: number, payload: Buffer | string): Buffer {
  const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + 4 + len);
  out[0] = 0x80 | opcode;
  if (hdr === 2) out[1] = 0x80 | len;
  else if (hdr === 4) { out[1] = 0x80 | 126; out.writeUInt16BE(len, 2); }
  else { out[1] = 0x80 | 127; out.writeUInt32BE(Math.floor(len / 2 ** 32), 2); out.writeUInt32BE(len >>> 0, 6); }
  nextMask(out, hdr);
  const at = hdr + 4;
  if (typeof payload === 'string') out.write(payload, at, 'utf8');
  else out.set(payload, at);
  maskInPlace(out, at, len, hdr);
  return out;
}

/** The frame's key, and the same four bytes rotated into a 32-bit word in platform order. */
const keyBytes = new Uint8Array(4);
const maskBytes = new Uint8Array(4);
const maskWord = new Int32Array(maskBytes.buffer);
/** A 32-bit view of the ArrayBuffer masked last: Node's pool serves many frames from one. */
let wordsOf: ArrayBuffer | undefined;
let words = new Int32Array(0);

/**
 * XORs `buf[at, at + len)` with the 4-byte key at `buf[key]` (RFC 6455 §5.3): byte by byte up to
 * a 4-byte boundary of the underlying memory, then a word at a time with the key rotated to match,
 * then the last bytes. A frame's mask was the largest cost of sending media byte by byte.
 */
export function maskInPlace(buf: Buffer, at: number, len: number, key: number): void {
  for (let j = 0; j < 4; j++) keyBytes[j] = buf[key + j]!;
  let i = 0;
  const base = buf.byteOffset + at;
  for (; i < len && ((base + i) & 3) !== 0; i++) buf[at + i] = buf[at + i]! ^ keyBytes[i & 3]!;
  const n = (len - i) >> 2;
  if (n > 0) {
    // Payload byte j takes key byte j % 4, so the word starting at payload offset i begins with key byte i % 4.
    for (let j = 0; j < 4; j++) maskBytes[j] = keyBytes[(i + j) & 3]!;
    const w = maskWord[0]!;
    const ab = buf.buffer as ArrayBuffer; // frames are never built in shared memory
    if (wordsOf !== ab) { wordsOf = ab; words = new Int32Array(ab, 0, ab.byteLength >> 2); }
    const first = (base + i) >> 2;
    for (let j = first, end = first + n; j < end; j++) words[j] = words[j]! ^ w;
    i += n << 2;
  }
  for (; i < len; i++) buf[at + i] = buf[at + i]! ^ keyBytes[i & 3]!;
}

/** Close codes a peer may put on the wire (RFC 6455 §7.4, plus the registered 1012–1014). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function headerSafe(s: string): boolean { return !/[\r\n\0]/.test(s); }

export class AgentSocket {
  private state: ReadyState = CONNECTING;
  private readonly socket: net.Socket;
  private readonly key: string;
  private readonly handlers: AgentSocketHandlers;
  private readonly maxPayload: number;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  /**
   * Bytes of an incomplete handshake response or frame, carried to the next read:
   * `carry[0, carryLength)`. It grows by doubling, so a message trickling in costs linear time.
   */
  private carry: Buffer | undefined;
  private carryLength = 0;
  /** Data frames of a fragmented message so far. */
  private fragments: Buffer[] | undefined;
  private fragmentsBytes = 0;
  private fragmentsBinary = false;
  private closeSent = false;
  private closeReceived: { code: number; reason: string } | undefined;
  private errored = false;
  private closedEmitted = false;

  /** Starts connecting; throws only for a URL or header that cannot be sent. */
  constructor(opts: AgentSocketOptions, handlers: AgentSocketHandlers) {
    const url = new URL(opts.url);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`not a WebSocket URL: ${url.protocol}`);
    this.handlers = handlers;
    this.maxPayload = opts.maxPayload;
    this.key = randomBytes(16).toString('base64');
    const secure = url.protocol === 'wss:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port ? Number(url.port) : secure ? 443 : 80;
    const lines = [
      `GET ${url.pathname || '/'}${url.search} HTTP/1.1`,
      `Host: ${url.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${this.key}`,
      'Sec-WebSocket-Version: 13',
    ];
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || !headerSafe(value)) throw new Error(`upgrade header ${JSON.stringify(name.slice(0, 40))} cannot be sent`);
      lines.push(`${name}: ${value}`);
    }
    const request = `${lines.join('\r\n')}\r\n\r\n`;
    const onread = { buffer: READ_BUFFER, callback: (n: number, buf: Buffer): boolean => { this.onBytes(buf.subarray(0, n)); return true; } };
    if (secure) {
      // TLS sockets take `onread` as net sockets do; @types/node does not list it for tls.connect.
      const tlsOptions: tls.ConnectionOptions & { onread: typeof onread } = {
        host, port, onread, ALPNProtocols: ['http/1.1'],
        ...(net.isIP(host) === 0 ? { servername: host } : {}),
        ...(opts.ca ? { ca: opts.ca as (string | Buffer)[] } : {}),
      };
      this.socket = tls.connect(tlsOptions);
      this.socket.once('secureConnect', () => this.socket.write(request));
    } else {
      this.socket = net.connect({ host, port, onread });
      this.socket.once('connect', () => this.socket.write(request));
    }
    this.socket.setNoDelay(true);
    this.socket.on('error', (err) => this.fail('socket_error', err.message));
    this.socket.on('close', () => this.onSocketClose());
    this.handshakeTimer = setTimeout(() => this.fail('handshake_timeout', 'opening handshake timed out'), opts.handshakeTimeoutMs);
  }

  get readyState(): ReadyState { return this.state; }

  /** Bytes handed to the socket and not yet written to the network. */
  get bufferedAmount(): number { return this.socket.writableLength; }

  /** Sends one text frame (a string, or bytes that are UTF-8); does nothing unless open. */
  send(text: string | Buffer): void {
    if (this.state !== OPEN) return;
    this.socket.write(buildFrame(0x1, text));
  }

  /** Sends one binary frame; does nothing unless open. */
  sendBinary(bytes: Buffer): void {
    if (this.state !== OPEN) return;
    this.socket.write(buildFrame(0x2, bytes));
  }

  /** Starts the closing handshake (or abandons a connection still opening). */
  close(code = 1000, reason = ''): void {
    if (this.state === CLOSED) return;
    if (this.state === CONNECTING) {
      this.fail('handshake_failed', 'closed before the connection was established');
      return;
    }
    if (this.state === OPEN) this.state = CLOSING;
    this.sendClose(code, reason);
    if (this.closeReceived) this.endSocket();
    else this.lingerTimer ??= setTimeout(() => this.socket.destroy(), CLOSE_ANSWER_MS);
  }

  /** Drops the connection at once. */
  terminate(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSING;
    this.socket.destroy();
  }

  // --- reading ------------------------------------------------------------------------------

  private onBytes(view: Buffer): void {
    if (this.state === CLOSED || this.errored) return;
    let data = view;
    if (this.carryLength > 0) {
      this.appendCarry(view);
      data = this.carry!.subarray(0, this.carryLength);
    }
    let off = 0;
    if (this.state === CONNECTING) {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) {
        if (data.length > MAX_HANDSHAKE_BYTES) { this.fail('handshake_failed', 'handshake response too large'); return; }
        if (data === view) this.appendCarry(view);
        return;
      }
      if (!this.acceptHandshake(data.toString('latin1', 0, end))) return;
      off = end + 4;
    }
    off = this.parseFrames(data, off);
    if (!this.reading()) return;
    if (data === view) {
      if (off < view.length) this.appendCarry(view.subarray(off));
    } else if (off >= this.carryLength) {
      this.carryLength = 0;
      if (this.carry!.length > CARRY_KEEP_BYTES) this.carry = undefined; // idle streams hold no large buffer
    } else if (off > 0) {
      this.carry!.copyWithin(0, off, this.carryLength);
      this.carryLength -= off;
    }
  }

  private appendCarry(bytes: Buffer): void {
    const need = this.carryLength + bytes.length;
    if (!this.carry || this.carry.length < need) {
      const next = Buffer.allocUnsafe(Math.max(need, (this.carry?.length ?? 2048) * 2));
      if (this.carry) this.carry.copy(next, 0, 0, this.carryLength);
      this.carry = next;
    }
    bytes.copy(this.carry, this.carryLength);
    this.carryLength = need;
  }

  private acceptHandshake(head: string): boolean {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '');
    if (!status) { this.fail('handshake_failed', 'not an HTTP/1.1 response'); return false; }
    if (status[1] !== '101') { this.fail('handshake_failed', `server answered ${status[1]} instead of 101`); return false; }
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
    const expected = createHash('sha1').update(this.key + GUID).digest('base64');
    let problem: string | undefined;
    if ((headers.get('upgrade') ?? '').toLowerCase() !== 'websocket') problem = 'Upgrade header is not websocket';
    else if (!(headers.get('connection') ?? '').toLowerCase().split(',').some((t) => t.trim() === 'upgrade')) problem = 'Connection header lacks upgrade';
    else if (headers.get('sec-websocket-accept') !== expected) problem = 'Sec-WebSocket-Accept does not match the key';
    else if (headers.has('sec-websocket-extensions')) problem = 'server chose an extension that was not offered';
    else if (headers.has('sec-websocket-protocol')) problem = 'server chose a subprotocol that was not offered';
    if (problem) { this.fail('handshake_failed', problem); return false; }
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    this.state = OPEN;
    this.handlers.open();
    return this.state === OPEN;
  }

  private reading(): boolean { return this.state !== CLOSED && !this.errored; }

  /** Handles every complete frame in `data` from `off`; returns where the incomplete rest starts. */
  private parseFrames(data: Buffer, off: number): number {
    while (this.reading()) {
      const avail = data.length - off;
      if (avail < 2) return off;
      const b0 = data[off]!;
      const b1 = data[off + 1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) { this.protocolError('reserved bits set without an extension'); return off; }
      if ((b1 & 0x80) !== 0) { this.protocolError('server frames must not be masked'); return off; }
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (avail < 4) return off;
        len = data.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (avail < 10) return off;
        const hi = data.readUInt32BE(off + 2);
        len = hi * 2 ** 32 + data.readUInt32BE(off + 6);
        hdr = 10;
      }
      if (opcode >= 0x8) {
        if (opcode > 0xa) { this.protocolError(`unknown control opcode ${opcode}`); return off; }
        if (!fin || len > 125) { this.protocolError('control frames must be whole and at most 125 bytes'); return off; }
      } else if (opcode === 0) {
        if (!this.fragments) { this.protocolError('continuation frame without a message'); return off; }
      } else if (opcode === 1 || opcode === 2) {
        if (this.fragments) { this.protocolError('new message before the fragmented one ended'); return off; }
      } else {
        this.protocolError(`unknown data opcode ${opcode}`);
        return off;
      }
      if (opcode < 0x8 && this.fragmentsBytes + len > this.maxPayload) {
        this.failWith(new AgentSocketError('message_too_big', `message larger than ${this.maxPayload} bytes`, 1009));
        return off;
      }
      if (avail < hdr + len) return off;
      const payload = data.subarray(off + hdr, off + hdr + len);
      off += hdr + len;
      if (opcode >= 0x8) this.onControl(opcode, payload);
      else this.onData(opcode, fin, payload);
    }
    return off;
  }

  private onData(opcode: number, fin: boolean, payload: Buffer): void {
    if (opcode !== 0 && fin) { this.deliver(payload, opcode === 2); return; }
    if (opcode !== 0) { this.fragments = []; this.fragmentsBytes = 0; this.fragmentsBinary = opcode === 2; }
    this.fragments!.push(Buffer.from(payload)); // the view does not outlive this read
    this.fragmentsBytes += payload.length;
    if (!fin) return;
    const whole = Buffer.concat(this.fragments!, this.fragmentsBytes);
    const binary = this.fragmentsBinary;
    this.fragments = undefined;
    this.fragmentsBytes = 0;
    this.deliver(whole, binary);
  }

  private deliver(data: Buffer, binary: boolean): void {
    if (this.state !== OPEN) return; // after our close frame, data is read and dropped
    if (!binary && !isUtf8(data)) {
      this.failWith(new AgentSocketError('invalid_utf8', 'text message is not valid UTF-8', 1007));
      return;
    }
    this.handlers.message(data, binary);
  }

  private onControl(opcode: number, payload: Buffer): void {
    if (opcode === 0x9) { // ping
      if (this.state === OPEN) this.socket.write(buildFrame(0xa, payload));
      return;
    }
    if (opcode === 0xa) return; // pong
    // close
    if (payload.length === 1) { this.protocolError('close frame with a one-byte body'); return; }
    let code = 1005;
    let reason = '';
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) { this.protocolError(`invalid close code ${code}`); return; }
      const text = payload.subarray(2);
      if (!isUtf8(text)) { this.failWith(new AgentSocketError('invalid_utf8', 'close reason is not valid UTF-8', 1007)); return; }
      reason = text.toString('utf8');
    }
    this.closeReceived = { code, reason };
    if (this.state === OPEN) this.state = CLOSING;
    // Echo the code (RFC 6455 §5.5.1), then let the server close the TCP connection first.
    this.sendClose(code === 1005 ? undefined : code, '');
    this.endSocket();
  }

  // --- closing ------------------------------------------------------------------------------

  private sendClose(code: number | undefined, reason: string): void {
    if (this.closeSent || this.socket.destroyed) return;
    this.closeSent = true;
    let body: Buffer;
    if (code === undefined) body = Buffer.alloc(0);
    else {
      const text = Buffer.from(reason, 'utf8').subarray(0, 123);
      body = Buffer.allocUnsafe(2 + text.length);
      body.writeUInt16BE(code, 0);
      text.copy(body, 2);
    }
    this.socket.write(buildFrame(0x8, body));
  }

  private endSocket(): void {
    this.socket.end();
    clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS);
  }

  private protocolError(message: string): void {
    this.failWith(new AgentSocketError('protocol_error', message, 1002));
  }

  private fail(code: AgentSocketErrorCode, message: string): void {
    this.failWith(new AgentSocketError(code, message));
  }

  /** Reports the error once, tells the server why (when it can still be told) and drops the connection. */
  private failWith(err: AgentSocketError): void {
    if (this.errored || this.state === CLOSED) return;
    this.errored = true;
    this.carry = undefined;
    this.carryLength = 0;
    this.fragments = undefined;
    const wasOpen = this.state === OPEN;
    this.state = CLOSING;
    clearTimeout(this.handshakeTimer);
    this.handlers.error(err);
    if (wasOpen && err.closeCode !== undefined) {
      this.sendClose(err.closeCode, err.code);
      this.endSocket();
    } else {
      this.socket.destroy();
    }
  }

  private onSocketClose(): void {
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.lingerTimer);
    if (this.closedEmitted) return;
    const wasConnecting = this.state === CONNECTING;
    this.state = CLOSED;
    this.closedEmitted = true;
    this.carry = undefined;
    this.carryLength = 0;
    this.fragments = undefined;
    if (wasConnecting && !this.errored) {
      this.errored = true;
      this.handlers.error(new AgentSocketError('handshake_failed', 'connection closed during the opening handshake'));
    }
    const received = this.closeReceived;
    this.handlers.close(received && !this.errored ? received.code : 1006, received && !this.errored ? received.reason : '');
  }
}

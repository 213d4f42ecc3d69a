/**
 * The stream's WebSocket client against a real server (the `ws` package's) and against a raw TCP
 * server that sends exactly the bytes a test needs, including the ones a server must not send.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import https from 'node:https';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { AgentSocket, OPEN, CLOSED, maskInPlace, type AgentSocketError, type AgentSocketOptions } from './agent-socket.js';
import { createTestPki, opensslAvailable } from '../sip/transport/test-pki.js';

const T = { timeout: 15_000 };

interface Recorded {
  sock: AgentSocket;
  opened: Promise<void>;
  messages: Array<{ text: string; binary: boolean; bytes: number }>;
  errors: AgentSocketError[];
  closed: Promise<{ code: number; reason: string }>;
  nextMessage(): Promise<{ text: string; binary: boolean; bytes: number }>;
}

function connect(opts: Partial<AgentSocketOptions> & { url: string }): Recorded {
  const messages: Recorded['messages'] = [];
  const errors: AgentSocketError[] = [];
  let waiting: ((m: Recorded['messages'][number]) => void) | undefined;
  let resolveOpen!: () => void;
  let rejectOpen!: (err: Error) => void;
  let resolveClosed!: (v: { code: number; reason: string }) => void;
  const opened = new Promise<void>((res, rej) => { resolveOpen = res; rejectOpen = rej; });
  opened.catch(() => {});
  const closed = new Promise<{ code: number; reason: string }>((res) => { resolveClosed = res; });
  const sock = new AgentSocket({ maxPayload: 65536, handshakeTimeoutMs: 3000, ...opts }, {
    open: () => resolveOpen(),
    message: (data, binary) => {
      // The view is only valid during the call: copy what the test keeps.
      const m = { text: data.toString('utf8'), binary, bytes: data.length };
      if (waiting) { const w = waiting; waiting = undefined; w(m); } else messages.push(m);
    },
    error: (err) => { errors.push(err); rejectOpen(err); },
    close: (code, reason) => { rejectOpen(new Error('closed')); resolveClosed({ code, reason }); },
  });
  return {
    sock, opened, messages, errors, closed,
    nextMessage: () => messages.length > 0 ? Promise.resolve(messages.shift()!) : new Promise((res) => { waiting = res; }),
  };
}

async function wsServer(): Promise<{ wss: WebSocketServer; url: string; conn: Promise<{ ws: WebSocket; req: IncomingMessage }>; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((res) => wss.once('listening', () => res()));
  const conn = new Promise<{ ws: WebSocket; req: IncomingMessage }>((res) => wss.once('connection', (ws, req) => res({ ws, req })));
  const port = (wss.address() as AddressInfo).port;
  return {
    wss, url: `ws://127.0.0.1:${port}`, conn,
    close: () => new Promise<void>((res) => { for (const c of wss.clients) c.terminate(); wss.close(() => res()); }),
  };
}

/** A TCP server that completes the handshake correctly (unless told otherwise) and then runs `script`. */
async function rawServer(script: (sock: net.Socket, head: string) => void, handshake: 'ok' | 'none' | ((key: string) => string) = 'ok', allowHalfOpen = false): Promise<{ url: string; close(): void; received: Buffer[] }> {
  const received: Buffer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen }, (sock) => {
    sockets.add(sock);
    sock.setNoDelay(true);
    let head = '';
    let upgraded = false;
    sock.on('data', (d) => {
      if (upgraded) { received.push(d); return; }
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      if (head.length > end + 4) received.push(Buffer.from(head.slice(end + 4), 'latin1'));
      const key = /sec-websocket-key: (.*)\r\n/i.exec(head)![1]!.trim();
      if (handshake === 'none') { script(sock, head); return; }
      const response = handshake === 'ok'
        ? `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n`
        : handshake(key);
      sock.write(Buffer.from(response, 'latin1'));
      script(sock, head);
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as AddressInfo).port;
  return { url: `ws://127.0.0.1:${port}/raw`, received, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

function acceptOf(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true, extraB0 = 0): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | extraB0 | opcode, len])
    : len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | extraB0 | opcode, 126, len >> 8, len & 0xff])
      : (() => { const h = Buffer.alloc(10); h[0] = (fin ? 0x80 : 0) | extraB0 | opcode; h[1] = 127; h.writeUInt32BE(len, 6); return h; })();
  return Buffer.concat([hdr, payload]);
}

/** Unmasks the client frames in `bytes`; asserts each is masked. */
function clientFrames(bytes: Buffer): Array<{ opcode: number; payload: Buffer; mask: string }> {
  const out: Array<{ opcode: number; payload: Buffer; mask: string }> = [];
  let off = 0;
  while (off + 2 <= bytes.length) {
    const b1 = bytes[off + 1]!;
    assert.ok(b1 & 0x80, 'client frames are masked');
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) { len = bytes.readUInt16BE(off + 2); hdr = 4; } else if (len === 127) { len = bytes.readUInt32BE(off + 6); hdr = 10; }
    const mask = bytes.subarray(off + hdr, off + hdr + 4);
    const payload = Buffer.from(bytes.subarray(off + hdr + 4, off + hdr + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    out.push({ opcode: bytes[off]! & 0x0f, payload, mask: mask.toString('hex') });
    off += hdr + 4 + len;
  }
  return out;
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 300; i++) { if (cond()) return; await new Promise((r) => setTimeout(r, 10)); }
  assert.fail(`timed out waiting for ${what}`);
};

test('opens against a real server, sends the upgrade headers and the query string, and exchanges text both ways', T, async () => {
  const srv = await wsServer();
  try {
    const c = connect({ url: `${srv.url}/agent?token=abc&x=1`, headers: { 'X-Plivo-Signature-V3': 'sig==', 'X-Plivo-Signature-V3-Nonce': '123' } });
    await c.opened;
    assert.equal(c.sock.readyState, OPEN);
    const { ws, req } = await srv.conn;
    assert.equal(req.url, '/agent?token=abc&x=1');
    assert.equal(req.headers['x-plivo-signature-v3'], 'sig==');
    assert.equal(req.headers['x-plivo-signature-v3-nonce'], '123');
    assert.equal(req.headers['sec-websocket-extensions'], undefined, 'no compression is offered');
    const got = new Promise<{ data: string; isBinary: boolean }>((res) => ws.once('message', (d, isBinary) => res({ data: d.toString(), isBinary })));
    c.sock.send('{"event":"start","é":"ü"}');
    assert.deepEqual(await got, { data: '{"event":"start","é":"ü"}', isBinary: false });
    c.sock.send(Buffer.from('{"bytes":true}'));
    assert.equal((await new Promise<Buffer>((res) => ws.once('message', (d) => res(d as Buffer)))).toString(), '{"bytes":true}');
    const binary = new Promise<{ data: Buffer; isBinary: boolean }>((res) => ws.once('message', (d, isBinary) => res({ data: d as Buffer, isBinary })));
    c.sock.sendBinary(Buffer.from([0, 1, 254, 255]));
    assert.deepEqual(await binary, { data: Buffer.from([0, 1, 254, 255]), isBinary: true });
    ws.send('{"event":"playAudio"}');
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.deepEqual(await c.nextMessage(), { text: '{"event":"playAudio"}', binary: false, bytes: 21 });
    assert.deepEqual((await c.nextMessage()).binary, true);
  } finally { await srv.close(); }
});

test('every payload length encoding round-trips: 0, 125, 126, 65535 and 65536+ bytes, both ways', T, async () => {
  const srv = await wsServer();
  try {
    const c = connect({ url: srv.url, maxPayload: 200_000 });
    await c.opened;
    const { ws } = await srv.conn;
    ws.on('message', (d) => ws.send((d as Buffer).toString()));
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 150_000]) {
      const text = 'x'.repeat(Math.max(0, n - 2)).padStart(n, 'ab').slice(0, n);
      c.sock.send(text);
      const echo = await c.nextMessage();
      assert.equal(echo.bytes, n, `length ${n}`);
      assert.equal(echo.text, text);
    }
  } finally { await srv.close(); }
});

test('a fragmented message is delivered whole, with control frames between its fragments answered', T, async () => {
  const raw = await rawServer((sock) => {
    sock.write(Buffer.concat([
      serverFrame(0x1, Buffer.from('{"event":'), false),
      serverFrame(0x9, Buffer.from('ping-1')),
      serverFrame(0x0, Buffer.from('"playAudio",'), false),
      serverFrame(0x0, Buffer.from('"x":1}'), true),
    ]));
  });
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    assert.deepEqual(await c.nextMessage(), { text: '{"event":"playAudio","x":1}', binary: false, bytes: 27 });
    await until(() => raw.received.length > 0, 'the pong');
    const frames = clientFrames(Buffer.concat(raw.received));
    assert.deepEqual(frames.map((f) => [f.opcode, f.payload.toString()]), [[0xa, 'ping-1']]);
    c.sock.terminate();
  } finally { raw.close(); }
});

test('frames split at every byte across reads are reassembled', T, async () => {
  const bytes = Buffer.concat([
    serverFrame(0x1, Buffer.from('{"a":1}')),
    serverFrame(0x1, Buffer.from('y'.repeat(300))),
    serverFrame(0x1, Buffer.from('{"b":2}')),
  ]);
  const raw = await rawServer((sock) => {
    let i = 0;
    const step = (): void => { if (i < bytes.length && !sock.destroyed) { sock.write(bytes.subarray(i, i + 1)); i++; setTimeout(step, i < 20 ? 2 : 0); } };
    step();
  });
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    assert.equal((await c.nextMessage()).text, '{"a":1}');
    assert.equal((await c.nextMessage()).bytes, 300);
    assert.equal((await c.nextMessage()).text, '{"b":2}');
    c.sock.terminate();
  } finally { raw.close(); }
});

test('a large message trickling in small pieces arrives whole, and the frame sharing its last piece too', T, async () => {
  const big = Buffer.alloc(40_000);
  for (let i = 0; i < big.length; i++) big[i] = 0x61 + (i % 26);
  // The read that ends the big frame also starts the next one, which then takes three more reads.
  const after = `{"after":"${'z'.repeat(2500)}"}`;
  const bytes = Buffer.concat([serverFrame(0x1, big), serverFrame(0x1, Buffer.from(after))]);
  const raw = await rawServer((sock) => {
    let i = 0;
    const step = (): void => { if (i < bytes.length && !sock.destroyed) { sock.write(bytes.subarray(i, i + 997)); i += 997; setTimeout(step, 1); } };
    step();
  });
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    const first = await c.nextMessage();
    assert.equal(first.bytes, big.length);
    assert.equal(first.text, big.toString('latin1'));
    assert.equal((await c.nextMessage()).text, after);
    c.sock.terminate();
  } finally { raw.close(); }
});

test('frames that arrive in the same read as the 101 are delivered after open', T, async () => {
  const raw = await rawServer((sock) => { sock.write(serverFrame(0x1, Buffer.from('{"early":true}'))); }, (key) =>
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n${serverFrame(0x1, Buffer.from('{"first":1}')).toString('latin1')}`);
  try {
    const order: string[] = [];
    const c = connect({ url: raw.url });
    void c.opened.then(() => order.push('open'));
    const first = await c.nextMessage();
    order.push(first.text);
    assert.equal((await c.nextMessage()).text, '{"early":true}');
    assert.deepEqual(order, ['open', '{"first":1}']);
    c.sock.terminate();
  } finally { raw.close(); }
});

test('every client frame is masked, with a different key each time', T, async () => {
  const raw = await rawServer(() => {});
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    for (let i = 0; i < 20; i++) c.sock.send(`{"n":${i}}`);
    await until(() => Buffer.concat(raw.received).length >= 20 * 12, 'the frames');
    const frames = clientFrames(Buffer.concat(raw.received));
    assert.equal(frames.length, 20);
    assert.deepEqual(frames.map((f) => f.payload.toString()), Array.from({ length: 20 }, (_, i) => `{"n":${i}}`));
    assert.ok(new Set(frames.map((f) => f.mask)).size >= 19, 'masking keys do not repeat');
    c.sock.terminate();
  } finally { raw.close(); }
});

test('a message over the limit fails with 1009 as soon as its header arrives, without waiting for the payload', T, async () => {
  const srv = await wsServer();
  try {
    const c = connect({ url: srv.url, maxPayload: 1000 });
    await c.opened;
    const { ws } = await srv.conn;
    const serverClose = new Promise<number>((res) => ws.once('close', (code) => res(code)));
    ws.send('z'.repeat(1001));
    const closed = await c.closed;
    assert.equal(c.errors[0]?.code, 'message_too_big');
    assert.equal(closed.code, 1006, 'the error, not a clean close, ended it');
    assert.equal(await serverClose, 1009);
  } finally { await srv.close(); }
  // Only the 10-byte header of a declared 4 GB frame is ever sent.
  const raw = await rawServer((sock) => { sock.write(Buffer.from([0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0])); });
  try {
    const c = connect({ url: raw.url, maxPayload: 65536 });
    await c.closed;
    assert.equal(c.errors[0]?.code, 'message_too_big');
    const frames = clientFrames(Buffer.concat(raw.received));
    assert.equal(frames.at(-1)?.opcode, 0x8);
    assert.equal(frames.at(-1)?.payload.readUInt16BE(0), 1009);
  } finally { raw.close(); }
  // Fragments count together.
  const raw2 = await rawServer((sock) => { sock.write(Buffer.concat([serverFrame(0x1, Buffer.alloc(600, 0x61), false), serverFrame(0x0, Buffer.alloc(600, 0x61), true)])); });
  try {
    const c = connect({ url: raw2.url, maxPayload: 1000 });
    await c.closed;
    assert.equal(c.errors[0]?.code, 'message_too_big');
    assert.equal(c.messages.length, 0);
  } finally { raw2.close(); }
});

for (const [name, bytes, code] of [
  ['a masked server frame', Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x61 ^ 1, 0x62 ^ 2]), 'protocol_error'],
  ['reserved bits without an extension', serverFrame(0x1, Buffer.from('hi'), true, 0x40), 'protocol_error'],
  ['an unknown opcode', serverFrame(0x3, Buffer.from('hi')), 'protocol_error'],
  ['a fragmented ping', serverFrame(0x9, Buffer.from('p'), false), 'protocol_error'],
  ['a continuation without a message', serverFrame(0x0, Buffer.from('x')), 'protocol_error'],
  ['a new message inside a fragmented one', Buffer.concat([serverFrame(0x1, Buffer.from('a'), false), serverFrame(0x1, Buffer.from('b'))]), 'protocol_error'],
  ['a close code that may not be sent', serverFrame(0x8, Buffer.from([0x03, 0xed])), 'protocol_error'],
  ['text that is not UTF-8', serverFrame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), 'invalid_utf8'],
] as const) {
  test(`${name} fails the connection with ${code} and the matching close code`, T, async () => {
    const raw = await rawServer((sock) => { sock.write(bytes); });
    try {
      const c = connect({ url: raw.url });
      await c.opened;
      const closed = await c.closed;
      assert.equal(c.errors.length, 1);
      assert.equal(c.errors[0]!.code, code);
      assert.equal(closed.code, 1006);
      assert.equal(c.messages.length, 0);
      assert.equal(c.sock.readyState, CLOSED);
      const frames = clientFrames(Buffer.concat(raw.received));
      assert.equal(frames.at(-1)?.opcode, 0x8);
      assert.equal(frames.at(-1)?.payload.readUInt16BE(0), code === 'invalid_utf8' ? 1007 : 1002);
    } finally { raw.close(); }
  });
}

test('a close from the server is echoed, and close reports its code and reason', T, async () => {
  const srv = await wsServer();
  try {
    const c = connect({ url: srv.url });
    await c.opened;
    const { ws } = await srv.conn;
    const serverSaw = new Promise<number>((res) => ws.once('close', (code) => res(code)));
    ws.close(4001, 'agent done');
    assert.deepEqual(await c.closed, { code: 4001, reason: 'agent done' });
    assert.equal(await serverSaw, 4001, 'the client echoed the code');
    assert.equal(c.errors.length, 0);
  } finally { await srv.close(); }
});

test('a close without a code reports 1005; a connection dropped without a close frame reports 1006', T, async () => {
  const raw = await rawServer((sock) => { sock.write(serverFrame(0x8, Buffer.alloc(0))); });
  try {
    const c = connect({ url: raw.url });
    assert.equal((await c.closed).code, 1005);
  } finally { raw.close(); }
  const raw2 = await rawServer((sock) => { setTimeout(() => sock.destroy(), 20); });
  try {
    const c = connect({ url: raw2.url });
    await c.opened;
    assert.equal((await c.closed).code, 1006);
  } finally { raw2.close(); }
});

test('close() runs the closing handshake; data after it is dropped', T, async () => {
  const srv = await wsServer();
  try {
    const c = connect({ url: srv.url });
    await c.opened;
    const { ws } = await srv.conn;
    const serverSaw = new Promise<{ code: number; reason: string }>((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })));
    c.sock.send('{"event":"stop"}');
    c.sock.close(1000, 'call_ended');
    c.sock.send('{"late":true}');
    assert.deepEqual(await serverSaw, { code: 1000, reason: 'call_ended' });
    assert.deepEqual(await c.closed, { code: 1000, reason: 'call_ended' });
  } finally { await srv.close(); }
});

test('a server that never answers the close is cut off after a linger', T, async () => {
  // The server neither echoes the close nor closes its side when the client ends its own.
  const raw = await rawServer(() => {}, 'ok', true);
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    c.sock.close(1000, 'bye');
    await until(() => raw.received.length > 0, 'the close frame');
    assert.equal(clientFrames(Buffer.concat(raw.received))[0]?.opcode, 0x8);
    const closed = await c.closed;
    assert.equal(closed.code, 1006, 'no close frame came back');
    assert.equal(c.sock.readyState, CLOSED);
  } finally { raw.close(); }
});

for (const [name, response, expected] of [
  ['a 403', () => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n', /403/],
  ['a redirect', () => 'HTTP/1.1 302 Found\r\nLocation: ws://example.invalid/\r\n\r\n', /302/],
  ['a wrong accept', () => 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n', /Accept/],
  ['no Upgrade header', (key: string) => `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\n\r\n`, /Upgrade/],
  ['an extension not offered', (key: string) => `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptOf(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`, /extension/],
  ['not HTTP', () => 'SIP/2.0 200 OK\r\n\r\n', /HTTP/],
] as const) {
  test(`the handshake fails on ${name}, without open`, T, async () => {
    const raw = await rawServer(() => {}, response);
    try {
      const c = connect({ url: raw.url });
      await assert.rejects(c.opened);
      await c.closed;
      assert.equal(c.errors.length, 1);
      assert.equal(c.errors[0]!.code, 'handshake_failed');
      assert.match(c.errors[0]!.message, expected);
    } finally { raw.close(); }
  });
}

test('a server that accepts TCP but never answers the upgrade times out; a refused port fails', T, async () => {
  const raw = await rawServer(() => {}, 'none');
  try {
    const c = connect({ url: raw.url, handshakeTimeoutMs: 200 });
    await c.closed;
    assert.equal(c.errors[0]?.code, 'handshake_timeout');
  } finally { raw.close(); }
  const probe = net.createServer();
  await new Promise<void>((res) => probe.listen(0, '127.0.0.1', () => res()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((res) => probe.close(() => res()));
  const c = connect({ url: `ws://127.0.0.1:${port}/` });
  assert.equal((await c.closed).code, 1006);
  assert.equal(c.errors[0]?.code, 'socket_error');
  assert.match(c.errors[0]!.message, /ECONNREFUSED/);
});

test('an oversized handshake response is refused', T, async () => {
  const raw = await rawServer((sock) => { sock.write(`HTTP/1.1 101 Switching Protocols\r\nX-Pad: ${'p'.repeat(20_000)}`); }, 'none');
  try {
    const c = connect({ url: raw.url });
    await c.closed;
    assert.equal(c.errors[0]?.code, 'handshake_failed');
    assert.match(c.errors[0]!.message, /too large/);
  } finally { raw.close(); }
});

test('header values and names that would split the request are refused before connecting', () => {
  const handlers = { open() {}, message() {}, error() {}, close() {} };
  assert.throws(() => new AgentSocket({ url: 'ws://127.0.0.1:9/', maxPayload: 10, handshakeTimeoutMs: 10, headers: { 'X-A': 'v\r\nX-Injected: 1' } }, handlers), /cannot be sent/);
  assert.throws(() => new AgentSocket({ url: 'ws://127.0.0.1:9/', maxPayload: 10, handshakeTimeoutMs: 10, headers: { 'X A': 'v' } }, handlers), /cannot be sent/);
  assert.throws(() => new AgentSocket({ url: 'http://127.0.0.1:9/', maxPayload: 10, handshakeTimeoutMs: 10 }, handlers), /not a WebSocket URL/);
});

test('bufferedAmount grows while the server does not read', T, async () => {
  const raw = await rawServer((sock) => { sock.pause(); });
  try {
    const c = connect({ url: raw.url });
    await c.opened;
    const chunk = 'q'.repeat(60_000);
    for (let i = 0; i < 200 && c.sock.bufferedAmount === 0; i++) {
      c.sock.send(chunk);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(c.sock.bufferedAmount > 0, 'unsent bytes are reported');
    c.sock.terminate();
    await c.closed;
  } finally { raw.close(); }
});

test('wss:// verifies the server certificate and carries messages', { ...T, skip: opensslAvailable() ? false : 'openssl not available' }, async () => {
  const pki = createTestPki('agent-socket');
  const server = https.createServer({ cert: pki.leaf.cert, key: pki.leaf.key });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d) => ws.send(`echo:${(d as Buffer).toString()}`)));
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  const port = (server.address() as AddressInfo).port;
  try {
    const c = connect({ url: `wss://localhost:${port}/secure`, ca: pki.caCert });
    await c.opened;
    c.sock.send('{"hello":1}');
    assert.equal((await c.nextMessage()).text, 'echo:{"hello":1}');
    c.sock.close(1000, 'done');
    assert.equal((await c.closed).code, 1000);
    const untrusted = connect({ url: `wss://127.0.0.1:${port}/secure` });
    await untrusted.closed;
    assert.equal(untrusted.errors[0]?.code, 'socket_error');
    assert.match(untrusted.errors[0]!.message, /certificate/i);
  } finally {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await new Promise<void>((res) => server.close(() => res()));
    pki.cleanup();
  }
});

test('mutated frame streams never throw: every connection ends with close, after messages or one error', { timeout: 60_000 }, async () => {
  // Valid traffic to mutate: text, binary, fragments, ping, a large frame, a close.
  const valid = Buffer.concat([
    serverFrame(0x1, Buffer.from('{"event":"playAudio","media":{"payload":"AAAA"}}')),
    serverFrame(0x2, Buffer.from([1, 2, 3, 4])),
    serverFrame(0x1, Buffer.from('{"part":'), false),
    serverFrame(0x9, Buffer.from('p')),
    serverFrame(0x0, Buffer.from('1}'), true),
    serverFrame(0x1, Buffer.alloc(300, 0x61)),
    serverFrame(0x8, Buffer.from([0x03, 0xe8, 0x6f, 0x6b])),
  ]);
  let seed = 12345;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const cases: Buffer[] = [];
  for (let i = 0; i < 150; i++) {
    const m = Buffer.from(valid.subarray(0, 1 + rand(valid.length)));
    for (let e = 0, edits = 1 + rand(4); e < edits; e++) m[rand(m.length)] = rand(256);
    cases.push(m);
  }
  let next = 0;
  const raw = await rawServer((sock) => {
    const bytes = cases[next++]!;
    let at = 0;
    const step = (): void => {
      if (sock.destroyed) return;
      if (at >= bytes.length) { setTimeout(() => sock.destroy(), 5); return; }
      const n = 1 + rand(64);
      sock.write(bytes.subarray(at, at + n));
      at += n;
      setImmediate(step);
    };
    step();
  });
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => { uncaught.push(err); };
  process.on('uncaughtException', onUncaught);
  try {
    for (let i = 0; i < cases.length; i++) {
      const c = connect({ url: raw.url, maxPayload: 1000 });
      const closed = await c.closed;
      assert.ok(c.errors.length <= 1, `case ${i}: at most one error`);
      assert.ok(closed.code >= 1000 && closed.code <= 4999, `case ${i}: close code ${closed.code}`);
      assert.equal(c.sock.readyState, CLOSED);
    }
    assert.deepEqual(uncaught, []);
  } finally {
    process.off('uncaughtException', onUncaught);
    raw.close();
  }
});

test('masking a word at a time gives the bytes RFC 6455 §5.3 defines, at every alignment and length, and touches nothing else', () => {
  const backing = new ArrayBuffer(512);
  for (let offset = 0; offset < 8; offset++) {
    for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 125, 126, 200, 411]) {
      const buf = Buffer.from(backing, offset, 4 + len + 3);
      for (let i = 0; i < buf.length; i++) buf[i] = (i * 37 + offset * 11 + len) & 0xff;
      buf[0] = 0x5a; buf[1] = 0xc3; buf[2] = 0x01; buf[3] = 0xfe; // the key
      const before = Buffer.from(buf);
      maskInPlace(buf, 4, len, 0);
      const key = before.subarray(0, 4);
      for (let j = 0; j < len; j++) assert.equal(buf[4 + j], before[4 + j]! ^ key[j % 4]!, `offset ${offset}, length ${len}, byte ${j}`);
      assert.deepEqual(buf.subarray(0, 4), before.subarray(0, 4), 'the key is left alone');
      assert.deepEqual(buf.subarray(4 + len), before.subarray(4 + len), 'nothing after the payload is touched');
      maskInPlace(buf, 4, len, 0);
      assert.deepEqual(buf, before, 'masking twice restores the payload');
    }
  }
});

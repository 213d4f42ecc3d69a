// Loopback tests of the real UDP/TCP transport: Via stamping, response routing, 400s for
// malformed requests, TCP framing over real sockets, idle/slow/limit cuts driven by a FakeClock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { FakeClock } from '../../clock.js';
import { createLogger } from '@sipflow/operator/log';
import { createResponse, getHeader, parseSipMessage, parseVia, type SipRequest, type SipResponse } from '../message/index.js';
import { SipTransportLayer, type SipTransportOptions } from './layer.js';
import type { SipSource } from './types.js';

const quiet = createLogger('test', 'error');
const T = { timeout: 15_000 };

function options(host: string, extra: Partial<SipTransportOptions> = {}): SipTransportOptions {
  return { host, port: 0, logger: quiet, ...extra };
}

function request(method: string, via: string, body = '', branch = 'z9hG4bKlb1'): string {
  return [
    `${method} sip:app1@sip.example.com SIP/2.0`, `Via: ${via};branch=${branch}`, 'Max-Forwards: 70',
    'From: <sip:alice@example.org>;tag=a1', 'To: <sip:app1@sip.example.com>', `Call-ID: ${branch}@example.org`,
    `CSeq: 1 ${method}`, `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

async function udpClient(host: string): Promise<UdpSocket> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s;
}

class TcpClient {
  data = '';
  private waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => { this.data += d.toString(); for (const w of this.waiters) w(); });
  }
  static async open(host: string, port: number): Promise<TcpClient> {
    const s = connect({ host, port, noDelay: true });
    await once(s, 'connect');
    return new TcpClient(s);
  }
  waitFor(pred: (data: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => { if (pred(this.data)) { this.waiters = this.waiters.filter((w) => w !== check); resolve(); } };
      this.waiters.push(check);
      check();
    });
  }
}

function collect<T>(t: SipTransportLayer, event: 'request' | 'response', n: number): Promise<Array<[T, SipSource]>> {
  return new Promise((resolve) => {
    const got: Array<[T, SipSource]> = [];
    const on = (m: T, s: SipSource): void => {
      got.push([m, s]);
      if (got.length === n) { t.off(event, on as never); resolve(got); }
    };
    t.on(event, on as never);
  });
}

test('UDP: top Via gets received and rport, response routed back to the source port', T, async () => {
  const t = await SipTransportLayer.listen(options('127.0.0.1'));
  const client = await udpClient('127.0.0.1');
  try {
    assert.ok(t.ports.udp && t.ports.udp === t.ports.tcp, 'same port for UDP and TCP');
    assert.deepEqual(t.advertised, { host: '127.0.0.1', port: t.ports.udp });
    const got = collect<SipRequest>(t, 'request', 1);
    client.send(request('OPTIONS', 'SIP/2.0/UDP 192.0.2.99:5999;rport'), t.ports.udp!, '127.0.0.1');
    const [[req, src]] = await got as [[SipRequest, SipSource]];
    const clientPort = client.address().port;
    assert.deepEqual({ ...src }, { transport: 'udp', address: '127.0.0.1', port: clientPort, family: 'IPv4' });
    const via = parseVia(getHeader(req, 'Via')!)!;
    assert.equal(via.received, '127.0.0.1');
    assert.equal(via.rport, clientPort);
    const reply = once(client, 'message');
    await t.sendResponse(createResponse(req, 200, 'OK', { toTag: 'x' }), src);
    const [buf] = await reply as [Buffer];
    const parsed = parseSipMessage(buf);
    assert.ok(parsed.ok && parsed.message.kind === 'response' && parsed.message.status === 200);
  } finally {
    client.close();
    await t.close();
  }
});

test('UDP: malformed request gets 400 with the reason and a parseError event; no request event', T, async () => {
  const t = await SipTransportLayer.listen(options('127.0.0.1', { tcp: false }));
  const client = await udpClient('127.0.0.1');
  let requests = 0;
  t.on('request', () => requests++);
  try {
    const errored = once(t, 'parseError');
    const reply = once(client, 'message');
    client.send(request('INVITE', 'SIP/2.0/UDP 127.0.0.1:1;rport').replace('CSeq: 1 INVITE', 'CSeq: -4 INVITE'), t.ports.udp!, '127.0.0.1');
    const [err] = await errored as [{ reason: string; respondable: boolean }];
    assert.equal(err.reason, 'Malformed CSeq header');
    const [buf] = await reply as [Buffer];
    const text = buf.toString();
    assert.match(text, /^SIP\/2\.0 400 Malformed CSeq header\r\n/);
    assert.match(text, /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:1;rport=\d+;branch=z9hG4bKlb1;received=127\.0\.0\.1\r\n/);
    assert.equal(requests, 0);
  } finally {
    client.close();
    await t.close();
  }
});

test('TCP: partial reads, two messages in one segment, responses on the same connection', T, async () => {
  const t = await SipTransportLayer.listen(options('127.0.0.1'));
  const c = await TcpClient.open('127.0.0.1', t.ports.tcp!);
  try {
    const first = collect<SipRequest>(t, 'request', 1);
    const wire = request('INVITE', 'SIP/2.0/TCP client.invalid:5060', 'v=0\r\ns=-\r\n', 'z9hG4bKpart');
    // Split inside the start line, inside a header and inside the body.
    for (const piece of [wire.slice(0, 10), wire.slice(10, 80), wire.slice(80, wire.length - 3), wire.slice(wire.length - 3)]) {
      c.socket.write(piece);
      await new Promise((r) => setImmediate(r));
    }
    const [[req, src]] = await first as [[SipRequest, SipSource]];
    assert.equal(req.body.toString(), 'v=0\r\ns=-\r\n');
    assert.equal(src.transport, 'tcp');
    assert.ok(src.connectionId);
    assert.equal(parseVia(getHeader(req, 'Via')!)!.received, '127.0.0.1');

    const two = collect<SipRequest>(t, 'request', 2);
    c.socket.write('\r\n\r\n' + request('OPTIONS', 'SIP/2.0/TCP h', '', 'z9hG4bKa') + request('BYE', 'SIP/2.0/TCP h', '', 'z9hG4bKb'));
    const got = await two;
    assert.deepEqual(got.map(([r]) => r.method), ['OPTIONS', 'BYE']);
    assert.equal(got[0]![1].connectionId, src.connectionId);
    await c.waitFor((d) => d.startsWith('\r\n'));

    await t.sendResponse(createResponse(got[1]![0], 200, 'OK', { toTag: 't' }), got[1]![1]);
    await c.waitFor((d) => d.includes('SIP/2.0 200 OK'));
    assert.match(c.data, /CSeq: 1 BYE/);
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('TCP: idle connections are closed after the configured idle time (FakeClock)', T, async () => {
  const clock = new FakeClock();
  const t = await SipTransportLayer.listen(options('127.0.0.1', { clock, tcpIdleTimeoutMs: 1000 }));
  const c = await TcpClient.open('127.0.0.1', t.ports.tcp!);
  try {
    const got = collect<SipRequest>(t, 'request', 1);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TCP h'));
    await got;
    clock.advance(999);
    assert.equal(t.tcpConnectionCount, 1);
    const closedEv = once(t, 'connectionClosed');
    const closed = once(c.socket, 'close');
    clock.advance(1);
    const [, reason] = await closedEv;
    assert.equal(reason, 'idle');
    await closed;
    assert.equal(t.tcpConnectionCount, 0);
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('TCP: a message that never completes is cut (slowloris); extra connections over the cap are refused', T, async () => {
  const clock = new FakeClock();
  const t = await SipTransportLayer.listen(options('127.0.0.1', { clock, tcpMessageTimeoutMs: 500, maxTcpConnections: 1 }));
  const c = await TcpClient.open('127.0.0.1', t.ports.tcp!);
  let c2: TcpClient | undefined;
  try {
    const reasons: string[] = [];
    t.on('connectionClosed', (_id, reason) => reasons.push(reason));
    // A whole message followed by half of the next one in one segment: the request event proves the
    // segment was processed, and with it the per-message timer for the unfinished one was started.
    const got = collect<SipRequest>(t, 'request', 1);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TCP h') + 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP');
    await got;
    // The cap is 1, so a second client is refused.
    const limitEv = once(t, 'connectionClosed');
    c2 = await TcpClient.open('127.0.0.1', t.ports.tcp!);
    await limitEv;
    assert.deepEqual(reasons, ['limit']);
    clock.advance(499);
    assert.equal(t.tcpConnectionCount, 1);
    const slowEv = once(t, 'connectionClosed');
    clock.advance(1);
    await slowEv;
    assert.deepEqual(reasons, ['limit', 'slow']);
  } finally {
    c.socket.destroy();
    c2?.socket.destroy();
    await t.close();
  }
});

test('IPv6 ::1: UDP and TCP, received filled with the IPv6 source', T, async () => {
  const t = await SipTransportLayer.listen(options('::1'));
  const client = await udpClient('::1');
  const c = await TcpClient.open('::1', t.ports.tcp!);
  try {
    assert.deepEqual(t.advertised, { host: '::1', port: t.ports.udp });
    const got = collect<SipRequest>(t, 'request', 2);
    client.send(request('OPTIONS', 'SIP/2.0/UDP [2001:db8::1]:5060;rport', '', 'z9hG4bKv6u'), t.ports.udp!, '::1');
    c.socket.write(request('OPTIONS', 'SIP/2.0/TCP [2001:db8::1]:5060', '', 'z9hG4bKv6t'));
    const reqs = await got;
    for (const [req, src] of reqs) {
      assert.equal(src.family, 'IPv6');
      assert.equal(src.address, '::1');
      assert.equal(parseVia(getHeader(req, 'Via')!)!.received, '::1');
    }
    const udpReq = reqs.find(([, s]) => s.transport === 'udp')!;
    const reply = once(client, 'message');
    await t.sendResponse(createResponse(udpReq[0], 200, 'OK', { toTag: 'x' }), udpReq[1]);
    const [buf] = await reply as [Buffer];
    assert.match(buf.toString(), /^SIP\/2\.0 200 OK/);
  } finally {
    client.close();
    c.socket.destroy();
    await t.close();
  }
});

test('outbound TCP send() connects once, the peer answers on that connection; close() frees the port', T, async () => {
  const a = await SipTransportLayer.listen(options('127.0.0.1'));
  const b = await SipTransportLayer.listen(options('127.0.0.2', { advertised: { host: 'sip.example.com', port: 5060 } }));
  try {
    assert.deepEqual(b.advertised, { host: 'sip.example.com', port: 5060 });
    const atB = collect<SipRequest>(b, 'request', 2);
    const dest = { transport: 'tcp' as const, address: '127.0.0.2', port: b.ports.tcp! };
    await Promise.all([
      a.send(Buffer.from(request('OPTIONS', `SIP/2.0/TCP 127.0.0.1:${a.ports.tcp}`, '', 'z9hG4bKo1')), dest),
      a.send(Buffer.from(request('OPTIONS', `SIP/2.0/TCP 127.0.0.1:${a.ports.tcp}`, '', 'z9hG4bKo2')), dest),
    ]);
    const reqs = await atB;
    assert.equal(a.tcpConnectionCount, 1, 'concurrent sends share one connection');
    assert.equal(reqs[0]![1].connectionId, reqs[1]![1].connectionId);
    const atA = collect<SipResponse>(a, 'response', 1);
    await b.sendResponse(createResponse(reqs[0]![0], 200, 'OK', { toTag: 'b' }), reqs[0]![1]);
    const [[res, src]] = await atA as [[SipResponse, SipSource]];
    assert.equal(res.status, 200);
    assert.equal(src.transport, 'tcp');
  } finally {
    await a.close();
  }
  const port = b.ports.udp!;
  await b.close();
  const again = await SipTransportLayer.listen({ ...options('127.0.0.2'), port });
  assert.equal(again.ports.udp, port);
  await again.close();
});

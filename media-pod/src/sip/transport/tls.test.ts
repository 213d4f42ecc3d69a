// Loopback tests of SIP over TLS in the real transport: requests and responses on one connection,
// failed handshakes closing only their connection, certificate reload, the stream limits and the
// connection cap shared with TCP, outbound TLS with certificate checks, and mutual TLS.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { createLogger } from '@sipflow/operator/log';
import { FakeClock } from '../../clock.js';
import { createResponse, getHeader, parseVia, type SipRequest, type SipResponse } from '../message/index.js';
import { SipTransportLayer, type SipTransportOptions } from './layer.js';
import { createTestPki, opensslAvailable, type TestPki } from './test-pki.js';
import type { ConnectionCloseReason, SipSource } from './types.js';

const quiet = createLogger('test', 'error');
const skip = opensslAvailable() ? false : 'openssl is not installed';
const T = { timeout: 20_000, skip };

let pki: TestPki;
let pki2: TestPki;
before(() => {
  if (skip) return;
  pki = createTestPki('sipflow-a');
  pki2 = createTestPki('sipflow-b');
});
after(() => { pki?.cleanup(); pki2?.cleanup(); });

function options(extra: Partial<SipTransportOptions> = {}, tls: Partial<NonNullable<SipTransportOptions['tls']>> = {}): SipTransportOptions {
  return { host: '127.0.0.1', port: 0, logger: quiet, tls: { port: 0, cert: pki.leaf.cert, key: pki.leaf.key, ...tls }, ...extra };
}

function request(method: string, via: string, body = '', branch = 'z9hG4bKtls1'): string {
  return [
    `${method} sip:app1@sip.example.com SIP/2.0`, `Via: ${via};branch=${branch}`, 'Max-Forwards: 70',
    'From: <sip:alice@example.org>;tag=a1', 'To: <sip:app1@sip.example.com>', `Call-ID: ${branch}@example.org`,
    `CSeq: 1 ${method}`, `Content-Length: ${Buffer.byteLength(body)}`, '', body,
  ].join('\r\n');
}

/** A TLS client that keeps everything it reads. */
class TlsClient {
  data = '';
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;
  constructor(readonly socket: TLSSocket) {
    socket.on('data', (d: Buffer) => { this.data += d.toString(); for (const w of [...this.waiters]) w(); });
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }
  static async open(port: number, o: ConnectionOptions = {}): Promise<TlsClient> {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.caCert, ...o });
    await new Promise<void>((resolve, reject) => { s.once('secureConnect', resolve); s.once('error', reject); });
    return new TlsClient(s);
  }
  waitFor(pred: (data: string) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => { if (pred(this.data)) { this.waiters = this.waiters.filter((w) => w !== check); resolve(); } };
      this.waiters.push(check);
      check();
    });
  }
}

/** Resolves with the error code of a TLS connect that must fail. */
async function tlsRefused(port: number, o: ConnectionOptions): Promise<string> {
  const s = tlsConnect({ host: '127.0.0.1', port, ...o });
  try {
    const outcome = await new Promise<string>((resolve) => {
      s.once('secureConnect', () => resolve('connected'));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
      s.once('close', () => resolve('closed'));
    });
    assert.notEqual(outcome, 'connected', 'the TLS connection should have been refused');
    return outcome;
  } finally {
    s.destroy();
  }
}

function nextRequest(t: SipTransportLayer): Promise<[SipRequest, SipSource]> {
  return new Promise((resolve) => t.once('request', (req, src) => resolve([req, src])));
}

function nextClose(t: SipTransportLayer): Promise<[string, ConnectionCloseReason, SipSource]> {
  return new Promise((resolve) => t.once('connectionClosed', (id, reason, src) => resolve([id, reason, src])));
}

test('TLS: a request arrives with source tls, Via received/rport, and the response goes back on the same connection', T, async () => {
  const t = await SipTransportLayer.listen(options());
  const c = await TlsClient.open(t.ports.tls!);
  try {
    assert.ok(t.ports.tls && t.ports.tls !== t.ports.tcp, 'TLS has its own port');
    assert.deepEqual(t.advertisedFor('tls'), { host: '127.0.0.1', port: t.ports.tls });
    assert.deepEqual(t.advertisedFor('tcp'), t.advertised);
    const got = nextRequest(t);
    c.socket.write(request('INVITE', 'SIP/2.0/TLS client.invalid:5061;rport', 'v=0\r\n'));
    const [req, src] = await got;
    assert.equal(src.transport, 'tls');
    assert.match(src.connectionId ?? '', /^tls-\d+$/);
    assert.equal(src.port, c.socket.localPort);
    const via = parseVia(getHeader(req, 'Via')!)!;
    assert.equal(via.transport, 'TLS');
    assert.equal(via.received, '127.0.0.1');
    assert.equal(via.rport, c.socket.localPort);
    assert.equal(req.body.toString(), 'v=0\r\n');
    await t.sendResponse(createResponse(req, 180, 'Ringing', { toTag: 'x' }), src);
    await c.waitFor((d) => d.includes('SIP/2.0 180 Ringing'));
    assert.match(c.data, /CSeq: 1 INVITE/);
    assert.equal(t.tcpConnectionCount, 1);
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('TLS: plain TCP bytes at the TLS port close that connection (tls_handshake); the next TLS client is served', T, async () => {
  const t = await SipTransportLayer.listen(options());
  const plain: Socket = netConnect({ host: '127.0.0.1', port: t.ports.tls! });
  let c: TlsClient | undefined;
  try {
    await once(plain, 'connect');
    const closedEv = nextClose(t);
    const plainClosed = once(plain, 'close');
    plain.write(request('OPTIONS', 'SIP/2.0/TCP h'));
    const [, reason, src] = await closedEv;
    assert.equal(reason, 'tls_handshake');
    assert.equal(src.transport, 'tls');
    await plainClosed;
    assert.equal(t.tlsHandshakeCount, 0);
    c = await TlsClient.open(t.ports.tls!);
    const got = nextRequest(t);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
    const [, s2] = await got;
    assert.equal(s2.transport, 'tls');
  } finally {
    plain.destroy();
    c?.socket.destroy();
    await t.close();
  }
});

test('TLS: a client that never finishes its handshake is cut at the handshake timeout', T, async () => {
  const t = await SipTransportLayer.listen(options({}, { handshakeTimeoutMs: 200 }));
  const idle: Socket = netConnect({ host: '127.0.0.1', port: t.ports.tls! });
  try {
    const closedEv = nextClose(t);
    const idleClosed = once(idle, 'close');
    await once(idle, 'connect');
    const [, reason] = await closedEv;
    assert.equal(reason, 'tls_handshake');
    await idleClosed;
    assert.equal(t.tlsHandshakeCount, 0);
  } finally {
    idle.destroy();
    await t.close();
  }
});

test('TLS: reloaded credentials serve new connections, open ones keep working; a bad pair is refused and changes nothing', T, async () => {
  const t = await SipTransportLayer.listen(options());
  const port = t.ports.tls!;
  const old = await TlsClient.open(port);
  try {
    assert.equal(await tlsRefused(port, { ca: pki2.caCert }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.throws(() => t.reloadTlsCredentials({ cert: pki2.leaf.cert, key: pki.leaf.key }), /key values mismatch/);
    (await TlsClient.open(port)).socket.destroy();

    t.reloadTlsCredentials({ cert: pki2.leaf.cert, key: pki2.leaf.key });
    const fresh = await TlsClient.open(port, { ca: pki2.caCert });
    fresh.socket.destroy();
    assert.equal(await tlsRefused(port, { ca: pki.caCert }), 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    // The connection made before the reload still carries requests both ways.
    const got = nextRequest(t);
    old.socket.write(request('OPTIONS', 'SIP/2.0/TLS h', '', 'z9hG4bKold'));
    const [req, src] = await got;
    await t.sendResponse(createResponse(req, 200, 'OK', { toTag: 'o' }), src);
    await old.waitFor((d) => d.includes('SIP/2.0 200 OK'));
  } finally {
    old.socket.destroy();
    await t.close();
  }
});

test('TLS: an oversized message closes the connection (oversize), like TCP', T, async () => {
  const t = await SipTransportLayer.listen(options({ limits: { maxMessageBytes: 2000 } }));
  const c = await TlsClient.open(t.ports.tls!);
  try {
    const closedEv = nextClose(t);
    c.socket.write(request('INVITE', 'SIP/2.0/TLS h', 'x'.repeat(5000)));
    const [id, reason, src] = await closedEv;
    assert.equal(reason, 'oversize');
    assert.equal(src.connectionId, id);
    await c.closed;
    assert.equal(t.tcpConnectionCount, 0);
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('TLS: idle connections are closed on the transport clock like TCP ones', T, async () => {
  const clock = new FakeClock();
  const t = await SipTransportLayer.listen(options({ clock, tcpIdleTimeoutMs: 1000 }));
  const c = await TlsClient.open(t.ports.tls!);
  try {
    const got = nextRequest(t);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
    await got;
    const closedEv = nextClose(t);
    clock.advance(1000);
    const [, reason, src] = await closedEv;
    assert.equal(reason, 'idle');
    assert.equal(src.transport, 'tls');
    await c.closed;
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('TLS and TCP share one connection cap', T, async () => {
  const t = await SipTransportLayer.listen(options({ maxTcpConnections: 1 }));
  const tcp: Socket = netConnect({ host: '127.0.0.1', port: t.ports.tcp! });
  let c: TlsClient | undefined;
  try {
    await once(tcp, 'connect');
    // The TCP connection is registered once its first message has been seen.
    const got = nextRequest(t);
    tcp.write(request('OPTIONS', 'SIP/2.0/TCP h'));
    await got;
    const limitEv = nextClose(t);
    assert.notEqual(await tlsRefused(t.ports.tls!, { ca: pki.caCert }), 'connected');
    const [, reason, src] = await limitEv;
    assert.deepEqual([reason, src.transport], ['limit', 'tls']);

    const tcpClosed = once(tcp, 'close');
    tcp.destroy();
    await tcpClosed;
    // Once the TCP connection is gone a TLS client fits, and then a TCP one does not.
    for (let i = 0; i < 100 && t.tcpConnectionCount > 0; i++) await new Promise((r) => setImmediate(r));
    c = await TlsClient.open(t.ports.tls!);
    const tlsGot = nextRequest(t);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
    await tlsGot;
    const tcpLimit = nextClose(t);
    const tcp2: Socket = netConnect({ host: '127.0.0.1', port: t.ports.tcp! });
    tcp2.on('error', () => undefined);
    const [, r2, s2] = await tcpLimit;
    tcp2.destroy();
    assert.deepEqual([r2, s2.transport], ['limit', 'tcp']);
  } finally {
    tcp.destroy();
    c?.socket.destroy();
    await t.close();
  }
});

test('outbound TLS: verified against the CA, one connection, the answer comes back on it; an untrusted server is refused', T, async () => {
  const server = await SipTransportLayer.listen(options({ host: '127.0.0.2' }));
  const trusting = await SipTransportLayer.listen(options({}, { ca: pki.caCert }));
  const strict = await SipTransportLayer.listen(options({}, { cert: pki2.leaf.cert, key: pki2.leaf.key }));
  try {
    const dest = { transport: 'tls' as const, address: '127.0.0.2', port: server.ports.tls! };
    // The leaf names 127.0.0.1 and localhost only: the address check is part of the verification.
    const wrongName = trusting.send(Buffer.from(request('OPTIONS', 'SIP/2.0/TLS 127.0.0.1:5061', '', 'z9hG4bKn')), dest);
    await assert.rejects(wrongName, /ERR_TLS_CERT_ALTNAME_INVALID/);

    const server2 = await SipTransportLayer.listen(options());
    try {
      const d2 = { transport: 'tls' as const, address: '127.0.0.1', port: server2.ports.tls! };
      const got = nextRequest(server2);
      await trusting.send(Buffer.from(request('OPTIONS', `SIP/2.0/TLS 127.0.0.1:${trusting.ports.tls}`, '', 'z9hG4bKo1')), d2);
      const [req, src] = await got;
      assert.equal(src.transport, 'tls');
      const answer = new Promise<[SipResponse, SipSource]>((r) => trusting.once('response', (res, s) => r([res, s])));
      await server2.sendResponse(createResponse(req, 200, 'OK', { toTag: 's' }), src);
      const [res, resSrc] = await answer;
      assert.equal(res.status, 200);
      assert.equal(resSrc.transport, 'tls');
      assert.equal(trusting.tcpConnectionCount, 1);
      // Without the test CA among its trusted ones the pod refuses the same server.
      await assert.rejects(strict.send(Buffer.from(request('OPTIONS', 'SIP/2.0/TLS h', '', 'z9hG4bKs')), d2), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);
      assert.equal(strict.tcpConnectionCount, 0);
    } finally {
      await server2.close();
    }
  } finally {
    await server.close();
    await trusting.close();
    await strict.close();
  }
});

test('a TCP destination naming a TLS connection never reuses it', T, async () => {
  const t = await SipTransportLayer.listen(options());
  const c = await TlsClient.open(t.ports.tls!);
  try {
    const got = nextRequest(t);
    c.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
    const [, src] = await got;
    // Port 9 on loopback is closed: a fresh TCP connect fails instead of the bytes going on the TLS one.
    await assert.rejects(t.send(Buffer.from('x'), { transport: 'tcp', address: '127.0.0.1', port: 9, connectionId: src.connectionId! }), /TCP connect/);
  } finally {
    c.socket.destroy();
    await t.close();
  }
});

test('mutual TLS: without a client certificate the handshake fails; with one from the CA it is served', T, async () => {
  const t = await SipTransportLayer.listen(options({}, { requestClientCert: true, ca: pki.caCert }));
  try {
    // TLS 1.3 finishes the client's side before the server has looked at its certificate, so the
    // refusal shows as the server closing the connection.
    const closedEv = nextClose(t);
    const anon = await TlsClient.open(t.ports.tls!);
    anon.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
    anon.socket.on('error', () => undefined);
    await anon.closed;
    assert.equal((await closedEv)[1], 'tls_handshake');
    assert.equal(anon.data, '', 'nothing was answered');
    const client = pki.issue('client-1');
    const c = await TlsClient.open(t.ports.tls!, { cert: client.cert, key: client.key });
    try {
      const got = nextRequest(t);
      c.socket.write(request('OPTIONS', 'SIP/2.0/TLS h'));
      assert.equal((await got)[1].transport, 'tls');
    } finally {
      c.socket.destroy();
    }
  } finally {
    await t.close();
  }
});

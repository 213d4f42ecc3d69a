// TLS is a reliable transport for the transaction layer: no retransmissions of finals or of our
// own requests, Timer K at 0, and our Via says TLS with the advertised TLS port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock.js';
import { createLogger } from '@sipflow/operator/log';
import { createRequest, getHeader, parseVia } from '../message/index.js';
import { FakeSipTransport, SipTransportError, type SipSource } from '../transport/index.js';
import { TransactionLayer } from './layer.js';
import type { InviteServerTransaction } from './server.js';

const TLS: SipSource = { transport: 'tls', address: '198.51.100.7', port: 40001, family: 'IPv4', connectionId: 'tls-1' };
const quiet = createLogger('test', 'error');

function invite(branch: string): string {
  return [
    'INVITE sip:app1@sip.example.com SIP/2.0', `Via: SIP/2.0/TLS 198.51.100.7:5061;branch=${branch};rport`,
    'Max-Forwards: 70', 'From: <sip:alice@example.org>;tag=a1', 'To: <sip:app1@sip.example.com>',
    `Call-ID: ${branch}`, 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\n');
}

test('INVITE over TLS: responses go on the connection, a non-2xx final and a 2xx are never retransmitted', async () => {
  const clock = new FakeClock();
  const transport = new FakeSipTransport();
  const layer = new TransactionLayer(transport, { clock, logger: quiet });
  const got = new Promise<InviteServerTransaction>((r) => layer.once('invite', r));
  transport.inject(invite('z9hG4bKtls1'), TLS);
  const tx = await got;
  assert.equal(tx.reliable, true);
  tx.respond(486);
  const sent = transport.take();
  assert.deepEqual(sent.map((s) => [s.dest.transport, s.dest.connectionId]), [['tls', 'tls-1'], ['tls', 'tls-1']]);
  clock.advance(40_000);
  assert.equal(transport.take().length, 0, 'no Timer G over TLS');

  const got2 = new Promise<InviteServerTransaction>((r) => layer.once('invite', r));
  transport.inject(invite('z9hG4bKtls2'), TLS);
  const tx2 = await got2;
  tx2.respond(200);
  transport.take();
  clock.advance(10_000);
  assert.equal(transport.take().length, 0, 'no 2xx retransmission over TLS');
  layer.close();
});

test('our BYE over TLS: Via SIP/2.0/TLS with the TLS port, no Timer E, Timer K 0', async () => {
  const clock = new FakeClock();
  const transport = new FakeSipTransport({ host: '192.0.2.1', port: 5060 }, 5071);
  const layer = new TransactionLayer(transport, { clock, logger: quiet });
  const bye = createRequest({ method: 'BYE', uri: 'sip:alice@198.51.100.7:5061;transport=tls', headers: [
    ['From', '<sip:app1@sip.example.com>;tag=srv'], ['To', '<sip:alice@example.org>;tag=a1'], ['Call-ID', 'call-tls'], ['CSeq', '2 BYE'],
  ] });
  const done = layer.sendRequest(bye, { transport: 'tls', address: '198.51.100.7', port: 5061, connectionId: 'tls-1' });
  const [first] = transport.take();
  const via = parseVia(getHeader(first!.message, 'Via')!)!;
  assert.equal(via.transport, 'TLS');
  assert.equal(`${via.host}:${via.port}`, '192.0.2.1:5071');
  clock.advance(4000);
  assert.equal(transport.take().length, 0, 'no Timer E retransmissions over TLS');
  transport.inject([
    'SIP/2.0 200 OK', `Via: SIP/2.0/TLS 192.0.2.1:5071;branch=${via.branch};rport=5071`,
    'From: <sip:app1@sip.example.com>;tag=srv', 'To: <sip:alice@example.org>;tag=a1', 'Call-ID: call-tls', 'CSeq: 2 BYE', 'Content-Length: 0', '', '',
  ].join('\n'), TLS);
  assert.equal((await done).status, 200);
  clock.advance(0);
  assert.equal(layer.size, 0, 'Timer K is 0 over TLS');
  layer.close();
});

test('a request for a transport the pod does not run is refused as a rejected promise, not a throw', async () => {
  const transport = new FakeSipTransport();
  transport.advertisedFor = (t) => { if (t === 'tls') throw new Error('TLS is not enabled'); return transport.advertised; };
  const layer = new TransactionLayer(transport, { clock: new FakeClock(), logger: quiet });
  const bye = createRequest({ method: 'BYE', uri: 'sips:alice@198.51.100.7', headers: [
    ['From', '<sip:app1@sip.example.com>;tag=srv'], ['To', '<sip:alice@example.org>;tag=a1'], ['Call-ID', 'call-x'], ['CSeq', '2 BYE'],
  ] });
  let p: Promise<unknown> | undefined;
  assert.doesNotThrow(() => { p = layer.sendRequest(bye, { transport: 'tls', address: '198.51.100.7', port: 5061 }); });
  await assert.rejects(p!, (e: Error) => e instanceof SipTransportError && /TLS is not enabled/.test(e.message));
  assert.equal(transport.take().length, 0);
  assert.equal(layer.size, 0);
});

// RFC 3261 §18.2 / RFC 3581 address rules: Via stamping and response destinations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { responseDestination, stampTopVia, buildErrorResponse } from './routing.js';
import { getHeader, getHeaders, parseNameAddr, parseNameAddrCached, parseVia, parseViaCached, type SipHeader } from '../message/index.js';
import type { SipSource } from './types.js';

const udpSrc: SipSource = { transport: 'udp', address: '198.51.100.7', port: 40000, family: 'IPv4' };
const via = (v: string): SipHeader[] => [{ name: 'Via', value: v }, { name: 'Via', value: 'SIP/2.0/UDP second;branch=z9hG4bK2' }];

test('received added when the source differs from sent-by; rport filled from the source port', () => {
  const h = via('SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport');
  assert.ok(stampTopVia(h, udpSrc));
  assert.equal(h[0]!.value, 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1;rport=40000;received=198.51.100.7');
  assert.equal(h[1]!.value, 'SIP/2.0/UDP second;branch=z9hG4bK2', 'only the top Via changes');
});

test('same address and no rport: untouched; forged received removed', () => {
  const h = via('SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1');
  assert.equal(stampTopVia(h, udpSrc), false);
  const forged = via('SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1;received=10.9.9.9');
  assert.ok(stampTopVia(forged, udpSrc));
  assert.equal(forged[0]!.value, 'SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1');
});

test('hostname sent-by and IPv6 sources', () => {
  const h = via('SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1');
  stampTopVia(h, udpSrc);
  assert.match(h[0]!.value, /;received=198\.51\.100\.7$/);
  const v6 = via('SIP/2.0/UDP [2001:db8:0::1]:5060;branch=z9hG4bK1');
  assert.equal(stampTopVia(v6, { transport: 'udp', address: '2001:db8::1', port: 5060, family: 'IPv6' }), false, 'equal IPv6 in different spelling');
  const mapped = via('SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport');
  stampTopVia(mapped, { transport: 'udp', address: '::ffff:198.51.100.7', port: 7, family: 'IPv6' });
  assert.match(mapped[0]!.value, /rport=7;received=198\.51\.100\.7$/);
});

test('responseDestination: UDP received+rport, received+sent-by port, sent-by, default 5060', () => {
  const d = (v: string, src?: SipSource) => responseDestination({ headers: [{ name: 'Via', value: v }] }, src);
  assert.deepEqual(d('SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK1;rport=40000;received=198.51.100.7'), { transport: 'udp', address: '198.51.100.7', port: 40000 });
  assert.deepEqual(d('SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK1;received=198.51.100.7'), { transport: 'udp', address: '198.51.100.7', port: 5070 });
  assert.deepEqual(d('SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK1'), { transport: 'udp', address: '192.0.2.10', port: 5070 });
  assert.deepEqual(d('SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1'), { transport: 'udp', address: '192.0.2.10', port: 5060 });
  const tcp: SipSource = { transport: 'tcp', address: '198.51.100.7', port: 51000, family: 'IPv4', connectionId: 'tcp-3' };
  assert.deepEqual(d('SIP/2.0/TCP 192.0.2.10:5070;branch=z9hG4bK1;received=198.51.100.7', tcp), { transport: 'tcp', address: '198.51.100.7', port: 5070, connectionId: 'tcp-3' });
});

test('buildErrorResponse: stamped Via, copied headers, To tag added', () => {
  const res = buildErrorResponse({ via: ['SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;rport'], from: '<sip:a@b>;tag=1', to: '<sip:c@d>', callId: 'x', cseq: '1 INVITE', method: 'INVITE' }, 400, 'Malformed Via header', udpSrc);
  assert.equal(res.status, 400);
  assert.equal(res.reason, 'Malformed Via header');
  assert.deepEqual(getHeaders(res, 'Via'), ['SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1;rport=40000;received=198.51.100.7']);
  assert.match(getHeader(res, 'To')!, /^<sip:c@d>;tag=[0-9a-f]+$/);
  assert.equal(getHeader(res, 'CSeq'), '1 INVITE');
});

test('stamping twice from the same text gives the same result (the shared parse is never changed)', () => {
  const text = 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKshared;rport;received=203.0.113.9';
  const before = parseViaCached(text);
  assert.deepEqual([...before!.params], [['branch', 'z9hG4bKshared'], ['rport', null], ['received', '203.0.113.9']]);
  for (let i = 0; i < 2; i++) {
    const h = via(text);
    assert.ok(stampTopVia(h, udpSrc));
    assert.equal(h[0]!.value, 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKshared;rport=40000;received=198.51.100.7');
  }
  assert.equal(parseViaCached(text), before, 'memoised');
  assert.deepEqual([...before!.params], [['branch', 'z9hG4bKshared'], ['rport', null], ['received', '203.0.113.9']]);
  assert.deepEqual(parseViaCached(text), parseVia(text));
  // Past the length bound it is parsed each time, with the same answer.
  const long = `SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK${'a'.repeat(2000)}`;
  assert.deepEqual(parseViaCached(long), parseVia(long));
  assert.notEqual(parseViaCached(long), parseViaCached(long));
  assert.equal(parseViaCached('not a via'), undefined);
  assert.equal(parseViaCached('not a via'), undefined);
  assert.deepEqual(parseNameAddrCached('"A" <sip:a@example.com>;tag=1'), parseNameAddr('"A" <sip:a@example.com>;tag=1'));
  assert.equal(parseNameAddrCached('<sip:a@example.com'), undefined);
});

test('TLS responses: the connection first, else the Via sent-by on 5061 checked against its name', () => {
  const tlsSrc: SipSource = { transport: 'tls', address: '198.51.100.7', port: 40000, family: 'IPv4', connectionId: 'tls-3' };
  const named = { headers: via('SIP/2.0/TLS pbx.example.com;branch=z9hG4bK1') };
  assert.deepEqual(responseDestination(named), { transport: 'tls', address: 'pbx.example.com', port: 5061, tlsServerName: 'pbx.example.com' });
  const h = via('SIP/2.0/TLS pbx.example.com:5071;branch=z9hG4bK1;rport');
  stampTopVia(h, tlsSrc);
  assert.deepEqual(responseDestination({ headers: h }, tlsSrc), {
    transport: 'tls', address: '198.51.100.7', port: 5071, connectionId: 'tls-3', tlsServerName: 'pbx.example.com',
  });
  assert.deepEqual(responseDestination({ headers: via('SIP/2.0/TLS 192.0.2.4;branch=z9hG4bK1') }), { transport: 'tls', address: '192.0.2.4', port: 5061 });
});

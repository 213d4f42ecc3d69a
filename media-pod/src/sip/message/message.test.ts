// Unit tests of the message layer's public helpers: URIs, name-addr, Via, auth params, builders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRequest, createResponse, formatSipUri, formatVia, getHeader, getHeaders, parseAuthHeader, parseCSeq,
  parseNameAddr, parseSipMessage, parseSipUri, parseVia, serializeMessage, setHeader, type SipRequest,
} from './index.js';

const INVITE = [
  'INVITE sip:app1@sip.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc;rport, SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef',
  'Record-Route: <sip:proxy.example.com;lr>',
  'f: "Alice" <sip:alice@example.org>;tag=111',
  't: <sip:app1@sip.example.com>',
  'i: call-1@example.org',
  'CSeq: 5 INVITE',
  'Max-Forwards: 70',
  'l: 0',
  '', '',
].join('\r\n');

function parseReq(text: string): SipRequest {
  const r = parseSipMessage(Buffer.from(text));
  assert.ok(r.ok, r.ok ? '' : r.error.reason);
  assert.equal(r.message.kind, 'request');
  return r.message as SipRequest;
}

test('parseSipUri: user, password, IPv6 host, port, params, headers, escapes', () => {
  const u = parseSipUri('sip:al%69ce:pw@[2001:DB8::1]:5070;transport=TCP;lr?subject=hi%20there&x=y')!;
  assert.equal(u.scheme, 'sip');
  assert.equal(u.user, 'alice');
  assert.equal(u.password, 'pw');
  assert.equal(u.host, '2001:db8::1');
  assert.equal(u.hostType, 'ipv6');
  assert.equal(u.port, 5070);
  assert.deepEqual([...u.params], [['transport', 'TCP'], ['lr', null]]);
  assert.equal(u.headers.get('subject'), 'hi there');
  assert.equal(formatSipUri(u), 'sip:alice:pw@[2001:db8::1]:5070;transport=TCP;lr?subject=hi%20there&x=y');
  assert.equal(parseSipUri('sip:[::1]:5060')!.host, '::1');
  assert.equal(parseSipUri('sips:bob@example.com')!.scheme, 'sips');
  for (const bad of ['sip:', 'sip:a@', 'sip:a@[::1', 'sip:a@[zz::1]', 'sip:a@h:0', 'sip:a@h:99999', 'sip:a b@h', 'sip:a@h;;x', 'sip:%g1@h', 'sip:a@300.1.1.1']) {
    assert.equal(parseSipUri(bad), undefined, bad);
  }
});

test('parseNameAddr: quoted display with escapes, bare tokens, addr-spec params, wildcard', () => {
  const a = parseNameAddr('"Bob \\"B\\" Smith" <sip:bob@example.com;transport=udp>;tag=xyz;expires=60')!;
  assert.equal(a.displayName, 'Bob "B" Smith');
  assert.equal(a.uri?.user, 'bob');
  assert.equal(a.uri?.params.get('transport'), 'udp');
  assert.equal(a.params.get('tag'), 'xyz');
  assert.equal(a.params.get('expires'), '60');
  const b = parseNameAddr('Anonymous Caller <sip:anon@example.com>')!;
  assert.equal(b.displayName, 'Anonymous Caller');
  const c = parseNameAddr('sip:carol@example.com;tag=t1')!;
  assert.equal(c.uri?.params.size, 0, 'addr-spec params belong to the header');
  assert.equal(c.params.get('tag'), 't1');
  assert.equal(parseNameAddr('*')?.wildcard, true);
  assert.equal(parseNameAddr('"unterminated <sip:a@b>'), undefined);
  assert.equal(parseNameAddr('<sip:a@b'), undefined);
});

test('parseVia / formatVia: transport, host, port, branch, received, rport with and without value', () => {
  const v = parseVia('SIP / 2.0 / udp 192.0.2.1:5080;branch=z9hG4bK1;rport;received=198.51.100.7')!;
  assert.equal(v.transport, 'UDP');
  assert.equal(v.host, '192.0.2.1');
  assert.equal(v.port, 5080);
  assert.equal(v.branch, 'z9hG4bK1');
  assert.equal(v.hasRport, true);
  assert.equal(v.rport, undefined);
  assert.equal(v.received, '198.51.100.7');
  const w = parseVia('SIP/2.0/TCP [2001:db8::5];rport=6000;received=2001:db8::6;branch=z9hG4bK2')!;
  assert.equal(w.hostType, 'ipv6');
  assert.equal(w.rport, 6000);
  assert.equal(formatVia(w), 'SIP/2.0/TCP [2001:db8::5];rport=6000;received=2001:db8::6;branch=z9hG4bK2');
  for (const bad of ['SIP/2.0/UDP', 'SIP/2.0 host', 'SIP/2.0/UDP host;rport=x', 'SIP/2.0/UDP host;branch', 'SIP/2.0/UDPhost', 'SIP/2.0/UDP h;received=not valid']) {
    assert.equal(parseVia(bad), undefined, bad);
  }
});

test('parseCSeq bounds the sequence number to 2^31-1', () => {
  assert.deepEqual(parseCSeq('2147483647 BYE'), { seq: 2147483647, method: 'BYE' });
  assert.equal(parseCSeq('2147483648 BYE'), undefined);
  assert.equal(parseCSeq('-1 BYE'), undefined);
  assert.equal(parseCSeq('1'), undefined);
});

test('parseAuthHeader: quoted values with commas and escapes, tokens, duplicates rejected', () => {
  const a = parseAuthHeader('Digest username="bob", realm="sip.example.com", nonce="n,1", uri="sip:app1@sip.example.com", response="abc", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="q\\"x"')!;
  assert.equal(a.scheme, 'Digest');
  assert.equal(a.params.get('username'), 'bob');
  assert.equal(a.params.get('nonce'), 'n,1');
  assert.equal(a.params.get('algorithm'), 'SHA-256');
  assert.equal(a.params.get('nc'), '00000001');
  assert.equal(a.params.get('cnonce'), 'q"x');
  assert.equal(parseAuthHeader('Digest realm="a", realm="b"'), undefined);
  assert.equal(parseAuthHeader('Digest realm="a'), undefined);
  assert.equal(parseAuthHeader('Digest realm'), undefined);
});

test('parser: compact names canonicalised, comma lists split, Authorization not split', () => {
  const req = parseReq(INVITE.replace('l: 0', 'Proxy-Authorization: Digest username="a", realm="b"\r\nAllow: INVITE, BYE\r\nl: 0'));
  assert.equal(req.method, 'INVITE');
  assert.equal(req.parsedUri.user, 'app1');
  assert.equal(getHeaders(req, 'via').length, 2);
  assert.equal(getHeader(req, 'v'), 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKabc;rport');
  assert.equal(getHeader(req, 'from'), '"Alice" <sip:alice@example.org>;tag=111');
  assert.equal(getHeader(req, 'CALL-ID'), 'call-1@example.org');
  assert.deepEqual(getHeaders(req, 'Allow'), ['INVITE', 'BYE']);
  assert.equal(getHeaders(req, 'Proxy-Authorization').length, 1);
  assert.ok(req.headers.every((h) => h.name.length > 1), 'no compact names left');
});

test('parser limits are configurable', () => {
  const many = INVITE.replace('l: 0', Array.from({ length: 20 }, (_, i) => `X-${i}: a`).join('\r\n') + '\r\nl: 0');
  const r = parseSipMessage(Buffer.from(many), { maxHeaders: 10 });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, 'too_many_headers');
  const big = parseSipMessage(Buffer.from(INVITE), { maxMessageBytes: 100 });
  assert.equal(!big.ok && big.error.code, 'too_large');
  const vias = parseSipMessage(Buffer.from(INVITE), { maxVia: 1 });
  assert.equal(!vias.ok && vias.error.code, 'too_many_via');
  assert.ok(parseSipMessage(Buffer.from(INVITE)).ok);
});

test('createResponse copies Via, From, To (+tag), Call-ID, CSeq and Record-Route for 2xx INVITE', () => {
  const req = parseReq(INVITE);
  const res = createResponse(req, 200, 'OK', { toTag: 'srv1', headers: [['Contact', '<sip:10.0.0.1>']], body: 'v=0\r\n', contentType: 'application/sdp' });
  assert.deepEqual(getHeaders(res, 'Via'), getHeaders(req, 'Via'));
  assert.equal(getHeader(res, 'To'), '<sip:app1@sip.example.com>;tag=srv1');
  assert.equal(getHeader(res, 'From'), getHeader(req, 'From'));
  assert.equal(getHeader(res, 'CSeq'), '5 INVITE');
  assert.deepEqual(getHeaders(res, 'Record-Route'), ['<sip:proxy.example.com;lr>']);
  assert.equal(getHeader(res, 'Content-Type'), 'application/sdp');
  const trying = createResponse(req, 100, 'Trying', { toTag: 'srv1' });
  assert.equal(getHeader(trying, 'To'), '<sip:app1@sip.example.com>', '100 carries no tag');
  assert.equal(getHeaders(trying, 'Record-Route').length, 0);
  const wire = serializeMessage(res).toString();
  assert.match(wire, /^SIP\/2\.0 200 OK\r\n/);
  assert.match(wire, /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/);
  const back = parseSipMessage(serializeMessage(res));
  assert.ok(back.ok && back.message.kind === 'response' && back.message.status === 200);
});

test('bodies own their memory: not slices of the shared pool that would keep 8 KB alive per transaction', () => {
  const sdp = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n';
  const parsed = parseSipMessage(Buffer.from(INVITE.replace('l: 0', `l: ${sdp.length}`) + sdp));
  assert.ok(parsed.ok);
  const res = createResponse(parsed.message as SipRequest, 200, 'OK', { body: sdp, contentType: 'application/sdp' });
  const req = createRequest({ method: 'BYE', uri: 'sip:a@192.0.2.1', body: 'x=1' });
  for (const body of [parsed.message.body, res.body, req.body]) {
    assert.ok(body.length > 0);
    assert.equal(body.buffer.byteLength, body.length, 'a buffer of its own');
  }
  assert.equal(parsed.message.body.toString(), sdp);
  assert.equal(res.body.toString(), sdp);
  assert.equal(req.body.toString(), 'x=1');
});

test('serializeMessage recomputes Content-Length and neutralises CR/LF in values', () => {
  const req = createRequest({ method: 'BYE', uri: 'sip:alice@192.0.2.10:5060', headers: [['Content-Length', '999'], ['Subject', 'a\r\nInjected: yes']], body: 'xy' });
  setHeader(req, 'Max-Forwards', '70');
  const text = serializeMessage(req).toString();
  assert.match(text, /Content-Length: 2\r\n/);
  assert.doesNotMatch(text, /\r\nInjected/);
  assert.throws(() => createRequest({ method: 'BYE', uri: 'not a uri' }), TypeError);
});

test('header lookups on hand-built headers: any case or compact spelling, message order kept', () => {
  const msg = {
    headers: [
      { name: 'v', value: 'SIP/2.0/UDP a.example;branch=z9hG4bK1' },
      { name: 'VIA', value: 'SIP/2.0/UDP b.example;branch=z9hG4bK2' },
      { name: 'Via', value: 'SIP/2.0/UDP c.example;branch=z9hG4bK3' },
      { name: 'x-custom', value: 'one' },
      { name: 'X-Custom', value: 'two' },
      { name: 'i', value: 'compact-call-id' },
      { name: 'Call-ID', value: 'long-call-id' },
    ],
  };
  assert.equal(getHeader(msg, 'Via'), 'SIP/2.0/UDP a.example;branch=z9hG4bK1');
  assert.deepEqual(getHeaders(msg, 'via').map((v) => v.split(' ')[1]!.split(';')[0]), ['a.example', 'b.example', 'c.example']);
  assert.deepEqual(getHeaders(msg, 'X-CUSTOM'), ['one', 'two']);
  assert.equal(getHeader(msg, 'Call-ID'), 'compact-call-id');
  assert.equal(getHeader(msg, 'I'), 'compact-call-id');
  assert.equal(getHeader(msg, 'Content-Length'), undefined);
  // createResponse copies the same headers whatever their spelling in the request.
  const req = parseReq(INVITE);
  req.headers = req.headers.map((h) => (h.name === 'Call-ID' ? { name: 'i', value: h.value } : h.name === 'From' ? { name: 'FROM', value: h.value } : h));
  const res = createResponse(req, 180, 'Ringing', { toTag: 't1' });
  assert.equal(getHeader(res, 'Call-ID'), 'call-1@example.org');
  assert.equal(getHeader(res, 'From'), getHeader(req, 'From'));
  assert.equal(res.headers.find((h) => h.name === 'Call-ID')?.value, 'call-1@example.org');
});

test('serializeMessage: one Content-Length from the body, line breaks in values folded', () => {
  const req = createRequest({ method: 'INFO', uri: 'sip:a@example.com', headers: [['Via', 'SIP/2.0/UDP h;branch=z9hG4bKx'], ['content-length', '99'], ['X-Bad', 'a\r\nInjected: yes'], ['l', '7']], body: 'héllo' });
  const wire = serializeMessage(req).toString('utf8');
  assert.equal(wire, 'INFO sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 6\r\nX-Bad: a Injected: yes\r\n\r\nhéllo');
});

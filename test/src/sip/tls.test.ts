/**
 * SIP over TLS end to end against a real media pod: a whole call on one TLS connection (INVITE,
 * 100/180/200 with a TLS Contact, ACK, the pod's BYE arriving on the same connection with a TLS
 * Via), a sips: call, a plain-text client at the TLS port, a certificate renewed on disk, and a
 * pod that refuses to start with credentials it cannot use.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import plivo from 'plivo';
import { parseOptions } from '@sipflow/media-pod/cli/options';
import { startMediaPod } from '@sipflow/media-pod/pod';
import { createResponse, getHeader, parseNameAddr, parseSipMessage, parseVia, serializeMessage, type SipMessage, type SipRequest, type SipResponse } from '@sipflow/media-pod/sip/message/index';
import { createTestPki, opensslAvailable, type TestPki } from '@sipflow/media-pod/sip/transport/test-pki';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { loopbackAppManifests } from '../support/manifests.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { metricValue } from '../support/sip-trace.js';
import { TlsSipClient } from './tls-sip-client.js';

const skip = opensslAvailable() ? false : 'openssl is not installed';
const T = { timeout: 60_000, skip };
const APP = 'tlsapp';
/** An application that takes calls over TLS only (spec.security.requireTls). */
const TLS_ONLY_APP = 'tlsonly';

let pki: TestPki;
let pki2: TestPki;
let answer: TestAnswerServer;
let pod: TestPod;
let tlsDir: string;
let rtp: dgram.Socket;

before(async () => {
  if (skip) return;
  pki = createTestPki('pod-a');
  pki2 = createTestPki('pod-b', 1); // expires a day before pod-a's leaf: the expiry gauge tells them apart
  // The pod reads its own copies, so the renewal test can replace them.
  tlsDir = fs.mkdtempSync(path.join(pki.dir, 'mounted-'));
  fs.copyFileSync(pki.leaf.certFile, path.join(tlsDir, 'tls.crt'));
  fs.copyFileSync(pki.leaf.keyFile, path.join(tlsDir, 'tls.key'));
  answer = await startTestAnswerServer();
  pod = await startTestPod({
    manifests: `${loopbackAppManifests(APP, `${answer.url}/answer`, `${answer.url}/hangup`)}---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${TLS_ONLY_APP}, namespace: default }
spec:
  answerUrl: ${answer.url}/answer-tls-only
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
  security: { requireTls: true }
`,
    extraArgs: [
      '--sip-tls-cert', path.join(tlsDir, 'tls.crt'), '--sip-tls-key', path.join(tlsDir, 'tls.key'),
      '--sip-tls-port', '0', '--sip-tls-reload-interval', '1',
    ],
  });
  // Somewhere for the pod's RTP to land.
  rtp = dgram.createSocket('udp4');
  await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', () => r()));
});

after(async () => {
  rtp?.close();
  await pod?.stop();
  await answer?.close();
  pki?.cleanup();
  pki2?.cleanup();
});

function tlsPort(): number {
  const p = pod.pod.sipPorts.tls;
  assert.ok(p, 'the pod listens for TLS');
  return p;
}

function xml(build: (r: ReturnType<typeof plivo.Response>) => void): string {
  const r = plivo.Response();
  build(r);
  return r.toXML();
}

interface Dialog { callId: string; fromTag: string; local: string }

function invite(d: Dialog, requestUri: string, transport: 'TLS' | 'UDP' = 'TLS'): string {
  const sdp = ['v=0', 'o=peer 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${rtp.address().port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
  return [
    `INVITE ${requestUri} SIP/2.0`, `Via: SIP/2.0/${transport} ${d.local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70', `From: "TLS Caller" <sip:peer@127.0.0.1>;tag=${d.fromTag}`, `To: <${requestUri}>`, `Call-ID: ${d.callId}`,
    'CSeq: 1 INVITE', `Contact: <sip:peer@${d.local}${transport === 'TLS' ? ';transport=tls' : ''}>`, 'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`, '', sdp,
  ].join('\r\n');
}

function inDialog(method: string, d: Dialog, ok: SipResponse, cseq: number): string {
  const target = parseNameAddr(getHeader(ok, 'Contact') ?? '')!.uriText;
  return [
    `${method} ${target} SIP/2.0`, `Via: SIP/2.0/TLS ${d.local};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70', `From: ${getHeader(ok, 'From')}`, `To: ${getHeader(ok, 'To')}`, `Call-ID: ${d.callId}`,
    `CSeq: ${cseq} ${method}`, 'Content-Length: 0', '', '',
  ].join('\r\n');
}

const isResponse = (status: number, method: string) => (m: SipMessage): boolean =>
  m.kind === 'response' && m.status === status && (getHeader(m, 'CSeq') ?? '').endsWith(method);

test('a whole call over TLS: 100/180/200 with a TLS Contact, ACK, the pod BYE on the same connection with a TLS Via', T, async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Goodbye'); r.addHangup(); }));
  const c = await TlsSipClient.open(tlsPort(), { ca: pki.caCert });
  try {
    const d: Dialog = { callId: randomBytes(10).toString('hex'), fromTag: randomBytes(4).toString('hex'), local: `127.0.0.1:${c.localPort}` };
    await c.send(invite(d, `sip:${APP}@127.0.0.1:${tlsPort()}`));
    await c.waitFor('100 Trying', isResponse(100, 'INVITE'));
    const ringing = await c.waitFor('180 Ringing', isResponse(180, 'INVITE')) as SipResponse;
    const ok = await c.waitFor('200 to the INVITE', isResponse(200, 'INVITE')) as SipResponse;
    assert.equal(getHeader(ok, 'Contact'), `<sip:${APP}@127.0.0.1:${tlsPort()};transport=tls>`);
    assert.equal(getHeader(ringing, 'Contact'), getHeader(ok, 'Contact'), 'the 180 names the same TLS Contact');
    const via = parseVia(getHeader(ok, 'Via')!)!;
    assert.equal(via.transport, 'TLS');
    assert.equal(via.received, '127.0.0.1');
    assert.equal(via.rport, c.localPort);
    await c.send(inDialog('ACK', d, ok, 1));

    const bye = await c.waitFor('BYE from the pod', (m) => m.kind === 'request' && m.method === 'BYE') as SipRequest;
    assert.equal(getHeader(bye, 'Call-ID'), d.callId);
    assert.equal(bye.uri, `sip:peer@${d.local};transport=tls`, 'sent to our Contact');
    const byeVia = parseVia(getHeader(bye, 'Via')!)!;
    assert.equal(byeVia.transport, 'TLS');
    assert.equal(`${byeVia.host}:${byeVia.port}`, `127.0.0.1:${tlsPort()}`, 'the Via names the TLS port');
    assert.equal(c.socket.destroyed, false, 'the BYE came on the connection the INVITE used');
    await c.send(serializeMessage(createResponse(bye, 200, 'OK')).toString('latin1'));

    const hang = await answer.waitFor('/hangup', (q) => q.params.CallUUID !== undefined && q.params.CallerName === 'TLS Caller');
    assert.equal(hang.params.HangupCauseCode, '4000');
    assert.equal(hang.params.HangupSource, 'Answer XML');
    const accepted = pod.logs().find((l) => l.msg === 'call accepted' && l.transport === 'tls');
    assert.ok(accepted, 'the call was logged as a TLS call');
  } finally {
    c.close();
  }
});

test('an application with security.requireTls refuses an INVITE over UDP with 403 before anything else, and answers one over TLS', T, async () => {
  answer.route('/answer-tls-only', xml((r) => { r.addSpeak('Hello'); r.addWait({ length: 20 }); }));
  const rejectionsBefore = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'tls_required' });
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  try {
    const local = `127.0.0.1:${udp.address().port}`;
    const d: Dialog = { callId: randomBytes(10).toString('hex'), fromTag: randomBytes(4).toString('hex'), local };
    const text = invite(d, `sip:${TLS_ONLY_APP}@127.0.0.1:${pod.sipPort}`, 'UDP');
    const final = new Promise<SipResponse>((resolve) => {
      udp.on('message', (msg) => {
        const r = parseSipMessage(msg);
        if (r.ok && r.message.kind === 'response' && r.message.status >= 200) resolve(r.message);
      });
    });
    udp.send(text, pod.sipPort, '127.0.0.1');
    const res = await final;
    assert.equal(res.status, 403);
    assert.equal(res.reason, 'Forbidden - TLS Required');
    assert.match(getHeader(res, 'Warning') ?? '', /accepts calls over SIP over TLS only/);
    assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'tls_required' }) - rejectionsBefore, 1);
    assert.equal(answer.requests.filter((q) => q.path === '/answer-tls-only').length, 0, 'the answer URL was not called');
  } finally {
    udp.close();
  }
  const c = await TlsSipClient.open(tlsPort(), { ca: pki.caCert });
  try {
    const d: Dialog = { callId: randomBytes(10).toString('hex'), fromTag: randomBytes(4).toString('hex'), local: `127.0.0.1:${c.localPort}` };
    await c.send(invite(d, `sip:${TLS_ONLY_APP}@127.0.0.1:${tlsPort()}`));
    const ok = await c.waitFor('200 over TLS', isResponse(200, 'INVITE')) as SipResponse;
    await c.send(inDialog('ACK', d, ok, 1));
    await c.send(inDialog('BYE', d, ok, 2));
    await c.waitFor('200 to our BYE', isResponse(200, 'BYE'));
  } finally {
    c.close();
  }
});

test('a sips: call gets a sips: Contact; our BYE on the connection is answered 200', T, async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Hello'); r.addWait({ length: 20 }); }));
  const c = await TlsSipClient.open(tlsPort(), { ca: pki.caCert });
  try {
    const d: Dialog = { callId: randomBytes(10).toString('hex'), fromTag: randomBytes(4).toString('hex'), local: `127.0.0.1:${c.localPort}` };
    await c.send(invite(d, `sips:${APP}@127.0.0.1:${tlsPort()}`));
    const ok = await c.waitFor('200 to the INVITE', isResponse(200, 'INVITE')) as SipResponse;
    assert.equal(getHeader(ok, 'Contact'), `<sips:${APP}@127.0.0.1:${tlsPort()}>`);
    await c.send(inDialog('ACK', d, ok, 1));
    await c.send(inDialog('BYE', d, ok, 2));
    await c.waitFor('200 to our BYE', isResponse(200, 'BYE'));
  } finally {
    c.close();
  }
});

test('plain SIP at the TLS port: that connection is closed with a log line, TLS clients are still served', T, async () => {
  const before = pod.logs().filter((l) => l.msg === 'tls handshake failed; connection closed').length;
  const closedBefore = metricValue(await pod.metrics(), 'sipflow_sip_connections_closed_total', { transport: 'tls', reason: 'tls_handshake' });
  const s = net.connect({ host: '127.0.0.1', port: tlsPort() });
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => undefined);
  s.write(`OPTIONS sip:${APP}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKplain\r\nContent-Length: 0\r\n\r\n`);
  await closed;
  for (let i = 0; i < 100 && pod.logs().filter((l) => l.msg === 'tls handshake failed; connection closed').length === before; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const line = pod.logs().filter((l) => l.msg === 'tls handshake failed; connection closed').at(-1);
  assert.ok(line && pod.logs().filter((l) => l.msg === 'tls handshake failed; connection closed').length > before, 'a log line for the failed handshake');
  assert.match(String(line.code), /WRONG_VERSION_NUMBER|HTTP_REQUEST|PACKET_LENGTH|RECORD/i);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_connections_closed_total', { transport: 'tls', reason: 'tls_handshake' }) - closedBefore, 1, 'counted once as tls_handshake');

  const c = await TlsSipClient.open(tlsPort(), { ca: pki.caCert });
  try {
    await c.send([
      `OPTIONS sip:${APP}@127.0.0.1:${tlsPort()} SIP/2.0`, `Via: SIP/2.0/TLS 127.0.0.1:${c.localPort};branch=z9hG4bKopt1;rport`,
      'Max-Forwards: 70', 'From: <sip:probe@127.0.0.1>;tag=p1', `To: <sip:${APP}@127.0.0.1>`, 'Call-ID: tls-options-1', 'CSeq: 1 OPTIONS',
      'Content-Length: 0', '', '',
    ].join('\r\n'));
    await c.waitFor('200 to OPTIONS', isResponse(200, 'OPTIONS'));
  } finally {
    c.close();
  }
});

const expirySeconds = (cert: Buffer): number => Math.floor(Date.parse(new X509Certificate(cert).validTo) / 1000);

test('a renewed certificate on disk serves new TLS connections without a restart', T, async () => {
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_tls_certificate_expiry_timestamp_seconds'), expirySeconds(pki.leaf.cert), 'the expiry of the certificate in use');
  assert.notEqual(expirySeconds(pki.leaf.cert), expirySeconds(pki2.leaf.cert));
  // Replace both files (rename is atomic per file; a half-swapped moment is refused and retried).
  for (const [src, name] of [[pki2.leaf.certFile, 'tls.crt'], [pki2.leaf.keyFile, 'tls.key']] as const) {
    fs.copyFileSync(src, path.join(tlsDir, `.${name}.new`));
    fs.renameSync(path.join(tlsDir, `.${name}.new`), path.join(tlsDir, name));
  }
  for (let i = 0; i < 300 && !pod.logs().some((l) => l.msg === 'sip tls credentials reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
  const reloaded = pod.logs().find((l) => l.msg === 'sip tls credentials reloaded');
  assert.ok(reloaded, 'the pod logged the reload');
  assert.match(String(reloaded.subject), /CN=127\.0\.0\.1/);
  assert.ok(!JSON.stringify(pod.logs()).includes('PRIVATE KEY'), 'no key material in any log line');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_tls_certificate_expiry_timestamp_seconds'), expirySeconds(pki2.leaf.cert), 'the gauge follows the renewal');

  const c = await TlsSipClient.open(tlsPort(), { ca: pki2.caCert });
  c.close();
  await assert.rejects(TlsSipClient.open(tlsPort(), { ca: pki.caCert }), /unable to verify|UNABLE_TO_VERIFY/i);
});

test('the pod refuses to start with a certificate and key that do not match, or a missing file', T, async () => {
  const base = ['--manifests', pod.dir, '--sip-listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--sip-tls-port', '0'];
  await assert.rejects(
    startMediaPod(parseOptions([...base, '--sip-tls-cert', pki.leaf.certFile, '--sip-tls-key', pki2.leaf.keyFile], {})),
    /does not belong to the private key/,
  );
  await assert.rejects(
    startMediaPod(parseOptions([...base, '--sip-tls-cert', path.join(pki.dir, 'missing.crt'), '--sip-tls-key', pki.leaf.keyFile], {})),
    /cannot read TLS certificate .*missing\.crt: ENOENT/,
  );
  assert.throws(() => parseOptions([...base, '--sip-tls-cert', pki.leaf.certFile], {}), /--sip-tls-key is not/);
});

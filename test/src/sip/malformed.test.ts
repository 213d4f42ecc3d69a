/**
 * Malformed SIP from a raw UDP peer: each gets a stateless 400 whose reason says what is wrong,
 * is counted as `malformed` and logged, and the pod keeps serving well-formed requests.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { startTestPod, type TestPod } from '../support/pod.js';
import { metricValue } from '../support/sip-trace.js';

let pod: TestPod;
let sock: dgram.Socket;
let localPort = 0;
const inbox: string[] = [];
const waiters: Array<() => void> = [];

before(async () => {
  pod = await startTestPod({ manifests: `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: raw, namespace: default }
spec:
  answerUrl: http://127.0.0.1:9/answer
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }
` });
  sock = dgram.createSocket('udp4');
  sock.on('message', (m) => { inbox.push(m.toString('utf8')); for (const w of waiters.splice(0)) w(); });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  localPort = sock.address().port;
});

after(async () => {
  sock.close();
  await pod.stop();
});

/** Sends one datagram and resolves with the first reply carrying `callId` (bounded wait). */
async function exchange(text: string, callId: string, timeoutMs = 5000): Promise<string> {
  sock.send(Buffer.from(text.replace(/\n/g, '\r\n'), 'utf8'), pod.sipPort, '127.0.0.1');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = inbox.find((m) => m.includes(`Call-ID: ${callId}`));
    if (hit) return hit;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no reply for ${callId} within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => { const t = setTimeout(resolve, Math.min(left, 200)); waiters.push(() => { clearTimeout(t); resolve(); }); });
  }
}

function invite(callId: string, o: { cseq?: boolean; contentLength?: number } = {}): string {
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n';
  const body = sdp.replace(/\n/g, '\r\n');
  return [
    `INVITE sip:raw@127.0.0.1:${pod.sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${callId}`,
    `From: <sip:raw-peer@127.0.0.1>;tag=${callId}`,
    `To: <sip:raw@127.0.0.1>`,
    `Call-ID: ${callId}`,
    ...(o.cseq === false ? [] : ['CSeq: 1 INVITE']),
    'Max-Forwards: 70',
    `Contact: <sip:raw-peer@127.0.0.1:${localPort}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${o.contentLength ?? body.length}`,
    '',
    sdp,
  ].join('\n');
}

function options(callId: string): string {
  return [
    `OPTIONS sip:raw@127.0.0.1:${pod.sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${callId}`,
    `From: <sip:x@127.0.0.1>;tag=${callId}`, 'To: <sip:raw@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
  ].join('\n');
}

function statusLine(reply: string): string { return reply.split('\r\n')[0] ?? ''; }

test('INVITE whose Content-Length exceeds the body: 400 "Content-Length larger than body", counted as malformed', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' });
  const reply = await exchange(invite('bad-cl-1', { contentLength: 900 }), 'bad-cl-1');
  assert.equal(statusLine(reply), 'SIP/2.0 400 Content-Length larger than body');
  assert.match(reply, /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK-bad-cl-1/);
  assert.match(reply, /\r\nCSeq: 1 INVITE\r\n/);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' }) - before, 1);
  const log = pod.logs().find((l) => l.msg === 'malformed SIP message' && l.callId === 'bad-cl-1');
  assert.equal(log?.cause, 'malformed');
  assert.equal(log?.reason, 'Content-Length larger than body');
  assert.equal(log?.source, `127.0.0.1:${localPort}`);
});

test('INVITE whose CSeq names another method: 400 "CSeq method does not match request"', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' });
  const reply = await exchange(invite('bad-cseq-1').replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'), 'bad-cseq-1');
  assert.equal(statusLine(reply), 'SIP/2.0 400 CSeq method does not match request');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' }) - before, 1);
  assert.equal(pod.logs().find((l) => l.msg === 'malformed SIP message' && l.callId === 'bad-cseq-1')?.reason, 'CSeq method does not match request');
});

test('INVITE without CSeq: logged and counted with reason "Missing CSeq header", but not answered (a response must copy CSeq)', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' });
  sock.send(Buffer.from(invite('no-cseq-1', { cseq: false }).replace(/\n/g, '\r\n'), 'utf8'), pod.sipPort, '127.0.0.1');
  // Datagrams on loopback are handled in order: once the OPTIONS sent afterwards is answered,
  // any reply to the CSeq-less INVITE would already be here.
  await exchange(options('after-no-cseq-1'), 'after-no-cseq-1');
  assert.equal(inbox.filter((m) => m.includes('Call-ID: no-cseq-1')).length, 0);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'malformed' }) - before, 1);
  assert.equal(pod.logs().find((l) => l.msg === 'malformed SIP message' && l.callId === 'no-cseq-1')?.reason, 'Missing CSeq header');
});

test('garbage and a bad request line do not stop the pod: a following OPTIONS still gets 200', async () => {
  sock.send(Buffer.from('\x00\x01\x02 not SIP at all \xff\r\n\r\n', 'latin1'), pod.sipPort, '127.0.0.1');
  const bad = await exchange([
    'INVITE sip:raw@127.0.0.1 SIP/2.0 extra-token',
    `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-badline`,
    'From: <sip:x@127.0.0.1>;tag=1', 'To: <sip:raw@127.0.0.1>', 'Call-ID: bad-line-1', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\n'), 'bad-line-1');
  assert.equal(statusLine(bad), 'SIP/2.0 400 Malformed request line');
  const ok = await exchange(options('still-alive-1'), 'still-alive-1');
  assert.equal(statusLine(ok), 'SIP/2.0 200 OK');
  assert.match(ok, /\r\nAllow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE\r\n/);
});

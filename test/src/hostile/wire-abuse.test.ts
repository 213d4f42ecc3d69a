/**
 * Abuse on the wire against a real pod: a captured, valid digest INVITE replayed (same nonce and
 * nc) must never make a second call; oversized messages over UDP and TCP must be refused or cut
 * without harm; a slowloris TCP peer (one header byte per second) must be cut by the message
 * timeout. The pod keeps answering OPTIONS on both transports afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { metricValue } from '../support/sip-trace.js';
import {
  buildAckForFailure, buildInvite, buildOptions, challengeParams, digestAuthorization, parseReply, requestUri, UdpSipPeer, type SipReply,
} from '../support/sip-peer.js';

const PASSWORD = 'Replay-Target-Passw0rd';
const REALM = 'sip.test';
const MESSAGE_TIMEOUT_SEC = 2;
let answer: TestAnswerServer;
let pod: TestPod;
const peers: UdpSipPeer[] = [];

before(async () => {
  answer = await startTestAnswerServer();
  answer.route('/answer', '<Response><DTMF>1</DTMF><Wait length="20"/></Response>');
  pod = await startTestPod({
    extraArgs: ['--sip-tcp-message-timeout', String(MESSAGE_TIMEOUT_SEC)],
    manifests: `
apiVersion: v1
kind: Secret
metadata: { name: rita-sip, namespace: default }
type: Opaque
stringData: { password: ${PASSWORD} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: rita, namespace: default }
spec: { username: rita, passwordSecretRef: { name: rita-sip, key: password } }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: replayed, namespace: default }
spec:
  answerUrl: ${answer.url}/answer
  hangupUrl: ${answer.url}/hangup
  sipAuth: { type: Credential, credentialRefs: [{ name: rita }] }
` });
});

after(async () => {
  for (const p of peers) p.close();
  await pod.stop();
  await answer.close();
});

async function peer(address = '127.0.0.1'): Promise<UdpSipPeer> {
  const p = await UdpSipPeer.bind(address);
  peers.push(p);
  return p;
}

/** Sends `text` (retransmitting like Timer A while nothing comes back) and resolves with the final response for `callId`. */
async function transact(p: UdpSipPeer, text: string, callId: string, skip = 0): Promise<SipReply> {
  await p.send(text, pod.sipPort);
  let interval = 500;
  for (let i = 0; i < 6; i++) {
    try { return await p.waitFor(callId, undefined, interval, skip); } catch { /* lost on a loaded machine: send again */ }
    if (p.replies(callId).length <= skip) await p.send(text, pod.sipPort);
    interval *= 2;
  }
  return p.waitFor(callId, undefined, 5000, skip);
}

const callsAccepted = (): number => pod.logs().filter((l) => l.msg === 'call accepted').length;

test('a captured digest INVITE replayed with the same nonce and nc: 407 stale from the same source, 403 from another, never a second call', async () => {
  const caller = await peer('127.0.0.1');
  const first = buildInvite({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: caller.port });
  const challenge = await transact(caller, first.text, first.callId);
  assert.equal(challenge.status, 407);
  await caller.send(buildAckForFailure({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: caller.port, callId: first.callId, branch: first.branch, fromTag: first.fromTag, toHeader: challenge.headers.get('to') ?? '' }), pod.sipPort);
  const ha1 = createHash('md5').update(`rita:${REALM}:${PASSWORD}`).digest('hex');
  const { header } = digestAuthorization({ challenge: challenge.challenges[0]!, username: 'rita', ha1, uri: requestUri('replayed', pod.sipPort), nc: 1 });

  // The genuine call: answered.
  const genuine = buildInvite({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: caller.port, proxyAuthorization: header });
  const ok = await transact(caller, genuine.text, genuine.callId);
  assert.equal(ok.status, 200);
  const toTag = /;\s*tag=([^;\s]+)/.exec(ok.headers.get('to') ?? '')?.[1];
  const contact = /<([^>]+)>/.exec(ok.headers.get('contact') ?? '')?.[1];
  assert.ok(toTag && contact);
  await caller.send([
    `ACK ${contact} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`, 'Max-Forwards: 70',
    `From: <sip:peer@127.0.0.1>;tag=${genuine.fromTag}`, `To: <sip:replayed@127.0.0.1>;tag=${toTag}`, `Call-ID: ${genuine.callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', '',
  ].join('\r\n'), pod.sipPort);
  assert.equal(callsAccepted(), 1);

  // The replay: the same Proxy-Authorization (nonce, nc=00000001, cnonce, response) in a new INVITE.
  const replay = buildInvite({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: caller.port, proxyAuthorization: header });
  const refused = await transact(caller, replay.text, replay.callId);
  assert.equal(refused.status, 407, `${refused.status} ${refused.reason}`);
  assert.ok(refused.challenges.length > 0 && refused.challenges.every((c) => challengeParams(c).stale === 'true'), 'the new challenge says stale=true');
  const stale = pod.logs().find((l) => l.msg === 'stale nonce, challenged again' && l.callId === replay.callId);
  assert.equal(stale?.detail, 'nonce count did not increase');

  // The byte-identical INVITE again (same branch): at most the old 200 comes back; no new call.
  const skip = caller.replies(genuine.callId).length;
  await caller.send(genuine.text, pod.sipPort);
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(caller.replies(genuine.callId).slice(skip).every((r) => r.status === 200 || r.status === 407 || r.status === 100));

  // Replayed from another address: the nonce is bound to the source that was challenged.
  const other = await peer('127.0.0.3');
  const stolen = buildInvite({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.3', localPort: other.port, proxyAuthorization: header });
  const denied = await transact(other, stolen.text, stolen.callId);
  assert.equal(denied.status, 403);
  assert.equal(denied.reason, 'Forbidden - Bad Credentials');
  const why = pod.logs().find((l) => l.msg === 'request rejected' && l.callId === stolen.callId);
  assert.match(String(why?.detail), /nonce signature invalid or issued to another source IP/);

  assert.equal(callsAccepted(), 1, 'only the genuine INVITE made a call');
  assert.equal(answer.requests.filter((r) => r.path === '/answer').length, 1);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_calls_active'), 1);
});

test('oversized over UDP: 70 KB cannot leave the sender (EMSGSIZE); the largest datagram with a 64 KB header line is refused with 400', async () => {
  const p = await peer('127.0.0.1');
  const callId = `oversize-${randomBytes(4).toString('hex')}`;
  const head = (extra: string): string => [
    `OPTIONS sip:nobody@127.0.0.1:${pod.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${p.port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70', `From: <sip:big@127.0.0.1>;tag=1`, 'To: <sip:nobody@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS', extra, 'Content-Length: 0', '', '',
  ].join('\r\n');
  await assert.rejects(p.send(head(`X-Filler: ${'a'.repeat(70 * 1024)}`), pod.sipPort), /EMSGSIZE/);
  const base = Buffer.byteLength(head('X-Filler: '));
  const msg = head(`X-Filler: ${'a'.repeat(65_507 - base)}`);
  assert.equal(Buffer.byteLength(msg), 65_507);
  const reply = await transact(p, msg, callId);
  assert.equal(reply.status, 400);
  assert.match(reply.reason, /line/i);
  assert.ok(pod.logs().some((l) => l.msg === 'malformed SIP message' && l.callId === callId));
});

/** Connects over TCP; `write` feeds bytes; resolves `closed` when the pod hangs up. */
function tcpPeer(): Promise<{ sock: net.Socket; received: () => string; closed: Promise<void>; isClosed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(pod.sipPort, '127.0.0.1');
    let data = '';
    let done = false;
    const closed = new Promise<void>((r) => sock.on('close', () => { done = true; r(); }));
    sock.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    sock.on('error', () => { /* close follows */ });
    sock.once('connect', () => resolve({ sock, received: () => data, closed, isClosed: () => done }));
    sock.once('error', reject);
  });
}

test('oversized over TCP: a 200 KB Content-Length claim gets the connection cut without a call; the pod answers OPTIONS on a new connection', async () => {
  const c = await tcpPeer();
  const body = Buffer.alloc(16 * 1024, 0x61);
  const inv = buildInvite({ user: 'replayed', podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: 5060, transport: 'TCP' }).text
    .replace(/Content-Length: \d+/, 'Content-Length: 200000').split('\r\n\r\n')[0] + '\r\n\r\n';
  c.sock.write(inv);
  // Keep streaming the claimed body until the pod hangs up (bounded: at most the 200 KB claimed).
  for (let sent = 0; sent < 200_000 && !c.isClosed(); sent += body.length) {
    c.sock.write(body);
    await new Promise((r) => setTimeout(r, 20));
  }
  await c.closed;
  const statuses = c.received().split(/(?=SIP\/2\.0 \d{3} )/).map((m) => parseReply(m)?.status).filter((s) => s !== undefined);
  assert.ok(statuses.every((s) => s >= 400), `no success on the cut connection: ${statuses.join(',')}`);
  assert.ok(pod.logs().some((l) => l.msg === 'tcp framing error' && l.error === 'too_large'), 'the framer refused it as too large');
  await tcpOptions();
});

async function tcpOptions(): Promise<void> {
  const c = await tcpPeer();
  c.sock.write(buildOptions({ podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: 5060, callId: `tcp-ok-${randomBytes(3).toString('hex')}`, transport: 'TCP' }));
  for (let i = 0; i < 50 && !/^SIP\/2\.0 \d{3}/m.test(c.received()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(parseReply(c.received())?.status, 200);
  c.sock.destroy();
}

test(`slowloris over TCP (one header byte per second): cut by the ${MESSAGE_TIMEOUT_SEC} s message timeout long before the message completes`, async () => {
  const c = await tcpPeer();
  const message = Buffer.from(buildOptions({ podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: 5060, callId: 'slowloris', transport: 'TCP' }));
  let sent = 0;
  // Bounded: 20 bytes at most; the message is far longer, so only the pod can end this early.
  while (!c.isClosed() && sent < 20) {
    c.sock.write(message.subarray(sent, sent + 1));
    sent++;
    await Promise.race([new Promise((r) => setTimeout(r, 1000)), c.closed]);
  }
  assert.ok(c.isClosed(), `the pod kept a connection that sent ${sent} bytes in ${sent} s`);
  assert.ok(sent >= MESSAGE_TIMEOUT_SEC && sent < message.length, `cut after ${sent} of ${message.length} bytes`);
  assert.equal(c.received(), '', 'nothing was answered');
  await tcpOptions();
  const udp = await peer('127.0.0.1');
  const reply = await transact(udp, buildOptions({ podPort: pod.sipPort, localAddress: '127.0.0.1', localPort: udp.port, callId: 'udp-after-abuse' }), 'udp-after-abuse');
  assert.equal(reply.status, 200);
});

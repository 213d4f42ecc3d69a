/**
 * An INVITE flood from 2000 distinct loopback sources (127.20.x.y), each answering the digest
 * challenge with wrong passwords until it is locked out, while a legitimate caller (sipp, right
 * password, 127.0.0.1) keeps calling. The lockout table must hold every attacker and stay within
 * its cap, the pod's memory must stay bounded, and the legitimate calls must get through.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp } from '../support/sipp.js';
import { metricValue } from '../support/sip-trace.js';
import { buildAckForFailure, buildInvite, digestAuthorization, requestUri, UdpSipPeer, type SipReply } from '../support/sip-peer.js';

const PASSWORD = 'Flood-Legit-Passw0rd';
const REALM = 'sip.test';
const SOURCES = Number(process.env.FLOOD_SOURCES ?? 2000);
const WRONG_PER_SOURCE = 3;
const CONCURRENCY = 50;
/** LockoutTable's default cap on tracked sources. */
const LOCKOUT_CAP = 50_000;

let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  answer = await startTestAnswerServer();
  // Answered at once (DTMF needs no synthesis), then held until sipp's BYE.
  answer.route('/answer', '<Response><DTMF>1</DTMF><Wait length="10"/></Response>');
  pod = await startTestPod({
    extraArgs: ['--lockout-threshold', String(WRONG_PER_SOURCE)],
    manifests: `
apiVersion: v1
kind: Secret
metadata: { name: dan-sip, namespace: default }
type: Opaque
stringData: { password: ${PASSWORD} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: dan, namespace: default }
spec: { username: dan, passwordSecretRef: { name: dan-sip, key: password } }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: guarded, namespace: default }
spec:
  answerUrl: ${answer.url}/answer
  hangupUrl: ${answer.url}/hangup
  sipAuth: { type: Credential, credentialRefs: [{ name: dan }] }
` });
});

after(async () => {
  await pod.stop();
  await answer.close();
});

function sourceAddress(n: number): string { return `127.20.${Math.floor(n / 250)}.${(n % 250) + 1}`; }

/**
 * One INVITE transaction as a UA runs it (RFC 3261 Timer A): retransmitted at 0.5, 1, 2, 4 s
 * until anything comes back, because a loaded machine drops loopback datagrams too; the final
 * response is ACKed so the pod stops retransmitting it.
 */
async function inviteOnce(peer: UdpSipPeer, auth?: string): Promise<SipReply> {
  const inv = buildInvite({ user: 'guarded', podPort: pod.sipPort, localAddress: peer.address, localPort: peer.port, ...(auth ? { proxyAuthorization: auth } : {}) });
  await peer.send(inv.text, pod.sipPort);
  const deadline = Date.now() + 32_000;
  let interval = 500;
  let final: SipReply;
  for (;;) {
    try {
      final = await peer.waitFor(inv.callId, undefined, interval);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      if (peer.replies(inv.callId).length === 0) await peer.send(inv.text, pod.sipPort);
      interval = Math.min(interval * 2, 4000);
    }
  }
  await peer.send(buildAckForFailure({ user: 'guarded', podPort: pod.sipPort, localAddress: peer.address, localPort: peer.port, callId: inv.callId, branch: inv.branch, fromTag: inv.fromTag, toHeader: final.headers.get('to') ?? '' }), pod.sipPort);
  return final;
}

/** One attacker: fetch a challenge, then answer it with wrong passwords (nc 1, 2, 3). */
async function attack(n: number): Promise<string[]> {
  const peer = await UdpSipPeer.bind(sourceAddress(n));
  try {
    const challenge = await inviteOnce(peer);
    assert.equal(challenge.status, 407, `${peer.address}: ${challenge.status} ${challenge.reason}`);
    const ha1 = createHash('md5').update(`dan:${REALM}:wrong-${n}`).digest('hex');
    const reasons: string[] = [];
    for (let i = 1; i <= WRONG_PER_SOURCE; i++) {
      const { header } = digestAuthorization({ challenge: challenge.challenges[0]!, username: 'dan', ha1, uri: requestUri('guarded', pod.sipPort), nc: i });
      const r = await inviteOnce(peer, header);
      reasons.push(`${r.status} ${r.reason}`);
    }
    return reasons;
  } finally {
    peer.close();
  }
}

test(`${SOURCES} sources × ${WRONG_PER_SOURCE} wrong passwords: every source locked out, lockout table within its cap, RSS bounded, the legitimate caller gets through during and after`, async (t) => {
  const sippArgs = ['-au', 'dan', '-ap', PASSWORD, '-auth_uri', `guarded@127.0.0.1:${pod.sipPort}`, '-d', '500'];
  // Warm-up call: the pod's lazy parts (workers, pools) are in place before the baseline.
  const warm = await runSipp({ scenario: 'uac-auth-call.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, calls: 1, args: sippArgs, timeoutSec: 20 });
  assert.equal(warm.successful, 1, warm.errors);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;

  const legit = runSipp({
    scenario: 'uac-auth-call.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, calls: 5, rate: 1, args: ['-l', '1', ...sippArgs], timeoutSec: 60,
  });
  const outcomes: string[][] = [];
  let next = 0;
  let rssPeak = rssBefore;
  const worker = async (): Promise<void> => {
    while (next < SOURCES) {
      const n = next++;
      outcomes[n] = await attack(n);
      if (n % 200 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const during = await legit;
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);

  // Every attacker: two Bad Credentials, then the lockout.
  for (let n = 0; n < SOURCES; n++) {
    assert.deepEqual(outcomes[n], ['403 Forbidden - Bad Credentials', '403 Forbidden - Bad Credentials', '403 Forbidden - Locked Out'], sourceAddress(n));
  }
  const m = await pod.metrics();
  const locked = metricValue(m, 'sipflow_auth_locked_sources');
  assert.equal(locked, SOURCES, 'every flooding source is locked out (and none evicted)');
  assert.ok(locked <= LOCKOUT_CAP);
  assert.equal(metricValue(m, 'sipflow_auth_lockouts_total'), SOURCES);
  assert.equal(metricValue(m, 'sipflow_auth_failures_total', { cause: 'bad_password' }), SOURCES * WRONG_PER_SOURCE);
  assert.equal(pod.logs().filter((l) => l.msg === 'source locked out' && String(l.source).startsWith('127.20.')).length, SOURCES);

  assert.equal(during.successful, 5, `legitimate calls during the flood: ${during.errors}\n${during.stdout.slice(-1000)}`);
  const afterwards = await runSipp({ scenario: 'uac-auth-call.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, calls: 1, args: sippArgs, timeoutSec: 20 });
  assert.equal(afterwards.successful, 1, afterwards.errors);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_auth_locked_sources'), SOURCES, '127.0.0.1 was never locked out');

  // 8000 INVITE transactions and 2000 lockout entries; the pod and the attacking sockets share this process.
  const growth = rssPeak - rssBefore;
  t.diagnostic(`RSS growth during the flood: ${Math.round(growth / 1048576)} MiB`);
  assert.ok(growth < 200 * 1024 * 1024, `RSS grew by ${Math.round(growth / 1048576)} MiB during the flood`);
});

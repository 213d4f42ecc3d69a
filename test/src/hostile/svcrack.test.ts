/**
 * A real brute-force tool against the digest lockout: SIPVicious svcrack works through 30 wrong
 * passwords and then the right one, from one loopback source, against a Credential app. The pod
 * must check at most 10 passwords, lock the source out, and never let svcrack reach the right
 * one; a control run from another source shows the right password is otherwise accepted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { metricValue } from '../support/sip-trace.js';
import { runSvcrack, svcrackSkipReason } from '../support/svcrack.js';

const PASSWORD = 'Svcrack-Target-Passw0rd';
const WRONG = Array.from({ length: 30 }, (_, i) => `guess-${String(i + 1).padStart(2, '0')}-nope`);

const skip = await svcrackSkipReason();
let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  if (skip) return;
  answer = await startTestAnswerServer();
  answer.route('/answer', '<Response><Wait length="5"/></Response>');
  pod = await startTestPod({ manifests: `
apiVersion: v1
kind: Secret
metadata: { name: eve-sip, namespace: default }
type: Opaque
stringData: { password: ${PASSWORD} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: eve, namespace: default }
spec: { username: eve, passwordSecretRef: { name: eve-sip, key: password } }
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: vault, namespace: default }
spec:
  answerUrl: ${answer.url}/answer
  hangupUrl: ${answer.url}/hangup
  sipAuth: { type: Credential, credentialRefs: [{ name: eve }] }
` });
});

after(async () => {
  if (skip) return;
  await pod.stop();
  await answer.close();
});

const rejectedBy = (text: string, cause: string): number => metricValue(text, 'sipflow_sip_rejections_total', { cause });
const acceptedFrom = (ip: string): number => pod.logs().filter((l) => l.msg === 'call accepted' && String(l.source).startsWith(`${ip}:`)).length;

test('control: svcrack with the right password from 127.0.0.2 gets past digest auth and its call is accepted (no SDP: the pod offers in its 200 OK)', { skip }, async () => {
  const run = await runSvcrack({ podPort: pod.sipPort, appId: 'vault', username: 'eve', passwords: [PASSWORD], bindIp: '127.0.0.2', timeoutMs: 10_000,
    stopWhen: () => Promise.resolve(acceptedFrom('127.0.0.2') >= 1) });
  const m = await pod.metrics();
  assert.ok(acceptedFrom('127.0.0.2') >= 1, `the right password passed auth and the call was accepted\n${run.output.slice(-1500)}`);
  assert.equal(metricValue(m, 'sipflow_auth_failures_total'), 0);
  const line = pod.logs().find((l) => l.msg === 'call accepted' && String(l.source).startsWith('127.0.0.2:'));
  assert.equal(line?.user, 'eve');
  assert.match(run.output, /SIP\/2\.0 (180|200) /, 'svcrack saw the call go through');
});

test('svcrack from 127.0.0.1 with 30 wrong passwords then the right one: at most 10 are checked, the source is locked out, the password is never found', { skip }, async () => {
  const before = await pod.metrics();
  const acceptedBefore = acceptedFrom('127.0.0.1');
  const answersBefore = answer.requests.filter((r) => r.path === '/answer').length;
  const run = await runSvcrack({
    podPort: pod.sipPort, appId: 'vault', username: 'eve', passwords: [...WRONG, PASSWORD], bindIp: '127.0.0.1', timeoutMs: 30_000,
    // svcrack retries forever while it gets answers; stop it once the lockout has refused it a while.
    stopWhen: async () => rejectedBy(await pod.metrics(), 'locked_out') >= 50,
  });
  const m = await pod.metrics();
  const checked = metricValue(m, 'sipflow_auth_failures_total', { cause: 'bad_password' }) - metricValue(before, 'sipflow_auth_failures_total', { cause: 'bad_password' });
  assert.equal(checked, 10, `exactly the lockout threshold of passwords was checked\n${run.output.slice(-2000)}`);
  assert.equal(metricValue(m, 'sipflow_auth_lockouts_total'), 1);
  assert.equal(metricValue(m, 'sipflow_auth_locked_sources'), 1);
  assert.ok(rejectedBy(m, 'locked_out') >= 50, 'svcrack kept trying and was refused while locked out');
  // The right password never reached the credential check: no call.
  assert.equal(acceptedFrom('127.0.0.1'), acceptedBefore, 'no call from the attacker was accepted');
  assert.equal(answer.requests.filter((r) => r.path === '/answer').length, answersBefore);
  assert.equal(run.cracked, undefined, `svcrack must not find the password: ${run.cracked ?? ''}`);
  assert.match(run.output, /found nothing/, 'svcrack reports that it found nothing');
  assert.ok(run.tried.length >= 10, `svcrack tried ${run.tried.length} passwords`);
  assert.ok(!run.tried.includes(PASSWORD), 'svcrack never got to try the right password');

  const logs = pod.logs().filter((l) => l.msg === 'request rejected' && String(l.source).startsWith('127.0.0.1:'));
  const bad = logs.filter((l) => l.cause === 'bad_credentials');
  assert.equal(bad.length, 9, 'nine refusals say Bad Credentials, the tenth starts the lockout');
  const locked = pod.logs().find((l) => l.msg === 'source locked out');
  assert.equal(locked?.source, '127.0.0.1');
  const refusals = logs.filter((l) => l.cause === 'locked_out');
  assert.ok(refusals.length >= 50);
  assert.match(String(refusals[0]!.reason), /^source 127\.0\.0\.1 is now locked out after repeated authentication failures$/);
});

/**
 * Brute-force lockout with a real peer: ten wrong passwords from one source lock it out, the
 * next INVITE is refused with 403 "Locked Out" and no challenge, and a correct call succeeds
 * once the (shortened) lockout is over. Runs its own pod so the lockout touches no other test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp } from '../support/sipp.js';
import { header, inviteFinals, metricValue, parseSippTrace, responses } from '../support/sip-trace.js';

const PASSWORD = 'Lock-Test-Passw0rd';
let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  answer = await startTestAnswerServer();
  const r = plivo.Response();
  r.addSpeak('You are in');
  r.addWait({ length: 10 });
  answer.route('/answer', r.toXML());
  pod = await startTestPod({
    extraArgs: ['--lockout-window', '2', '--lockout-duration', '2'],
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
`,
  });
});

after(async () => {
  await pod.stop();
  await answer.close();
});

const auth = (password: string) => ['-au', 'dan', '-ap', password, '-auth_uri', `guarded@127.0.0.1:${pod.sipPort}`];

test('10 wrong passwords lock the source out: the 11th INVITE gets 403 "Locked Out" without a challenge; after the lockout a correct call succeeds', async () => {
  const before = await pod.metrics();
  // -l 1: one attempt at a time, so each one sees a fresh challenge before the lockout starts.
  const bad = await runSipp({
    scenario: 'uac-auth-rejected.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, calls: 10, rate: 50,
    args: ['-l', '1', ...auth('Wrong-Passw0rd')], timeoutSec: 20, traceMessages: true,
  });
  assert.equal(bad.successful, 10, `${bad.errors}\n${bad.stdout.slice(-1500)}`);
  const finals = inviteFinals(parseSippTrace(bad.messages)).filter((m) => m.status === 403);
  assert.equal(finals.length, 10);
  assert.deepEqual(finals.slice(0, 9).map((m) => m.reason), Array(9).fill('Forbidden - Bad Credentials'));
  // The tenth failure is the one that starts the lockout, and says so.
  assert.equal(finals[9]!.reason, 'Forbidden - Locked Out');
  assert.match(header(finals[9]!, 'Warning') ?? '', /^399 sipflow "source 127\.0\.0\.1 is now locked out after repeated authentication failures"$/);

  const locked = await runSipp({ scenario: 'uac-rejected.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 10, traceMessages: true });
  assert.equal(locked.successful, 1, locked.errors);
  const trace = parseSippTrace(locked.messages);
  assert.equal(responses(trace, 407).length, 0, 'no challenge while locked out');
  const refusal = inviteFinals(trace)[0];
  assert.ok(refusal);
  assert.equal(refusal.status, 403);
  assert.equal(refusal.reason, 'Forbidden - Locked Out');
  assert.match(header(refusal, 'Warning') ?? '', /^399 sipflow "source 127\.0\.0\.1 is locked out after repeated authentication failures \(\d+s left\)"$/);
  const retryAfter = Number(header(refusal, 'Retry-After'));
  assert.ok(retryAfter >= 1 && retryAfter <= 2, `Retry-After ${retryAfter}`);
  const callId = header(trace.find((m) => m.method === 'INVITE')!, 'Call-ID');
  const log = pod.logs().find((l) => l.msg === 'request rejected' && l.callId === callId);
  assert.equal(log?.cause, 'locked_out');
  assert.ok(pod.logs().some((l) => l.msg === 'source locked out' && l.source === '127.0.0.1'));

  const mid = await pod.metrics();
  assert.equal(metricValue(mid, 'sipflow_auth_lockouts_total') - metricValue(before, 'sipflow_auth_lockouts_total'), 1);
  assert.equal(metricValue(mid, 'sipflow_auth_locked_sources'), 1);
  assert.equal(metricValue(mid, 'sipflow_sip_rejections_total', { cause: 'locked_out' }) - metricValue(before, 'sipflow_sip_rejections_total', { cause: 'locked_out' }), 2);
  assert.equal(metricValue(mid, 'sipflow_sip_rejections_total', { cause: 'bad_credentials' }) - metricValue(before, 'sipflow_sip_rejections_total', { cause: 'bad_credentials' }), 9);
  assert.equal(answer.requests.filter((q) => q.path === '/answer').length, 0);

  // Wait out the lockout the pod announced in Retry-After (the pod runs on the system clock).
  await new Promise((r) => setTimeout(r, retryAfter * 1000 + 250));
  const good = await runSipp({ scenario: 'uac-auth-call.xml', service: 'guarded', target: `127.0.0.1:${pod.sipPort}`, args: ['-d', '300', ...auth(PASSWORD)], timeoutSec: 15, traceMessages: true });
  assert.equal(good.successful, 1, `${good.errors}\n${good.stdout.slice(-1500)}`);
  assert.deepEqual(inviteFinals(parseSippTrace(good.messages)).map((m) => m.status), [407, 200]);
  const ans = await answer.waitFor('/answer');
  assert.equal(ans.params.SIPAuthUser, 'dan');
});

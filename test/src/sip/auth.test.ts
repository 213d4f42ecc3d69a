/**
 * SIP authentication with a real peer (sipp) against a real media pod: every sipAuth type
 * admitting a call, and every refusal (bad password, unknown app, source outside the ACL,
 * unlisted number) answering with a status, a reason phrase, a Warning, a log line and a metric.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { capturedLogs, startTestPod, type TestPod } from '../support/pod.js';
import { runSipp, type SippOptions } from '../support/sipp.js';
import { header, headers, inviteFinals, metricValue, parseSippTrace, responses, type TracedMessage } from '../support/sip-trace.js';

const PASSWORD = 'Carol-Passw0rd-4711';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PLIVO_TIME_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

let answer: TestAnswerServer;
let pod: TestPod;

function manifests(url: string): string {
  const app = (name: string, auth: string, extra = '') => `
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${name}, namespace: default }
spec:
  answerUrl: ${url}/${name}/answer
  hangupUrl: ${url}/${name}/hangup
  sipAuth: ${auth}${extra}`;
  return `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: only-127-0-0-2, namespace: default }
spec: { entries: [{ ip: 127.0.0.2, cidrPrefix: 32 }] }
---
apiVersion: v1
kind: Secret
metadata: { name: carol-sip, namespace: default }
type: Opaque
stringData: { password: ${PASSWORD} }
---
apiVersion: sipflow.io/v1alpha1
kind: SipCredential
metadata: { name: carol, namespace: default }
spec: { username: carol, passwordSecretRef: { name: carol-sip, key: password } }`
    + app('acl-app', '{ type: IpAcl, ipAclRefs: [{ name: loopback }] }', '\n  numbers: ["+14155550100"]')
    + app('cred-app', '{ type: Credential, credentialRefs: [{ name: carol }] }', '\n  numbers: ["4930123456"]')
    + app('both-app', '{ type: IpAclAndCredential, ipAclRefs: [{ name: loopback }], credentialRefs: [{ name: carol }] }')
    + app('open-app', '{ type: None }', '\n  answerMethod: GET\n  hangupMethod: GET')
    + app('narrow-app', '{ type: IpAcl, ipAclRefs: [{ name: only-127-0-0-2 }] }')
    + app('narrow-both-app', '{ type: IpAclAndCredential, ipAclRefs: [{ name: only-127-0-0-2 }], credentialRefs: [{ name: carol }] }')
    + '\n';
}

/** Speaks, then waits long enough for the caller (sipp -d) to hang up first. */
function talkXml(): string {
  const r = plivo.Response();
  r.addSpeak('Welcome to sipflow');
  r.addWait({ length: 10 });
  return r.toXML();
}

before(async () => {
  answer = await startTestAnswerServer();
  for (const name of ['acl-app', 'cred-app', 'both-app', 'open-app', 'narrow-app', 'narrow-both-app']) answer.route(`/${name}/answer`, talkXml());
  pod = await startTestPod({ manifests: manifests(answer.url) });
});

after(async () => {
  await pod.stop();
  await answer.close();
});

async function call(o: Partial<SippOptions> & { scenario: string; service: string }): Promise<{ trace: TracedMessage[]; ok: boolean; detail: string; callId: string }> {
  const res = await runSipp({ target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 15, traceMessages: true, rate: 5, ...o });
  const trace = parseSippTrace(res.messages);
  const callId = trace.find((m) => m.method === 'INVITE') ? header(trace.find((m) => m.method === 'INVITE')!, 'Call-ID') ?? '' : '';
  return { trace, ok: res.code === 0 && res.failed === 0 && res.successful === (o.calls ?? 1), detail: `${res.errors}\n${res.stdout.slice(-1500)}`, callId };
}

/** sipp answers digest challenges with uri=sip:remote_ip:port unless told; the pod binds the digest to the Request-URI. */
function authArgs(user: string, password: string, service: string): string[] {
  return ['-au', user, '-ap', password, '-auth_uri', `${service}@127.0.0.1:${pod.sipPort}`];
}

function rejectionLog(callId: string): Record<string, unknown> {
  const line = pod.logs().find((l) => l.msg === 'request rejected' && l.callId === callId);
  assert.ok(line, `no 'request rejected' log line for ${callId}`);
  return line;
}

async function hangupFor(app: string, uuid: string): Promise<RecordedRequest> {
  return answer.waitFor(`/${app}/hangup`, (r) => r.params.CallUUID === uuid);
}

function assertAnswerParams(p: Record<string, string>, o: { app: string; authType: string; authUser: string; callerName: string; sourceIp?: string }): void {
  assert.match(p.CallUUID ?? '', UUID_RE);
  assert.equal(p.From, `sip:${o.callerName.split(' ')[0]!.toLowerCase()}@${o.sourceIp ?? '127.0.0.1'}`);
  assert.equal(p.To, `sip:${o.app}@127.0.0.1`);
  assert.equal(p.CallStatus, 'ringing');
  assert.equal(p.Direction, 'inbound');
  assert.equal(p.Event, 'StartApp');
  assert.equal(p.CallerName, o.callerName);
  assert.equal(p['SIP-H-To'], `<sip:${o.app}@127.0.0.1:${pod.sipPort}>`);
  assert.equal(p.SIPAuthType, o.authType);
  assert.equal(p.SIPAuthUser, o.authUser);
  assert.equal(p.SIPSourceIP, o.sourceIp ?? '127.0.0.1');
}

function assertCallerHangup(h: Record<string, string>, uuid: string): void {
  assert.equal(h.CallUUID, uuid);
  assert.equal(h.Event, 'Hangup');
  assert.equal(h.CallStatus, 'completed');
  assert.equal(h.HangupCauseCode, '4000');
  assert.equal(h.HangupCauseName, 'Normal Hangup');
  assert.equal(h.HangupSource, 'Caller');
  assert.match(h.Duration ?? '', /^\d+$/);
  for (const k of ['StartTime', 'AnswerTime', 'EndTime']) assert.match(h[k] ?? '', PLIVO_TIME_RE, k);
  assert.ok((h.StartTime ?? '') <= (h.AnswerTime ?? '') && (h.AnswerTime ?? '') <= (h.EndTime ?? ''), 'StartTime <= AnswerTime <= EndTime');
}

test('IpAcl: an INVITE from inside the ACL is answered without a challenge; answer_url gets Plivo params and X-PH-* headers', async () => {
  const r = await call({ scenario: 'uac-call.xml', service: 'acl-app', args: ['-d', '300'] });
  assert.ok(r.ok, r.detail);
  assert.equal(responses(r.trace, 407).length, 0, 'no challenge for an IpAcl app');
  assert.deepEqual(inviteFinals(r.trace).map((m) => m.status), [200]);
  const ans = await answer.waitFor('/acl-app/answer', (q) => q.params.CallerName === 'Alice Caller');
  assert.equal(ans.method, 'POST');
  assertAnswerParams(ans.params, { app: 'acl-app', authType: 'ip_acl', authUser: '', callerName: 'Alice Caller' });
  assert.equal(ans.params['X-PH-Test'], 'Sample');
  assert.equal(ans.params['X-PH-Ticket'], '4711');
  const hang = await hangupFor('acl-app', ans.params.CallUUID!);
  assert.equal(hang.method, 'POST');
  assertCallerHangup(hang.params, ans.params.CallUUID!);
  assert.equal(hang.params['X-PH-Test'], 'Sample');
});

test('Credential: 407 offers MD5 and SHA-256, sipp answers MD5, the call is answered and SIPAuthUser is the username', async () => {
  const before = await pod.metrics();
  const r = await call({ scenario: 'uac-auth-call.xml', service: 'cred-app', args: ['-d', '300', ...authArgs('carol', PASSWORD, 'cred-app')] });
  assert.ok(r.ok, r.detail);
  const challenge = responses(r.trace, 407)[0];
  assert.ok(challenge, 'a 407 challenge');
  assert.equal(challenge.reason, 'Proxy Authentication Required');
  const offers = headers(challenge, 'Proxy-Authenticate');
  assert.equal(offers.length, 2);
  assert.match(offers[0]!, /^Digest realm="sip\.test", nonce="[^"]+", algorithm=MD5, qop="auth"$/);
  assert.match(offers[1]!, /^Digest realm="sip\.test", nonce="[^"]+", algorithm=SHA-256, qop="auth"$/);
  const authed = r.trace.filter((m) => m.method === 'INVITE')[1];
  assert.ok(authed, 'the INVITE with credentials');
  assert.match(header(authed, 'Proxy-Authorization') ?? '', /username="carol".*algorithm=MD5/);
  assert.deepEqual(inviteFinals(r.trace).map((m) => m.status), [407, 200]);
  const ans = await answer.waitFor('/cred-app/answer', (q) => q.params.CallerName === 'Carol Caller');
  assertAnswerParams(ans.params, { app: 'cred-app', authType: 'credential', authUser: 'carol', callerName: 'Carol Caller' });
  const hang = await hangupFor('cred-app', ans.params.CallUUID!);
  assertCallerHangup(hang.params, ans.params.CallUUID!);
  assert.equal(hang.params.SIPAuthUser, 'carol');
  const afterM = await pod.metrics();
  assert.equal(metricValue(afterM, 'sipflow_sip_invites_total', { outcome: 'answered' }) - metricValue(before, 'sipflow_sip_invites_total', { outcome: 'answered' }), 1);
  // The password and the digest response never reach a log line.
  const response = /response="([0-9a-f]+)"/.exec(header(authed, 'Proxy-Authorization') ?? '')?.[1] ?? 'x';
  assert.equal(capturedLogs().filter((l) => l.includes(PASSWORD) || l.includes(response)).length, 0);
});

test('IpAclAndCredential: a loopback caller with the right password is answered', async () => {
  const r = await call({ scenario: 'uac-auth-call.xml', service: 'both-app', args: ['-d', '300', ...authArgs('carol', PASSWORD, 'both-app')] });
  assert.ok(r.ok, r.detail);
  assert.deepEqual(inviteFinals(r.trace).map((m) => m.status), [407, 200]);
  const ans = await answer.waitFor('/both-app/answer');
  assertAnswerParams(ans.params, { app: 'both-app', authType: 'ip_acl_and_credential', authUser: 'carol', callerName: 'Carol Caller' });
  assertCallerHangup((await hangupFor('both-app', ans.params.CallUUID!)).params, ans.params.CallUUID!);
});

test('None: any caller is answered, counted in sipflow_auth_unauthenticated_calls_total, callbacks use GET', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_auth_unauthenticated_calls_total');
  const r = await call({ scenario: 'uac-call.xml', service: 'open-app', args: ['-d', '300'] });
  assert.ok(r.ok, r.detail);
  assert.deepEqual(inviteFinals(r.trace).map((m) => m.status), [200]);
  const ans = await answer.waitFor('/open-app/answer');
  assert.equal(ans.method, 'GET');
  assertAnswerParams(ans.params, { app: 'open-app', authType: 'none', authUser: '', callerName: 'Alice Caller' });
  assert.equal(ans.params['X-PH-Test'], 'Sample');
  const hang = await hangupFor('open-app', ans.params.CallUUID!);
  assert.equal(hang.method, 'GET');
  assertCallerHangup(hang.params, ans.params.CallUUID!);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_auth_unauthenticated_calls_total') - before, 1);
  assert.ok(pod.logs().some((l) => l.msg === 'unauthenticated call accepted (sipAuth.type None)' && l.callId === r.callId));
});

test('wrong password: 407, then 403 "Forbidden - Bad Credentials" with a Warning, a log line and a metric; no answer_url request', async () => {
  const before = await pod.metrics();
  const answersBefore = answer.requests.filter((q) => q.path === '/cred-app/answer').length;
  const r = await call({ scenario: 'uac-auth-rejected.xml', service: 'cred-app', args: authArgs('carol', 'Not-The-Passw0rd', 'cred-app') });
  assert.ok(r.ok, r.detail);
  const finals = inviteFinals(r.trace);
  assert.deepEqual(finals.map((m) => m.status), [407, 403]);
  assert.equal(finals[1]!.reason, 'Forbidden - Bad Credentials');
  assert.equal(header(finals[1]!, 'Warning'), '399 sipflow "digest credentials were not accepted for this application"');
  const log = rejectionLog(r.callId);
  assert.equal(log.cause, 'bad_credentials');
  assert.equal(log.status, 403);
  assert.equal(log.user, 'carol');
  assert.equal(log.detail, 'digest response does not match');
  const afterM = await pod.metrics();
  assert.equal(metricValue(afterM, 'sipflow_sip_rejections_total', { cause: 'bad_credentials' }) - metricValue(before, 'sipflow_sip_rejections_total', { cause: 'bad_credentials' }), 1);
  assert.equal(metricValue(afterM, 'sipflow_auth_failures_total', { cause: 'bad_password' }) - metricValue(before, 'sipflow_auth_failures_total', { cause: 'bad_password' }), 1);
  assert.equal(answer.requests.filter((q) => q.path === '/cred-app/answer').length, answersBefore);
  assert.equal(capturedLogs().filter((l) => l.includes('Not-The-Passw0rd')).length, 0);
});

test('unknown application: 404 "Not Found - Unknown Application" naming the Request-URI user; the ACK stops retransmissions', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'unknown_application' });
  // sipp listens 1.5 s after its ACK: a 404 retransmitted at T1 (0.5 s) would mean the ACK was not matched.
  const r = await call({ scenario: 'uac-rejected.xml', service: 'no-such-app', args: ['-d', '1500'] });
  assert.ok(r.ok, r.detail);
  const finals = inviteFinals(r.trace);
  assert.deepEqual(finals.map((m) => m.status), [404], 'one 404, not retransmitted after the ACK');
  assert.equal(finals[0]!.reason, 'Not Found - Unknown Application');
  assert.equal(header(finals[0]!, 'Warning'), `399 sipflow "no application with appId or number 'no-such-app' in the Request-URI"`);
  const log = rejectionLog(r.callId);
  assert.equal(log.cause, 'unknown_application');
  assert.equal(log.requestUser, 'no-such-app');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'unknown_application' }) - before, 1);
});

test('IP ACL: 127.0.0.1 is refused by an ACL of 127.0.0.2/32 with 403 "Forbidden - Source Not In ACL"; 127.0.0.2 is answered', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'source_not_in_acl' });
  const r = await call({ scenario: 'uac-rejected.xml', service: 'narrow-app' });
  assert.ok(r.ok, r.detail);
  const finals = inviteFinals(r.trace);
  assert.deepEqual(finals.map((m) => m.status), [403]);
  assert.equal(finals[0]!.reason, 'Forbidden - Source Not In ACL');
  assert.equal(header(finals[0]!, 'Warning'), `399 sipflow "source 127.0.0.1 is not in the IP ACL of application 'narrow-app'"`);
  assert.equal(rejectionLog(r.callId).cause, 'source_not_in_acl');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'source_not_in_acl' }) - before, 1);

  const ok = await call({ scenario: 'uac-call.xml', service: 'narrow-app', localIp: '127.0.0.2', args: ['-d', '300'] });
  assert.ok(ok.ok, ok.detail);
  assert.deepEqual(inviteFinals(ok.trace).map((m) => m.status), [200]);
  const ans = await answer.waitFor('/narrow-app/answer');
  assertAnswerParams(ans.params, { app: 'narrow-app', authType: 'ip_acl', authUser: '', callerName: 'Alice Caller', sourceIp: '127.0.0.2' });
});

test('IpAclAndCredential from outside the ACL: 403 "Forbidden - Source Not In ACL" with no digest challenge', async () => {
  const r = await call({ scenario: 'uac-rejected.xml', service: 'narrow-both-app' });
  assert.ok(r.ok, r.detail);
  assert.equal(responses(r.trace, 407).length, 0, 'the ACL is checked before any challenge');
  const finals = inviteFinals(r.trace);
  assert.deepEqual(finals.map((m) => m.status), [403]);
  assert.equal(finals[0]!.reason, 'Forbidden - Source Not In ACL');
  assert.equal(rejectionLog(r.callId).cause, 'source_not_in_acl');
});

test('a digest computed for another URI (sipp\'s default uri=sip:ip:port) is refused: 403 Bad Credentials, logged as a URI mismatch', async () => {
  const r = await call({ scenario: 'uac-auth-rejected.xml', service: 'cred-app', args: ['-au', 'carol', '-ap', PASSWORD] });
  assert.ok(r.ok, r.detail);
  const authed = r.trace.filter((m) => m.method === 'INVITE')[1];
  assert.match(header(authed!, 'Proxy-Authorization') ?? '', new RegExp(`uri="sip:127\\.0\\.0\\.1:${pod.sipPort}"`));
  const finals = inviteFinals(r.trace);
  assert.deepEqual(finals.map((m) => m.status), [407, 403]);
  assert.equal(finals[1]!.reason, 'Forbidden - Bad Credentials');
  const log = rejectionLog(r.callId);
  assert.equal(log.cause, 'bad_credentials');
  assert.equal(log.detail, 'digest uri does not match the Request-URI');
});

test('phone numbers: an unlisted number is 404; a listed number reaches its app, and a credential app still challenges', async () => {
  const unlisted = await call({ scenario: 'uac-rejected.xml', service: '4930999999' });
  assert.ok(unlisted.ok, unlisted.detail);
  assert.deepEqual(inviteFinals(unlisted.trace).map((m) => m.status), [404]);
  assert.equal(inviteFinals(unlisted.trace)[0]!.reason, 'Not Found - Unknown Application');
  assert.equal(rejectionLog(unlisted.callId).cause, 'unknown_application');

  // Listed with a '+' on an IpAcl app: answered, To carries the number as dialled.
  const listed = await call({ scenario: 'uac-call.xml', service: '+14155550100', args: ['-d', '300'] });
  assert.ok(listed.ok, listed.detail);
  assert.deepEqual(inviteFinals(listed.trace).map((m) => m.status), [200]);
  const ans = await answer.waitFor('/acl-app/answer', (q) => (q.params.To ?? '').includes('14155550100'));
  assert.equal(ans.params.SIPAuthType, 'ip_acl');

  // Listed on a Credential app: the number does not bypass the challenge.
  const challenged = await call({ scenario: 'uac-rejected.xml', service: '4930123456' });
  assert.ok(challenged.ok, challenged.detail);
  assert.deepEqual(inviteFinals(challenged.trace).map((m) => m.status), [407]);
  const authed = await call({ scenario: 'uac-auth-call.xml', service: '4930123456', args: ['-d', '300', ...authArgs('carol', PASSWORD, '4930123456')] });
  assert.ok(authed.ok, authed.detail);
  assert.deepEqual(inviteFinals(authed.trace).map((m) => m.status), [407, 200]);
  const credAns = await answer.waitFor('/cred-app/answer', (q) => (q.params.To ?? '').includes('4930123456'));
  assert.equal(credAns.params.SIPAuthUser, 'carol');
});

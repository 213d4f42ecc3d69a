/**
 * Plivo XML behaviours through real calls (sipp caller, real answer server built with Plivo's
 * SDK): invalid XML, unreachable answer URLs and the fallback, Redirect, Hangup as a rejection,
 * Wait before answering, unsupported verbs, and V3-signed callbacks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import plivo from 'plivo';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp } from '../support/sipp.js';
import { header, inviteFinals, metricValue, parseSippTrace, responses, type TracedMessage } from '../support/sip-trace.js';

const TOKEN = 'xml-calls-signing-token-0123456789';
let answer: TestAnswerServer;
let pod: TestPod;
let closedPort: number;

/** A loopback port nothing listens on (bound, then released). */
async function closedLoopbackPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function xml(build: (r: ReturnType<typeof plivo.Response>) => void): string {
  const r = plivo.Response();
  build(r);
  return r.toXML();
}

before(async () => {
  answer = await startTestAnswerServer();
  closedPort = await closedLoopbackPort();
  const dead = `http://127.0.0.1:${closedPort}`;
  const app = (name: string, extra = '', answerUrl = `${answer.url}/${name}/answer`) => `
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${name}, namespace: default }
spec:
  answerUrl: ${answerUrl}
  hangupUrl: ${answer.url}/${name}/hangup
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }${extra}`;
  pod = await startTestPod({ manifests: `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }
---
apiVersion: v1
kind: Secret
metadata: { name: signing, namespace: default }
type: Opaque
stringData: { auth-token: ${TOKEN} }`
    + app('x-invalid')
    + app('x-fallback', `\n  fallbackAnswerUrl: ${answer.url}/x-fallback/fallback`, `${dead}/answer`)
    + app('x-unreachable', `\n  fallbackAnswerUrl: ${dead}/fallback`, `${dead}/answer`)
    + app('x-redirect')
    + app('x-busy')
    + app('x-wait')
    + app('x-dial')
    + app('x-signed', '\n  authTokenSecretRef: { name: signing, key: auth-token }')
    + '\n' });
  // Line 3 closes <Speak> with the wrong tag.
  answer.route('/x-invalid/answer', () => ({ body: '<?xml version="1.0" encoding="utf-8"?>\n<Response>\n  <Speak>Hello</Speek>\n</Response>\n' }));
  answer.route('/x-fallback/fallback', xml((r) => { r.addSpeak('from the fallback'); r.addHangup(); }));
  answer.route('/x-redirect/answer', xml((r) => r.addRedirect(`${answer.url}/x-redirect/second`, { method: 'GET' })));
  answer.route('/x-redirect/second', xml((r) => { r.addSpeak('redirected'); r.addHangup(); }));
  answer.route('/x-busy/answer', xml((r) => { r.addHangup({ reason: 'busy' }); r.addSpeak('never spoken'); }));
  answer.route('/x-wait/answer', xml((r) => { r.addWait({ length: 1 }); r.addSpeak('after the wait'); r.addHangup(); }));
  answer.route('/x-dial/answer', xml((r) => { const d = r.addDial(); d.addNumber('15550001111'); }));
  answer.route('/x-signed/answer', xml((r) => { r.addSpeak('signed'); r.addHangup(); }));
});

after(async () => {
  await pod.stop();
  await answer.close();
});

async function call(scenario: string, service: string): Promise<{ trace: TracedMessage[]; callId: string }> {
  const res = await runSipp({ scenario, service, target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 15, traceMessages: true });
  assert.equal(res.successful, 1, `${res.errors}\n${res.stdout.slice(-1500)}`);
  const trace = parseSippTrace(res.messages);
  return { trace, callId: header(trace.find((m) => m.method === 'INVITE')!, 'Call-ID') ?? '' };
}

async function hangupOf(app: string): Promise<RecordedRequest> {
  return answer.waitFor(`/${app}/hangup`);
}

test('invalid answer XML: 500 "Invalid Answer XML" before answering, hangup 8011, the log names the XML line', async () => {
  const { trace, callId } = await call('uac-rejected.xml', 'x-invalid');
  const finals = inviteFinals(trace);
  assert.deepEqual(finals.map((m) => m.status), [500]);
  assert.equal(finals[0]!.reason, 'Invalid Answer XML');
  assert.match(header(finals[0]!, 'Warning') ?? '', /^399 sipflow "Invalid Answer XML: invalid_xml: line 3: /);
  const hang = await hangupOf('x-invalid');
  assert.equal(hang.params.HangupCauseCode, '8011');
  assert.equal(hang.params.HangupCauseName, 'Invalid Answer XML');
  assert.equal(hang.params.HangupSource, 'Error');
  const log = pod.logs().find((l) => l.msg === 'answer URL failed' && l.callId === callId);
  assert.ok(log, 'answer URL failed log line');
  assert.equal(log.cause, 'invalid_xml');
  assert.equal(log.hangupCauseCode, 8011);
  assert.match(String(log.detail), /^line 3: /);
});

test('answer URL unreachable: the fallbackAnswerUrl gets the same parameters and runs the call', async () => {
  const { trace, callId } = await call('uac-remote-bye.xml', 'x-fallback');
  assert.deepEqual(inviteFinals(trace).map((m) => m.status), [200]);
  assert.ok(trace.some((m) => m.direction === 'received' && m.method === 'BYE'));
  const fb = await answer.waitFor('/x-fallback/fallback');
  assert.equal(fb.params.Event, 'StartApp');
  assert.equal(fb.params.CallStatus, 'ringing');
  assert.equal(fb.params.To, 'sip:x-fallback@127.0.0.1');
  assert.ok(pod.logs().some((l) => l.msg === 'answer URL failed; using fallbackAnswerUrl' && l.callId === callId));
  const hang = await hangupOf('x-fallback');
  assert.equal(hang.params.CallUUID, fb.params.CallUUID);
  assert.equal(hang.params.HangupCauseCode, '4000');
});

test('answer URL and fallback both unreachable: 500 "Answer URL Unreachable", hangup 7011', async () => {
  const { trace, callId } = await call('uac-rejected.xml', 'x-unreachable');
  const finals = inviteFinals(trace);
  assert.deepEqual(finals.map((m) => m.status), [500]);
  assert.equal(finals[0]!.reason, 'Answer URL Unreachable');
  assert.match(header(finals[0]!, 'Warning') ?? '', /^399 sipflow "Error Reaching Answer URL: /);
  const hang = await hangupOf('x-unreachable');
  assert.equal(hang.params.HangupCauseCode, '7011');
  assert.equal(hang.params.HangupCauseName, 'Error Reaching Answer URL');
  assert.equal(hang.params.AnswerTime, '');
  const log = pod.logs().find((l) => l.msg === 'answer URL failed' && l.callId === callId);
  assert.equal(log?.hangupCauseCode, 7011);
  assert.match(String(log?.detail), /answer_url: .*; fallback_answer_url: /);
});

test('<Redirect method="GET">: the second route is fetched with the call parameters and its XML runs', async () => {
  const { trace } = await call('uac-remote-bye.xml', 'x-redirect');
  assert.deepEqual(inviteFinals(trace).map((m) => m.status), [200]);
  const first = await answer.waitFor('/x-redirect/answer');
  const second = await answer.waitFor('/x-redirect/second');
  assert.equal(second.method, 'GET');
  assert.equal(second.params.CallUUID, first.params.CallUUID);
  assert.equal(second.params.Event, 'Redirect');
  const hang = await hangupOf('x-redirect');
  assert.equal(hang.params.HangupCauseCode, '4000');
  assert.equal(hang.params.HangupSource, 'Answer XML');
});

test('<Hangup reason="busy"/> first: 486 Busy Here without answering, hangup 3010 Busy Line', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_calls_ended_total', { cause_code: '3010' });
  const { trace } = await call('uac-rejected.xml', 'x-busy');
  assert.deepEqual(inviteFinals(trace).map((m) => m.status), [486]);
  assert.equal(inviteFinals(trace)[0]!.reason, 'Busy Here');
  assert.equal(responses(trace, 183).length, 0, 'no early media');
  const hang = await hangupOf('x-busy');
  assert.equal(hang.params.HangupCauseCode, '3010');
  assert.equal(hang.params.HangupCauseName, 'Busy Line');
  assert.equal(hang.params.HangupSource, 'Answer XML');
  assert.equal(hang.params.AnswerTime, '');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_calls_ended_total', { cause_code: '3010' }) - before, 1);
});

test('<Wait length="1"/> first: the caller keeps hearing ringing for a second before the 200', async () => {
  const { trace } = await call('uac-remote-bye.xml', 'x-wait');
  const ringing = responses(trace, 180, 'INVITE')[0];
  const ok = inviteFinals(trace)[0];
  assert.ok(ringing && ok);
  assert.equal(ok.status, 200);
  // A lower bound only: the pod must not answer before the Wait has elapsed.
  assert.ok(ok.at - ringing.at >= 950, `180 → 200 took ${ok.at - ringing.at} ms`);
  const ans = await answer.waitFor('/x-wait/answer');
  assert.ok(ok.at - ans.at >= 950, `answer_url → 200 took ${ok.at - ans.at} ms`);
  assert.equal((await hangupOf('x-wait')).params.HangupCauseCode, '4000');
});

test('unsupported verb <Dial>: 500 "Unsupported XML" naming the verb and line, hangup 9010 Verb Not Supported', async () => {
  const { trace, callId } = await call('uac-rejected.xml', 'x-dial');
  const finals = inviteFinals(trace);
  assert.deepEqual(finals.map((m) => m.status), [500]);
  assert.equal(finals[0]!.reason, 'Unsupported XML');
  assert.match(header(finals[0]!, 'Warning') ?? '', /^399 sipflow "Verb Not Supported: <Dial> \(line \d+\) is not supported by sipflow yet"$/);
  const hang = await hangupOf('x-dial');
  assert.equal(hang.params.HangupCauseCode, '9010');
  assert.equal(hang.params.HangupCauseName, 'Verb Not Supported');
  const ended = pod.logs().find((l) => l.msg === 'call ended' && l.callId === callId);
  assert.equal(ended?.causeCode, 9010);
  assert.match(String(ended?.detail), /<Dial>/);
});

test('authTokenSecretRef: answer and hangup callbacks carry a valid X-Plivo-Signature-V3 (checked with Plivo\'s SDK)', async () => {
  await call('uac-remote-bye.xml', 'x-signed');
  for (const [path, url] of [['/x-signed/answer', `${answer.url}/x-signed/answer`], ['/x-signed/hangup', `${answer.url}/x-signed/hangup`]] as const) {
    const req = await answer.waitFor(path);
    const sig = req.headers['x-plivo-signature-v3'];
    const nonce = req.headers['x-plivo-signature-v3-nonce'];
    assert.equal(typeof sig, 'string', `${path} signature header`);
    assert.equal(typeof nonce, 'string', `${path} nonce header`);
    assert.equal(plivo.validateV3Signature(req.method, url, nonce as string, TOKEN, sig as string, req.params), true, `${path} signature`);
    assert.equal(plivo.validateV3Signature(req.method, url, nonce as string, 'some-other-token', sig as string, req.params), false);
  }
  // An app without a token sends no signature.
  const since = answer.requests.length;
  await call('uac-rejected.xml', 'x-busy');
  const unsigned = await answer.waitFor('/x-busy/answer', (q) => answer.requests.indexOf(q) >= since);
  assert.equal(unsigned.headers['x-plivo-signature-v3'], undefined);
});

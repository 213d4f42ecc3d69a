/**
 * Call control with a real peer (sipp): CANCEL before answer, BYE from either side, the end of
 * the XML, requests outside a dialog (OPTIONS, unknown methods, REGISTER), UDP retransmissions
 * of the INVITE and of the 200, and a full call over TCP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp, type SippOptions } from '../support/sipp.js';
import { header, inviteFinals, metricValue, parseSippTrace, responses, type TracedMessage } from '../support/sip-trace.js';
import { loopbackAppManifests } from '../support/manifests.js';

let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  answer = await startTestAnswerServer();
  pod = await startTestPod({ manifests: loopbackAppManifests('dlg', `${answer.url}/answer`, `${answer.url}/hangup`) });
});

after(async () => {
  await pod.stop();
  await answer.close();
});

async function call(o: Partial<SippOptions> & { scenario: string }): Promise<{ trace: TracedMessage[]; callId: string }> {
  const res = await runSipp({ service: 'dlg', target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 15, traceMessages: true, ...o });
  assert.equal(res.code, 0, `sipp exit ${res.code}: ${res.errors}\n${res.stdout.slice(-1500)}`);
  assert.equal(res.successful, 1, res.errors);
  const trace = parseSippTrace(res.messages);
  const first = trace.find((m) => m.direction === 'sent');
  return { trace, callId: first ? header(first, 'Call-ID') ?? '' : '' };
}

/** The answer_url request (recorded after index `since`) and hangup_url report of the call whose CallerName is `caller`. */
async function callbacksFor(caller: string, since: number): Promise<{ ans: RecordedRequest; hang: RecordedRequest }> {
  const ans = await answer.waitFor('/answer', (q) => q.params.CallerName === caller && answer.requests.indexOf(q) >= since);
  const hang = await answer.waitFor('/hangup', (q) => q.params.CallUUID === ans.params.CallUUID);
  return { ans, hang };
}

function xml(build: (r: ReturnType<typeof plivo.Response>) => void): string {
  const r = plivo.Response();
  build(r);
  return r.toXML();
}

test('CANCEL while ringing: 200 to the CANCEL, 487 to the INVITE, never answered, hangup cause 1000 Canceled', async () => {
  answer.route('/answer', () => ({ body: xml((r) => r.addSpeak('too late')), delayMs: 3000 }));
  const before = metricValue(await pod.metrics(), 'sipflow_sip_invites_total', { outcome: 'canceled' });
  const since = answer.requests.length;
  const { trace } = await call({ scenario: 'uac-cancel.xml' });
  const cancelOk = responses(trace, 200, 'CANCEL');
  assert.equal(cancelOk.length, 1, '200 to the CANCEL');
  const finals = inviteFinals(trace);
  assert.deepEqual(finals.map((m) => m.status), [487]);
  assert.equal(finals[0]!.reason, 'Request Terminated');
  const { hang } = await callbacksFor('Dave', since);
  assert.equal(hang.params.HangupCauseCode, '1000');
  assert.equal(hang.params.HangupCauseName, 'Canceled');
  assert.equal(hang.params.HangupCause, 'ORIGINATOR_CANCEL');
  assert.equal(hang.params.HangupSource, 'Caller');
  assert.equal(hang.params.AnswerTime, '');
  assert.equal(hang.params.Duration, '0');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_invites_total', { outcome: 'canceled' }) - before, 1);
});

test('caller BYE: 200 to the BYE, hangup cause 4000 Normal Hangup from the Caller', async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Hello'); r.addWait({ length: 10 }); }));
  const since = answer.requests.length;
  const { trace, callId } = await call({ scenario: 'uac-call.xml', args: ['-d', '300'] });
  assert.equal(responses(trace, 200, 'BYE').length, 1);
  const { hang } = await callbacksFor('Alice Caller', since);
  assert.equal(hang.params.HangupCauseCode, '4000');
  assert.equal(hang.params.HangupCauseName, 'Normal Hangup');
  assert.equal(hang.params.HangupSource, 'Caller');
  assert.notEqual(hang.params.AnswerTime, '');
  const ended = pod.logs().find((l) => l.msg === 'call ended' && l.callId === callId);
  assert.equal(ended?.causeCode, 4000);
  assert.equal(ended?.source, 'Caller');
});

test('pod BYE from <Hangup/>: sipp receives a BYE with a Reason and answers 200; hangup cause 4000 from Answer XML', async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Goodbye'); r.addHangup(); }));
  const since = answer.requests.length;
  const { trace } = await call({ scenario: 'uac-remote-bye.xml' });
  const bye = trace.find((m) => m.direction === 'received' && m.method === 'BYE');
  assert.ok(bye, 'BYE from the pod');
  assert.equal(header(bye, 'Reason'), 'Q.850;cause=16;text="Normal Hangup"');
  assert.equal(header(bye, 'Call-ID'), header(trace.find((m) => m.method === 'INVITE')!, 'Call-ID'));
  assert.ok(trace.some((m) => m.direction === 'sent' && m.status === 200 && m.cseqMethod === 'BYE'));
  const { hang } = await callbacksFor('Bob Caller', since);
  assert.equal(hang.params.HangupCauseCode, '4000');
  assert.equal(hang.params.HangupSource, 'Answer XML');
  assert.notEqual(hang.params.AnswerTime, '');
});

test('end of the XML document: the pod sends BYE, hangup cause 4010 End Of XML Instructions', async () => {
  answer.route('/answer', xml((r) => r.addSpeak('That is all')));
  const since = answer.requests.length;
  const { trace } = await call({ scenario: 'uac-remote-bye.xml' });
  const bye = trace.find((m) => m.direction === 'received' && m.method === 'BYE');
  assert.ok(bye);
  assert.equal(header(bye, 'Reason'), 'Q.850;cause=16;text="End Of XML Instructions"');
  const { hang } = await callbacksFor('Bob Caller', since);
  assert.equal(hang.params.HangupCauseCode, '4010');
  assert.equal(hang.params.HangupCauseName, 'End Of XML Instructions');
  assert.equal(hang.params.HangupSource, 'Answer XML');
});

test('OPTIONS → 200 with Allow; unknown method FOO → 501; REGISTER → 405 with Allow and a Warning', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'method_not_allowed' });
  const { trace } = await call({ scenario: 'non-invite.xml' });
  const options = responses(trace, undefined, 'OPTIONS')[0];
  assert.equal(options?.status, 200);
  assert.equal(header(options!, 'Allow'), 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE');
  assert.equal(header(options!, 'Accept'), 'application/sdp');
  const foo = responses(trace, undefined, 'FOO')[0];
  assert.equal(foo?.status, 501);
  assert.equal(foo!.reason, 'Not Implemented');
  assert.equal(header(foo!, 'Allow'), 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE');
  const reg = responses(trace, undefined, 'REGISTER')[0];
  assert.equal(reg?.status, 405);
  assert.equal(reg!.reason, 'Method Not Allowed');
  assert.equal(header(reg!, 'Allow'), 'INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE');
  assert.equal(header(reg!, 'Warning'), '399 sipflow "REGISTER is not supported by this SIP ingress"');
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'method_not_allowed' }) - before, 2);
});

test('UDP retransmissions: a repeated INVITE makes one call; the 200 is retransmitted until the ACK, then stops', async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Hello again'); r.addWait({ length: 10 }); }));
  const since = answer.requests.length;
  const { trace } = await call({ scenario: 'uac-retransmit.xml' });
  const sentInvites = trace.filter((m) => m.direction === 'sent' && m.method === 'INVITE');
  assert.equal(sentInvites.length, 2);
  assert.equal(header(sentInvites[0]!, 'Via'), header(sentInvites[1]!, 'Via'), 'same branch');
  const ackAt = trace.findIndex((m) => m.direction === 'sent' && m.method === 'ACK');
  assert.ok(ackAt > 0);
  const oks = (from: number, to: number) => trace.slice(from, to).filter((m) => m.direction === 'received' && m.status === 200 && m.cseqMethod === 'INVITE').length;
  // ACK held back 1.2 s: the 200 goes out at 0 and again at T1 = 0.5 s.
  assert.ok(oks(0, ackAt) >= 2, `200s before the ACK: ${oks(0, ackAt)}`);
  // After the ACK (1.2 s; sipp then waits 2.5 s) the retransmissions due at 1.5 s and 3.5 s must not
  // come; one may cross the ACK in flight, a second one would mean the ACK was ignored.
  assert.ok(oks(ackAt, trace.length) <= 1, `200s after the ACK: ${oks(ackAt, trace.length)}`);
  const { hang } = await callbacksFor('Rita Retransmit', since);
  assert.equal(hang.params.HangupCauseCode, '4000');
  assert.equal(answer.requests.filter((q) => q.path === '/answer' && q.params.CallerName === 'Rita Retransmit').length, 1, 'one call, one answer_url request');
});

test('TCP: a full call (INVITE, 200 with a TCP Contact, ACK, BYE) over one connection', async () => {
  answer.route('/answer', xml((r) => { r.addSpeak('Over TCP'); r.addWait({ length: 10 }); }));
  const since = answer.requests.length;
  const { trace } = await call({ scenario: 'uac-call.xml', transport: 't1', args: ['-d', '300'] });
  assert.ok(trace.length > 0 && trace.every((m) => m.transport === 'TCP'), 'every message over TCP');
  const ok = inviteFinals(trace)[0];
  assert.equal(ok?.status, 200);
  assert.match(header(ok!, 'Contact') ?? '', /;transport=tcp>$/);
  assert.equal(responses(trace, 200, 'BYE').length, 1);
  const { ans, hang } = await callbacksFor('Alice Caller', since);
  assert.equal(ans.params['X-PH-Test'], 'Sample');
  assert.equal(hang.params.HangupCauseCode, '4000');
  assert.equal(hang.params.HangupSource, 'Caller');
});

/**
 * SIP session timers (RFC 4028) and required extensions (RFC 3261 §8.2.2.3) against sipp: the
 * caller refreshes with UPDATE and the pod ends the session when refreshes stop; the pod
 * refreshes when the caller cannot, and ends the call when its refresh is refused with 481;
 * an UPDATE with SDP puts the call on hold; too-short intervals get 422 and unknown required
 * extensions 420. The pod runs with a 4 s interval so the timers fire within the test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp, type SippOptions } from '../support/sipp.js';
import { header, inviteFinals, metricValue, parseSippTrace, responses, type TracedMessage } from '../support/sip-trace.js';
import { loopbackAppManifests } from '../support/manifests.js';

const INTERVAL = 4;
const MIN_SE = 2;

let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  answer = await startTestAnswerServer();
  pod = await startTestPod({
    manifests: loopbackAppManifests('timers', `${answer.url}/answer`, `${answer.url}/hangup`),
    extraArgs: ['--session-expires', String(INTERVAL), '--min-se', String(MIN_SE)],
  });
  // Answered at once, then up on its own: only the session timer (or the caller) ends it.
  const r = plivo.Response();
  r.addSpeak('Hello');
  r.addWait({ length: 60 });
  answer.route('/answer', r.toXML());
});

after(async () => {
  await pod.stop();
  await answer.close();
});

async function call(o: Partial<SippOptions> & { scenario: string }): Promise<TracedMessage[]> {
  const res = await runSipp({ service: 'timers', target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 30, traceMessages: true, ...o });
  assert.equal(res.code, 0, `sipp exit ${res.code}: ${res.errors}\n${res.stdout.slice(-1500)}`);
  assert.equal(res.successful, 1, res.errors);
  return parseSippTrace(res.messages);
}

async function hangupFor(caller: string, since: number): Promise<RecordedRequest> {
  const ans = await answer.waitFor('/answer', (q) => q.params.CallerName === caller && answer.requests.indexOf(q) >= since);
  return answer.waitFor('/hangup', (q) => q.params.CallUUID === ans.params.CallUUID);
}

test('caller refreshes with UPDATE: the 200 grants the pod\'s interval with Require: timer, refreshes restart it, and the pod ends the session when they stop (9060)', async () => {
  const since = answer.requests.length;
  const trace = await call({ scenario: 'uac-session-refresh.xml' });

  const ok = inviteFinals(trace)[0]!;
  assert.equal(ok.status, 200);
  // Asked for 1800 s; the pod reduces it to its maximum and leaves refreshing to the caller.
  assert.equal(header(ok, 'Session-Expires'), `${INTERVAL};refresher=uac`);
  assert.equal(header(ok, 'Require'), 'timer');
  assert.equal(header(ok, 'Supported'), 'timer');
  assert.match(header(ok, 'Allow') ?? '', /\bUPDATE\b/);

  const updates = responses(trace, 200, 'UPDATE');
  assert.equal(updates.length, 2, 'both UPDATEs answered 200');
  for (const u of updates) assert.equal(header(u, 'Session-Expires'), `${INTERVAL};refresher=uac`);
  // The second UPDATE carried an offer putting the call on hold: its 200 answers it.
  assert.equal(updates[0]!.body.trim(), '', 'the refresh without a body is answered without one');
  assert.match(updates[1]!.body, /^a=recvonly\r?$/m, `hold answered recvonly:\n${updates[1]!.body}`);

  const bye = trace.find((m) => m.direction === 'received' && m.method === 'BYE');
  assert.ok(bye, 'the pod ended the expired session');
  // RFC 4028 §10: the pod gives up min(32, interval/3) before the interval after the LAST refresh,
  // so the BYE cannot come before that point (it would, counted from the 200 to the INVITE).
  const lastRefresh = updates[1]!.at;
  const deadlineMs = (INTERVAL - Math.min(32, INTERVAL / 3)) * 1000;
  assert.ok(bye.at - lastRefresh >= deadlineMs - 50, `BYE ${bye.at - lastRefresh} ms after the last refresh`);
  assert.ok(bye.at - ok.at > deadlineMs, 'the refreshes pushed the expiry back');

  const hang = await hangupFor('Rita Refresher', since);
  assert.equal(hang.params.HangupCauseCode, '9060');
  assert.equal(hang.params.HangupCauseName, 'Session Timer Expired');
  assert.equal(hang.params.HangupCause, 'RECOVERY_ON_TIMER_EXPIRE');
  assert.ok(pod.logs().some((l) => l.msg === 'UPDATE applied' && l.hold === true), 'the hold was applied to the media');
});

test('a re-INVITE is a refresh too: its 200 carries Session-Expires and the expiry moves', async () => {
  const since = answer.requests.length;
  const trace = await call({ scenario: 'uac-session-reinvite-refresh.xml' });
  const finals = inviteFinals(trace);
  assert.equal(finals.length, 2);
  for (const f of finals) assert.equal(header(f, 'Session-Expires'), `${INTERVAL};refresher=uac`);
  const bye = trace.find((m) => m.direction === 'received' && m.method === 'BYE');
  assert.ok(bye);
  const deadlineMs = (INTERVAL - Math.min(32, INTERVAL / 3)) * 1000;
  assert.ok(bye.at - finals[1]!.at >= deadlineMs - 50, `BYE ${bye.at - finals[1]!.at} ms after the re-INVITE's 200`);
  const hang = await hangupFor('Rita Reinvite', since);
  assert.equal(hang.params.HangupCauseCode, '9060');
});

test('caller without timer support behind a proxy that asked for one: the pod is the refresher and sends UPDATEs at half the interval', async () => {
  const since = answer.requests.length;
  const trace = await call({ scenario: 'uac-session-uas-refresh.xml' });
  const ok = inviteFinals(trace)[0]!;
  assert.equal(header(ok, 'Session-Expires'), `${INTERVAL};refresher=uas`);
  assert.equal(header(ok, 'Require'), undefined, 'no Require: timer for a caller that does not support it');

  const podUpdates = trace.filter((m) => m.direction === 'received' && m.method === 'UPDATE');
  assert.equal(podUpdates.length, 2);
  const invite = trace.find((m) => m.direction === 'sent' && m.method === 'INVITE')!;
  let lastCseq = 0;
  for (const u of podUpdates) {
    assert.equal(header(u, 'Session-Expires'), `${INTERVAL};refresher=uas`);
    assert.equal(header(u, 'Call-ID'), header(invite, 'Call-ID'));
    assert.match(header(u, 'From') ?? '', /;tag=/, 'in the dialog: our tag on From');
    assert.match(header(u, 'To') ?? '', /SIPpTag06/, 'in the dialog: the caller\'s tag on To');
    assert.equal(u.body.trim(), '', 'a refresh carries no SDP');
    const cseq = Number((header(u, 'CSeq') ?? '').split(' ')[0]);
    assert.ok(cseq > lastCseq, 'CSeq grows');
    lastCseq = cseq;
  }
  // Half the interval between refreshes, never sooner, though the first 200 named an interval of 0.
  assert.ok(podUpdates[1]!.at - podUpdates[0]!.at >= (INTERVAL / 2) * 1000 - 50);

  const hang = await hangupFor('Una Passive', since);
  assert.equal(hang.params.HangupCauseCode, '4000', 'the caller hung up; the refreshes kept the call alive');
});

test('the pod\'s refresh answered 481: the pod ends the call with a BYE and cause 9060', async () => {
  const since = answer.requests.length;
  const trace = await call({ scenario: 'uac-session-refresh-refused.xml' });
  assert.ok(trace.some((m) => m.direction === 'received' && m.method === 'BYE'));
  const hang = await hangupFor('Una Passive', since);
  assert.equal(hang.params.HangupCauseCode, '9060');
  assert.equal(hang.params.HangupSource, 'Error');
});

test('an interval below Min-SE from a caller that supports timers → 422 with the pod\'s Min-SE; the call is never set up', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'session_interval_too_small' });
  const since = answer.requests.length;
  const trace = await call({ scenario: 'uac-extension-rejected.xml', args: ['-key', 'require', 'timer', '-key', 'se', '1'] });
  const final = inviteFinals(trace)[0]!;
  assert.equal(final.status, 422);
  assert.equal(final.reason, 'Session Interval Too Small');
  assert.equal(header(final, 'Min-SE'), String(MIN_SE));
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'session_interval_too_small' }) - before, 1);
  assert.ok(!answer.requests.slice(since).some((q) => q.params.CallerName === 'Xavier Extension'), 'no answer_url request');
});

test('a required extension the pod lacks (100rel) → 420 Bad Extension naming it in Unsupported', async () => {
  const before = metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'bad_extension' });
  const trace = await call({ scenario: 'uac-extension-rejected.xml', args: ['-key', 'require', 'timer, 100rel', '-key', 'se', '1800'] });
  const final = inviteFinals(trace)[0]!;
  assert.equal(final.status, 420);
  assert.equal(final.reason, 'Bad Extension');
  assert.equal(header(final, 'Unsupported'), '100rel');
  assert.match(header(final, 'Warning') ?? '', /100rel/);
  assert.equal(metricValue(await pod.metrics(), 'sipflow_sip_rejections_total', { cause: 'bad_extension' }) - before, 1);
});

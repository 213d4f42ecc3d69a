/**
 * The pod's cap on call length (--max-call-duration) with a real peer: an answered call that
 * would go on for a minute is ended by the pod with a BYE at the cap, cause 9070, and the hangup
 * report says so; a call that ends first is not touched by the cap.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import plivo from 'plivo';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { runSipp } from '../support/sipp.js';
import { header, inviteFinals, parseSippTrace } from '../support/sip-trace.js';
import { loopbackAppManifests } from '../support/manifests.js';

const CAP_SEC = 2;
let answer: TestAnswerServer;
let pod: TestPod;

before(async () => {
  answer = await startTestAnswerServer();
  pod = await startTestPod({
    manifests: loopbackAppManifests('capped', `${answer.url}/answer`, `${answer.url}/hangup`),
    extraArgs: ['--max-call-duration', String(CAP_SEC)],
  });
});

after(async () => {
  await pod.stop();
  await answer.close();
});

test('a call still running at --max-call-duration is ended by the pod: BYE, cause 9070 Max Call Duration Reached', async () => {
  const r = plivo.Response();
  r.addSpeak('This call will go on for a while.');
  r.addWait({ length: 60 });
  answer.route('/answer', r.toXML());
  const since = answer.requests.length;
  const res = await runSipp({ scenario: 'uac-remote-bye.xml', service: 'capped', target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 20, traceMessages: true });
  assert.equal(res.code, 0, res.errors);
  const trace = parseSippTrace(res.messages);
  const ok = inviteFinals(trace)[0]!;
  const bye = trace.find((m) => m.direction === 'received' && m.method === 'BYE');
  assert.ok(bye, 'the pod hung up');
  assert.match(header(bye, 'Reason') ?? '', /Max Call Duration Reached/);
  // Not before the cap (counted from the answer); a slow machine can only make it later.
  assert.ok(bye.at - ok.at >= CAP_SEC * 1000 - 50, `BYE ${bye.at - ok.at} ms after the 200 OK`);
  const ans = await answer.waitFor('/answer', (q) => answer.requests.indexOf(q) >= since);
  const hang = await answer.waitFor('/hangup', (q) => q.params.CallUUID === ans.params.CallUUID);
  assert.equal(hang.params.HangupCauseCode, '9070');
  assert.equal(hang.params.HangupCauseName, 'Max Call Duration Reached');
  assert.equal(hang.params.HangupCause, 'ALLOTTED_TIMEOUT');
});

test('a call that ends before the cap keeps its own cause', async () => {
  const r = plivo.Response();
  r.addSpeak('Short.');
  answer.route('/answer', r.toXML());
  const since = answer.requests.length;
  const res = await runSipp({ scenario: 'uac-remote-bye.xml', service: 'capped', target: `127.0.0.1:${pod.sipPort}`, timeoutSec: 20, traceMessages: true });
  assert.equal(res.code, 0, res.errors);
  const ans = await answer.waitFor('/answer', (q) => answer.requests.indexOf(q) >= since);
  const hang = await answer.waitFor('/hangup', (q) => q.params.CallUUID === ans.params.CallUUID);
  assert.equal(hang.params.HangupCauseCode, '4010');
  // Wait past the cap: the ended call's timer must not fire a second hangup.
  await new Promise((res2) => setTimeout(res2, CAP_SEC * 1000 + 500));
  assert.equal(answer.requests.filter((q) => q.path === '/hangup' && q.params.CallUUID === ans.params.CallUUID).length, 1);
});

/**
 * Answer-server faults through real calls: a slow server (past `#rt=300`), HTTP 500, a 10 MB
 * body, invalid XML, an HTTP redirect loop and an XML <Redirect> loop. Each case checks what the
 * caller sees (the SIP final response), what hangup_url is told (the cause code) and the log
 * line that explains it, plus how many requests each URL got (one retry, then the fallback).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { TestUac } from '../media/uac.js';

const BUSY = '<Response><Hangup reason="busy"/></Response>';
const TEN_MB = 10 * 1024 * 1024;
let answer: TestAnswerServer;
let loops: { url: string; hits: Map<string, number>; close: () => Promise<void> };
let pod: TestPod;
const uacs: TestUac[] = [];

/** Answers every path with a 302 back to itself (counting the hits per path). */
async function startRedirectLoopServer(): Promise<typeof loops> {
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(p, (hits.get(p) ?? 0) + 1);
    req.resume();
    res.writeHead(302, { location: p, 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function app(name: string, answerUrl: string, fallbackUrl?: string): string {
  return `
---
apiVersion: sipflow.io/v1alpha1
kind: SipApplication
metadata: { name: ${name}, namespace: default }
spec:
  answerUrl: ${answerUrl}
  hangupUrl: ${answer.url}/${name}/hangup
  sipAuth: { type: IpAcl, ipAclRefs: [{ name: loopback }] }${fallbackUrl ? `\n  fallbackAnswerUrl: ${fallbackUrl}` : ''}`;
}

before(async () => {
  answer = await startTestAnswerServer();
  loops = await startRedirectLoopServer();
  const a = answer.url;
  pod = await startTestPod({ manifests: `
apiVersion: sipflow.io/v1alpha1
kind: IpAcl
metadata: { name: loopback, namespace: default }
spec: { entries: [{ ip: 127.0.0.0, cidrPrefix: 8 }] }`
    + app('slow', `${a}/slow/answer#rt=300`, `${a}/slow/fallback`)
    + app('e500', `${a}/e500/answer`, `${a}/e500/fallback`)
    + app('huge', `${a}/huge/answer`, `${a}/huge/fallback`)
    + app('badxml', `${a}/badxml/answer`, `${a}/badxml/fallback`)
    + app('badboth', `${a}/badboth/answer`, `${a}/badboth/fallback`)
    + app('loop302', `${loops.url}/loop302/answer`, `${loops.url}/loop302/fallback`)
    + app('loopxml', `${a}/loopxml/answer`)
    + '\n' });
  answer.route('/slow/answer', () => ({ body: BUSY, delayMs: 1500 }));
  answer.route('/slow/fallback', BUSY);
  answer.route('/e500/answer', () => ({ status: 500, body: 'internal error', contentType: 'text/plain' }));
  answer.route('/e500/fallback', BUSY);
  const huge = `<Response><Speak>${'x'.repeat(TEN_MB)}</Speak></Response>`;
  answer.route('/huge/answer', huge);
  answer.route('/huge/fallback', huge);
  // Line 2 closes <Speak> with the wrong tag.
  const invalid = '<Response>\n  <Speak>hi</Speek>\n</Response>';
  answer.route('/badxml/answer', invalid);
  answer.route('/badxml/fallback', BUSY);
  answer.route('/badboth/answer', invalid);
  answer.route('/badboth/fallback', '<Response><Nonsense/></Response>');
  const redirectToSelf = `<Response><Redirect method="POST">${a}/loopxml/again</Redirect></Response>`;
  answer.route('/loopxml/answer', redirectToSelf);
  answer.route('/loopxml/again', redirectToSelf);
});

after(async () => {
  for (const u of uacs) u.close();
  await pod.stop();
  await loops.close();
  await answer.close();
});

async function callApp(appId: string): Promise<{ status: number; reason: string; warning: string; callUuid: string; uac: TestUac }> {
  const uac = await TestUac.start();
  uacs.push(uac);
  const final = await uac.invite(pod.sipPort, appId, { timeoutMs: 20_000 });
  const accepted = pod.logs().find((l) => l.msg === 'call accepted' && l.callId === uac.callId);
  assert.ok(accepted, 'call accepted log line');
  return { status: final.status, reason: final.reason, warning: final.headers.find((h) => h.name === 'Warning')?.value ?? '', callUuid: String(accepted.callUuid), uac };
}

const hangupOf = (appId: string, callUuid: string): Promise<RecordedRequest> => answer.waitFor(`/${appId}/hangup`, (r) => r.params.CallUUID === callUuid, 15_000);
const hits = (path: string): number => answer.requests.filter((r) => r.path === path).length;
function fetchFailures(callUuid: string): Array<Record<string, unknown>> {
  return pod.logs().filter((l) => l.msg === 'callback fetch failed' && l.callUuid === callUuid);
}

test('slow answer server (longer than #rt=300): read_timeout, one retry, then the fallback runs the call', async () => {
  const c = await callApp('slow');
  assert.equal(c.status, 486, 'the fallback XML (<Hangup reason="busy"/>) decided the call');
  assert.equal((await hangupOf('slow', c.callUuid)).params.HangupCauseCode, '3010');
  assert.equal(hits('/slow/answer'), 2, 'the first attempt and one retry');
  assert.equal(hits('/slow/fallback'), 1);
  const [f] = fetchFailures(c.callUuid);
  assert.equal(f?.purpose, 'answer');
  assert.equal(f?.cause, 'read_timeout');
  assert.equal(f?.attempts, 2);
  assert.match(String(f?.detail), /no complete response within 300 ms/);
  assert.ok(pod.logs().some((l) => l.msg === 'answer URL failed; using fallbackAnswerUrl' && l.callUuid === c.callUuid && l.cause === 'read_timeout'));
});

test('answer server returns 500: one retry, then the fallback runs the call', async () => {
  const c = await callApp('e500');
  assert.equal(c.status, 486);
  assert.equal((await hangupOf('e500', c.callUuid)).params.HangupCauseCode, '3010');
  assert.equal(hits('/e500/answer'), 2);
  assert.equal(hits('/e500/fallback'), 1);
  const [f] = fetchFailures(c.callUuid);
  assert.equal(f?.cause, 'http_status');
  assert.equal(f?.status, 500);
  assert.equal(f?.attempts, 2);
});

test('a 10 MB answer (and fallback): too_large without a retry, then 500 "Answer URL Unreachable" and hangup 7011', async () => {
  const c = await callApp('huge');
  assert.equal(c.status, 500);
  assert.equal(c.reason, 'Answer URL Unreachable');
  assert.match(c.warning, /^399 sipflow "Error Reaching Answer URL: too_large: /);
  const hang = await hangupOf('huge', c.callUuid);
  assert.equal(hang.params.HangupCauseCode, '7011');
  assert.equal(hang.params.HangupCauseName, 'Error Reaching Answer URL');
  assert.equal(hits('/huge/answer'), 1, 'too_large is not retried');
  assert.equal(hits('/huge/fallback'), 1);
  const fails = fetchFailures(c.callUuid);
  assert.deepEqual(fails.map((f) => [f.purpose, f.cause]), [['answer', 'too_large'], ['fallback', 'too_large']]);
  assert.match(String(fails[0]!.detail), /response larger than 102400 bytes/);
  const failed = pod.logs().find((l) => l.msg === 'answer URL failed' && l.callUuid === c.callUuid);
  assert.equal(failed?.hangupCauseCode, 7011);
});

test('invalid answer XML: the fallback runs the call', async () => {
  const c = await callApp('badxml');
  assert.equal(c.status, 486);
  assert.equal((await hangupOf('badxml', c.callUuid)).params.HangupCauseCode, '3010');
  assert.equal(hits('/badxml/answer'), 1, 'a well-delivered document is not fetched again');
  assert.equal(hits('/badxml/fallback'), 1);
  const [f] = fetchFailures(c.callUuid);
  assert.equal(f?.cause, 'invalid_xml');
  assert.match(String(f?.detail), /^line 2: /);
});

test('invalid answer XML and invalid fallback XML: 500 "Invalid Answer XML" and hangup 8011', async () => {
  const c = await callApp('badboth');
  assert.equal(c.status, 500);
  assert.equal(c.reason, 'Invalid Answer XML');
  assert.match(c.warning, /^399 sipflow "Invalid Answer XML: invalid_xml: /);
  const hang = await hangupOf('badboth', c.callUuid);
  assert.equal(hang.params.HangupCauseCode, '8011');
  assert.equal(hang.params.HangupCauseName, 'Invalid Answer XML');
  const fails = fetchFailures(c.callUuid);
  assert.deepEqual(fails.map((f) => [f.purpose, f.cause]), [['answer', 'invalid_xml'], ['fallback', 'invalid_xml']]);
  assert.match(String(fails[1]!.detail), /Nonsense/);
  const failed = pod.logs().find((l) => l.msg === 'answer URL failed' && l.callUuid === c.callUuid);
  assert.equal(failed?.hangupCauseCode, 8011);
  assert.match(String(failed?.detail), /answer_url: .*; fallback_answer_url: /);
});

test('HTTP 302 to itself (answer and fallback): redirect_loop after 5 redirects each, 500 "Answer URL Unreachable", hangup 7011', async () => {
  const c = await callApp('loop302');
  assert.equal(c.status, 500);
  assert.equal(c.reason, 'Answer URL Unreachable');
  assert.match(c.warning, /redirect_loop/);
  assert.equal((await hangupOf('loop302', c.callUuid)).params.HangupCauseCode, '7011');
  // The request and five followed redirects; redirect_loop is not retried.
  assert.equal(loops.hits.get('/loop302/answer'), 6);
  assert.equal(loops.hits.get('/loop302/fallback'), 6);
  const fails = fetchFailures(c.callUuid);
  assert.deepEqual(fails.map((f) => [f.purpose, f.cause, f.status]), [['answer', 'redirect_loop', 302], ['fallback', 'redirect_loop', 302]]);
  assert.match(String(fails[0]!.detail), /more than 5 redirects/);
});

test('an XML <Redirect> to a document that redirects to itself: ends after 20 documents with 8011 and says why', async () => {
  const c = await callApp('loopxml');
  assert.equal(c.status, 500);
  assert.equal(c.reason, 'Invalid Answer XML');
  assert.match(c.warning, /more than 20 XML documents for one call \(redirect loop\?\)/);
  const hang = await hangupOf('loopxml', c.callUuid);
  assert.equal(hang.params.HangupCauseCode, '8011');
  assert.equal(hits('/loopxml/answer'), 1);
  assert.equal(hits('/loopxml/again'), 20, 'the answer document and 20 redirects: the 21st document is refused');
  const ended = pod.logs().find((l) => l.msg === 'call ended' && l.callUuid === c.callUuid);
  assert.equal(ended?.causeCode, 8011);
  assert.match(String(ended?.detail), /more than 20 XML documents for one call \(redirect loop\?\)/);
});

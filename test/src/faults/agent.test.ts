/**
 * Agent faults with real WebSocket agents that misbehave on purpose: one that refuses the
 * upgrade or cuts the connection, one that vanishes mid-call, one that stops reading while it
 * keeps talking, and one that floods playAudio. Each time the call must survive on the pod's
 * terms (the XML goes on, or ends with 4010), the stream status callback must say what happened,
 * a log line must explain it, and the pod's memory must stay bounded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestAnswerServer, type RecordedRequest, type TestAnswerServer } from '../support/answer-server.js';
import { startFaultAgent, playAudioFlood, type FaultAgent } from '../support/fault-agent.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { TestUac } from '../media/uac.js';
import { loopbackAppManifests } from '../support/manifests.js';

const APP = 'agentfaults';
const SILENCE = Buffer.alloc(160, 0xff);
let answer: TestAnswerServer;
let agent: FaultAgent;
let pod: TestPod;
const uacs: TestUac[] = [];

before(async () => {
  answer = await startTestAnswerServer();
  agent = await startFaultAgent();
  pod = await startTestPod({ manifests: loopbackAppManifests(APP, `${answer.url}/answer`, `${answer.url}/hangup`) });
  answer.route('/next', '<Response><Hangup/></Response>');
});

after(async () => {
  for (const u of uacs) u.close();
  await pod.stop();
  await agent.close();
  await answer.close();
});

/** A bidirectional μ-law <Stream> to the fault agent, its status callback on /status/<tag>, then `after` (XML). */
function streamXml(tag: string, after = ''): string {
  return `<Response><Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" statusCallbackUrl="${answer.url}/status/${tag}" statusCallbackMethod="POST">${agent.baseUrl}/agent/${tag}</Stream>${after}</Response>`;
}

async function call(xml: string): Promise<{ uac: TestUac; callUuid: () => string }> {
  answer.route('/answer', xml);
  const uac = await TestUac.start();
  uacs.push(uac);
  const final = await uac.invite(pod.sipPort, APP);
  assert.equal(final.status, 200, `${final.status} ${final.reason}`);
  uac.startSending(() => SILENCE);
  // Read now: a flooding agent can push older lines out of the bounded log capture.
  const line = pod.logs().find((l) => l.msg === 'call accepted' && l.callId === uac.callId);
  assert.ok(line, 'call accepted log line');
  const uuid = String(line.callUuid);
  return { uac, callUuid: () => uuid };
}

const hangupOf = (callUuid: string): Promise<RecordedRequest> => answer.waitFor('/hangup', (r) => r.params.CallUUID === callUuid, 20_000);
const statusOf = (tag: string, event: string, timeoutMs = 20_000): Promise<RecordedRequest> => answer.waitFor(`/status/${tag}`, (r) => r.params.Event === event, timeoutMs);
const streamLogs = (callUuid: string, msg: string): Array<Record<string, unknown>> => pod.logs().filter((l) => l.msg === msg && l.callUuid === callUuid);

test('agent refuses the upgrade (403): three attempts, then DroppedStream "connect_failed", a log line per attempt, and the XML goes on', async () => {
  agent.setPolicy('reject403');
  const attemptsBefore = agent.attempts.length;
  try {
    const { uac, callUuid } = await call(streamXml('refused', `<Redirect method="GET">${answer.url}/next</Redirect>`));
    const dropped = await statusOf('refused', 'DroppedStream');
    assert.equal(dropped.params.StatusReason, 'connect_failed');
    assert.equal(dropped.params.CallUUID, callUuid());
    // The XML continued past the failed Stream: the Redirect fetched /next, whose <Hangup/> ends the call.
    const next = await answer.waitFor('/next', (r) => r.params.CallUUID === callUuid());
    assert.equal(next.params.Event, 'Redirect');
    await uac.byeFromPod(10_000);
    assert.equal((await hangupOf(callUuid())).params.HangupCauseCode, '4000');
    assert.equal(agent.attempts.length - attemptsBefore, 3, 'the first attempt and two retries');
    const failed = streamLogs(callUuid(), 'stream connection failed');
    assert.deepEqual(failed.map((l) => l.attempt), [1, 2, 3]);
    assert.match(String(failed[0]!.error), /403/);
    const gaveUp = pod.logs().find((l) => l.msg === 'stream could not be opened; continuing with the next element' && l.callUuid === callUuid());
    assert.match(String(gaveUp?.error), /failed to open after 3 attempt\(s\)/);
  } finally {
    agent.setPolicy('accept');
  }
});

test('agent server closes the TCP connection on upgrade: the stream fails after the retries and the call ends 4010 at the end of the XML', async () => {
  agent.setPolicy('destroy');
  const attemptsBefore = agent.attempts.length;
  try {
    const { uac, callUuid } = await call(streamXml('closed'));
    const dropped = await statusOf('closed', 'DroppedStream');
    assert.equal(dropped.params.StatusReason, 'connect_failed');
    const bye = await uac.byeFromPod(10_000);
    assert.match(bye.request.headers.find((h) => h.name === 'Reason')?.value ?? '', /End Of XML Instructions/);
    assert.equal((await hangupOf(callUuid())).params.HangupCauseCode, '4010');
    assert.equal(agent.attempts.length - attemptsBefore, 3);
    assert.equal(streamLogs(callUuid(), 'stream connection failed').length, 3);
  } finally {
    agent.setPolicy('accept');
  }
});

test('agent drops mid-call (TCP gone, no close frame) and cannot be reached again: two reconnection attempts, then DroppedStream "connection_lost", and the XML goes on', async () => {
  const connecting = agent.nextConnection();
  const { uac, callUuid } = await call(streamXml('dropped', `<Redirect method="GET">${answer.url}/next</Redirect>`));
  const conn = await connecting;
  await conn.waitForEvent('start');
  await conn.waitForEvent('media');
  assert.equal((await statusOf('dropped', 'StartStream')).params.CallUUID, callUuid());
  agent.setPolicy('reject403');
  const attemptsBefore = agent.attempts.length;
  try {
    conn.terminate();
    const dropped = await statusOf('dropped', 'DroppedStream');
    assert.equal(dropped.params.StatusReason, 'connection_lost');
    await answer.waitFor('/next', (r) => r.params.CallUUID === callUuid());
    await uac.byeFromPod(10_000);
    assert.equal((await hangupOf(callUuid())).params.HangupCauseCode, '4000');
    assert.equal(agent.attempts.length - attemptsBefore, 2, 'two reconnection attempts');
    assert.equal(streamLogs(callUuid(), 'stream reconnection failed').length, 2);
    const ended = streamLogs(callUuid(), 'stream ended');
    assert.equal(ended.length, 1);
    assert.equal(ended[0]!.by, 'error');
    assert.equal(ended[0]!.code, 1006);
    assert.equal(ended[0]!.reason, 'connection_lost');
  } finally {
    agent.setPolicy('accept');
  }
});

test('agent drops mid-call and its replacement answers: the call keeps its stream, the new connection gets a fresh start for the same stream, audio flows again', async () => {
  const first = agent.nextConnection();
  const { uac, callUuid } = await call(streamXml('resumed', `<Redirect method="GET">${answer.url}/next</Redirect>`));
  const conn = await first;
  const start1 = await conn.waitForEvent('start');
  await conn.waitForEvent('media');
  const second = agent.nextConnection();
  conn.terminate();
  const conn2 = await second;
  const start2 = await conn2.waitForEvent('start');
  assert.equal(start2.sequenceNumber, 1, 'a new connection starts its sequence at 1');
  const s1 = start1.start as Record<string, unknown>; const s2 = start2.start as Record<string, unknown>;
  assert.equal(s2.streamId, s1.streamId, 'the same stream');
  assert.equal(s2.callId, callUuid());
  const media = await conn2.waitForEvent('media');
  assert.equal((media.media as Record<string, unknown>).chunk, 1, 'chunks restart with the connection');
  // The agent's audio reaches the caller over the new connection.
  const before = uac.rtpIn.length;
  conn2.sendAll([JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.alloc(1600, 0x10).toString('base64') } })]);
  await uac.waitUntil(() => uac.rtpIn.slice(before).filter((p) => p.payload[0] === 0x10).length >= 10, 5000, 'the new agent\'s audio');
  // One StartStream for the stream, no DroppedStream; then a normal close lets the XML go on.
  conn2.close(1000, 'bye');
  await answer.waitFor('/next', (r) => r.params.CallUUID === callUuid());
  await uac.byeFromPod(10_000);
  const statuses = answer.requests.filter((r) => r.path === '/status/resumed').map((r) => r.params.Event);
  assert.deepEqual(statuses.filter((e) => e !== 'DegradedStream'), ['StartStream', 'StopStream']);
  const closed = streamLogs(callUuid(), 'stream closed');
  assert.equal(closed[0]?.reconnects, 1);
  assert.ok(streamLogs(callUuid(), 'stream reconnected').length === 1);
});

test('agent stops reading but keeps sending clearAudio: media is dropped, the stream is dropped as "agent_stalled" with a bounded backlog, the call goes on', async () => {
  const connecting = agent.nextConnection();
  const { uac, callUuid } = await call(streamXml('stalled', `<Redirect method="GET">${answer.url}/next</Redirect>`));
  const conn = await connecting;
  await conn.waitForEvent('start');
  const rssBefore = process.memoryUsage().rss;
  conn.stopReading();
  // Each clearAudio earns a clearedAudio reply the agent never reads; paced like a busy agent loop.
  const clear = JSON.stringify({ event: 'clearAudio' });
  let sent = 0;
  for (let i = 0; i < 400 && conn.isOpen; i++) {
    conn.sendAll(Array<string>(1000).fill(clear));
    sent += 1000;
    await new Promise((r) => setImmediate(r));
  }
  const dropped = await statusOf('stalled', 'DroppedStream', 30_000);
  assert.equal(dropped.params.StatusReason, 'agent_stalled');
  const rssGrowth = process.memoryUsage().rss - rssBefore;
  await answer.waitFor('/next', (r) => r.params.CallUUID === callUuid());
  await uac.byeFromPod(10_000);
  assert.equal((await hangupOf(callUuid())).params.HangupCauseCode, '4000');

  const notReading = streamLogs(callUuid(), 'agent not reading; dropping media frames');
  const backlogCut = streamLogs(callUuid(), 'agent not reading and still sending; dropping stream');
  assert.ok(notReading.length + backlogCut.length >= 1, 'a log line says the agent is not reading');
  // Whichever guard fired, what the pod held for this agent stayed near its caps (256 KiB media, 1 MiB control).
  for (const l of backlogCut) assert.ok(Number(l.bufferedBytes) <= 1024 * 1024 + 64 * 1024, `backlog ${String(l.bufferedBytes)} bytes`);
  const ended = streamLogs(callUuid(), 'stream ended')[0];
  assert.equal(ended?.reason, 'agent_stalled');
  assert.ok(sent >= 1000);
  // The pod and the agent share this process; the agent's own send queue is in here too.
  assert.ok(rssGrowth < 200 * 1024 * 1024, `RSS grew by ${Math.round(rssGrowth / 1048576)} MiB`);
});

test('agent floods 10 MB of playAudio in a burst: the playback queue stays at 60 s, DegradedStream "playback_queue_full", the caller hears the audio and the call goes on', async () => {
  const connecting = agent.nextConnection();
  const { uac, callUuid } = await call(streamXml('flood'));
  const conn = await connecting;
  await conn.waitForEvent('start');
  const totalBytes = 10 * 1024 * 1024;
  const started = performance.now();
  conn.sendAll(playAudioFlood(totalBytes));
  const degraded = await statusOf('flood', 'DegradedStream');
  assert.match(String(degraded.params.StatusReason), /^playback_queue_/);
  await answer.waitFor('/status/flood', (r) => r.params.StatusReason === 'playback_queue_full');
  // The agent's audio (μ-law 0x55) reaches the caller while the call stays up.
  await uac.waitUntil(() => uac.rtpIn.filter((p) => p.payloadType === 0 && p.payload.every((b) => b === 0x55)).length >= 25, 15_000, 'agent audio at the caller');

  const full = streamLogs(callUuid(), 'playback queue full; audio dropped');
  assert.ok(full.length > 0, 'the drop is logged');
  assert.equal(full[0]!.capMs, 60_000);
  // Wait for the pod to have read the whole burst (the drops add up to what did not fit).
  const totalMs = totalBytes / 8;
  let droppedMs = 0;
  for (let i = 0; i < 100; i++) {
    droppedMs = streamLogs(callUuid(), 'playback queue full; audio dropped').reduce((s, l) => s + Number(l.droppedMs), 0);
    const accepted = totalMs - droppedMs;
    if (accepted <= 60_000 + (performance.now() - started) + 1000) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const accepted = totalMs - droppedMs;
  // Accepted audio is at most the cap plus what was played out while the burst was being read.
  assert.ok(accepted <= 60_000 + (performance.now() - started) + 1000, `accepted ${Math.round(accepted)} ms of ${totalMs} ms`);
  assert.ok(accepted >= 60_000, `the queue filled to its cap (accepted ${Math.round(accepted)} ms)`);
  assert.ok(conn.isOpen, 'the stream stays open');
  assert.equal(pod.logs().filter((l) => l.msg === 'call ended' && l.callUuid === callUuid()).length, 0, 'the call is still up');
  assert.equal((await uac.bye()).status, 200);
  assert.equal((await hangupOf(callUuid())).params.HangupCauseCode, '4000');
});

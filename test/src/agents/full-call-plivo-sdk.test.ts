// A real SIP call through the media pod to an agent built on Plivo's own Python stream SDK
// (test/python/plivo_sdk_agent.py): answer XML from the npm SDK opens a bidirectional <Stream>,
// the caller's RTP reaches the SDK as media, the SDK's echo comes back to the caller as RTP,
// RFC 4733 DTMF arrives as `dtmf`, checkpoints are acknowledged, and the caller's BYE stops the stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import plivo from 'plivo';
import { markedToneFrames, toneShare, ulawDecode } from '../media/audio.js';
import { APP_ID, cycle, startMediaRig, type MediaRig } from '../media/harness.js';
import { isDigitalSilence, type ReceivedRtp, type TestUac } from '../media/uac.js';
import { pythonAgentsSkipReason, startPythonAgent, type PythonAgent } from './python-agent.js';

const FRAMES = 100; // 2 s of caller audio at 20 ms
const CHECKPOINT_EVERY = 10;
const TONE_HZ = 1000; // markedToneFrames' tone

const skip = await pythonAgentsSkipReason();

interface SdkSummary {
  start: { callId: string; streamId: string; accountId: string; tracks: string[]; mediaFormat: { encoding: string; sampleRate: number }; extra_headers: string; sequenceNumber: number } | null;
  media_frames: number;
  silence_frames: number;
  media_bytes: number;
  media_sha256: string;
  first_chunk: number | null;
  last_chunk: number | null;
  last_sequence_number: number;
  play_audio_sent: number;
  checkpoints_sent: string[];
  played: string[];
  dtmf: string[];
  cleared: number;
  unknown_events: string[];
  errors: string[];
  connections: number;
  exit: string;
}

let rig: MediaRig;
before(async () => { if (!skip) rig = await startMediaRig(); });
after(async () => { if (!skip) await rig.close(); });

interface CallRun {
  agent: PythonAgent;
  uac: TestUac;
  callUuid: string;
  summary: SdkSummary;
  startEvent: Record<string, unknown>;
  closedEvent: Record<string, unknown>;
  /** The caller's audio frames, as sent. */
  sent: Buffer[];
  /** PCMU RTP the pod played the caller while the agent echoed (before the DTMF), digital silence left out. */
  echo: ReceivedRtp[];
  /** PCMU RTP after the DTMF press (the agent answered it with clearAudio), digital silence included. */
  afterDtmf: ReceivedRtp[];
  hangup: Record<string, string>;
}

/**
 * One call: INVITE, wait for the SDK's `start`, send FRAMES of marked 1 kHz μ-law, wait for
 * every checkpoint to be acknowledged (their audio has then gone out), press 5, wait for the
 * SDK's clearAudio to be confirmed, hang up, and collect what each side saw.
 */
async function callSdkAgent(contentType: string): Promise<CallRun> {
  const agent = await startPythonAgent('plivo_sdk_agent.py', ['--checkpoint-every', String(CHECKPOINT_EVERY), '--max-runtime', '60']);
  try {
    const r = plivo.Response();
    r.addStream(`${agent.url}plivo-sdk`, { bidirectional: true, keepCallAlive: true, contentType });
    rig.answer.route('/answer', r.toXML());
    const answersBefore = rig.answer.requests.filter((q) => q.path === '/answer').length;

    const uac = await rig.caller();
    const final = await uac.invite(rig.pod.sipPort, APP_ID);
    assert.equal(final.status, 200, `call not answered: ${final.status} ${final.reason}`);
    const answerReq = rig.answer.requests.filter((q) => q.path === '/answer')[answersBefore];
    assert.ok(answerReq, 'answer_url was fetched for this call');
    const callUuid = answerReq.params.CallUUID ?? '';
    assert.match(callUuid, /^[0-9a-f-]{36}$/);

    const start = await agent.waitForEvent('start');
    const sent = markedToneFrames(FRAMES);
    uac.startSending(cycle(sent, FRAMES));

    // A checkpoint is acknowledged only once the audio queued before it has been played, so the
    // last one means the whole echo is out; the RTP itself may still be on its way.
    const lastCp = `cp-${FRAMES}`;
    await agent.waitForEvent('played', (d) => d.name === lastCp, 20_000);
    // The L16 16 kHz path may keep back up to two frames' worth in the resampler and the playback
    // queue's partial frame. The last of them can still be on its way, so wait for the echo to go
    // quiet: the pod sends only digital silence while its queue is empty, so 200 ms of nothing
    // else means done.
    const expectedEcho = contentType.startsWith('audio/x-mulaw') ? FRAMES : FRAMES - 2;
    await uac.waitUntil(() => uac.audioRtp().length >= expectedEcho || undefined, 5000, `${expectedEcho} echoed RTP frames`);
    await uac.rtpQuietFor(200, 5000);
    const echo = uac.audioRtp();

    const mark = uac.rtpIn.length;
    await uac.sendDtmf('5');
    await agent.waitForEvent('dtmf');
    await agent.waitForEvent('cleared');

    const bye = await uac.bye();
    assert.equal(bye.status, 200);
    const closed = await agent.waitForEvent('closed');
    const summary = await agent.summary() as unknown as SdkSummary;
    const hangup = await rig.answer.waitFor('/hangup', (q) => q.params.CallUUID === callUuid, 15_000);
    return {
      agent, uac, callUuid, summary, startEvent: start.data, closedEvent: closed.data, sent, echo,
      afterDtmf: uac.mediaRtp(mark), hangup: hangup.params,
    };
  } finally {
    await agent.stop();
  }
}

function assertCallCommon(run: CallRun, encoding: string, sampleRate: number, frameBytes: number): void {
  const s = run.summary;
  assert.deepEqual(s.errors, [], 'the SDK or the strict model checks rejected something the pod sent');
  assert.equal(s.connections, 1);

  // start: the SDK parsed it, and its callId is the CallUUID answer_url was given.
  assert.ok(s.start, 'no start reached the SDK');
  assert.equal(s.start.callId, run.callUuid);
  assert.equal(run.startEvent.callId, run.callUuid);
  assert.deepEqual(s.start.mediaFormat, { encoding, sampleRate });
  assert.deepEqual(s.start.tracks, ['inbound']);
  assert.equal(s.start.sequenceNumber, 1);

  // Every caller frame reached the SDK once, in order (the agent checks chunk and sequence
  // continuity itself and would have reported a gap in `errors`). While the caller sent nothing
  // (before its first frame, after its last) the pod kept the stream going with exact silence,
  // one frame per 20 ms, numbered in the same chunk sequence.
  assert.equal(s.media_frames, FRAMES);
  assert.ok(s.silence_frames > 0, 'silence kept the stream going while the caller was quiet');
  assert.equal(s.first_chunk, 1);
  assert.equal(s.last_chunk, FRAMES + s.silence_frames);
  assert.equal(s.media_bytes, FRAMES * frameBytes);
  assert.equal(s.play_audio_sent, FRAMES);

  // Checkpoints: all acknowledged, once each, in order.
  assert.ok(s.played.length > 0, 'no playedStream reached the SDK');
  assert.equal(s.checkpoints_sent.length, FRAMES / CHECKPOINT_EVERY);
  assert.deepEqual(s.played, s.checkpoints_sent);

  // The caller's RFC 4733 press reached the SDK as a dtmf event, and its clearAudio was confirmed.
  assert.deepEqual(s.dtmf, ['5']);
  assert.equal(s.cleared, 1);
  assert.ok(run.afterDtmf.length > 0 && run.afterDtmf.every(isDigitalSilence), 'the pod played only digital silence after the queue was already empty and cleared');

  // The caller's BYE: the pod sent `stop` (the one event the Python SDK does not model) and
  // closed the socket normally; the call ended as a caller hangup.
  assert.deepEqual(s.unknown_events, ['stop']);
  assert.equal(run.closedEvent.code, 1000);
  assert.equal(s.exit, 'connection_closed');
  // The SDK models every event but `stop`, so the agent's count ends at clearedAudio.
  assert.equal(s.last_sequence_number, 1 + FRAMES + s.silence_frames + s.played.length + s.dtmf.length + s.cleared, 'start, media, playedStream, dtmf, clearedAudio numbered without gaps');
  assert.equal(run.hangup.HangupCauseCode, '4000');
  assert.equal(run.hangup.HangupSource, 'Caller');
}

test('full call to the Plivo SDK agent, audio/x-mulaw;rate=8000: valid messages, callId = CallUUID, frames in order, echo back byte for byte, DTMF, checkpoints, stop on BYE', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const run = await callSdkAgent('audio/x-mulaw;rate=8000');
  assertCallCommon(run, 'audio/x-mulaw', 8000, 160);
  // The SDK's decoded payloads are exactly the caller's RTP payloads, in order.
  assert.equal(run.summary.media_sha256, createHash('sha256').update(Buffer.concat(run.sent)).digest('hex'));
  // The echo: one RTP packet per caller frame, each the same marked frame in the same place.
  assert.equal(run.echo.length, FRAMES);
  run.echo.forEach((p, i) => assert.ok(p.payload.equals(run.sent[i]!), `echoed RTP packet ${i} carries caller frame ${i}`));
  const heard = ulawDecode(Buffer.concat(run.echo.map((p) => p.payload)));
  assert.ok(toneShare(heard, TONE_HZ) > 0.95, `the echo is ${TONE_HZ} Hz`);
  assert.ok(toneShare(heard, 440) < 0.01, 'and not another tone');
});

test('full call to the Plivo SDK agent, audio/x-l16;rate=16000: valid messages, 640-byte frames in order, echo back as the caller\'s tone, DTMF, checkpoints, stop on BYE', { skip: skip ?? false, timeout: 120_000 }, async (t) => {
  const run = await callSdkAgent('audio/x-l16;rate=16000');
  assertCallCommon(run, 'audio/x-l16', 16000, 640);
  // 8 kHz -> 16 kHz -> 8 kHz goes through two resampling filters: no byte equality, but the
  // caller's tone must come back as that tone (skip the first and last frames: filter edges).
  assert.ok(run.echo.length >= FRAMES - 2 && run.echo.length <= FRAMES + 2, `${run.echo.length} echoed RTP frames for ${FRAMES} sent`);
  const heard = ulawDecode(Buffer.concat(run.echo.slice(3, -3).map((p) => p.payload)));
  const share = toneShare(heard, TONE_HZ);
  t.diagnostic(`${run.echo.length} echoed frames, ${(share * 100).toFixed(2)}% at ${TONE_HZ} Hz`);
  assert.ok(share > 0.9, `the echo is ${(share * 100).toFixed(1)}% ${TONE_HZ} Hz`);
  assert.ok(toneShare(heard, 2 * TONE_HZ) < 0.05, 'no energy moved to another frequency');
});

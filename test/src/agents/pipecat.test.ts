// The media pod's StreamBridge against a Pipecat bot (test/python/pipecat_echo_agent.py): Pipecat's
// runner must detect Plivo from our `start`, PlivoFrameSerializer must turn our media into audio
// frames and our dtmf into InputDTMFFrame, and its playAudio/clearAudio must play through the bridge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '@sipflow/operator/log';
import { systemClock } from '@sipflow/media-pod/clock';
import { ulawDecode, ulawEncode } from '@sipflow/media-pod/media/codec/g711';
import { StreamBridge } from '@sipflow/media-pod/stream/index';
import { pythonAgentsSkipReason, startPythonAgent } from './python-agent.js';
import { concat, driveAtCadence, FRAME_SAMPLES, toneFrames, toneShare, waitUntil } from './stream-drive.js';

const CALL_ID = '0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b';
const STREAM_ID = '7b6a5f4e-3d2c-4b1a-9f0e-d8c7b6a5f4e3';
const FRAMES = 100; // 2 s at 20 ms
const TONE_HZ = 440;

const skip = await pythonAgentsSkipReason();

interface PipecatSummary {
  detected: string | null;
  call_data: { stream_id: string; call_id: string } | null;
  media_in: number;
  frames_in: number;
  frames_out: number;
  play_audio_sent: number;
  play_audio_bytes: number;
  clear_audio_sent: number;
  other_out: string[];
  dtmf: string[];
  errors: string[];
  warnings: string[];
  connections: number;
  exit: string;
}

test('Pipecat PlivoFrameSerializer bot: detects Plivo, echoes the caller as playAudio, sees DTMF, clearAudio accepted', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const agent = await startPythonAgent('pipecat_echo_agent.py', ['--max-runtime', '60'], { path: '/ws' });
  const bridge = new StreamBridge({
    url: agent.url, callId: CALL_ID, streamId: STREAM_ID, accountId: 'MAXXXXXXXXXXXXXXXXXX', bidirectional: true, audioTrack: 'inbound',
    contentType: 'audio/x-mulaw;rate=8000', streamTimeoutSec: 120, extraHeaders: '', clock: systemClock,
    logger: createLogger('agents-test', 'warn'), sendDtmf: () => { /* this bot sends no DTMF */ },
  });
  let summary: PipecatSummary;
  let echoed: Int16Array;
  const ulaw = toneFrames(TONE_HZ, FRAMES).map((f) => ulawEncode(f));
  try {
    await bridge.start();
    // No waiting for the bot here: Pipecat's runner decides only after a second frame (media).
    // Pipecat paces its output in real time, 40 ms per playAudio; stop pulling once the bot
    // has echoed everything it was given (the runner swallows one frame, and Pipecat holds back
    // an incomplete final 40 ms chunk) and it has all been played out.
    const res = await driveAtCadence(bridge, {
      inputFrames: FRAMES,
      push: (i) => bridge.pushInbound({ ulaw: ulaw[i]! }, Date.now()),
      until: () => bridge.stats.playAudioReceived * 2 >= FRAMES - 2 && bridge.queuedMs === 0,
      maxExtraTicks: 500,
    });
    assert.ok(res.satisfied, `echo incomplete: ${bridge.stats.playAudioReceived} playAudio, ${res.pulled.length} frames pulled\n${agent.stderrTail()}`);
    echoed = concat(res.pulled);

    bridge.dtmfReceived('5', Date.now());
    await agent.waitForEvent('dtmf');
    await agent.waitForEvent('clear_audio');
    // clearAudio is the only non-playAudio message this bot sends: wait for it to reach the bridge.
    assert.ok(await waitUntil(() => bridge.stats.agentMessages > bridge.stats.playAudioReceived, 5000), 'clearAudio did not reach the bridge');
    await bridge.stop('call_hangup');
    summary = await agent.summary() as unknown as PipecatSummary;
  } finally {
    await bridge.stop('call_hangup');
    await agent.stop();
  }

  assert.deepEqual(summary.errors, [], 'pipecat logged errors');
  assert.equal(summary.connections, 1);
  assert.equal(summary.detected, 'plivo');
  assert.deepEqual(summary.call_data, { stream_id: STREAM_ID, call_id: CALL_ID });
  // parse_telephony_websocket reads two frames (start, first media) and drops the second.
  assert.equal(summary.media_in, FRAMES - 1);
  assert.equal(summary.frames_in, FRAMES - 1, 'every media frame became an InputAudioRawFrame');
  assert.equal(summary.frames_out, FRAMES - 1);

  // Every playAudio Pipecat produced reached the bridge and was accepted.
  assert.ok(summary.play_audio_sent > 0);
  assert.equal(bridge.stats.playAudioReceived, summary.play_audio_sent);
  assert.equal(bridge.stats.ignoredMessages, 0, 'the bridge ignored something pipecat sent');
  assert.equal(bridge.stats.agentMessages, summary.play_audio_sent + summary.clear_audio_sent);
  assert.deepEqual(summary.other_out, []);
  assert.equal(echoed.length, summary.play_audio_bytes, 'played out exactly what pipecat sent (μ-law: one sample per byte)');

  // The echo is our tone: 8 kHz in and out means no resampling, and μ-law -> PCM -> μ-law is
  // lossless, so the playout is our audio minus the frame the runner swallowed, sample for sample.
  assert.ok(echoed.length >= (FRAMES - 3) * FRAME_SAMPLES, `echoed ${echoed.length} samples`);
  const expected = ulawDecode(concat8(ulaw.slice(1))).subarray(0, echoed.length);
  assert.deepEqual(echoed, expected);
  assert.ok(toneShare(echoed, TONE_HZ) > 0.95);

  assert.deepEqual(summary.dtmf, ['5']);
  assert.equal(summary.clear_audio_sent, 1, 'the interruption went out as clearAudio');
  assert.equal(summary.exit, 'connection_closed');
});

function concat8(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}

// The media pod's StreamBridge against an agent built on Plivo's own Python stream SDK
// (test/python/plivo_sdk_agent.py): the SDK (plus a strict re-validation with its models) must
// accept every platform message, and the SDK's playAudio/checkpoint/clearAudio must work back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createLogger } from '@sipflow/operator/log';
import { systemClock } from '@sipflow/media-pod/clock';
import { ulawDecode, ulawEncode } from '@sipflow/media-pod/media/codec/g711';
import { StreamBridge, type StreamContentType } from '@sipflow/media-pod/stream/index';
import { pythonAgentsSkipReason, startPythonAgent } from './python-agent.js';
import { concat, driveAtCadence, FRAME_SAMPLES, meanSquare, toneFrames, toneShare } from './stream-drive.js';

const CALL_ID = '5f0c3b1e-8d2a-4c6b-9e7f-0a1b2c3d4e5f';
const STREAM_ID = 'c2d4e6f8-1a3b-4c5d-8e9f-a0b1c2d3e4f5';
const ACCOUNT_ID = 'MAXXXXXXXXXXXXXXXXXX';
const EXTRA_HEADERS = 'userId=12345;sessionId=abc-xyz';
const FRAMES = 100; // 2 s at 20 ms
const CHECKPOINT_EVERY = 10;
const TONE_HZ = 440;

const skip = await pythonAgentsSkipReason();

interface SdkSummary {
  start: { callId: string; streamId: string; accountId: string; tracks: string[]; mediaFormat: { encoding: string; sampleRate: number }; extra_headers: string; sequenceNumber: number } | null;
  media_frames: number;
  media_bytes: number;
  media_sha256: string;
  first_chunk: number | null;
  last_chunk: number | null;
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

interface Run {
  summary: SdkSummary;
  echoed: Int16Array;
  sentUlaw: Uint8Array;
  bridge: StreamBridge;
  pulledAll: boolean;
}

async function runAgainstSdkAgent(contentType: StreamContentType): Promise<Run> {
  const agent = await startPythonAgent('plivo_sdk_agent.py', ['--checkpoint-every', String(CHECKPOINT_EVERY), '--max-runtime', '60']);
  const bridge = new StreamBridge({
    url: agent.url, callId: CALL_ID, streamId: STREAM_ID, accountId: ACCOUNT_ID, bidirectional: true, audioTrack: 'inbound',
    contentType, streamTimeoutSec: 120, extraHeaders: EXTRA_HEADERS, clock: systemClock,
    logger: createLogger('agents-test', 'warn'), sendDtmf: () => { /* the SDK has no sendDTMF helper */ },
  });
  try {
    await bridge.start();
    await agent.waitForEvent('start');
    const pcm = toneFrames(TONE_HZ, FRAMES);
    const ulaw = pcm.map((f) => ulawEncode(f));
    const isUlaw = contentType.startsWith('audio/x-mulaw');
    const expectedCheckpoints = Math.floor(FRAMES / CHECKPOINT_EVERY);
    let pulledFrames = 0;
    const res = await driveAtCadence(bridge, {
      inputFrames: FRAMES,
      push: (i) => bridge.pushInbound(isUlaw ? { ulaw: ulaw[i]! } : { pcm: pcm[i]! }, Date.now()),
      // Done when every echoed frame has been played out and every checkpoint acknowledged.
      until: () => {
        pulledFrames = bridge.stats.playAudioReceived;
        return bridge.stats.playAudioReceived >= FRAMES && bridge.queuedMs === 0
          && agent.events.filter((e) => e.name === 'played').length >= expectedCheckpoints;
      },
      maxExtraTicks: 500,
    });
    assert.ok(res.satisfied, `echo incomplete: ${pulledFrames} playAudio received, ${res.pulled.length} frames pulled, `
      + `${agent.events.filter((e) => e.name === 'played').length} checkpoints acked\n${agent.stderrTail()}`);

    bridge.dtmfReceived('5', Date.now());
    await agent.waitForEvent('cleared');
    await bridge.stop('call_hangup');
    const summary = await agent.summary() as unknown as SdkSummary;
    return { summary, echoed: concat(res.pulled), sentUlaw: concat8(ulaw), bridge, pulledAll: res.satisfied };
  } finally {
    await bridge.stop('call_hangup');
    await agent.stop();
  }
}

function concat8(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let k = 0;
  for (const p of parts) { out.set(p, k); k += p.length; }
  return out;
}

function assertCommon(run: Run, encoding: string, sampleRate: number): void {
  const s = run.summary;
  assert.deepEqual(s.errors, [], 'the SDK and the strict model checks reported problems');
  // The bridge's closing `stop` is the only event the Python SDK does not model.
  assert.ok(s.unknown_events.every((e) => e === 'stop'), `unexpected events: ${s.unknown_events.join(',')}`);
  assert.deepEqual(s.start, {
    callId: CALL_ID, streamId: STREAM_ID, accountId: ACCOUNT_ID, tracks: ['inbound'],
    mediaFormat: { encoding, sampleRate }, extra_headers: EXTRA_HEADERS, sequenceNumber: 1,
  });
  assert.equal(s.connections, 1);
  assert.equal(s.media_frames, FRAMES);
  assert.equal(s.first_chunk, 1);
  assert.equal(s.last_chunk, FRAMES);
  assert.equal(s.play_audio_sent, FRAMES);
  assert.equal(run.bridge.stats.playAudioReceived, FRAMES);
  assert.equal(run.bridge.stats.ignoredMessages, 0, 'the bridge ignored something the SDK sent');
  assert.equal(run.bridge.stats.mediaDropped, 0);
  assert.equal(s.checkpoints_sent.length, FRAMES / CHECKPOINT_EVERY);
  assert.ok(s.played.length > 0, 'no playedStream reached the SDK');
  assert.deepEqual(s.played, s.checkpoints_sent, 'every checkpoint acknowledged once, in order');
  assert.deepEqual(s.dtmf, ['5']);
  assert.equal(s.cleared, 1, 'clearAudio answered with clearedAudio');
  assert.equal(s.exit, 'connection_closed');
}

test('Plivo Python stream SDK agent, audio/x-mulaw;rate=8000: messages valid, echo byte-exact, checkpoints, clearAudio', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const run = await runAgainstSdkAgent('audio/x-mulaw;rate=8000');
  assertCommon(run, 'audio/x-mulaw', 8000);
  const s = run.summary;
  // All frames arrived in order and intact: the SDK's decoded payloads hash to what was pushed.
  assert.equal(s.media_bytes, FRAMES * FRAME_SAMPLES);
  assert.equal(s.media_sha256, createHash('sha256').update(run.sentUlaw).digest('hex'));
  // μ-law echoed unchanged, 160 bytes per playAudio: playout is the decoded input, sample for sample.
  assert.equal(run.echoed.length, FRAMES * FRAME_SAMPLES);
  assert.deepEqual(run.echoed, ulawDecode(run.sentUlaw));
});

test('Plivo Python stream SDK agent, audio/x-l16;rate=16000: messages valid, echo is the tone, checkpoints, clearAudio', { skip: skip ?? false, timeout: 120_000 }, async () => {
  const run = await runAgainstSdkAgent('audio/x-l16;rate=16000');
  assertCommon(run, 'audio/x-l16', 16000);
  assert.equal(run.summary.media_bytes, FRAMES * 640, '640 bytes (20 ms of 16 kHz L16) per frame');
  // 16 kHz out and back means two resampling filters; compare spectra, not samples. Skip the
  // first and last 100 ms, where the filters fill and drain.
  assert.ok(run.echoed.length >= (FRAMES - 2) * FRAME_SAMPLES, `echoed ${run.echoed.length} samples`);
  const steady = run.echoed.subarray(800, run.echoed.length - 800);
  const sent = concat(toneFrames(TONE_HZ, FRAMES)).subarray(800, FRAMES * FRAME_SAMPLES - 800);
  const share = toneShare(steady, TONE_HZ);
  assert.ok(share > 0.95, `echo is ${Math.round(share * 100)}% ${TONE_HZ} Hz`);
  const gainDb = 10 * Math.log10(meanSquare(steady) / meanSquare(sent));
  assert.ok(Math.abs(gainDb) < 1, `echo level differs by ${gainDb.toFixed(2)} dB`);
});

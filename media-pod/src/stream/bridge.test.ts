// StreamBridge against a real `ws` agent on loopback: wire shapes, audio in every format, the
// playback queue with checkpoints and clearAudio, and every way a stream can end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { FakeClock } from '../clock.js';
import { ulawDecode, ulawEncode } from '../media/codec/g711.js';
import { createDownsampleState, createUpsampleState, downsample16kTo8k, upsample8kTo16k } from '../media/codec/resample.js';
import { StreamBridge, StreamConfigError, StreamConnectError, type StreamBridgeOptions } from './bridge.js';
import type { StreamStatusEvent } from './protocol.js';
import { platformMessageProblems } from './sdk-shape.js';
import { memoryLogger, TestAgentServer, waitUntil, type AgentConnection, type LogLine } from './test-support.js';

const CALL_ID = '8a6f3a4e-2b1c-4d5e-9f00-1234567890ab';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const T = { timeout: 15000 };

interface Harness {
  server: TestAgentServer;
  bridge: StreamBridge;
  clock: FakeClock;
  statuses: StreamStatusEvent[];
  dtmfs: string[];
  logs: LogLine[];
}

async function withBridge(over: Partial<StreamBridgeOptions>, fn: (h: Harness) => Promise<void>, serverOpts: { refuse?: boolean } = {}): Promise<void> {
  const server = await TestAgentServer.start(serverOpts);
  const clock = over.clock instanceof FakeClock ? over.clock : new FakeClock();
  const statuses: StreamStatusEvent[] = [];
  const dtmfs: string[] = [];
  const logs: LogLine[] = [];
  const bridge = new StreamBridge({
    url: server.url, callId: CALL_ID, accountId: 'MAXXXXXXXXXXXXXXXXXX', bidirectional: true, audioTrack: 'inbound',
    contentType: 'audio/x-mulaw;rate=8000', streamTimeoutSec: 86400, extraHeaders: 'userId=12345;sessionId=abc-xyz',
    clock, logger: memoryLogger(logs), sendDtmf: (d) => dtmfs.push(d), onStatus: (e) => statuses.push(e),
    ...over,
  });
  try {
    await fn({ server, bridge, clock, statuses, dtmfs, logs });
  } finally {
    await bridge.stop('call_hangup');
    await server.close();
  }
}

async function started(h: Harness): Promise<AgentConnection> {
  await h.bridge.start();
  const conn = await h.server.connection(0);
  await conn.waitForEvent('start');
  return conn;
}

function assertAllValid(conn: AgentConnection): void {
  for (const f of conn.frames) {
    assert.equal(f.binary, false, 'platform frames are text');
    assert.deepEqual(platformMessageProblems(f.json), [], f.text.slice(0, 200));
  }
}

function tone(n: number, period = 37, amp = 9000, phase = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * (i + phase)) / period));
  return out;
}

function le16(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, 2 * i);
  return b;
}

function fromLe16(b: Buffer): Int16Array {
  const out = new Int16Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i);
  return out;
}

function payloadOf(m: Record<string, unknown>): Buffer {
  return Buffer.from(String((m['media'] as Record<string, unknown>)['payload']), 'base64');
}

function media(m: Record<string, unknown>): Record<string, unknown> { return m['media'] as Record<string, unknown>; }

async function processed(h: Harness, n: number): Promise<void> {
  await waitUntil(() => h.bridge.stats.agentMessages >= n, `${n} agent messages processed`);
}

test('start is the first message, a text frame with the exact Plivo shape; upgrade carries the signature headers', T, async () => {
  await withBridge({
    upgradeHeaders: (url) => ({ 'X-Plivo-Signature-V3': `sig-for-${url.length}`, 'X-Plivo-Signature-V3-Nonce': '12345' }),
  }, async (h) => {
    const conn = await started(h);
    const [first] = await conn.waitForFrames(1);
    assert.deepEqual(first, {
      event: 'start', sequenceNumber: 1,
      start: {
        callId: CALL_ID, streamId: h.bridge.streamId, accountId: 'MAXXXXXXXXXXXXXXXXXX', tracks: ['inbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000 },
      },
      extra_headers: 'userId=12345;sessionId=abc-xyz',
    });
    assert.match(h.bridge.streamId, UUID_V4);
    assert.equal(conn.request.headers['x-plivo-signature-v3'], `sig-for-${h.server.url.length}`);
    assert.equal(conn.request.headers['x-plivo-signature-v3-nonce'], '12345');
    assert.equal(conn.request.url, '/ws?body=abc');
    assert.equal(conn.request.headers['sec-websocket-extensions'], undefined, 'permessage-deflate is off');
    assertAllValid(conn);
    assert.deepEqual(h.statuses.map((s) => s.event), ['StartStream']);
  });
});

test('start without accountId or extraHeaders still sends strings; L16 16k and both tracks announced', T, async () => {
  await withBridge({ accountId: undefined, extraHeaders: '', bidirectional: false, audioTrack: 'both', contentType: 'audio/x-l16;rate=16000', streamId: '0f5b7d1e-4c3a-4b2a-8e1f-aabbccddeeff' }, async (h) => {
    const conn = await started(h);
    const start = conn.messages[0]!;
    assert.deepEqual(start['start'], {
      callId: CALL_ID, streamId: '0f5b7d1e-4c3a-4b2a-8e1f-aabbccddeeff', accountId: '', tracks: ['inbound', 'outbound'],
      mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000 },
    });
    assert.equal(start['extra_headers'], '');
    assertAllValid(conn);
  });
});

test('μ-law media: passthrough bytes, increasing sequenceNumber and chunk, string epoch-ms timestamps', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    const frames = [0, 1, 2].map((k) => ulawEncode(tone(160, 37, 8000, k * 160)));
    frames.forEach((u, k) => h.bridge.pushInbound({ ulaw: u, pcm: new Int16Array(160) }, 1_705_312_200_000 + 20 * k));
    const pcmOnly = tone(160, 23);
    h.bridge.pushInbound({ pcm: pcmOnly }, 1_705_312_200_060.7);
    const msgs = (await conn.waitForFrames(5)).slice(1);
    assert.deepEqual(msgs.map((m) => m['sequenceNumber']), [2, 3, 4, 5]);
    assert.deepEqual(msgs.map((m) => media(m)['chunk']), [1, 2, 3, 4]);
    assert.deepEqual(msgs.map((m) => media(m)['timestamp']), ['1705312200000', '1705312200020', '1705312200040', '1705312200060']);
    for (const m of msgs) {
      assert.equal(m['streamId'], h.bridge.streamId);
      assert.equal(media(m)['track'], 'inbound');
      assert.equal(m['extra_headers'], 'userId=12345;sessionId=abc-xyz');
      assert.equal(payloadOf(m).length, 160);
    }
    frames.forEach((u, k) => assert.deepEqual(new Uint8Array(payloadOf(msgs[k]!)), u, 'μ-law bytes are passed through'));
    assert.deepEqual(new Uint8Array(payloadOf(msgs[3]!)), ulawEncode(pcmOnly));
    // Key order matches Plivo's documented example, which some hand-written agents rely on.
    assert.match(conn.frames[1]!.text, /^\{"event":"media","sequenceNumber":2,"streamId":"[0-9a-f-]{36}","media":\{"track":"inbound","timestamp":"1705312200000","chunk":1,"payload":"[A-Za-z0-9+/=]+"\},"extra_headers":"userId=12345;sessionId=abc-xyz"\}$/);
    assertAllValid(conn);
  });
});

test('L16 8 kHz media: 320 little-endian bytes from PCM or decoded μ-law', T, async () => {
  await withBridge({ contentType: 'audio/x-l16;rate=8000' }, async (h) => {
    const conn = await started(h);
    const pcm = tone(160, 41, 12000);
    const u = ulawEncode(tone(160, 29, 7000));
    h.bridge.pushInbound({ pcm }, 1000);
    h.bridge.pushInbound({ ulaw: u }, 1020);
    const msgs = (await conn.waitForFrames(3)).slice(1);
    assert.equal(payloadOf(msgs[0]!).length, 320);
    assert.deepEqual(fromLe16(payloadOf(msgs[0]!)), pcm);
    assert.deepEqual(fromLe16(payloadOf(msgs[1]!)), ulawDecode(u));
    assertAllValid(conn);
  });
});

test('L16 16 kHz media: 640 bytes per frame, upsampled continuously across frames', T, async () => {
  await withBridge({ contentType: 'audio/x-l16;rate=16000' }, async (h) => {
    const conn = await started(h);
    const src = tone(480, 53, 10000);
    const ref = createUpsampleState();
    const expected = [0, 1, 2].map((k) => upsample8kTo16k(src.subarray(k * 160, (k + 1) * 160), ref));
    for (let k = 0; k < 3; k++) h.bridge.pushInbound({ pcm: src.slice(k * 160, (k + 1) * 160) }, 20 * k);
    const msgs = (await conn.waitForFrames(4)).slice(1);
    for (let k = 0; k < 3; k++) {
      const p = payloadOf(msgs[k]!);
      assert.equal(p.length, 640);
      assert.deepEqual(fromLe16(p), expected[k]);
    }
    assertAllValid(conn);
  });
});

test('audioTrack both: outbound track has its own chunk counter; sequenceNumber is shared', T, async () => {
  await withBridge({ bidirectional: false, audioTrack: 'both' }, async (h) => {
    const conn = await started(h);
    const f = { ulaw: new Uint8Array(160).fill(0xff) };
    h.bridge.pushInbound(f, 0);
    h.bridge.pushOutbound(f, 0);
    h.bridge.pushInbound(f, 20);
    h.bridge.pushOutbound(f, 20);
    const msgs = (await conn.waitForFrames(5)).slice(1);
    assert.deepEqual(msgs.map((m) => [m['sequenceNumber'], media(m)['track'], media(m)['chunk']]),
      [[2, 'inbound', 1], [3, 'outbound', 1], [4, 'inbound', 2], [5, 'outbound', 2]]);
    assertAllValid(conn);
  });
});

test('inbound-only stream does not emit the outbound track; bidirectional with outbound/both is refused', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    h.bridge.pushOutbound({ ulaw: new Uint8Array(160) }, 0);
    h.bridge.dtmfReceived('7', 5);
    await conn.waitForFrames(2);
    assert.deepEqual(conn.events(), ['start', 'dtmf']);
  });
  const base = {
    url: 'ws://127.0.0.1:9/x', callId: CALL_ID, bidirectional: true, contentType: 'audio/x-mulaw;rate=8000' as const, streamTimeoutSec: 10,
    extraHeaders: '', clock: new FakeClock(), logger: memoryLogger(), sendDtmf: () => {},
  };
  assert.throws(() => new StreamBridge({ ...base, audioTrack: 'both' }), (e: unknown) => e instanceof StreamConfigError && e.problem === 'track_conflict');
  assert.throws(() => new StreamBridge({ ...base, audioTrack: 'inbound', url: 'http://x/y' }), (e: unknown) => e instanceof StreamConfigError && e.problem === 'bad_url');
  assert.throws(() => new StreamBridge({ ...base, audioTrack: 'inbound', contentType: 'audio/x-alaw;rate=8000' as never }), (e: unknown) => e instanceof StreamConfigError && e.problem === 'bad_content_type');
});

test('dtmf event shape; unreportable digits are not sent', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    h.bridge.dtmfReceived('x', 1);
    h.bridge.dtmfReceived('5', 1_705_312_250_000);
    h.bridge.dtmfReceived('#', 1_705_312_250_100);
    const msgs = await conn.waitForFrames(3);
    assert.deepEqual(msgs[1], {
      event: 'dtmf', sequenceNumber: 2, streamId: h.bridge.streamId,
      dtmf: { track: 'inbound', digit: '5', timestamp: '1705312250000' }, extra_headers: 'userId=12345;sessionId=abc-xyz',
    });
    assert.equal((msgs[2]!['dtmf'] as Record<string, unknown>)['digit'], '#');
    assertAllValid(conn);
  });
});

test('playAudio μ-law (sampleRate number and string, with or without streamId) comes out of pullFrame', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    const a = ulawEncode(tone(160, 31));
    const b = ulawEncode(tone(160, 17));
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(a).toString('base64') }, streamId: h.bridge.streamId });
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: '8000', payload: Buffer.from(b).toString('base64') } });
    await processed(h, 2);
    assert.equal(h.bridge.queuedMs, 40);
    assert.deepEqual(h.bridge.pullFrame(), ulawDecode(a));
    assert.deepEqual(h.bridge.pullFrame(), ulawDecode(b));
    assert.equal(h.bridge.pullFrame(), null);
    assert.equal(h.bridge.queuedMs, 0);
  });
});

test('a PCMU call queues μ-law as it came: the agent\'s bytes come out of pullFrame unchanged (0x7f too), L16 is encoded once, and a call moved to PCMA gets PCM', T, async () => {
  await withBridge({ ulawPlayback: true }, async (h) => {
    const conn = await started(h);
    const a = ulawEncode(tone(160, 31));
    a[0] = 0x7f; // μ-law's other zero, which a decode and encode would turn into 0xff
    const b = ulawEncode(tone(240, 17)); // a frame and a half: the half waits a tick, then is padded with μ-law silence
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(a).toString('base64') } });
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(b).toString('base64') } });
    const l16 = tone(160, 23, 9000);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-l16', sampleRate: 8000, payload: le16(l16).toString('base64') } });
    await processed(h, 3);
    assert.equal(h.bridge.queuedMs, 70);
    const f1 = h.bridge.pullFrame('PCMU');
    assert.ok(f1 instanceof Uint8Array);
    assert.deepEqual(Buffer.from(f1), Buffer.from(a), 'the agent\'s bytes, 0x7f included');
    assert.deepEqual(Buffer.from(h.bridge.pullFrame('PCMU')!), Buffer.from(b.subarray(0, 160)));
    // The next 80 samples of b and the first 80 of the L16 audio, encoded as μ-law.
    const f3 = Buffer.from(h.bridge.pullFrame('PCMU')!);
    assert.deepEqual(f3.subarray(0, 80), Buffer.from(b.subarray(160)));
    assert.deepEqual(f3.subarray(80), Buffer.from(ulawEncode(l16.subarray(0, 80))));
    // A re-INVITE moved the call to PCMA: the rest comes out as PCM, for the RTP layer to encode.
    assert.equal(h.bridge.pullFrame('PCMA'), null, 'a partial frame waits a tick');
    const f4 = h.bridge.pullFrame('PCMA');
    assert.ok(f4 instanceof Int16Array);
    assert.equal(f4.length, 160);
    assert.deepEqual(Array.from(f4.subarray(0, 80)), Array.from(ulawDecode(ulawEncode(l16.subarray(80)))));
    assert.ok(f4.subarray(80).every((v) => v === 0), 'padded with μ-law silence, which decodes to 0');
  });
});

test('playAudio L16 8 kHz: little-endian, odd trailing byte carried into the next message', T, async () => {
  await withBridge({ contentType: 'audio/x-l16;rate=8000' }, async (h) => {
    const conn = await started(h);
    const src = tone(320, 45, 15000);
    const bytes = le16(src);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-l16', sampleRate: 8000, payload: bytes.subarray(0, 321).toString('base64') } });
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-l16', sampleRate: '8000', payload: bytes.subarray(321).toString('base64') } });
    await processed(h, 2);
    assert.deepEqual(h.bridge.pullFrame(), src.subarray(0, 160));
    assert.deepEqual(h.bridge.pullFrame(), src.subarray(160, 320));
    assert.equal(h.bridge.pullFrame(), null);
  });
});

test('playAudio L16 16 kHz (number and string sampleRate) is downsampled continuously to 8 kHz', T, async () => {
  await withBridge({ contentType: 'audio/x-l16;rate=16000' }, async (h) => {
    const conn = await started(h);
    const src = tone(640, 70, 12000);
    const expected = downsample16kTo8k(src, createDownsampleState());
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-l16', sampleRate: 16000, payload: le16(src.subarray(0, 320)).toString('base64') } });
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-l16', sampleRate: '16000', payload: le16(src.subarray(320)).toString('base64') } });
    await processed(h, 2);
    assert.equal(h.bridge.queuedMs, 40);
    assert.deepEqual(h.bridge.pullFrame(), expected.subarray(0, 160));
    assert.deepEqual(h.bridge.pullFrame(), expected.subarray(160, 320));
  });
});

test('checkpoints are acknowledged in order, only once the audio before them has been pulled', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    const frame = (k: number): string => Buffer.from(ulawEncode(tone(160, 11 + k))).toString('base64');
    const play = (k: number): void => conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: frame(k) } });
    play(0); play(1);
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'first' });
    play(2);
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'second' });
    await processed(h, 5);
    // A dtmf after each pull marks, on the agent's side, when each ack was sent.
    for (let i = 0; i < 4; i++) {
      h.bridge.pullFrame();
      h.bridge.dtmfReceived(String(i), i);
    }
    await conn.waitForFrames(1 + 4 + 2);
    const seen = conn.messages.slice(1).map((m) => (m['event'] === 'dtmf' ? `d${(m['dtmf'] as Record<string, unknown>)['digit']}` : `${m['event']}:${m['name']}`));
    assert.deepEqual(seen, ['d0', 'playedStream:first', 'd1', 'playedStream:second', 'd2', 'd3']);
    const played = conn.messages.filter((m) => m['event'] === 'playedStream');
    assert.deepEqual(Object.keys(played[0]!), ['event', 'sequenceNumber', 'streamId', 'name']);
    assert.deepEqual(conn.messages.map((m) => m['sequenceNumber']), [1, 2, 3, 4, 5, 6, 7]);
    assertAllValid(conn);
  });
});

test('a checkpoint on an empty queue is acknowledged at the next frame tick', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'now' });
    await processed(h, 1);
    assert.equal(conn.frames.length, 1);
    assert.equal(h.bridge.pullFrame(), null);
    const ack = await conn.waitForEvent('playedStream');
    assert.deepEqual(ack, { event: 'playedStream', sequenceNumber: 2, streamId: h.bridge.streamId, name: 'now' });
  });
});

test('clearAudio drops the queue at once, answers clearedAudio, and the dropped checkpoint is never acknowledged', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    const payload = Buffer.from(ulawEncode(tone(800, 19))).toString('base64'); // 100 ms
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload } });
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'dropped' });
    await processed(h, 2);
    assert.notEqual(h.bridge.pullFrame(), null);
    assert.equal(h.bridge.queuedMs, 80);
    conn.send({ event: 'clearAudio' }); // streamId omitted, as Plivo's examples sometimes do
    const cleared = await conn.waitForEvent('clearedAudio');
    assert.deepEqual(cleared, { event: 'clearedAudio', sequenceNumber: 2, streamId: h.bridge.streamId });
    assert.equal(h.bridge.queuedMs, 0);
    assert.equal(h.bridge.pullFrame(), null, 'the next pulled frame is silence');
    const after = ulawEncode(tone(160, 13));
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(after).toString('base64') } });
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'kept' });
    await processed(h, 5);
    for (let i = 0; i < 6; i++) {
      const f = h.bridge.pullFrame();
      if (i === 0) assert.deepEqual(f, ulawDecode(after));
    }
    await conn.waitForEvent('playedStream');
    h.bridge.dtmfReceived('9', 0); // a marker: anything sent earlier has arrived once this has
    await conn.waitForEvent('dtmf');
    assert.deepEqual(conn.messages.filter((m) => m['event'] === 'playedStream').map((m) => m['name']), ['kept']);
    assertAllValid(conn);
  });
});

test('unknown events, malformed JSON, binary frames and a non-bidirectional playAudio are ignored without closing', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'muteStream' });
    conn.sendRaw('{"event":');
    conn.sendRaw('[1,2]');
    conn.sendRaw(Buffer.from([1, 2, 3]), true);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 16000, payload: 'AAAA' } });
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(new Uint8Array(160).fill(0x80)).toString('base64') } });
    await processed(h, 6);
    assert.equal(h.bridge.isOpen, true);
    assert.equal(h.bridge.stats.ignoredMessages, 5);
    assert.equal(h.bridge.queuedMs, 20);
  });
  await withBridge({ bidirectional: false }, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.alloc(160).toString('base64') } });
    conn.send({ event: 'clearAudio' });
    await processed(h, 2);
    assert.equal(h.bridge.queuedMs, 0);
    assert.equal(h.bridge.isOpen, true);
    assert.deepEqual(conn.events(), ['start']);
  });
});

test('sendDTMF plays digits into the call', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'sendDTMF', dtmf: '12a#' });
    conn.send({ event: 'sendDTMF', dtmf: 'not digits' });
    await processed(h, 2);
    assert.deepEqual(h.dtmfs, ['12A#']);
  });
});

test('playback queue is capped: the excess is dropped with a DegradedStream status', T, async () => {
  await withBridge({ maxQueuedMs: 100 }, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(ulawEncode(tone(8 * 250))).toString('base64') } });
    await processed(h, 1);
    assert.equal(h.bridge.queuedMs, 100);
    assert.equal(h.bridge.stats.playbackDroppedMs, 150);
    const degraded = h.statuses.filter((s) => s.event === 'DegradedStream').map((s) => s.reason);
    assert.deepEqual(degraded, ['playback_queue_full']);
    assert.ok(h.logs.some((l) => l.level === 'warn' && /playback queue full/.test(l.msg)));
  });
});

test('DegradedStream is reported as the playback queue crosses 30/60/90 %, once per level until it drains', T, async () => {
  await withBridge({ maxQueuedMs: 1000 }, async (h) => {
    const conn = await started(h);
    const play = (ms: number): void => conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.alloc(8 * ms, 0xff).toString('base64') } });
    play(200); play(200); play(100); play(200); play(250);
    await processed(h, 5);
    assert.equal(h.bridge.queuedMs, 950);
    assert.deepEqual(h.statuses.filter((s) => s.event === 'DegradedStream').map((s) => s.reason), ['playback_queue_30pct', 'playback_queue_60pct', 'playback_queue_90pct']);
    for (let i = 0; i < 60 && h.bridge.queuedMs > 0; i++) h.bridge.pullFrame();
    assert.equal(h.bridge.queuedMs, 0);
    play(400);
    await processed(h, 6);
    assert.equal(h.statuses.filter((s) => s.event === 'DegradedStream').at(-1)?.reason, 'playback_queue_30pct', 'reported again after draining');
  });
});

test('a message over 64 KB closes the stream with 1009 and counts as a drop', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.sendRaw(JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: 'A'.repeat(70_000) } }));
    const info = await h.bridge.closed;
    assert.deepEqual(info, { by: 'error', code: 1009, reason: 'message_too_big' });
    await conn.closedPromise;
    assert.equal(conn.closeCode, 1009);
    assert.equal(h.statuses.at(-1)?.event, 'DroppedStream');
    assert.equal(h.bridge.pullFrame(), null);
  });
});

test('text that is not UTF-8 ends the stream with 1007 as a protocol error, with no reconnection', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])); // a text frame: ws does not check what it sends
    const info = await h.bridge.closed;
    assert.deepEqual(info, { by: 'error', code: 1007, reason: 'protocol_error' });
    await conn.closedPromise;
    assert.equal(conn.closeCode, 1007);
    assert.equal(h.bridge.stats.reconnects, 0);
    assert.equal(h.statuses.at(-1)?.event, 'DroppedStream');
  });
});

test('agent refuses the connection: one attempt plus two retries, then StreamConnectError and DroppedStream', T, async () => {
  const clock = new FakeClock();
  await withBridge({ clock, connectBackoffMs: 200 }, async (h) => {
    let outcome: unknown;
    void h.bridge.start().then(() => { outcome = 'resolved'; }, (e: unknown) => { outcome = e; });
    // Backoff runs on the fake clock: move it along while the real connection attempts fail.
    await waitUntil(() => { clock.advance(100); return outcome !== undefined; }, 'start to settle');
    assert.ok(outcome instanceof StreamConnectError, String(outcome));
    assert.equal(outcome.attempts, 3);
    assert.match(outcome.message, /401/);
    assert.equal(h.server.attempts, 3);
    assert.deepEqual(await h.bridge.closed, { by: 'error', reason: 'connect_failed' });
    assert.deepEqual(h.statuses.map((s) => [s.event, s.reason]), [['DroppedStream', 'connect_failed']]);
  }, { refuse: true });
});

test('agent closes the socket: closed resolves by agent with its code and reason', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.ws.close(4000, 'bot done');
    assert.deepEqual(await h.bridge.closed, { by: 'agent', code: 4000, reason: 'bot done' });
    assert.equal(h.bridge.isOpen, false);
    assert.deepEqual(h.statuses.map((s) => s.event), ['StartStream', 'StopStream']);
    h.bridge.pushInbound({ ulaw: new Uint8Array(160) }, 0); // harmless after close
  });
});

test('agent closes with audio still queued: it plays out first, then closed resolves by agent', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    const goodbye = ulawEncode(tone(480, 29)); // 60 ms
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(goodbye).toString('base64') } });
    conn.send({ event: 'checkpoint', streamId: h.bridge.streamId, name: 'bye' });
    await processed(h, 2);
    conn.ws.close(1000, 'conversation over');
    await waitUntil(() => h.logs.some((l) => l.msg === 'agent closed the stream; playing out its queued audio'), 'drain started');
    let settled: unknown;
    void h.bridge.closed.then((info) => { settled = info; });
    const played: number[] = [];
    for (let i = 0; i < 3; i++) {
      const f = h.bridge.pullFrame();
      assert.ok(f, `frame ${i} of the queued goodbye`);
      played.push(...f);
      await new Promise((r) => setImmediate(r));
      assert.equal(settled, undefined, 'not closed while audio remains');
    }
    assert.deepEqual(played, [...ulawDecode(goodbye)]);
    assert.equal(h.bridge.pullFrame(), null);
    assert.deepEqual(await h.bridge.closed, { by: 'agent', code: 1000, reason: 'conversation over' });
    assert.equal(h.bridge.pullFrame(), null);
    assert.deepEqual(h.statuses.map((s) => s.event), ['StartStream', 'StopStream']);
  });
});

test('call ends while the agent\'s last audio drains: stop cuts it and closed resolves at once', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(ulawEncode(tone(1600))).toString('base64') } });
    await processed(h, 1);
    conn.ws.close(1000, 'done');
    await waitUntil(() => h.logs.some((l) => l.msg === 'agent closed the stream; playing out its queued audio'), 'drain started');
    assert.ok(h.bridge.pullFrame());
    await h.bridge.stop('call_hangup');
    assert.deepEqual(await h.bridge.closed, { by: 'agent', code: 1000, reason: 'done' });
    assert.equal(h.bridge.queuedMs, 0);
    assert.ok(h.logs.some((l) => l.msg === 'queued agent audio cut short'));
  });
});

test('drainOnAgentClose false, or a lost connection: queued audio is dropped with the stream', T, async () => {
  await withBridge({ drainOnAgentClose: false }, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(ulawEncode(tone(320))).toString('base64') } });
    await processed(h, 1);
    conn.ws.close(1000, 'done');
    assert.deepEqual(await h.bridge.closed, { by: 'agent', code: 1000, reason: 'done' });
    assert.equal(h.bridge.pullFrame(), null);
  });
  await withBridge({ reconnectAttempts: 0 }, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(ulawEncode(tone(320))).toString('base64') } });
    await processed(h, 1);
    conn.ws.terminate();
    assert.deepEqual(await h.bridge.closed, { by: 'error', code: 1006, reason: 'connection_lost' });
    assert.equal(h.bridge.pullFrame(), null);
  });
  // A reset (the pod sees ECONNRESET as a socket error before the close) is the same lost connection.
  await withBridge({ reconnectAttempts: 0 }, async (h) => {
    const conn = await started(h);
    (conn.ws as unknown as { _socket: Socket })._socket.resetAndDestroy();
    assert.deepEqual(await h.bridge.closed, { by: 'error', code: 1006, reason: 'connection_lost' });
  });
});

test('a broken connection is replaced: a fresh start (same streamId, sequence from 1), old queue dropped, media on the new socket', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.send({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.from(ulawEncode(tone(800))).toString('base64') } });
    await processed(h, 1);
    h.bridge.pushInbound({ ulaw: new Uint8Array(160).fill(0x55) }, 1);
    await conn.waitForEvent('media');
    const firstStart = conn.messages[0]!;
    conn.ws.terminate();
    await waitUntil(() => h.bridge.stats.reconnects === 1, 'reconnecting');
    assert.equal(h.bridge.pullFrame(), null, 'the old agent\'s queued audio is dropped');
    h.clock.advance(250); // the reconnection's back-off
    const conn2 = await h.server.connection(1);
    const start = await conn2.waitForEvent('start');
    assert.equal(start['sequenceNumber'], 1);
    assert.equal((start['start'] as Record<string, unknown>)['streamId'], (firstStart['start'] as Record<string, unknown>)['streamId']);
    await waitUntil(() => h.bridge.isOpen, 'open again');
    h.bridge.pushInbound({ ulaw: new Uint8Array(160).fill(0x55) }, 2);
    const m = await conn2.waitForEvent('media');
    assert.equal(m['sequenceNumber'], 2);
    assert.equal(media(m)['chunk'], 1);
    assertAllValid(conn2);
    assert.deepEqual(h.statuses.map((s) => s.event), ['StartStream'], 'one StartStream for the whole stream');
    assert.ok(h.logs.some((l) => l.msg === 'stream reconnected'));
  });
});

test('a connection that breaks and cannot be replaced ends the stream as before, after the reconnection attempts', T, async () => {
  await withBridge({ reconnectAttempts: 2 }, async (h) => {
    const conn = await started(h);
    await h.server.close(); // the agent is gone for good
    await conn.closedPromise;
    await waitUntil(() => h.bridge.stats.reconnects === 1, 'reconnecting');
    h.clock.advance(250);
    await waitUntil(() => h.logs.filter((l) => l.msg === 'stream reconnection failed').length === 1, 'first attempt failed');
    h.clock.advance(500);
    const info = await h.bridge.closed;
    assert.equal(info.by, 'error');
    assert.equal(h.logs.filter((l) => l.msg === 'stream reconnection failed').length, 2);
  });
});

test('a normal close (1000) is the agent hanging up: no reconnection', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    conn.ws.close(1000, 'done');
    assert.deepEqual(await h.bridge.closed, { by: 'agent', code: 1000, reason: 'done' });
    assert.equal(h.bridge.stats.reconnects, 0);
  });
});

test('stop sends stop, then closes with 1000; closed resolves by platform', T, async () => {
  await withBridge({}, async (h) => {
    const conn = await started(h);
    h.bridge.pushInbound({ ulaw: new Uint8Array(160) }, 0);
    await h.bridge.stop('call_hangup');
    await conn.closedPromise;
    assert.deepEqual(conn.events(), ['start', 'media', 'stop']);
    assert.deepEqual(conn.messages[2], { event: 'stop', sequenceNumber: 3, streamId: h.bridge.streamId, reason: 'call_hangup' });
    assert.equal(conn.closeCode, 1000);
    assert.deepEqual(await h.bridge.closed, { by: 'platform', code: 1000, reason: 'call_hangup' });
    await h.bridge.stop('api'); // idempotent
    assertAllValid(conn);
  });
});

test('streamTimeout stops the stream with reason timeout', T, async () => {
  const clock = new FakeClock();
  await withBridge({ clock, streamTimeoutSec: 30 }, async (h) => {
    const conn = await started(h);
    clock.advance(29_999);
    assert.equal(h.bridge.isOpen, true);
    clock.advance(1);
    assert.deepEqual(await h.bridge.closed, { by: 'platform', code: 1000, reason: 'timeout' });
    await conn.closedPromise;
    assert.equal(conn.messages.at(-1)?.['reason'], 'timeout');
  });
});

test('stop while connecting ends the stream without sending anything', T, async () => {
  await withBridge({}, async (h) => {
    const p = h.bridge.start();
    await h.bridge.stop('call_hangup');
    await p;
    assert.deepEqual(await h.bridge.closed, { by: 'platform', reason: 'call_hangup' });
    for (const c of h.server.connections) assert.deepEqual(c.frames, []);
  });
});

test('an agent that stops reading gets media dropped, then the stream dropped after the stall limit', T, async () => {
  const clock = new FakeClock();
  await withBridge({ clock, contentType: 'audio/x-l16;rate=16000', maxBufferedBytes: 64 * 1024, stallLimitMs: 3000 }, async (h) => {
    const conn = await started(h);
    const agentSocket = (conn.ws as unknown as { _socket: { pause(): void } })._socket;
    agentSocket.pause();
    const pcm = tone(160);
    let pushes = 0;
    // Synchronous pushes: the kernel buffers fill and the socket backlog grows until frames drop.
    while (h.bridge.stats.mediaDropped === 0 && pushes < 200_000) { h.bridge.pushInbound({ pcm }, pushes * 20); pushes++; }
    assert.ok(h.bridge.stats.mediaDropped > 0, `no drop after ${pushes} frames`);
    assert.equal(h.statuses.at(-1)?.reason, 'agent_not_reading');
    assert.equal(h.bridge.isOpen, true);
    clock.advance(3000);
    h.bridge.pushInbound({ pcm }, 0);
    assert.deepEqual(await h.bridge.closed, { by: 'error', reason: 'agent_stalled' });
    assert.equal(h.statuses.at(-1)?.event, 'DroppedStream');
  });
});

// CallMedia's inbound side: caller audio goes to the stream bridge as it arrives, and when it stops
// arriving the agent gets silence at 20 ms cadence instead of nothing (driven by a fake clock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import { MediaClock } from '../media/rtp/media-clock.js';
import { RtpSession } from '../media/rtp/session.js';
import type { CallAudioFrame, StreamBridge } from '../stream/index.js';
import { createLogger } from '@sipflow/operator/log';
import { CallMedia, INBOUND_GAP_FILL_MS } from './call-media.js';
import { ulawDecode } from '../media/codec/g711.js';

interface Pushed { kind: 'ulaw' | 'pcm' | 'silence'; silent: boolean; atMs: number; bytes?: Uint8Array; pcm?: Int16Array }

/** Records what CallMedia hands the bridge; the real bridge is tested in stream/bridge.test.ts. */
function recordingBridge(clock: FakeClock): { bridge: StreamBridge; pushed: Pushed[] } {
  const pushed: Pushed[] = [];
  const fake = {
    pushInbound(frame: CallAudioFrame) {
      if (frame.silence !== undefined) pushed.push({ kind: 'silence', silent: frame.silence === 160, atMs: clock.now() });
      else if (frame.ulaw) pushed.push({ kind: 'ulaw', silent: false, atMs: clock.now(), bytes: Uint8Array.from(frame.ulaw) });
      else pushed.push({ kind: 'pcm', silent: false, atMs: clock.now(), pcm: Int16Array.from(frame.pcm ?? []) });
    },
    pullFrame: () => null,
    dtmfReceived: () => undefined,
  };
  return { bridge: fake as unknown as StreamBridge, pushed };
}

async function rig(): Promise<{ clock: FakeClock; media: CallMedia; pushed: Pushed[]; caller: (n?: number) => void; tick: () => Promise<void> }> {
  const clock = new FakeClock(1000);
  const mediaClock = new MediaClock({ clock });
  const rtp = await RtpSession.open({ listenAddress: '127.0.0.1', mediaClock, clock });
  const media = new CallMedia(rtp, clock, createLogger('test', 'error'));
  const { bridge, pushed } = recordingBridge(clock);
  media.attachBridge(bridge);
  const voice = new Uint8Array(160).fill(0x2a);
  const meta = { seq: 0, timestamp: 0, arrivalMs: 0 };
  return {
    clock, media, pushed,
    caller: (n = 1) => { for (let i = 0; i < n; i++) rtp.onPayload?.(voice, 'PCMU', meta); },
    // One pacer tick, then the check the tick schedules after I/O.
    tick: async () => { media.pull('PCMU'); await new Promise((r) => setImmediate(r)); },
  };
}

test('steady caller audio passes through untouched; no silence is invented while packets keep coming', async () => {
  const r = await rig();
  try {
    for (let i = 0; i < 50; i++) {
      r.clock.advance(20);
      r.caller();
      await r.tick();
    }
    assert.equal(r.pushed.length, 50);
    assert.ok(r.pushed.every((p) => !p.silent));
    assert.equal(r.media.silenceFramesFilled, 0);
  } finally { r.media.close(); }
});

test('jitter below the threshold is left alone: a packet 50 ms late does not cause filling', async () => {
  const r = await rig();
  try {
    r.clock.advance(20); r.caller(); await r.tick();
    for (let i = 0; i < 2; i++) { r.clock.advance(20); await r.tick(); } // 40 ms of nothing
    r.clock.advance(10); r.caller(3); await r.tick(); // the late ones arrive together
    assert.equal(r.media.silenceFramesFilled, 0);
    assert.equal(r.pushed.length, 4);
  } finally { r.media.close(); }
});

test('caller goes quiet (silence suppression): silence at one frame per tick keeps the agent\'s stream near real time, and stops when audio resumes', async () => {
  const r = await rig();
  try {
    r.clock.advance(20); r.caller(); await r.tick();
    const quietTicks = 50; // 1 s with no packets
    for (let i = 0; i < quietTicks; i++) { r.clock.advance(20); await r.tick(); }
    const filled = r.pushed.filter((p) => p.silent);
    // Everything after the threshold is filled: the stream stays within one threshold of real time.
    assert.ok(filled.length >= quietTicks - INBOUND_GAP_FILL_MS / 20 - 1 && filled.length <= quietTicks, `${filled.length} silence frames for ${quietTicks} quiet ticks`);
    // After the first (catch-up) fill, one per tick.
    const perTick = new Map<number, number>();
    for (const p of filled) perTick.set(p.atMs, (perTick.get(p.atMs) ?? 0) + 1);
    assert.ok([...perTick.values()].slice(1).every((n) => n === 1), 'one silence frame per tick once filling');
    const before = r.pushed.length;
    for (let i = 0; i < 10; i++) { r.clock.advance(20); r.caller(); await r.tick(); }
    const after = r.pushed.slice(before);
    assert.equal(after.length, 10);
    assert.ok(after.every((p) => !p.silent), 'no silence mixed into resumed audio');
  } finally { r.media.close(); }
});

test('a caller that sends nothing at all still gives the agent a stream, from the bridge attaching on; a long stall is not back-filled beyond 200 ms', async () => {
  const r = await rig();
  try {
    for (let i = 0; i < 10; i++) { r.clock.advance(20); await r.tick(); }
    assert.ok(r.pushed.length >= 7 && r.pushed.every((p) => p.silent && p.kind === 'silence'), `${r.pushed.length} frames`);
    const before = r.pushed.length;
    r.clock.advance(5000); // the event loop was stuck for 5 s
    await r.tick();
    assert.equal(r.pushed.length - before, 10, 'at most 10 frames (200 ms) at once');
  } finally { r.media.close(); }
});

test('without a bridge nothing is filled, and a closed CallMedia fills nothing', async () => {
  const r = await rig();
  r.media.attachBridge(undefined);
  for (let i = 0; i < 10; i++) { r.clock.advance(20); await r.tick(); }
  assert.equal(r.pushed.length, 0);
  r.media.close();
  r.media.fillInboundGap();
  assert.equal(r.pushed.length, 0);
});

test('a caller packetizing at 30 ms or 10 ms: the agent still gets 160-sample frames, every byte once, in order', async () => {
  const r = await rig();
  try {
    const meta = { seq: 0, timestamp: 0, arrivalMs: 0 };
    const sent: number[] = [];
    let v = 0;
    const packet = (n: number): Uint8Array => { const p = new Uint8Array(n); for (let i = 0; i < n; i++) { p[i] = v++ & 0x7f; sent.push(p[i]!); } return p; };
    for (let i = 0; i < 4; i++) { r.clock.advance(30); r.media.rtp.onPayload?.(packet(240), 'PCMU', meta); }
    for (let i = 0; i < 6; i++) { r.clock.advance(10); r.media.rtp.onPayload?.(packet(80), 'PCMU', meta); }
    r.clock.advance(20); r.media.rtp.onPayload?.(packet(160), 'PCMU', meta);
    const frames = r.pushed.filter((p) => p.kind === 'ulaw');
    assert.ok(frames.every((f) => f.bytes!.length === 160), `frame sizes ${frames.map((f) => f.bytes!.length).join(',')}`);
    assert.equal(frames.length, (4 * 240 + 6 * 80 + 160) / 160);
    assert.deepEqual(frames.flatMap((f) => [...f.bytes!]), sent);
  } finally { r.media.close(); }
});

test('a PCMA caller at 30 ms: decoded 160-sample frames', async () => {
  const r = await rig();
  try {
    const meta = { seq: 0, timestamp: 0, arrivalMs: 0 };
    for (let i = 0; i < 2; i++) { r.clock.advance(30); r.media.rtp.onPayload?.(new Uint8Array(240).fill(0xd5), 'PCMA', meta); }
    const frames = r.pushed.filter((p) => p.kind === 'pcm');
    assert.equal(frames.length, 3);
    assert.ok(frames.every((f) => f.pcm!.length === 160 && f.pcm!.every((x) => Math.abs(x) <= 8)), 'A-law 0xd5 is silence');
  } finally { r.media.close(); }
});

/** A CallMedia on a real RTP session and a fake clock, with no bridge: for the recording taps. */
async function bareMedia(): Promise<{ rtp: RtpSession; media: CallMedia; meta: { seq: number; timestamp: number; arrivalMs: number } }> {
  const clock = new FakeClock(1000);
  const rtp = await RtpSession.open({ listenAddress: '127.0.0.1', mediaClock: new MediaClock({ clock }), clock });
  return { rtp, media: new CallMedia(rtp, clock, createLogger('test', 'error')), meta: { seq: 0, timestamp: 0, arrivalMs: 0 } };
}

/**
 * Delivers μ-law packets of `samples` bytes to the media as the RTP session would; the bytes are a
 * ramp of codes, so decoded values differ per position. `sent` holds every byte delivered, in order.
 */
function rampSender(rtp: RtpSession, meta: { seq: number; timestamp: number; arrivalMs: number }): { send: (samples?: number) => void; sent: number[] } {
  let code = 0;
  const sent: number[] = [];
  const send = (samples = 160): void => {
    const p = Uint8Array.from({ length: samples }, () => { code = (code + 1) % 0x7f; return code; });
    for (const b of p) sent.push(b);
    rtp.onPayload?.(p, 'PCMU', meta);
  };
  return { send, sent };
}

test('recording taps: one caller frame and one played frame per tick, whatever the packet size; silence where no packet came; a burst is capped, not carried', async () => {
  const { rtp, media, meta } = await bareMedia();
  const { send, sent } = rampSender(rtp, meta);
  const got: number[][] = [];
  const played: number[] = [];
  const stop = media.record((caller, out) => { got.push(Array.from(caller)); played.push(out[0]!); });
  try {
    // 80 ms packets, one every 4 ticks: nothing lost, nothing invented between them.
    for (let i = 0; i < 3; i++) { send(640); for (let t = 0; t < 4; t++) media.pull('PCMU'); }
    const flat = got.flat();
    assert.equal(flat.length, 12 * 160);
    const expected = Array.from(ulawDecode(Uint8Array.from(sent)));
    assert.deepEqual(flat, expected, 'the caller\'s audio, in order, every sample');
    assert.ok(played.every((v) => v === 0), 'nothing played: silence on the other side');
    // No packet for two ticks: two frames of silence.
    got.length = 0;
    media.pull('PCMU'); media.pull('PCMU');
    assert.ok(got.flat().every((v) => v === 0));
    // A caller of 20 ms packets sends ten at once: the recording keeps the newest 60 ms, not 200 ms of delay.
    stop();
    const frames: number[][] = [];
    const stop2 = media.record((caller) => { frames.push(Array.from(caller)); });
    for (let i = 0; i < 10; i++) send(160);
    for (let t = 0; t < 5; t++) media.pull('PCMU');
    stop2();
    assert.equal(frames.filter((f) => f.some((v) => v !== 0)).length, 3);
    assert.deepEqual(frames[0], Array.from(ulawDecode(Uint8Array.from(sent.slice(-480, -320)))), 'the newest three packets, oldest first');
  } finally { stop(); media.close(); }
});

test('recording taps after a pacer stall: the caller\'s delayed burst is written out as frames of its own (played side silent), in order, and the normal bound returns after it', async () => {
  const { rtp, media, meta } = await bareMedia();
  const { send, sent } = rampSender(rtp, meta);
  const caller: number[][] = [];
  const played: number[] = [];
  const stop = media.record((c, out) => { caller.push(Array.from(c)); played.push(out[0]!); });
  try {
    // Steady: a packet, a tick (the pod plays a frame of 7s).
    const frame = new Int16Array(160).fill(7);
    const pod = { pullFrame: () => frame, pushInbound: () => undefined, dtmfReceived: () => undefined } as unknown as StreamBridge;
    media.attachBridge(pod);
    for (let i = 0; i < 3; i++) { send(); media.pull('PCMU'); }
    // The pod stalls for 8 ticks: the pacer reports them first, then the caller's 8 packets arrive at once.
    media.skipped(8);
    media.pull('PCMU'); // the tick due right after the stall runs before the burst is read
    for (let i = 0; i < 8; i++) send();
    media.pull('PCMU');
    for (let i = 0; i < 2; i++) { send(); media.pull('PCMU'); }
    const all = caller.flat();
    const expected = Array.from(ulawDecode(Uint8Array.from(sent)));
    const voiced = caller.filter((f) => f.some((v) => v !== 0)).flat();
    assert.deepEqual(voiced, expected, 'every caller sample once, in order');
    assert.equal(caller.length, 3 + 1 + 7 + 1 + 2, 'the missed ticks came back as frames');
    assert.equal(all.length, caller.length * 160);
    assert.deepEqual(played, [7, 7, 7, 7, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7], 'nothing was played in the missed ticks');
    // Frames dropped unplayed after a stall are not written as played.
    const before = caller.length;
    media.pull('PCMU', true);
    assert.equal(caller.length, before);
    // Some ticks later the grace is over: a burst without a stall is capped again.
    for (let t = 0; t < 5; t++) media.pull('PCMU');
    caller.length = 0;
    for (let i = 0; i < 10; i++) send();
    for (let t = 0; t < 5; t++) media.pull('PCMU');
    assert.equal(caller.filter((f) => f.some((v) => v !== 0)).length, 3, 'the newest three packets only');
  } finally { stop(); media.close(); }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock, systemClock, type Clock } from '../../clock.js';
import { ulawDecode, ulawEncode } from '../codec/index.js';
import { MediaClock } from './media-clock.js';
import { looksLikeRtcp, parseRtp, serializeRtp, type RtpHeader } from './packet.js';
import { RtpPortPool } from './port-pool.js';
import { buildRtcpReport, dlsrFromMs, ntpMiddle32, parseRtcp, type RtcpCompound, type RtcpPacket, type RtcpReportBlock } from './rtcp.js';
import { RtpSession, type FrameSource, type RtpMediaParams } from './session.js';
import { generateKeyParams, SrtpSession } from '../srtp/index.js';

interface Received { h: RtpHeader; payload: Uint8Array; from: number }

/** A plain UDP socket standing in for the far end. */
class Peer {
  readonly got: Received[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg, rinfo) => {
      const h = parseRtp(msg);
      if (typeof h === 'string') return;
      this.got.push({ h: { ...h }, payload: msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength), from: rinfo.port });
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static async open(address = '127.0.0.1'): Promise<Peer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, address, r));
    return new Peer(sock);
  }
  get port(): number { return this.sock.address().port; }
  send(to: number, seq: number, payload: Uint8Array, opts: { pt?: number; ts?: number; ssrc?: number } = {}): void {
    this.sock.send(serializeRtp({ payloadType: opts.pt ?? 0, sequenceNumber: seq, timestamp: opts.ts ?? seq * 160, ssrc: opts.ssrc ?? 0x1234 }, payload), to, '127.0.0.1');
  }
  /** Waits (bounded) until `n` packets have arrived. */
  async waitFor(n: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.got.length < n) {
      if (Date.now() > deadline) throw new Error(`peer got ${this.got.length} packets, wanted ${n}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50).unref(); });
    }
  }
  close(): void { this.sock.close(); }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function media(remotePort: number, extra: Partial<RtpMediaParams> = {}): RtpMediaParams {
  return { codec: 'PCMU', payloadType: 0, telephoneEvent: { payloadType: 101, rate: 8000 }, remote: { address: '127.0.0.1', port: remotePort }, direction: 'sendrecv', ...extra };
}

async function openSession(clock: Clock, extra: { mediaTimeoutMs?: number; holdTimeoutMs?: number; pool?: RtpPortPool; silenceWhenIdle?: boolean; signallingAddress?: string; maxStallHoldMs?: number } = {}): Promise<{ session: RtpSession; mc: MediaClock }> {
  const mc = new MediaClock({ clock });
  const session = await RtpSession.open({ listenAddress: '127.0.0.1', port: 0, mediaClock: mc, clock, ...extra });
  return { session, mc };
}

const toneSource = (): FrameSource & { pulls: number } => {
  const frame = new Int16Array(160);
  for (let i = 0; i < 160; i++) frame[i] = Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 8000));
  const src = { pulls: 0, pull: () => { src.pulls++; return frame; } };
  return src;
};

test('out-of-order packets are delivered in order, decoded and as raw payload', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const seqs: number[] = []; const raw: number[] = []; let firstSample = NaN;
    session.onAudio = (pcm, meta) => { seqs.push(meta.seq); if (meta.seq === 7) firstSample = pcm[0]!; assert.equal(pcm.length, 160); };
    session.onPayload = (payload, codec, meta) => { raw.push(payload[0]!); assert.equal(codec, 'PCMU'); assert.ok(meta.arrivalMs >= 0); };
    const frame = (v: number): Uint8Array => new Uint8Array(160).fill(v);
    for (const s of [5, 7, 6, 8]) peer.send(session.localPort, s, frame(0x10 + s));
    await until(() => seqs.length === 4, 'four frames');
    assert.deepEqual(seqs, [5, 6, 7, 8]);
    assert.deepEqual(raw, [0x15, 0x16, 0x17, 0x18]);
    assert.equal(firstSample, ulawDecode(new Uint8Array([0x17]))[0]);
    const st = session.stats();
    assert.equal(st.packetsIn, 4);
    assert.equal(st.reordered, 1);
    assert.equal(st.lost, 0);
  } finally { session.close(); peer.close(); }
});

test('symmetric RTP: sends to the SDP address, then to where packets come from; one packet from elsewhere does not move it, the same stream from a new address (a NAT binding that changed) does', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const sdpPeer = await Peer.open(); const natPeer = await Peer.open(); const moved = await Peer.open();
  try {
    session.configure(media(sdpPeer.port));
    session.setSource(toneSource());
    clock.advance(20);
    await sdpPeer.waitFor(1);
    natPeer.send(session.localPort, 1, new Uint8Array(160));
    await until(() => session.stats().packetsIn === 1, 'first inbound packet');
    assert.deepEqual(session.stats().latchedTo, { address: '127.0.0.1', port: natPeer.port });
    clock.advance(20);
    await natPeer.waitFor(1);
    moved.send(session.localPort, 2, new Uint8Array(160));
    await until(() => session.stats().foreign === 1, 'a single packet from elsewhere rejected');
    clock.advance(20);
    await natPeer.waitFor(2);
    assert.equal(sdpPeer.got.length, 1);
    assert.equal(moved.got.length, 0);
    natPeer.send(session.localPort, 3, new Uint8Array(160));
    await until(() => session.stats().packetsIn === 2, 'the caller goes on');
    // The caller's stream (same SSRC, next sequence numbers) now arrives from a new address.
    for (let s = 4; s < 7; s++) moved.send(session.localPort, s, new Uint8Array(160));
    await until(() => session.stats().latchedTo?.port === moved.port, 'relatch');
    assert.equal(session.stats().foreign, 3, 'the first two packets of the move waited for the third');
    clock.advance(20);
    await moved.waitFor(1);
  } finally { session.close(); sdpPeer.close(); natPeer.close(); moved.close(); }
});

test('RTP bleed: a stranger sending its own stream, or the SSRC without the sequence, never takes the media while the caller sends; the SDP address takes it back at once', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const sdpPeer = await Peer.open(); const natPeer = await Peer.open(); const stranger = await Peer.open();
  try {
    session.configure(media(sdpPeer.port));
    session.setSource(toneSource());
    let seq = 100;
    let foreign = 0;
    natPeer.send(session.localPort, seq++, new Uint8Array(160));
    await until(() => session.stats().packetsIn === 1, 'latched');
    for (let round = 0; round < 10; round++) {
      // A burst of a stream of its own (in sequence), then the caller's SSRC with made-up numbers.
      for (let i = 0; i < 5; i++) stranger.send(session.localPort, round * 5 + i, new Uint8Array(160), { ssrc: 0x5555 });
      for (let i = 0; i < 5; i++) stranger.send(session.localPort, 20_000 + round * 5 + i, new Uint8Array(160));
      foreign += 10;
      await until(() => session.stats().foreign === foreign, `round ${round} rejected`);
      clock.advance(20);
      natPeer.send(session.localPort, seq++, new Uint8Array(160));
      await until(() => session.stats().packetsIn === round + 2, `caller packet ${round}`);
    }
    assert.deepEqual(session.stats().latchedTo, { address: '127.0.0.1', port: natPeer.port });
    await natPeer.waitFor(10);
    assert.equal(stranger.got.length, 0, 'nothing of the call reached the stranger');
    assert.equal(sdpPeer.got.length, 0);
    // The address the signalling named is no stranger.
    sdpPeer.send(session.localPort, 7, new Uint8Array(160), { ssrc: 0x9999 });
    await until(() => session.stats().latchedTo?.port === sdpPeer.port, 'SDP address takes the latch');
    clock.advance(20);
    await sdpPeer.waitFor(1);
  } finally { session.close(); sdpPeer.close(); natPeer.close(); stranger.close(); }
});

test('the first latch: at once from the signalling\'s address (a phone behind NAT), after three packets in sequence from an address nobody named; a stranger racing the caller does not win', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { signallingAddress: '127.0.0.1' });
  const stranger = await Peer.open('127.0.0.66'); const caller = await Peer.open('127.0.0.1');
  try {
    session.configure(media(40000, { remote: { address: '10.1.2.3', port: 40000 } })); // a private SDP address
    // The stranger sends first, in sequence, but only twice before the caller's first packet.
    stranger.send(session.localPort, 1, new Uint8Array(160), { ssrc: 0x5555 });
    stranger.send(session.localPort, 2, new Uint8Array(160), { ssrc: 0x5555 });
    await until(() => session.stats().foreign === 2, 'the stranger is on probation');
    assert.equal(session.stats().latchedTo, null);
    caller.send(session.localPort, 500, new Uint8Array(160));
    await until(() => session.stats().latchedTo?.port === caller.port, 'the caller, at the signalling\'s address, latches at once');
    stranger.send(session.localPort, 3, new Uint8Array(160), { ssrc: 0x5555 });
    await until(() => session.stats().foreign === 3, 'and the stranger stays out');
    clock.advance(20);
    await caller.waitFor(1);
    assert.equal(stranger.got.length, 0);
  } finally { session.close(); stranger.close(); caller.close(); }

  // A caller whose media comes from an address neither the SDP nor the signalling named.
  const { session: s2 } = await openSession(clock, { signallingAddress: '127.0.0.1' });
  const odd = await Peer.open('127.0.0.77');
  try {
    s2.configure(media(40000, { remote: { address: '10.1.2.3', port: 40000 } }));
    for (let seq = 10; seq < 13; seq++) odd.send(s2.localPort, seq, new Uint8Array(160));
    await until(() => s2.stats().latchedTo?.address === '127.0.0.77', 'latched on the third packet in sequence');
    assert.equal(s2.stats().foreign, 2);
  } finally { s2.close(); odd.close(); }

  // A stranger that sends a whole stream before the caller's first packet wins the first latch,
  // and loses it to the caller's first packet from the signalling's address, for good.
  const { session: s3 } = await openSession(clock, { signallingAddress: '127.0.0.1' });
  const early = await Peer.open('127.0.0.66'); const natCaller = await Peer.open('127.0.0.1');
  try {
    s3.configure(media(40000, { remote: { address: '10.1.2.3', port: 40000 } }));
    for (let seq = 1; seq <= 5; seq++) early.send(s3.localPort, seq, new Uint8Array(160), { ssrc: 0x5555 });
    await until(() => s3.stats().latchedTo?.address === '127.0.0.66', 'the early stranger latched');
    natCaller.send(s3.localPort, 900, new Uint8Array(160));
    await until(() => s3.stats().latchedTo?.port === natCaller.port, 'the caller takes it');
    for (let seq = 6; seq <= 20; seq++) early.send(s3.localPort, seq, new Uint8Array(160), { ssrc: 0x5555 });
    natCaller.send(s3.localPort, 901, new Uint8Array(160));
    await until(() => s3.stats().packetsIn >= 5, 'packets counted');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(s3.stats().latchedTo?.port, natCaller.port, 'the stranger\'s stream cannot take it back');
  } finally { s3.close(); early.close(); natCaller.close(); }
});

test('after the latched source has been quiet for relatchQuietMs, a new stream takes over with three packets in sequence, not with scattered ones', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const natPeer = await Peer.open(); const relay = await Peer.open();
  try {
    session.configure(media(natPeer.port + 1000));
    natPeer.send(session.localPort, 1, new Uint8Array(160));
    await until(() => session.stats().packetsIn === 1, 'latched');
    clock.advance(1980);
    for (let s = 1; s < 4; s++) relay.send(session.localPort, s, new Uint8Array(160), { ssrc: 0x7777 });
    await until(() => session.stats().foreign === 3, 'too early');
    clock.advance(20);
    for (const s of [50, 900, 3000, 7, 8000]) relay.send(session.localPort, s, new Uint8Array(160), { ssrc: 0x7777 });
    await until(() => session.stats().foreign === 8, 'scattered packets rejected');
    assert.equal(session.stats().latchedTo?.port, natPeer.port);
    for (let s = 10; s < 13; s++) relay.send(session.localPort, s, new Uint8Array(160), { ssrc: 0x7777 });
    await until(() => session.stats().latchedTo?.port === relay.port, 'relatch after quiet');
    assert.equal(session.stats().ssrcChanges, 1);
  } finally { session.close(); natPeer.close(); relay.close(); }
});

test('pacing on the real clock: about 50 packets per second, seq +1, ts +160, marker only at talkspurt start', async () => {
  const { session } = await openSession(systemClock);
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    session.setSource(toneSource());
    await new Promise((r) => setTimeout(r, 1000));
    session.close();
    await new Promise((r) => setTimeout(r, 50));
    const n = peer.got.length;
    assert.ok(n >= 30 && n <= 70, `${n} packets in ~1 s`);
    const g = peer.got;
    assert.equal(g[0]!.h.marker, true);
    for (let i = 1; i < g.length; i++) {
      assert.equal(g[i]!.h.sequenceNumber, (g[i - 1]!.h.sequenceNumber + 1) & 0xffff);
      assert.equal(g[i]!.h.timestamp, (g[i - 1]!.h.timestamp + 160) >>> 0);
      assert.equal(g[i]!.h.marker, false);
      assert.equal(g[i]!.h.ssrc, session.localSsrc);
    }
    assert.equal(g[0]!.payload.length, 160);
  } finally { session.close(); peer.close(); }
});

test('silenceWhenIdle: with nothing to play, digital silence every 20 ms, one continuous stream, the marker only on the first packet', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { silenceWhenIdle: true });
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const ulaw = ulawEncode(new Int16Array(160).fill(1234));
    let n = 0;
    // nothing yet, talk, nothing ×2, talk
    session.setSource({ pull: () => { n++; return n === 2 || n === 5 ? ulaw : null; } });
    for (let i = 0; i < 5; i++) { clock.advance(20); await tick(); }
    await peer.waitFor(5);
    const got = peer.got.slice(0, 5);
    assert.deepEqual(got.map((p) => p.payload.every((b) => b === 0xff)), [true, false, true, true, false], 'μ-law silence where there was nothing');
    assert.deepEqual(got.map((p) => p.h.marker), [true, false, false, false, false]);
    for (let i = 1; i < 5; i++) {
      assert.equal(got[i]!.h.sequenceNumber, (got[i - 1]!.h.sequenceNumber + 1) & 0xffff);
      assert.equal(got[i]!.h.timestamp - got[i - 1]!.h.timestamp, 160);
    }
    assert.deepEqual(got[1]!.payload, Buffer.from(ulaw));
    // PCMA's silence is its own encoding of 0.
    session.configure(media(peer.port, { codec: 'PCMA', payloadType: 8 }));
    clock.advance(20); await tick();
    await peer.waitFor(6);
    assert.equal(peer.got[5]!.h.payloadType, 8);
    assert.ok(peer.got[5]!.payload.every((b) => b === 0xd5));
  } finally { session.close(); peer.close(); }
});

test('silenceWhenIdle false: silence sends nothing but keeps the timestamp running; the next talkspurt has the marker; μ-law passes through', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { silenceWhenIdle: false });
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const ulaw = ulawEncode(new Int16Array(160).fill(1234));
    let n = 0;
    // talk, silence ×2, talk (already-encoded payload)
    session.setSource({ pull: () => { n++; return n === 2 || n === 3 ? null : n === 1 ? new Int16Array(160).fill(1234) : ulaw; } });
    for (let i = 0; i < 4; i++) { clock.advance(20); await tick(); }
    await peer.waitFor(2);
    const [a, b] = peer.got;
    assert.equal(b!.h.timestamp - a!.h.timestamp, 3 * 160);
    assert.equal(b!.h.sequenceNumber, (a!.h.sequenceNumber + 1) & 0xffff);
    assert.equal(b!.h.marker, true);
    assert.deepEqual(b!.payload, Buffer.from(ulaw));
    assert.deepEqual(a!.payload, Buffer.from(ulaw));
  } finally { session.close(); peer.close(); }
});

/** Frame k carries k in its first byte, so a peer sees which frames were played; null after `count`. */
function countingSource(count: number): FrameSource & { pulled: () => number } {
  let k = 0;
  const frame = new Uint8Array(160);
  return { pulled: () => k, pull: () => { if (k >= count) return null; k++; frame[0] = k; return frame; } };
}

test('after skipped ticks the source resumes where it stopped: nothing is lost, the timestamp covers the gap, with a marker', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const src = countingSource(20);
    session.setSource(src);
    clock.advance(20); await tick();
    await peer.waitFor(1);
    assert.equal(session.onSkippedTicks(5), 0, 'nothing dropped');
    assert.equal(src.pulled(), 1, 'the source was not pulled for the missed ticks');
    clock.advance(20); await tick();
    await peer.waitFor(2);
    const [a, b] = peer.got;
    assert.equal(a!.payload[0], 1);
    assert.equal(b!.payload[0], 2, 'the frame after the stall is the next one of the source');
    assert.equal((b!.h.timestamp - a!.h.timestamp) >>> 0, 6 * 160, 'the timestamp covers the missed time');
    assert.equal(b!.h.sequenceNumber, (a!.h.sequenceNumber + 1) & 0xffff, 'no sequence gap: nothing was lost on the wire');
    assert.equal(b!.h.marker, true);
    assert.equal(session.stats().stallHeld, 5);
    assert.equal(session.stats().stallDropped, 0);
  } finally { session.close(); peer.close(); }
});

test('the hold-back after stalls is bounded by maxStallHoldMs and starts again when the source runs dry', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { maxStallHoldMs: 100 }); // 5 ticks
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const src = countingSource(30);
    session.setSource(src);
    assert.equal(session.onSkippedTicks(3), 0, 'three ticks held back');
    assert.equal(session.onSkippedTicks(4), 2, 'two more fit under the limit; the other two frames are dropped');
    assert.equal(src.pulled(), 2);
    assert.equal(session.onSkippedTicks(3), 3, 'at the limit every missed frame is dropped');
    assert.equal(src.pulled(), 5);
    clock.advance(20); await tick();
    await peer.waitFor(1);
    assert.equal(peer.got[0]!.payload[0], 6, 'playback goes on from the first frame not dropped');
    // Play the source to its end: once it ran dry, stalls may hold back again.
    for (let i = 0; i < 30 && src.pulled() < 30; i++) { clock.advance(20); await tick(); }
    clock.advance(20); await tick();
    session.setSource(countingSource(10));
    assert.equal(session.onSkippedTicks(5), 0, 'the limit applies per utterance');
    assert.deepEqual([session.stats().stallHeld, session.stats().stallDropped], [10, 5]);
    // A source that runs dry while frames are being dropped is not pulled past its end.
    const short = countingSource(2);
    session.setSource(short);
    assert.equal(session.onSkippedTicks(100), 2);
    assert.equal(short.pulled(), 2);
  } finally { session.close(); peer.close(); }
});

test('maxStallHoldMs 0 drops the frames of every missed tick', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { maxStallHoldMs: 0 });
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    const src = countingSource(20);
    session.setSource(src);
    clock.advance(20); await tick();
    await peer.waitFor(1);
    assert.equal(session.onSkippedTicks(5), 5);
    clock.advance(20); await tick();
    await peer.waitFor(2);
    assert.equal(peer.got[1]!.payload[0], 7, 'frames 2-6 belonged to the missed ticks');
  } finally { session.close(); peer.close(); }
});

test('media timeout on the real clock with a short timeout', async () => {
  const { session } = await openSession(systemClock, { mediaTimeoutMs: 200 });
  const peer = await Peer.open();
  try {
    let fired = 0;
    session.onMediaTimeout = () => { fired++; };
    session.configure(media(peer.port));
    await until(() => fired > 0, 'media timeout');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fired, 1);
  } finally { session.close(); peer.close(); }
});

test('media timeout: inbound packets reset it, hold suspends it, resuming restarts the window', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { mediaTimeoutMs: 1000 });
  const peer = await Peer.open();
  try {
    let fired = 0;
    session.onMediaTimeout = () => { fired++; };
    session.configure(media(peer.port));
    clock.advance(900);
    peer.send(session.localPort, 1, new Uint8Array(160));
    await until(() => session.stats().packetsIn === 1, 'packet');
    clock.advance(900);
    assert.equal(fired, 0, 'the packet at 900 ms reset the window');
    session.configure(media(peer.port, { direction: 'recvonly', hold: true }));
    clock.advance(5000);
    assert.equal(fired, 0, 'suspended on hold');
    session.configure(media(peer.port));
    clock.advance(980);
    assert.equal(fired, 0);
    clock.advance(40);
    assert.equal(fired, 1);
  } finally { session.close(); peer.close(); }
});

test('on hold, a peer that sends RTCP is watched by it: reports keep the call, their silence ends it', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { mediaTimeoutMs: 500, holdTimeoutMs: 1000 });
  const peer = await Peer.open();
  try {
    const details: string[] = [];
    session.onMediaTimeout = (d) => { details.push(d); };
    session.configure(media(peer.port, { direction: 'recvonly', hold: true }));
    clock.advance(5000);
    assert.deepEqual(details, [], 'a peer that never sent RTCP is not watched on hold');
    const rr = buildRtcpReport({ ssrc: 0x1234, reports: [], cname: 'held@test' });
    peer.sock.send(rr, session.localPort, '127.0.0.1'); // muxed on the RTP port
    await until(() => session.stats().rtcpIn === 1, 'first RTCP');
    clock.advance(900);
    peer.sock.send(rr, session.localPort, '127.0.0.1');
    await until(() => session.stats().rtcpIn === 2, 'second RTCP');
    clock.advance(900);
    assert.deepEqual(details, [], 'each report restarts the window');
    clock.advance(120);
    assert.deepEqual(details, ['on hold, and neither RTP nor RTCP received']);
  } finally { session.close(); peer.close(); }
});

test('DTMF between two sessions: RFC 4733 out, one report per digit in; sendDtmf resolves', async () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const a = await RtpSession.open({ listenAddress: '127.0.0.1', mediaClock: mc, clock });
  const b = await RtpSession.open({ listenAddress: '127.0.0.1', mediaClock: mc, clock });
  try {
    a.configure(media(b.localPort));
    b.configure(media(a.localPort));
    const digits: string[] = [];
    b.onDtmf = (d) => digits.push(d);
    let resolved = false;
    const sent = a.sendDtmf('12#').then(() => { resolved = true; });
    await assert.rejects(a.sendDtmf('9x'), /not one of/);
    for (let i = 0; i < 60 && !resolved; i++) { clock.advance(20); await tick(); }
    await sent;
    await until(() => digits.length === 3, 'three digits');
    assert.deepEqual(digits, ['1', '2', '#']);
    assert.equal(a.stats().dtmfOut, 3 * (6 + 3));
  } finally { a.close(); b.close(); }
});

test('without telephone-event, DTMF goes in-band as audio frames', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port, { telephoneEvent: undefined }));
    const done = session.sendDtmf('5');
    for (let i = 0; i < 12; i++) { clock.advance(20); await tick(); }
    await done;
    await peer.waitFor(6);
    assert.ok(peer.got.every((p) => p.h.payloadType === 0));
  } finally { session.close(); peer.close(); }
});

test('close releases the pooled port into quarantine and resolves pending DTMF', async () => {
  const clock = new FakeClock();
  const pool = new RtpPortPool(41000, 41999, { quarantineMs: 10_000, clock });
  const { session, mc } = await openSession(clock, { pool });
  const port = session.localPort;
  assert.equal(port % 2, 0);
  assert.ok(pool.isAllocated(port));
  session.configure(media(9));
  assert.equal(mc.size, 1);
  const pending = session.sendDtmf('123');
  session.close();
  await pending;
  assert.equal(mc.size, 0);
  assert.equal(pool.isAllocated(port), false);
  assert.equal(pool.quarantined, 1);
  session.close(); // idempotent
});

test('IPv6: binds on ::1 and exchanges packets with an IPv6 peer', async (t) => {
  const peer = dgram.createSocket('udp6');
  try {
    await new Promise<void>((resolve, reject) => { peer.once('error', reject); peer.bind(0, '::1', () => resolve()); });
  } catch {
    peer.close();
    t.skip('no IPv6 loopback here');
    return;
  }
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const session = await RtpSession.open({ listenAddress: '::1', mediaClock: mc, clock });
  try {
    const got: number[] = [];
    peer.on('message', (m) => { const h = parseRtp(m); if (typeof h !== 'string') got.push(h.payloadType); });
    session.configure({ codec: 'PCMA', payloadType: 8, remote: { address: '::1', port: peer.address().port }, direction: 'sendrecv' });
    session.setSource(toneSource());
    clock.advance(20);
    await until(() => got.length === 1, 'IPv6 packet');
    assert.deepEqual(got, [8]);
    const seqs: number[] = [];
    session.onAudio = (_pcm, meta) => seqs.push(meta.seq);
    peer.send(serializeRtp({ payloadType: 8, sequenceNumber: 3, timestamp: 0, ssrc: 5 }, new Uint8Array(160)), session.localPort, '::1');
    await until(() => seqs.length === 1, 'IPv6 inbound');
  } finally { session.close(); peer.close(); }
});

// ---- RTCP ----------------------------------------------------------------------------------------

function bindUdp(port: number, address = '127.0.0.1'): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', (err) => { sock.close(); reject(err); });
    sock.bind(port, address, () => resolve(sock));
  });
}

/** A far end with RTCP on its RTP port + 1, as carriers and SBCs have it. */
class FarEnd {
  readonly rtpGot: Buffer[] = [];
  readonly rtcpGot: Buffer[] = [];
  private constructor(readonly rtp: dgram.Socket, readonly rtcp: dgram.Socket) {
    rtp.on('message', (m) => this.rtpGot.push(m));
    rtcp.on('message', (m) => this.rtcpGot.push(m));
  }
  static async open(): Promise<FarEnd> {
    for (let i = 0; i < 50; i++) {
      const a = await bindUdp(0);
      const port = a.address().port;
      if (port < 65535) {
        try { return new FarEnd(a, await bindUdp(port + 1)); } catch { /* neighbour taken: try another */ }
      }
      a.close();
    }
    throw new Error('no free pair of adjacent UDP ports on loopback');
  }
  get rtpPort(): number { return this.rtp.address().port; }
  sendRtp(to: number, seq: number, ssrc: number): void {
    this.rtp.send(serializeRtp({ payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc }, new Uint8Array(160)), to, '127.0.0.1');
  }
  /** RTCP packets that reached the RTP port (the muxed case). */
  get rtcpOnRtp(): Buffer[] { return this.rtpGot.filter((b) => looksLikeRtcp(b)); }
  close(): void { this.rtp.close(); this.rtcp.close(); }
}

const FAR_SSRC = 0x5eed0001;

function compound(buf: Buffer | undefined): RtcpCompound {
  assert.ok(buf, 'an RTCP packet arrived');
  const c = parseRtcp(buf);
  assert.equal(typeof c, 'object', `our RTCP parses: ${String(c)}`);
  return c as RtcpCompound;
}

function report(p: RtcpPacket | undefined): Extract<RtcpPacket, { type: 'sr' | 'rr' }> {
  assert.ok(p && (p.type === 'sr' || p.type === 'rr'), `a report first, got ${p?.type}`);
  return p;
}

/** Ticks the media clock until the session has sent `n` RTCP packets (the first is due within 1.25–3.75 s). */
function advanceUntilRtcp(clock: FakeClock, session: RtpSession, n: number): void {
  for (let i = 0; i < 500 && session.stats().rtcpOut < n; i++) clock.advance(20);
  assert.equal(session.stats().rtcpOut, n);
}

test('RTCP: an SR with a report block on the far end\'s port + 1; its report about us gives loss, jitter and RTT', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const far = await FarEnd.open();
  try {
    assert.ok(session.localRtcpPort !== null && session.localRtcpPort !== session.localPort);
    session.configure(media(far.rtpPort));
    session.setSource(toneSource());
    // Sequence 1..10 with 6 and 7 missing, then the far end's SR, from its RTCP port.
    for (const seq of [1, 2, 3, 4, 5, 8, 9, 10]) far.sendRtp(session.localPort, seq, FAR_SSRC);
    const farNtp = { ntpSec: 0xe9001234, ntpFrac: 0x56780000 };
    far.rtcp.send(buildRtcpReport({ ssrc: FAR_SSRC, sender: { ...farNtp, rtpTimestamp: 1600, packetCount: 8, octetCount: 1280 }, reports: [], cname: 'far@test' }), session.localRtcpPort, '127.0.0.1');
    await until(() => session.stats().packetsIn === 8 && session.stats().rtcpIn === 1, 'RTP and SR from the far end');
    const srArrival = clock.now();
    assert.equal(session.stats().remoteReport, null, 'an SR without a block about us reports nothing yet');

    advanceUntilRtcp(clock, session, 1);
    const sentAt = clock.now();
    await until(() => far.rtcpGot.length === 1, 'our report at port + 1');
    const c = compound(far.rtcpGot[0]);
    const sr = report(c.packets[0]);
    assert.equal(sr.type, 'sr', 'we sent RTP, so an SR');
    assert.equal(sr.ssrc, session.localSsrc);
    // The report goes out at the start of a tick, before that tick's frame.
    const sender = sr.type === 'sr' ? sr.sender : undefined;
    assert.equal(sender?.packetCount, session.stats().packetsOut - 1);
    assert.equal(sender?.octetCount, (session.stats().packetsOut - 1) * 160);
    assert.deepEqual(sr.reports, [{
      ssrc: FAR_SSRC, fractionLost: Math.floor((2 * 256) / 10), cumulativeLost: 2, extendedHighestSeq: 10,
      jitter: Math.floor(session.stats().jitterMs * 8), lsr: ntpMiddle32(farNtp.ntpSec, farNtp.ntpFrac), dlsr: dlsrFromMs(sentAt - srArrival),
    } satisfies RtcpReportBlock]);
    const sdes = c.packets[1];
    assert.ok(sdes?.type === 'sdes' && sdes.chunks[0]?.ssrc === session.localSsrc && (sdes.chunks[0].cname ?? '').length > 0, 'SDES CNAME follows');
    assert.equal(far.rtcpOnRtp.length, 0, 'not muxed: no RTCP on the RTP port');

    // The far end answers 1 s later with an RR about our stream, having held our SR for 250 ms.
    clock.advance(1000);
    far.rtcp.send(buildRtcpReport({
      ssrc: FAR_SSRC, cname: 'far@test',
      reports: [{ ssrc: session.localSsrc, fractionLost: 64, cumulativeLost: 3, extendedHighestSeq: 1234, jitter: 80, lsr: ntpMiddle32(sender!.ntpSec, sender!.ntpFrac), dlsr: dlsrFromMs(250) }],
    }), session.localRtcpPort, '127.0.0.1');
    await until(() => session.stats().rtcpIn === 2, 'the far end\'s RR');
    const rr = session.stats().remoteReport;
    assert.ok(rr);
    assert.equal(rr.fractionLost, 0.25);
    assert.equal(rr.cumulativeLost, 3);
    assert.equal(rr.jitterMs, 10);
    assert.ok(rr.rttMs !== null && Math.abs(rr.rttMs - 750) <= 0.1, `RTT ${rr.rttMs} ms, want 1000 − 250`);
  } finally { session.close(); far.close(); }
});

test('RTCP: an RR when we send nothing (silenceWhenIdle false), to RTP port + 1 by convention; a BYE when the session closes', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock, { silenceWhenIdle: false });
  const far = await FarEnd.open();
  try {
    session.configure(media(far.rtpPort));
    for (const seq of [100, 101, 102]) far.sendRtp(session.localPort, seq, FAR_SSRC);
    await until(() => session.stats().packetsIn === 3, 'RTP');
    advanceUntilRtcp(clock, session, 1);
    await until(() => far.rtcpGot.length === 1, 'our RR');
    const rr = report(compound(far.rtcpGot[0]).packets[0]);
    assert.equal(rr.type, 'rr');
    assert.equal(rr.reports.length, 1);
    assert.deepEqual({ ...rr.reports[0]!, jitter: 0 }, { ssrc: FAR_SSRC, fractionLost: 0, cumulativeLost: 0, extendedHighestSeq: 102, jitter: 0, lsr: 0, dlsr: 0 });
    session.close();
    await until(() => far.rtcpGot.length === 2, 'the BYE');
    const bye = compound(far.rtcpGot[1]);
    assert.deepEqual(bye.packets.map((p) => p.type), ['rr', 'sdes', 'bye']);
    assert.deepEqual(bye.packets[2], { type: 'bye', ssrcs: [session.localSsrc], reason: undefined });
    assert.equal(session.stats().rtcpOut, 2);
  } finally { session.close(); far.close(); }
});

test('RTCP muxed (RFC 5761): read on the RTP port, reports and BYE sent to the peer\'s RTP port', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const far = await FarEnd.open();
  try {
    session.configure(media(far.rtpPort, { rtcpMux: true }));
    session.setSource(toneSource());
    for (const seq of [1, 2, 3]) far.sendRtp(session.localPort, seq, FAR_SSRC);
    const farNtp = { ntpSec: 0xe9000001, ntpFrac: 0x80000000 };
    far.rtp.send(buildRtcpReport({ ssrc: FAR_SSRC, sender: { ...farNtp, rtpTimestamp: 480, packetCount: 3, octetCount: 480 }, reports: [], cname: 'far@test' }), session.localPort, '127.0.0.1');
    await until(() => session.stats().rtcpIn === 1 && session.stats().packetsIn === 3, 'muxed SR');
    assert.equal(session.stats().rtcpIgnored, 0);
    advanceUntilRtcp(clock, session, 1);
    await until(() => far.rtcpOnRtp.length === 1, 'our muxed report');
    const sr = report(compound(far.rtcpOnRtp[0]).packets[0]);
    assert.equal(sr.type, 'sr');
    assert.equal(sr.reports[0]?.lsr, ntpMiddle32(farNtp.ntpSec, farNtp.ntpFrac));
    assert.equal(sr.reports[0]?.extendedHighestSeq, 3);
    session.close();
    await until(() => far.rtcpOnRtp.length === 2, 'muxed BYE');
    assert.equal(compound(far.rtcpOnRtp[1]).packets.at(-1)?.type, 'bye');
    assert.equal(session.stats().rtcpOut, far.rtcpOnRtp.length, 'every RTCP packet went to the RTP port');
  } finally { session.close(); far.close(); }
});

test('RTCP from another address is ignored; unreadable RTCP is counted as rtcpIgnored', async (t) => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const far = await FarEnd.open();
  try {
    session.configure(media(far.rtpPort));
    far.sendRtp(session.localPort, 1, FAR_SSRC);
    await until(() => session.stats().packetsIn === 1, 'RTP');
    const rtcpPort = session.localRtcpPort!;
    // Length field past the end of the datagram.
    far.rtcp.send(Buffer.from('80c9000501020304', 'hex'), rtcpPort, '127.0.0.1');
    await until(() => session.stats().rtcpIgnored === 1, 'malformed RTCP');
    const spoof = buildRtcpReport({ ssrc: FAR_SSRC, reports: [{ ssrc: session.localSsrc, fractionLost: 255, cumulativeLost: 99, extendedHighestSeq: 1, jitter: 1, lsr: 0, dlsr: 0 }], cname: 'x' });
    let stray: dgram.Socket;
    try { stray = await bindUdp(0, '127.0.0.2'); } catch { t.skip('no 127.0.0.2 on this loopback'); return; }
    try {
      stray.send(spoof, rtcpPort, '127.0.0.1');
      stray.send(spoof, session.localPort, '127.0.0.1');
      await until(() => session.stats().foreign === 2, 'foreign RTCP dropped');
      assert.equal(session.stats().rtcpIn, 0);
      assert.equal(session.stats().remoteReport, null);
    } finally { stray.close(); }
  } finally { session.close(); far.close(); }
});

test('RTCP port taken: the call still runs; RTCP is read on the RTP port and reports leave from it', async () => {
  const clock = new FakeClock();
  // Hold an odd port so that a one-pair pool gets its RTP port but not the RTCP port above it.
  let held: dgram.Socket | undefined; let session: RtpSession | undefined;
  for (let i = 0; i < 50 && !session; i++) {
    const s = await bindUdp(0);
    const port = s.address().port;
    if (port % 2 === 1 && port > 1025) {
      try {
        ({ session } = await openSession(clock, { pool: new RtpPortPool(port - 1, port, { clock }) }));
        held = s;
        break;
      } catch { /* the even port is busy too */ }
    }
    s.close();
  }
  assert.ok(session && held, 'found an even port with its neighbour held');
  const far = await FarEnd.open();
  try {
    assert.equal(session.localRtcpPort, null);
    session.configure(media(far.rtpPort));
    for (const seq of [1, 2]) far.sendRtp(session.localPort, seq, FAR_SSRC);
    far.rtp.send(buildRtcpReport({ ssrc: FAR_SSRC, reports: [], cname: 'far@test' }), session.localPort, '127.0.0.1');
    await until(() => session.stats().rtcpIn === 1 && session.stats().packetsIn === 2, 'RTCP on the RTP port');
    advanceUntilRtcp(clock, session, 1);
    await until(() => far.rtcpGot.length === 1, 'our RR at port + 1');
    assert.equal(report(compound(far.rtcpGot[0]).packets[0]).reports[0]?.extendedHighestSeq, 2);
  } finally { session.close(); held.close(); far.close(); }
});

test('SRTP: inbound is authenticated and decrypted before it can latch, outbound RTP and RTCP are protected, a re-INVITE with the same keys keeps the contexts', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const peer = await Peer.open(); const attacker = await Peer.open();
  const raw: Buffer[] = [];
  peer.sock.on('message', (m) => raw.push(Buffer.from(m)));
  const podKey = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const peerKey = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const peerTx = new SrtpSession(peerKey);
  const peerRx = new SrtpSession(podKey);
  const srtpPacket = (seq: number, fill: number): Buffer =>
    peerTx.protectRtp(serializeRtp({ payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc: 0x1234 }, new Uint8Array(160).fill(fill)));
  try {
    session.configure(media(peer.port, { rtcpMux: true, srtp: { local: podKey, remote: peerKey } }));
    const got: number[] = [];
    session.onPayload = (payload) => { got.push(payload[0]!); };
    // Plain RTP and a forged SRTP packet from another address are dropped and do not move the latch.
    attacker.send(session.localPort, 1, new Uint8Array(160).fill(9));
    const forged = new SrtpSession(peerKey).protectRtp(serializeRtp({ payloadType: 0, sequenceNumber: 1, timestamp: 160, ssrc: 0x1234 }, new Uint8Array(160).fill(7)));
    forged[forged.length - 1]! ^= 1;
    attacker.sock.send(forged, session.localPort, '127.0.0.1');
    await until(() => session.stats().srtpRejected === 2, 'both rejected');
    assert.equal(session.stats().latchedTo, null);
    assert.equal(session.stats().packetsIn, 0);
    const second = srtpPacket(2, 42);
    peer.sock.send(srtpPacket(1, 41), session.localPort, '127.0.0.1');
    peer.sock.send(second, session.localPort, '127.0.0.1');
    peer.sock.send(second, session.localPort, '127.0.0.1'); // a replay
    peer.sock.send(srtpPacket(3, 43), session.localPort, '127.0.0.1');
    await until(() => session.stats().srtpRejected === 3, 'the replay rejected').catch((e: Error) => { throw new Error(e.message + JSON.stringify(session.stats())); });
    await until(() => session.stats().packetsIn === 3, 'three genuine packets');
    assert.deepEqual(session.stats().latchedTo, { address: '127.0.0.1', port: peer.port });
    for (let i = 0; i < 5; i++) clock.advance(20);
    assert.deepEqual(got, [41, 42, 43]);

    // Nothing to play during those five ticks: digital silence went out, protected like any packet.
    const rtpRaw = (): Buffer[] => raw.filter((m) => !looksLikeRtcp(m));
    await until(() => rtpRaw().length >= 5, 'five silence packets');
    session.setSource(toneSource());
    clock.advance(20);
    await until(() => rtpRaw().length >= 6, 'the tone packet');
    const sent = rtpRaw().slice(0, 6);
    const payloads = sent.map((m, i) => {
      const plain = peerRx.unprotectRtp(m);
      assert.ok(plain, `the pod's packet ${i} authenticates with the pod's key`);
      assert.equal(m.length, plain.length + 10, '80-bit tag');
      const h = parseRtp(plain);
      assert.ok(typeof h !== 'string');
      assert.equal(h.ssrc, session.localSsrc);
      return plain.subarray(h.payloadOffset);
    });
    for (const p of payloads.slice(0, 5)) assert.ok(p.length === 160 && p.every((b) => b === 0xff), 'μ-law digital silence');
    assert.deepEqual(payloads[5], Buffer.from(ulawEncode(toneSource().pull('PCMU') as Int16Array)));

    // Same keys again (a re-INVITE): the outbound context is kept, so its packets keep authenticating in sequence.
    session.configure(media(peer.port, { rtcpMux: true, srtp: { local: podKey, remote: peerKey } }));
    const before = raw.length;
    clock.advance(20);
    await until(() => raw.length > before, 'next packet');
    assert.ok(peerRx.unprotectRtp(raw.at(-1)!), 'still protected under the same context');
    peer.sock.send(srtpPacket(4, 44), session.localPort, '127.0.0.1');
    await until(() => session.stats().packetsIn === 4, 'inbound context kept');

    // Reports go as SRTCP on the muxed port.
    advanceUntilRtcp(clock, session, 1);
    await until(() => raw.some((m) => looksLikeRtcp(m)), 'an SRTCP report');
    const rtcp = peerRx.unprotectRtcp(raw.find((m) => looksLikeRtcp(m))!);
    assert.ok(rtcp, 'SRTCP authenticates');
    const c = parseRtcp(rtcp);
    assert.ok(typeof c !== 'string' && c.packets[0]?.type === 'sr');
  } finally { session.close(); peer.close(); attacker.close(); }
});

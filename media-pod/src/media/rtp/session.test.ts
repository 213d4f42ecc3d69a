import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setImmediate as tick } from 'node:timers/promises';
import { FakeClock, systemClock, type Clock } from '../../clock.js';
import { ulawDecode, ulawEncode } from '../codec/index.js';
import { MediaClock } from './media-clock.js';
import { parseRtp, serializeRtp, type RtpHeader } from './packet.js';
import { RtpPortPool } from './port-pool.js';
import { RtpSession, type FrameSource, type RtpMediaParams } from './session.js';

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
  static async open(): Promise<Peer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
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

async function openSession(clock: Clock, extra: { mediaTimeoutMs?: number; pool?: RtpPortPool } = {}): Promise<{ session: RtpSession; mc: MediaClock }> {
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

test('symmetric RTP: sends to the SDP address, then to where packets come from; one stray packet does not move it', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const sdpPeer = await Peer.open(); const natPeer = await Peer.open(); const stray = await Peer.open();
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
    stray.send(session.localPort, 2, new Uint8Array(160));
    await until(() => session.stats().foreign === 1, 'stray packet rejected');
    clock.advance(20);
    await natPeer.waitFor(2);
    assert.equal(sdpPeer.got.length, 1);
    assert.equal(stray.got.length, 0);
    // A real move (several packets in a row from the new source) is followed.
    for (let s = 10; s < 13; s++) stray.send(session.localPort, s, new Uint8Array(160), { ssrc: 99 });
    await until(() => session.stats().latchedTo?.port === stray.port, 'relatch');
    clock.advance(20);
    await stray.waitFor(1);
  } finally { session.close(); sdpPeer.close(); natPeer.close(); stray.close(); }
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

test('silence sends nothing but keeps the timestamp running; the next talkspurt has the marker; μ-law passes through', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
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

test('skipped ticks drop their frames from the source and advance the timestamp, with a marker', async () => {
  const clock = new FakeClock();
  const { session } = await openSession(clock);
  const peer = await Peer.open();
  try {
    session.configure(media(peer.port));
    // Frame k carries k in its first byte, so the peer sees which frames were played.
    let k = 0;
    const frame = new Uint8Array(160);
    session.setSource({ pull: () => { k++; if (k > 20) return null; frame[0] = k; return frame; } });
    clock.advance(20); await tick();
    await peer.waitFor(1);
    session.onSkippedTicks(5);
    clock.advance(20); await tick();
    await peer.waitFor(2);
    const [a, b] = peer.got;
    assert.equal(a!.payload[0], 1);
    assert.equal(b!.payload[0], 7, 'frames 2-6 belonged to the skipped ticks');
    assert.equal((b!.h.timestamp - a!.h.timestamp) >>> 0, 6 * 160, 'the timestamp covers the skipped time');
    assert.equal(b!.h.sequenceNumber, (a!.h.sequenceNumber + 1) & 0xffff, 'no sequence gap: nothing was lost on the wire');
    assert.equal(b!.h.marker, true);
    // A source that runs dry is not pulled past its end.
    session.onSkippedTicks(100);
    assert.equal(k, 21);
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

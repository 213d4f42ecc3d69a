/**
 * Generates the RTP a test caller sends: RTP packets (RFC 3550), μ-law audio frames, RFC 4733
 * telephone-event presses, and classic libpcap files (Ethernet/IPv4/UDP) of them for sipp's
 * play_pcap_audio, which rewrites the addresses and ports to the negotiated ones and keeps the
 * packet timing of the capture. Fixtures are made at test time, so nothing binary is committed.
 */
import fs from 'node:fs';

export interface RtpFields {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  payload: Uint8Array;
}

export function rtpPacket(f: RtpFields): Buffer {
  const b = Buffer.alloc(12 + f.payload.length);
  b[0] = 0x80;
  b[1] = (f.marker ? 0x80 : 0) | (f.payloadType & 0x7f);
  b.writeUInt16BE(f.sequenceNumber & 0xffff, 2);
  b.writeUInt32BE(f.timestamp >>> 0, 4);
  b.writeUInt32BE(f.ssrc >>> 0, 8);
  Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.length).copy(b, 12);
  return b;
}

export interface ParsedRtp {
  payloadType: number;
  marker: boolean;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/** Parses a plain RTP packet (no CSRC/extension handling beyond skipping them); undefined if not RTP. */
export function parseRtpPacket(b: Buffer): ParsedRtp | undefined {
  if (b.length < 12 || (b[0]! >> 6) !== 2) return undefined;
  const cc = b[0]! & 0x0f;
  let off = 12 + cc * 4;
  if ((b[0]! & 0x10) !== 0) {
    if (b.length < off + 4) return undefined;
    off += 4 + b.readUInt16BE(off + 2) * 4;
  }
  let end = b.length;
  if ((b[0]! & 0x20) !== 0) end -= b[b.length - 1]!;
  if (off > end) return undefined;
  return {
    payloadType: b[1]! & 0x7f,
    marker: (b[1]! & 0x80) !== 0,
    sequenceNumber: b.readUInt16BE(2),
    timestamp: b.readUInt32BE(4),
    ssrc: b.readUInt32BE(8),
    payload: b.subarray(off, end),
  };
}

/** RFC 4733 §3.2 event codes. */
export const DTMF_EVENT_CODES: Readonly<Record<string, number>> = {
  0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, '*': 10, '#': 11, A: 12, B: 13, C: 14, D: 15,
};

export function telephoneEventPayload(event: number, end: boolean, volume: number, duration: number): Buffer {
  const p = Buffer.alloc(4);
  p[0] = event;
  p[1] = (end ? 0x80 : 0) | (volume & 0x3f);
  p.writeUInt16BE(duration & 0xffff, 2);
  return p;
}

export interface TelephoneEvent { event: number; end: boolean; volume: number; duration: number }

export function parseTelephoneEvent(p: Uint8Array): TelephoneEvent | undefined {
  if (p.length < 4) return undefined;
  return { event: p[0]!, end: (p[1]! & 0x80) !== 0, volume: p[1]! & 0x3f, duration: (p[2]! << 8) | p[3]! };
}

/** One packet of a planned RTP stream: when it leaves (ms from the start) and its bytes. */
export interface TimedPacket { atMs: number; data: Buffer }

/**
 * Builds an RTP stream packet by packet, 20 ms per tick, with one SSRC and continuous sequence
 * numbers and timestamps: audio frames, and DTMF presses that replace audio while they last
 * (as phones do).
 */
export class RtpStreamPlan {
  readonly packets: TimedPacket[] = [];
  private seq: number;
  private ts: number;
  private tick = 0;
  private first = true;

  constructor(readonly ssrc = 0x5151f00d, readonly audioPt = 0, readonly eventPt = 101, startSeq = 1000, startTs = 160000) {
    this.seq = startSeq;
    this.ts = startTs;
  }

  get elapsedMs(): number { return this.tick * 20; }

  /** One 20 ms audio frame (160 payload bytes for G.711). */
  audio(payload: Uint8Array): this {
    this.push(this.audioPt, this.first, this.ts, payload);
    this.first = false;
    this.ts = (this.ts + 160) >>> 0;
    this.tick++;
    return this;
  }

  /** Silence in the stream: no packets for `ms`, timestamps move on (the next packet is marked). */
  gap(ms: number): this {
    const ticks = Math.round(ms / 20);
    this.tick += ticks;
    this.ts = (this.ts + 160 * ticks) >>> 0;
    this.first = true;
    return this;
  }

  /**
   * One key press per RFC 4733 §2.5: first packet marked, duration growing by 160 every 20 ms,
   * the final duration sent three times with the E bit; all packets share the press's timestamp.
   */
  dtmf(digit: string, toneMs = 100): this {
    const code = DTMF_EVENT_CODES[digit];
    if (code === undefined) throw new Error(`not a DTMF digit: ${digit}`);
    const start = this.ts;
    const frames = Math.max(1, Math.round(toneMs / 20));
    for (let i = 1; i <= frames; i++) {
      this.push(this.eventPt, i === 1, start, telephoneEventPayload(code, false, 10, i * 160));
      this.tick++;
    }
    for (let k = 0; k < 3; k++) {
      // The three end packets leave together; a lost one must not lose the press's end.
      this.push(this.eventPt, false, start, telephoneEventPayload(code, true, 10, frames * 160));
    }
    this.tick++;
    this.ts = (start + 160 * (frames + 1)) >>> 0;
    this.first = true;
    return this;
  }

  private push(pt: number, marker: boolean, ts: number, payload: Uint8Array): void {
    this.packets.push({ atMs: this.tick * 20, data: rtpPacket({ payloadType: pt, sequenceNumber: this.seq, timestamp: ts, ssrc: this.ssrc, marker, payload }) });
    this.seq = (this.seq + 1) & 0xffff;
  }
}

export interface PcapEndpoints {
  srcIp?: string;
  dstIp?: string;
  srcPort?: number;
  dstPort?: number;
}

function ipv4Bytes(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) throw new Error(`not an IPv4 address: ${ip}`);
  return parts;
}

function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * A libpcap capture (magic a1b2c3d4, microsecond stamps, LINKTYPE_ETHERNET) holding each packet
 * as Ethernet/IPv4/UDP. The UDP checksum is left 0 (sipp recomputes it when it sends).
 */
export function pcapBytes(packets: readonly TimedPacket[], ep: PcapEndpoints = {}): Buffer {
  const src = ipv4Bytes(ep.srcIp ?? '10.0.0.1');
  const dst = ipv4Bytes(ep.dstIp ?? '10.0.0.2');
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeInt32LE(0, 8);
  global.writeUInt32LE(0, 12);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(1, 20);
  const chunks: Buffer[] = [global];
  const base = 1_700_000_000;
  let id = 1;
  for (const p of packets) {
    const udpLen = 8 + p.data.length;
    const ipLen = 20 + udpLen;
    const frame = Buffer.alloc(14 + ipLen);
    // Ethernet: locally administered MACs, EtherType IPv4.
    Buffer.from([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]).copy(frame, 0);
    frame.writeUInt16BE(0x0800, 12);
    const ip = frame.subarray(14, 34);
    ip[0] = 0x45;
    ip.writeUInt16BE(ipLen, 2);
    ip.writeUInt16BE(id++ & 0xffff, 4);
    ip[8] = 64;
    ip[9] = 17;
    Buffer.from(src).copy(ip, 12);
    Buffer.from(dst).copy(ip, 16);
    ip.writeUInt16BE(ipChecksum(ip), 10);
    const udp = frame.subarray(34);
    udp.writeUInt16BE(ep.srcPort ?? 40000, 0);
    udp.writeUInt16BE(ep.dstPort ?? 50000, 2);
    udp.writeUInt16BE(udpLen, 4);
    p.data.copy(udp, 8);
    const rec = Buffer.alloc(16);
    const us = Math.round(p.atMs * 1000);
    rec.writeUInt32LE(base + Math.floor(us / 1e6), 0);
    rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    chunks.push(rec, frame);
  }
  return Buffer.concat(chunks);
}

export function writePcap(file: string, packets: readonly TimedPacket[], ep?: PcapEndpoints): void {
  fs.writeFileSync(file, pcapBytes(packets, ep));
}

/** Reads back the UDP payloads of a capture written by pcapBytes (for the generator's own test). */
export function readPcapUdpPayloads(buf: Buffer): TimedPacket[] {
  if (buf.readUInt32LE(0) !== 0xa1b2c3d4 || buf.readUInt32LE(20) !== 1) throw new Error('not a little-endian Ethernet pcap');
  const out: TimedPacket[] = [];
  let off = 24;
  let t0: number | undefined;
  while (off + 16 <= buf.length) {
    const sec = buf.readUInt32LE(off);
    const usec = buf.readUInt32LE(off + 4);
    const len = buf.readUInt32LE(off + 8);
    const frame = buf.subarray(off + 16, off + 16 + len);
    off += 16 + len;
    const ihl = (frame[14]! & 0x0f) * 4;
    const udp = frame.subarray(14 + ihl);
    const ms = sec * 1000 + usec / 1000;
    t0 ??= ms;
    out.push({ atMs: ms - t0, data: udp.subarray(8, udp.readUInt16BE(4)) });
  }
  return out;
}

/**
 * RTCP (RFC 3550 §6) for one call: reading compound packets from the far end (SR, RR, SDES, BYE;
 * APP and feedback types skipped), writing our own SR/RR + SDES CNAME (+ BYE) reports, the
 * per-source reception figures a report block carries (RFC 3550 A.1/A.3), and NTP arithmetic for
 * the round-trip time (§6.4.1). Reports are sent every few seconds, so only the reception
 * counter runs per RTP packet and it allocates nothing.
 */

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
export const NTP_UNIX_OFFSET_S = 2_208_988_800;

/** One reception report block (RFC 3550 §6.4.1), as on the wire. */
export interface RtcpReportBlock {
  /** The source this block is about. */
  ssrc: number;
  /** Fraction of packets lost since the previous report, in 1/256 (0–255). */
  fractionLost: number;
  /** Cumulative packets lost (24-bit signed: duplicates can make it negative). */
  cumulativeLost: number;
  /** Cycles × 65536 + highest sequence number received (unsigned 32-bit). */
  extendedHighestSeq: number;
  /** Interarrival jitter in RTP timestamp units. */
  jitter: number;
  /** Middle 32 bits of the NTP time in the last SR received from that source; 0 if none. */
  lsr: number;
  /** Delay since that SR, in 1/65536 s; 0 if none. */
  dlsr: number;
}

/** The sender-info part of an SR. */
export interface RtcpSenderInfo {
  /** NTP timestamp: whole seconds since 1900 (mod 2^32) and the 32-bit fraction. */
  ntpSec: number;
  ntpFrac: number;
  /** The RTP timestamp corresponding to the same instant. */
  rtpTimestamp: number;
  packetCount: number;
  /** Payload octets sent (headers and padding excluded). */
  octetCount: number;
}

export interface RtcpSenderReport { type: 'sr'; ssrc: number; sender: RtcpSenderInfo; reports: RtcpReportBlock[] }
export interface RtcpReceiverReport { type: 'rr'; ssrc: number; reports: RtcpReportBlock[] }
export interface RtcpSdesChunk { ssrc: number; cname: string | undefined }
export interface RtcpSdes { type: 'sdes'; chunks: RtcpSdesChunk[] }
export interface RtcpBye { type: 'bye'; ssrcs: number[]; reason: string | undefined }
export type RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSdes | RtcpBye;

export interface RtcpCompound {
  packets: RtcpPacket[];
  /** Packets of other types (APP, RTPFB/PSFB feedback, XR, ...) that were stepped over. */
  skipped: number;
}

/**
 * Why a datagram was not accepted as RTCP. `short`: under 4 bytes or a packet body shorter than
 * its type needs; `version`: not version 2; `length`: a length field runs past the datagram or
 * the lengths do not add up to it; `padding`: a padding bit on a packet that is not the last, or
 * a padding count larger than the packet; `sdes`/`bye`: items or reason running past the packet.
 */
export type RtcpParseFailure = 'short' | 'version' | 'length' | 'padding' | 'sdes' | 'bye';

const MAX_SDES_TEXT = 255;

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  const x = v >>> 0;
  b[o] = x >>> 24; b[o + 1] = (x >>> 16) & 0xff; b[o + 2] = (x >>> 8) & 0xff; b[o + 3] = x & 0xff;
}

function readBlocks(b: Uint8Array, off: number, count: number): RtcpReportBlock[] {
  const out: RtcpReportBlock[] = [];
  for (let i = 0; i < count; i++, off += 24) {
    const lostWord = u32(b, off + 4);
    out.push({
      ssrc: u32(b, off),
      fractionLost: lostWord >>> 24,
      // Sign-extend the 24-bit field.
      cumulativeLost: ((lostWord & 0xffffff) << 8) >> 8,
      extendedHighestSeq: u32(b, off + 8),
      jitter: u32(b, off + 12),
      lsr: u32(b, off + 16),
      dlsr: u32(b, off + 20),
    });
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function readSdes(b: Uint8Array, start: number, end: number, count: number): RtcpSdes | RtcpParseFailure {
  const chunks: RtcpSdesChunk[] = [];
  let off = start;
  for (let c = 0; c < count; c++) {
    if (off + 4 > end) return 'sdes';
    const ssrc = u32(b, off);
    off += 4;
    let cname: string | undefined;
    for (;;) {
      if (off >= end) return 'sdes';
      const type = b[off]!;
      if (type === 0) {
        // The null item ends the chunk; the chunk is then padded to a 32-bit boundary.
        off = (off + 4) & ~3;
        break;
      }
      if (off + 2 > end) return 'sdes';
      const len = b[off + 1]!;
      if (off + 2 + len > end) return 'sdes';
      if (type === 1 && cname === undefined) cname = utf8.decode(b.subarray(off + 2, off + 2 + len));
      off += 2 + len;
    }
    if (off > end) return 'sdes';
    chunks.push({ ssrc, cname });
  }
  return { type: 'sdes', chunks };
}

function readBye(b: Uint8Array, start: number, end: number, count: number): RtcpBye | RtcpParseFailure {
  if (start + 4 * count > end) return 'bye';
  const ssrcs: number[] = [];
  for (let i = 0; i < count; i++) ssrcs.push(u32(b, start + 4 * i));
  let reason: string | undefined;
  const r = start + 4 * count;
  if (r < end) {
    const len = b[r]!;
    if (r + 1 + len > end) return 'bye';
    reason = utf8.decode(b.subarray(r + 1, r + 1 + len));
  }
  return { type: 'bye', ssrcs, reason };
}

/**
 * Parses a compound RTCP datagram (RFC 3550 §6.1, validity checks of A.2 without insisting that
 * the first packet is an SR or RR, since reduced-size RTCP exists). Returns the packets, or a
 * failure reason; never throws on any input.
 */
export function parseRtcp(buf: Uint8Array): RtcpCompound | RtcpParseFailure {
  const total = buf.length;
  if (total < 4) return 'short';
  const packets: RtcpPacket[] = [];
  let skipped = 0;
  let off = 0;
  while (off < total) {
    if (off + 4 > total) return 'length';
    const b0 = buf[off]!;
    if (b0 >> 6 !== 2) return 'version';
    const count = b0 & 0x1f;
    const pt = buf[off + 1]!;
    const end = off + 4 * (((buf[off + 2]! << 8) | buf[off + 3]!) + 1);
    if (end > total) return 'length';
    let bodyEnd = end;
    if (b0 & 0x20) {
      // Only the last packet of a compound may be padded (A.2).
      if (end !== total) return 'padding';
      const pad = buf[end - 1]!;
      if (pad === 0 || off + 4 + pad > end) return 'padding';
      bodyEnd = end - pad;
    }
    const body = off + 4;
    switch (pt) {
      case RTCP_SR: {
        if (body + 24 + 24 * count > bodyEnd) return 'short';
        packets.push({
          type: 'sr',
          ssrc: u32(buf, body),
          sender: {
            ntpSec: u32(buf, body + 4), ntpFrac: u32(buf, body + 8), rtpTimestamp: u32(buf, body + 12),
            packetCount: u32(buf, body + 16), octetCount: u32(buf, body + 20),
          },
          reports: readBlocks(buf, body + 24, count),
        });
        break;
      }
      case RTCP_RR: {
        if (body + 4 + 24 * count > bodyEnd) return 'short';
        packets.push({ type: 'rr', ssrc: u32(buf, body), reports: readBlocks(buf, body + 4, count) });
        break;
      }
      case RTCP_SDES: {
        const sdes = readSdes(buf, body, bodyEnd, count);
        if (typeof sdes === 'string') return sdes;
        packets.push(sdes);
        break;
      }
      case RTCP_BYE: {
        const bye = readBye(buf, body, bodyEnd, count);
        if (typeof bye === 'string') return bye;
        packets.push(bye);
        break;
      }
      default:
        skipped++;
    }
    off = end;
  }
  return { packets, skipped };
}

// ---- writing -------------------------------------------------------------------------------------

/** What one of our reports says: an SR when `sender` is given (we sent RTP), an RR otherwise. */
export interface RtcpReportParams {
  ssrc: number;
  sender?: RtcpSenderInfo | undefined;
  /** At most 31 blocks (the 5-bit count); we send one, about the far end's stream. */
  reports: readonly RtcpReportBlock[];
  cname: string;
  /** Append a BYE for `ssrc` (session end), with an optional reason. */
  bye?: { reason?: string | undefined } | undefined;
}

/** Thrown for misuse of the writers (too many blocks, CNAME too long): a bug, not peer input. */
export class RtcpBuildError extends Error {
  constructor(message: string) { super(message); this.name = 'RtcpBuildError'; }
}

const encoder = new TextEncoder();

function header(out: Uint8Array, off: number, count: number, pt: number, byteLength: number): void {
  out[off] = 0x80 | count;
  out[off + 1] = pt;
  const words = byteLength / 4 - 1;
  out[off + 2] = words >> 8; out[off + 3] = words & 0xff;
}

function writeBlock(out: Uint8Array, off: number, r: RtcpReportBlock): void {
  putU32(out, off, r.ssrc);
  const lost = clampLost(r.cumulativeLost) & 0xffffff;
  putU32(out, off + 4, ((r.fractionLost & 0xff) << 24 | lost) >>> 0);
  putU32(out, off + 8, r.extendedHighestSeq);
  putU32(out, off + 12, r.jitter);
  putU32(out, off + 16, r.lsr);
  putU32(out, off + 20, r.dlsr);
}

/** The cumulative-lost field is 24-bit signed; RFC 3550 §6.4.1 says to clamp, not wrap. */
export function clampLost(n: number): number {
  return n > 0x7fffff ? 0x7fffff : n < -0x800000 ? -0x800000 : Math.trunc(n);
}

function sdesLength(cname: Uint8Array): number {
  // header + SSRC + CNAME item (type, length, text) + at least one null byte, to a word boundary.
  return 4 + ((4 + 2 + cname.length + 1 + 3) & ~3);
}

function byeLength(reason: Uint8Array | undefined): number {
  return 8 + (reason ? (1 + reason.length + 3) & ~3 : 0);
}

function writeBye(out: Uint8Array, off: number, ssrc: number, reason: Uint8Array | undefined): number {
  const len = byeLength(reason);
  out.fill(0, off, off + len);
  header(out, off, 1, RTCP_BYE, len);
  putU32(out, off + 4, ssrc);
  if (reason) {
    out[off + 8] = reason.length;
    out.set(reason, off + 9);
  }
  return len;
}

function encodeText(s: string, what: string): Uint8Array {
  const bytes = encoder.encode(s);
  if (bytes.length > MAX_SDES_TEXT) throw new RtcpBuildError(`${what} is ${bytes.length} bytes; RTCP allows ${MAX_SDES_TEXT}`);
  return bytes;
}

/** Writes a compound packet: SR or RR, SDES with our CNAME, and optionally a BYE. */
export function buildRtcpReport(p: RtcpReportParams): Buffer {
  if (p.reports.length > 31) throw new RtcpBuildError(`${p.reports.length} report blocks; one RTCP packet holds 31`);
  const cname = encodeText(p.cname, 'CNAME');
  const reason = p.bye?.reason !== undefined ? encodeText(p.bye.reason, 'BYE reason') : undefined;
  const reportLen = (p.sender ? 28 : 8) + 24 * p.reports.length;
  const sdesLen = sdesLength(cname);
  const total = reportLen + sdesLen + (p.bye ? byeLength(reason) : 0);
  const out = Buffer.alloc(total);
  let off = 0;
  if (p.sender) {
    header(out, 0, p.reports.length, RTCP_SR, reportLen);
    putU32(out, 4, p.ssrc);
    const s = p.sender;
    putU32(out, 8, s.ntpSec); putU32(out, 12, s.ntpFrac); putU32(out, 16, s.rtpTimestamp);
    putU32(out, 20, s.packetCount); putU32(out, 24, s.octetCount);
    off = 28;
  } else {
    header(out, 0, p.reports.length, RTCP_RR, reportLen);
    putU32(out, 4, p.ssrc);
    off = 8;
  }
  for (const r of p.reports) { writeBlock(out, off, r); off += 24; }
  header(out, off, 1, RTCP_SDES, sdesLen);
  putU32(out, off + 4, p.ssrc);
  out[off + 8] = 1; // CNAME
  out[off + 9] = cname.length;
  out.set(cname, off + 10);
  off += sdesLen; // the rest of the chunk is already zero: the null item and its padding
  if (p.bye) off += writeBye(out, off, p.ssrc, reason);
  return out;
}

/** A lone BYE packet (RFC 3550 §6.6); a session normally sends it inside `buildRtcpReport`. */
export function buildRtcpBye(ssrc: number, reason?: string): Buffer {
  const r = reason !== undefined ? encodeText(reason, 'BYE reason') : undefined;
  const out = Buffer.alloc(byeLength(r));
  writeBye(out, 0, ssrc, r);
  return out;
}

// ---- NTP time and round trip ---------------------------------------------------------------------

/** An NTP timestamp (seconds since 1900 mod 2^32, 32-bit fraction) for a Unix time in ms. */
export function ntpFromUnixMs(unixMs: number): { sec: number; frac: number } {
  const whole = Math.floor(unixMs / 1000);
  const fracMs = unixMs - whole * 1000;
  let frac = Math.round((fracMs / 1000) * 2 ** 32);
  let sec = whole + NTP_UNIX_OFFSET_S;
  if (frac >= 2 ** 32) { frac -= 2 ** 32; sec += 1; }
  return { sec: sec >>> 0, frac: frac >>> 0 };
}

/** The middle 32 bits of an NTP timestamp (16.16 fixed point seconds): the LSR format. */
export function ntpMiddle32(sec: number, frac: number): number {
  return (((sec & 0xffff) << 16) | (frac >>> 16)) >>> 0;
}

/** `ntpMiddle32` of a Unix time in ms. */
export function ntpMiddle32FromUnixMs(unixMs: number): number {
  const t = ntpFromUnixMs(unixMs);
  return ntpMiddle32(t.sec, t.frac);
}

/**
 * Round trip from a report block about our stream (RFC 3550 §6.4.1): arrival − LSR − DLSR, all
 * in 1/65536 s and modulo 2^32. Null when the block has no LSR (the far end has had no SR from
 * us yet) or the result is negative (a bogus DLSR), since then there is nothing to measure.
 */
export function roundTripMs(arrivalMiddle32: number, lsr: number, dlsr: number): number | null {
  if (lsr === 0) return null;
  const units = (arrivalMiddle32 - lsr - dlsr) >>> 0;
  if (units >= 2 ** 31) return null;
  return (units * 1000) / 65536;
}

/** A delay in ms as DLSR units (1/65536 s), clamped to the field. */
export function dlsrFromMs(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(0xffffffff, Math.round((ms / 1000) * 65536));
}

// ---- reception figures -----------------------------------------------------------------------------

/** A forward jump at least this large is a restart of the peer's sequence, not loss (RFC 3550 A.1). */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;
const SEQ_MOD = 0x10000;

/**
 * What we received from one source, kept as RFC 3550 A.1 describes (sequence cycles, base,
 * packets received), to fill the report block A.3 computes. `update` runs once per RTP packet and
 * touches only numbers.
 */
export class RtpReceptionStats {
  private started = false;
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = SEQ_MOD + 1;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;

  /** Forgets the source (SSRC change): the next packet starts a new count. */
  reset(): void {
    this.started = false;
  }

  get hasData(): boolean { return this.started; }
  /** The highest sequence number received (16 bits; only meaningful once hasData). */
  get highestSeq(): number { return this.maxSeq; }

  private init(seq: number): void {
    this.started = true;
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = SEQ_MOD + 1;
    this.cycles = 0;
    this.received = 0;
    this.expectedPrior = 0;
    this.receivedPrior = 0;
  }

  /** Counts one packet; false when it was set aside as the first of a possible sequence restart. */
  update(seq: number): boolean {
    if (!this.started) this.init(seq);
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (udelta < MAX_DROPOUT) {
      if (seq < this.maxSeq) this.cycles += SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
      // A big jump: believe it only when the next packet follows on from it.
      if (seq === this.badSeq) {
        this.init(seq);
      } else {
        this.badSeq = (seq + 1) & 0xffff;
        return false;
      }
    }
    // else: a duplicate or reordered packet, counted but not moving maxSeq
    this.received++;
    return true;
  }

  get extendedHighestSeq(): number { return (this.cycles + this.maxSeq) >>> 0; }
  get expected(): number { return this.cycles + this.maxSeq - this.baseSeq + 1; }
  get cumulativeLost(): number { return clampLost(this.expected - this.received); }
  get packetsReceived(): number { return this.received; }

  /**
   * The report block for this source, and the start of the next reporting interval (the
   * fraction lost is over the interval since the previous call).
   */
  reportBlock(ssrc: number, jitter: number, lsr: number, dlsr: number): RtcpReportBlock {
    const expected = this.expected;
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.min(255, Math.floor((lostInterval * 256) / expectedInterval));
    return {
      ssrc: ssrc >>> 0, fractionLost, cumulativeLost: clampLost(expected - this.received),
      extendedHighestSeq: this.extendedHighestSeq, jitter: Math.max(0, Math.floor(jitter)) >>> 0, lsr: lsr >>> 0, dlsr: dlsr >>> 0,
    };
  }
}

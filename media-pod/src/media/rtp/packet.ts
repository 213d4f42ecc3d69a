/**
 * RTP fixed header (RFC 3550 §5.1) reading and writing. Parsing fills a caller-owned header
 * object and reports the payload as offsets, so the receive path allocates nothing per packet.
 */

export interface RtpHeader {
  version: number;
  padding: boolean;
  extension: boolean;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  /** Unsigned 32-bit. */
  timestamp: number;
  /** Unsigned 32-bit. */
  ssrc: number;
  csrcCount: number;
  /** Header extension profile (the 16 bits before its length), when `extension` is set. */
  extensionProfile: number;
  /** Where the payload starts in the buffer (after CSRCs and any extension). */
  payloadOffset: number;
  /** Payload length, excluding padding. */
  payloadLength: number;
}

export function createRtpHeader(): RtpHeader {
  return {
    version: 2, padding: false, extension: false, marker: false, payloadType: 0, sequenceNumber: 0,
    timestamp: 0, ssrc: 0, csrcCount: 0, extensionProfile: 0, payloadOffset: 12, payloadLength: 0,
  };
}

export const RTP_HEADER_SIZE = 12;

/** Why a datagram was not accepted as RTP (for counters, not for the hot path to throw). */
export type RtpParseFailure = 'short' | 'version' | 'csrc' | 'extension' | 'padding';

/**
 * Parses `buf` into `into` (or a new header). Returns the header, or a failure reason for
 * datagrams that are not valid RTP. CSRC identifiers are skipped, not materialised.
 */
export function parseRtp(buf: Uint8Array, into: RtpHeader = createRtpHeader()): RtpHeader | RtpParseFailure {
  const len = buf.length;
  if (len < RTP_HEADER_SIZE) return 'short';
  const b0 = buf[0]!; const b1 = buf[1]!;
  const version = b0 >> 6;
  if (version !== 2) return 'version';
  const cc = b0 & 0x0f;
  let off = RTP_HEADER_SIZE + 4 * cc;
  if (off > len) return 'csrc';
  const extension = (b0 & 0x10) !== 0;
  let profile = 0;
  if (extension) {
    if (off + 4 > len) return 'extension';
    profile = (buf[off]! << 8) | buf[off + 1]!;
    const words = (buf[off + 2]! << 8) | buf[off + 3]!;
    off += 4 + 4 * words;
    if (off > len) return 'extension';
  }
  let end = len;
  const padding = (b0 & 0x20) !== 0;
  if (padding) {
    const pad = buf[len - 1]!;
    if (pad === 0 || off + pad > len) return 'padding';
    end = len - pad;
  }
  into.version = version;
  into.padding = padding;
  into.extension = extension;
  into.marker = (b1 & 0x80) !== 0;
  into.payloadType = b1 & 0x7f;
  into.sequenceNumber = (buf[2]! << 8) | buf[3]!;
  into.timestamp = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
  into.ssrc = ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
  into.csrcCount = cc;
  into.extensionProfile = profile;
  into.payloadOffset = off;
  into.payloadLength = end - off;
  return into;
}

/** The n-th CSRC of a parsed packet (CSRCs are rare in calls, so they are read on demand). */
export function readCsrc(buf: Uint8Array, index: number): number {
  const o = RTP_HEADER_SIZE + 4 * index;
  return ((buf[o]! << 24) | (buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!) >>> 0;
}

/**
 * True for RTCP sent to the RTP port (RFC 5761 §4: second byte 192–223 would be payload types
 * 64–95 with the marker set, which RTP never uses for audio).
 */
export function looksLikeRtcp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[1]! >= 192 && buf[1]! <= 223;
}

export interface RtpHeaderFields {
  marker?: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
}

/** Writes a 12-byte header (no CSRC, no extension, no padding) at `offset`; returns 12. */
export function writeRtpHeader(out: Uint8Array, h: RtpHeaderFields, offset = 0): number {
  return writeRtpHeaderValues(out, offset, h.marker ?? false, h.payloadType, h.sequenceNumber, h.timestamp, h.ssrc);
}

/** `writeRtpHeader` with positional arguments, for the send path (no object per packet). */
export function writeRtpHeaderValues(out: Uint8Array, offset: number, marker: boolean, payloadType: number, sequenceNumber: number, timestamp: number, ssrcIn: number): number {
  if (out.length < offset + RTP_HEADER_SIZE) throw new RangeError(`writeRtpHeader: buffer too small (${out.length - offset} bytes)`);
  const ts = timestamp >>> 0; const ssrc = ssrcIn >>> 0; const seq = sequenceNumber & 0xffff;
  out[offset] = 0x80;
  out[offset + 1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out[offset + 2] = seq >> 8; out[offset + 3] = seq & 0xff;
  out[offset + 4] = ts >>> 24; out[offset + 5] = (ts >>> 16) & 0xff; out[offset + 6] = (ts >>> 8) & 0xff; out[offset + 7] = ts & 0xff;
  out[offset + 8] = ssrc >>> 24; out[offset + 9] = (ssrc >>> 16) & 0xff; out[offset + 10] = (ssrc >>> 8) & 0xff; out[offset + 11] = ssrc & 0xff;
  return RTP_HEADER_SIZE;
}

/** Header + payload in a new buffer (tests, tools; the session writes into reused buffers). */
export function serializeRtp(h: RtpHeaderFields, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RTP_HEADER_SIZE + payload.length);
  writeRtpHeader(out, h);
  out.set(payload, RTP_HEADER_SIZE);
  return out;
}

/** Signed distance a→b in 16-bit sequence space (positive when b is after a). */
export function seqDelta(a: number, b: number): number {
  return (((b - a) & 0xffff) << 16) >> 16;
}

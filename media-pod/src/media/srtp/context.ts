/**
 * SRTP and SRTCP packet protection (RFC 3711) for one direction of a call: our outbound packets
 * (protect) or the peer's inbound ones (unprotect), under one master key. Per SSRC it keeps the
 * rollover counter, the SRTCP index and a replay window, in maps bounded by `maxSsrcs`; inbound
 * state changes only after a packet authenticated, so forged packets cannot move it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AesCounterMode } from './aes-cm.js';
import { HmacSha1 } from './hmac.js';
import { deriveKeys, type SessionKeys } from './kdf.js';
import { ReplayWindow } from './replay-window.js';
import { suiteInfo, type SrtpSuite } from './suite.js';

export interface SrtpKeyParams {
  suite: SrtpSuite;
  /** 16 bytes (AES-128 suites) or 32 bytes (AES-256). Never log it. */
  masterKey: Buffer;
  /** 14 bytes. Never log it. */
  masterSalt: Buffer;
  /**
   * Master key identifier carried in every packet, when SDES named one (`|value:length`); its
   * bytes, big-endian. With a single master key it only has to be present and match.
   */
  mki?: Buffer | undefined;
}

export interface SrtpSessionOptions {
  /** Replay window in packets, a multiple of 32 from 64 to 32768. Default 128. */
  replayWindow?: number;
  /** SSRCs tracked per packet kind and direction; packets from any further SSRC are refused. Default 4. */
  maxSsrcs?: number;
  /**
   * Lower caps on how many packets this key may protect, e.g. from an SDES lifetime. Values
   * above RFC 3711's 2^48 (SRTP) and 2^31 (SRTCP) are clamped down to them.
   */
  packetLimit?: { rtp?: number; rtcp?: number };
}

/** Why unprotect returned null. 'ssrc-limit': a new SSRC when maxSsrcs are already tracked. */
export type SrtpFailure = 'auth' | 'replay' | 'malformed' | 'ssrc-limit';

export type SrtpProtectErrorCode = 'malformed' | 'replay' | 'ssrc-limit' | 'exhausted';

/**
 * Thrown by protectRtp/protectRtcp. Our own packets only fail on a bug ('malformed', 'replay':
 * a sequence number protected twice would reuse keystream) or when the master key is used up
 * ('exhausted': re-key, or end the call); the message carries counts, never key material.
 */
export class SrtpProtectError extends Error {
  override readonly name = 'SrtpProtectError';
  constructor(readonly code: SrtpProtectErrorCode, message: string) {
    super(message);
  }
}

export const SRTP_MAX_PACKETS = 2 ** 48;
export const SRTCP_MAX_PACKETS = 2 ** 31;

const RTP_HEADER = 12;
const RTCP_HEADER = 8;
const SRTCP_INDEX_LENGTH = 4;

/** Newly generated master key and salt for `suite`, from the system CSPRNG. */
export function generateKeyParams(suite: SrtpSuite): SrtpKeyParams {
  const info = suiteInfo(suite);
  return { suite, masterKey: randomBytes(info.keyLength), masterSalt: randomBytes(info.saltLength) };
}

/** One packet kind's session keys, set up once: the counter-mode cipher, the keyed HMAC, the salt. */
class PacketTransform {
  readonly cipher: AesCounterMode;
  readonly hmac: HmacSha1;
  private readonly salt: Buffer;
  private readonly iv = Buffer.alloc(16);

  constructor(keys: SessionKeys, ecb: 'aes-128-ecb' | 'aes-256-ecb') {
    this.cipher = new AesCounterMode(keys.encryptionKey, ecb);
    this.hmac = new HmacSha1(keys.authenticationKey);
    this.salt = keys.salt;
  }

  /** IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), RFC 3711 §4.1.1; index < 2^48. */
  ivFor(ssrc: number, index: number): Buffer {
    const iv = this.iv;
    iv.set(this.salt, 0);
    iv[14] = 0;
    iv[15] = 0;
    xorUint32(iv, 4, ssrc);
    const high = Math.floor(index / 0x1_0000_0000);
    iv[8] = (iv[8] as number) ^ ((high >>> 8) & 0xff);
    iv[9] = (iv[9] as number) ^ (high & 0xff);
    xorUint32(iv, 10, index >>> 0);
    return iv;
  }
}

export class SrtpSession {
  readonly suite: SrtpSuite;
  /** Bytes SRTP adds to an RTP packet: the MKI if any, then the 80- or 32-bit tag. */
  readonly rtpOverhead: number;
  /** Bytes SRTCP adds to an RTCP packet: the E flag and index word, the MKI if any, the 80-bit tag. */
  readonly rtcpOverhead: number;
  /** Unprotect failures by reason, for metrics. */
  readonly failures: Record<SrtpFailure, number> = { auth: 0, replay: 0, malformed: 0, 'ssrc-limit': 0 };
  /** Reason for the most recent null from an unprotect call. */
  lastFailure: SrtpFailure | null = null;

  private readonly rtp: PacketTransform;
  private readonly rtcp: PacketTransform;
  /** SRTP tag bytes: 10 for the _80 suites, 4 for _32. SRTCP always uses 10. */
  readonly rtpTagLength: number;
  private readonly rtcpTagLength: number;
  private readonly mki: Buffer;
  private readonly windowSize: number;
  private readonly maxSsrcs: number;
  private readonly rtpLimit: number;
  private readonly rtcpLimit: number;
  private rtpProtected = 0;
  private rtcpProtected = 0;
  /** Outbound SRTP: the highest index sent per SSRC (a window, so a repeated seq is refused). */
  private readonly sentRtp = new Map<number, ReplayWindow>();
  /** Outbound SRTCP: the next index per SSRC. */
  private readonly sentRtcp = new Map<number, number>();
  private readonly receivedRtp = new Map<number, ReplayWindow>();
  private readonly receivedRtcp = new Map<number, ReplayWindow>();
  private readonly roc = Buffer.alloc(4);
  private readonly expectedRtpTag: Buffer;
  private readonly expectedRtcpTag: Buffer;

  constructor(params: SrtpKeyParams, opts: SrtpSessionOptions = {}) {
    const info = suiteInfo(params.suite);
    if (params.masterSalt.length !== info.saltLength) {
      throw new RangeError(`${params.suite} needs a ${info.saltLength}-byte master salt, got ${params.masterSalt.length} bytes`);
    }
    this.suite = params.suite;
    if (params.mki && (params.mki.length < 1 || params.mki.length > 128)) {
      throw new RangeError(`an MKI is 1 to 128 bytes, got ${params.mki.length}`);
    }
    this.mki = Buffer.from(params.mki ?? Buffer.alloc(0));
    this.rtpTagLength = info.rtpTagLength;
    this.rtcpTagLength = info.rtcpTagLength;
    this.rtpOverhead = this.mki.length + info.rtpTagLength;
    this.expectedRtpTag = Buffer.alloc(info.rtpTagLength);
    this.expectedRtcpTag = Buffer.alloc(info.rtcpTagLength);
    this.rtcpOverhead = SRTCP_INDEX_LENGTH + this.mki.length + info.rtcpTagLength;
    this.windowSize = opts.replayWindow ?? 128;
    new ReplayWindow(this.windowSize); // validates the size before any packet needs it
    this.maxSsrcs = opts.maxSsrcs ?? 4;
    if (!Number.isInteger(this.maxSsrcs) || this.maxSsrcs < 1) throw new RangeError(`maxSsrcs must be a positive integer, got ${this.maxSsrcs}`);
    this.rtpLimit = Math.min(SRTP_MAX_PACKETS, opts.packetLimit?.rtp ?? SRTP_MAX_PACKETS);
    this.rtcpLimit = Math.min(SRTCP_MAX_PACKETS, opts.packetLimit?.rtcp ?? SRTCP_MAX_PACKETS);
    const keys = deriveKeys(params.suite, params.masterKey, params.masterSalt);
    this.rtp = new PacketTransform(keys.rtp, info.ecbCipher);
    this.rtcp = new PacketTransform(keys.rtcp, info.ecbCipher);
  }

  /**
   * Plain RTP in, SRTP out: a new buffer (the input is not modified), `rtpOverhead` bytes
   * longer. Safe to hand to dgram.send while the next packet is protected.
   * @throws SrtpProtectError
   */
  protectRtp(packet: Uint8Array): Buffer {
    const headerLength = rtpHeaderLength(packet, packet.length);
    if (headerLength < 0) throw new SrtpProtectError('malformed', `not an RTP packet (${packet.length} bytes)`);
    const ssrc = readUint32(packet, 8);
    const seq = ((packet[2] as number) << 8) | (packet[3] as number);
    let window = this.sentRtp.get(ssrc);
    if (!window && this.sentRtp.size >= this.maxSsrcs) {
      throw new SrtpProtectError('ssrc-limit', `already protecting ${this.sentRtp.size} SSRCs`);
    }
    const index = window ? estimateIndex(window.highestIndex, seq) : seq;
    if (index < 0 || (window && window.check(index) !== 'ok')) {
      throw new SrtpProtectError('replay', `sequence number ${seq} was already protected or is too old`);
    }
    if (index >= SRTP_MAX_PACKETS || this.rtpProtected >= this.rtpLimit) {
      throw new SrtpProtectError('exhausted', `master key has protected ${this.rtpProtected} SRTP packets, its limit`);
    }
    const out = Buffer.allocUnsafe(packet.length + this.rtpOverhead);
    out.set(packet, 0);
    this.rtp.cipher.apply(this.rtp.ivFor(ssrc, index), out, headerLength, packet.length);
    // The MKI sits between payload and tag and is not authenticated (RFC 3711 §3.1).
    out.set(this.mki, packet.length);
    this.rtp.hmac.macInto(out.subarray(0, packet.length), this.rocBytes(index), out, packet.length + this.mki.length, this.rtpTagLength);
    if (!window) {
      window = new ReplayWindow(this.windowSize);
      this.sentRtp.set(ssrc, window);
    }
    window.record(index);
    this.rtpProtected++;
    return out;
  }

  /**
   * SRTP in, plain RTP out (a new buffer; the input is not modified), or null when the packet
   * is malformed, fails authentication, is a replay, or comes from an SSRC beyond maxSsrcs;
   * the reason is in lastFailure and counted in failures. Never throws on packet contents.
   */
  unprotectRtp(packet: Uint8Array): Buffer | null {
    const authEnd = packet.length - this.rtpOverhead;
    const headerLength = rtpHeaderLength(packet, authEnd);
    if (headerLength < 0) return this.fail('malformed');
    if (!this.mkiMatches(packet, authEnd)) return this.fail('auth');
    const ssrc = readUint32(packet, 8);
    const seq = ((packet[2] as number) << 8) | (packet[3] as number);
    const window = this.receivedRtp.get(ssrc);
    if (!window && this.receivedRtp.size >= this.maxSsrcs) return this.fail('ssrc-limit');
    // A new SSRC starts at ROC 0: SDES has no way to signal another (RFC 3711 §3.3.1).
    const index = window ? estimateIndex(window.highestIndex, seq) : seq;
    if (index < 0 || index >= SRTP_MAX_PACKETS || (window && window.check(index) !== 'ok')) return this.fail('replay');
    this.rtp.hmac.macInto(packet.subarray(0, authEnd), this.rocBytes(index), this.expectedRtpTag, 0, this.rtpTagLength);
    if (!timingSafeEqual(this.expectedRtpTag, packet.subarray(authEnd + this.mki.length))) return this.fail('auth');
    const out = Buffer.from(packet.subarray(0, authEnd));
    this.rtp.cipher.apply(this.rtp.ivFor(ssrc, index), out, headerLength, authEnd);
    this.accept(this.receivedRtp, window, ssrc, index);
    return out;
  }

  /**
   * Plain (compound) RTCP in, SRTCP out: a new buffer with everything after the first 8 bytes
   * encrypted, then the E flag and 31-bit SRTCP index, then the 80-bit tag.
   * @throws SrtpProtectError
   */
  protectRtcp(packet: Uint8Array): Buffer {
    if (packet.length < RTCP_HEADER || ((packet[0] as number) >>> 6) !== 2) {
      throw new SrtpProtectError('malformed', `not an RTCP packet (${packet.length} bytes)`);
    }
    const ssrc = readUint32(packet, 4);
    const next = this.sentRtcp.get(ssrc);
    if (next === undefined && this.sentRtcp.size >= this.maxSsrcs) {
      throw new SrtpProtectError('ssrc-limit', `already protecting RTCP of ${this.sentRtcp.size} SSRCs`);
    }
    const index = next ?? 0;
    if (index >= SRTCP_MAX_PACKETS || this.rtcpProtected >= this.rtcpLimit) {
      throw new SrtpProtectError('exhausted', `master key has protected ${this.rtcpProtected} SRTCP packets, its limit`);
    }
    const indexEnd = packet.length + SRTCP_INDEX_LENGTH;
    const out = Buffer.allocUnsafe(packet.length + this.rtcpOverhead);
    out.set(packet, 0);
    this.rtcp.cipher.apply(this.rtcp.ivFor(ssrc, index), out, RTCP_HEADER, packet.length);
    out.writeUInt32BE((0x8000_0000 | index) >>> 0, packet.length);
    out.set(this.mki, indexEnd);
    this.rtcp.hmac.macInto(out.subarray(0, indexEnd), undefined, out, indexEnd + this.mki.length, this.rtcpTagLength);
    this.sentRtcp.set(ssrc, index + 1);
    this.rtcpProtected++;
    return out;
  }

  /** SRTCP in, plain RTCP out (a new buffer), or null as for unprotectRtp. */
  unprotectRtcp(packet: Uint8Array): Buffer | null {
    const authEnd = packet.length - this.rtcpTagLength - this.mki.length;
    const plainEnd = authEnd - SRTCP_INDEX_LENGTH;
    if (plainEnd < RTCP_HEADER || ((packet[0] as number) >>> 6) !== 2) return this.fail('malformed');
    if (!this.mkiMatches(packet, authEnd)) return this.fail('auth');
    const ssrc = readUint32(packet, 4);
    const word = readUint32(packet, plainEnd);
    const encrypted = word >>> 31 === 1;
    const index = word & 0x7fff_ffff;
    const window = this.receivedRtcp.get(ssrc);
    if (!window && this.receivedRtcp.size >= this.maxSsrcs) return this.fail('ssrc-limit');
    if (window && window.check(index) !== 'ok') return this.fail('replay');
    this.rtcp.hmac.macInto(packet.subarray(0, authEnd), undefined, this.expectedRtcpTag, 0, this.rtcpTagLength);
    if (!timingSafeEqual(this.expectedRtcpTag, packet.subarray(authEnd + this.mki.length))) return this.fail('auth');
    const out = Buffer.from(packet.subarray(0, plainEnd));
    // E = 0 is the sender's authenticated choice not to encrypt (RFC 3711 §3.4); accept it as libsrtp does.
    if (encrypted) this.rtcp.cipher.apply(this.rtcp.ivFor(ssrc, index), out, RTCP_HEADER, plainEnd);
    this.accept(this.receivedRtcp, window, ssrc, index);
    return out;
  }

  private accept(map: Map<number, ReplayWindow>, window: ReplayWindow | undefined, ssrc: number, index: number): void {
    if (!window) {
      window = new ReplayWindow(this.windowSize);
      map.set(ssrc, window);
    }
    window.record(index);
    this.lastFailure = null;
  }

  /** An MKI is not secret, so an ordinary comparison will do. */
  private mkiMatches(packet: Uint8Array, at: number): boolean {
    for (let i = 0; i < this.mki.length; i++) if (packet[at + i] !== this.mki[i]) return false;
    return true;
  }

  private fail(reason: SrtpFailure): null {
    this.failures[reason]++;
    this.lastFailure = reason;
    return null;
  }

  private rocBytes(index: number): Buffer {
    this.roc.writeUInt32BE(Math.floor(index / 0x1_0000), 0);
    return this.roc;
  }
}

/**
 * The packet index a sequence number most likely belongs to, given the highest index seen
 * (RFC 3711 §3.3.1 and Appendix A). Negative when it would fall before ROC 0.
 */
export function estimateIndex(highest: number, seq: number): number {
  if (highest < 0) return seq;
  const roc = Math.floor(highest / 0x1_0000);
  const last = highest % 0x1_0000;
  let v = roc;
  if (last < 0x8000) {
    if (seq - last > 0x8000) v = roc - 1;
  } else if (last - 0x8000 > seq) {
    v = roc + 1;
  }
  return v * 0x1_0000 + seq;
}

/** Length of the RTP header (fixed part, CSRCs, extension) if it fits in `end` bytes, else -1. */
function rtpHeaderLength(p: Uint8Array, end: number): number {
  if (end < RTP_HEADER) return -1;
  const b0 = p[0] as number;
  if (b0 >>> 6 !== 2) return -1;
  let n = RTP_HEADER + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (n + 4 > end) return -1;
    n += 4 + (((p[n + 2] as number) << 8) | (p[n + 3] as number)) * 4;
  }
  return n <= end ? n : -1;
}

function readUint32(p: Uint8Array, at: number): number {
  return (((p[at] as number) << 24) | ((p[at + 1] as number) << 16) | ((p[at + 2] as number) << 8) | (p[at + 3] as number)) >>> 0;
}

function xorUint32(b: Buffer, at: number, v: number): void {
  b[at] = (b[at] as number) ^ ((v >>> 24) & 0xff);
  b[at + 1] = (b[at + 1] as number) ^ ((v >>> 16) & 0xff);
  b[at + 2] = (b[at + 2] as number) ^ ((v >>> 8) & 0xff);
  b[at + 3] = (b[at + 3] as number) ^ (v & 0xff);
}

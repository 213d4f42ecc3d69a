/**
 * Builders for the JSON messages the platform sends on a stream. The per-frame `media` message
 * is written straight into a reused byte buffer from precomputed byte pieces, because it is sent
 * 50 times a second per track per call: JSON.stringify, string concatenation, a base64 string and
 * the UTF-8 re-encoding of that string inside `ws` would dominate the pod's per-frame cost.
 */

import { ulawDecode, ulawEncode } from '../media/codec/g711.js';
import { createUpsampleState, upsample8kTo16k, type ResamplerState } from '../media/codec/resample.js';
import type { StreamFormat, StreamStopReason, StreamTrack } from './protocol.js';

/** One 20 ms frame from the RTP layer: μ-law bytes (PCMU passthrough) and/or 8 kHz PCM. */
export interface CallAudioFrame {
  readonly ulaw?: Uint8Array;
  readonly pcm?: Int16Array;
  /**
   * Digital silence of this many 8 kHz samples, standing in for caller audio that did not arrive:
   * exact silence in the stream's format (μ-law 0xFF, L16 zeros), resampler history reset.
   */
  readonly silence?: number;
}

function q(s: string): string { return JSON.stringify(s); }

/** Start message; built once per stream, so plain JSON.stringify is fine here. */
export function buildStartMessage(p: {
  callId: string; streamId: string; accountId: string; tracks: StreamTrack[]; format: StreamFormat; extraHeaders: string;
}): string {
  return JSON.stringify({
    event: 'start',
    sequenceNumber: 1,
    start: {
      callId: p.callId,
      streamId: p.streamId,
      accountId: p.accountId,
      tracks: p.tracks,
      mediaFormat: { encoding: p.format.encoding, sampleRate: p.format.sampleRate },
    },
    extra_headers: p.extraHeaders,
  });
}

/** Standard base64 alphabet as byte values (what Buffer#toString('base64') produces). */
const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');
const EQ = 0x3d;

/** Writes `src[0..n)` as padded base64 at `out[at]`; returns the offset after it. */
export function writeBase64(src: Uint8Array, n: number, out: Uint8Array, at: number): number {
  let o = at;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    out[o] = B64[v >> 18]!; out[o + 1] = B64[(v >> 12) & 63]!; out[o + 2] = B64[(v >> 6) & 63]!; out[o + 3] = B64[v & 63]!;
    o += 4;
  }
  if (i < n) {
    const b1 = i + 1 < n ? src[i + 1]! : 0;
    const v = (src[i]! << 16) | (b1 << 8);
    out[o] = B64[v >> 18]!; out[o + 1] = B64[(v >> 12) & 63]!;
    out[o + 2] = i + 1 < n ? B64[(v >> 6) & 63]! : EQ;
    out[o + 3] = EQ;
    o += 4;
  }
  return o;
}

/** Digits of a non-negative integer below 1e9. */
function smallDigits(v: number): number {
  return v < 10 ? 1 : v < 100 ? 2 : v < 1e3 ? 3 : v < 1e4 ? 4 : v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : v < 1e8 ? 8 : 9;
}

/** Digits of a non-negative integer (below 2^53) in decimal. */
export function decimalLength(value: number): number {
  return value < 1e9 ? smallDigits(value) : 9 + smallDigits(Math.floor(value / 1e9));
}

/** Writes `v` (an integer below 1e9) in `width` digits ending at `out[end - 1]`, in int32 arithmetic. */
function writeDigits(v: number, width: number, out: Uint8Array, end: number): void {
  let x = v | 0;
  for (let o = end - 1; o >= end - width; o--) { out[o] = 0x30 + (x % 10); x = (x / 10) | 0; }
}

/**
 * Writes a non-negative integer (below 2^53) in decimal at `out[at]`; returns the offset after it.
 * Epoch milliseconds do not fit int32, so they are written as two int32 halves (float modulo is slow).
 */
export function writeDecimal(value: number, out: Uint8Array, at: number): number {
  const v = Math.trunc(value);
  if (!(v > 0)) { out[at] = 0x30; return at + 1; }
  if (v < 1e9) {
    const end = at + smallDigits(v);
    writeDigits(v, end - at, out, end);
    return end;
  }
  const hi = Math.floor(v / 1e9);
  const mid = at + smallDigits(hi);
  writeDigits(hi, mid - at, out, mid);
  writeDigits(v - hi * 1e9, 9, out, mid + 9);
  return mid + 9;
}

/** Longest decimal writeDecimal produces (2^53 has 16 digits). */
const MAX_DECIMAL = 16;

/** Encodes one track's frames into `media` messages in the stream's format. */
export class MediaMessageEncoder {
  private readonly head = Buffer.from('{"event":"media","sequenceNumber":', 'latin1');
  private readonly afterSeq: Buffer;
  private readonly afterTs = Buffer.from('","chunk":', 'latin1');
  private readonly afterChunk = Buffer.from(',"payload":"', 'latin1');
  private readonly tail: Buffer;
  /** Payload bytes of the current frame (reused). */
  private bytes: Buffer = Buffer.alloc(640);
  /** The current message (reused); `encode` returns a view of it. */
  private msg: Buffer = Buffer.alloc(0);
  /** Where `layout` assembles a message before it is copied into `msg`. */
  private scratch: Buffer = Buffer.alloc(0);
  private seqAt = 0;
  private tsAt = 0;
  private chunkAt = 0;
  private payloadAt = 0;
  private lastBytes = -1;
  private lastSeqLen = 0;
  private lastTsLen = 0;
  private lastChunkLen = 0;
  private pcm8: Int16Array = new Int16Array(160);
  private pcm16: Int16Array = new Int16Array(320);
  /** Filter memory for 16 kHz streams, carried across frames of this track. */
  private upState: ResamplerState | undefined;

  constructor(track: StreamTrack, private readonly format: StreamFormat, streamId: string, extraHeaders: string) {
    // UTF-8 bytes of the JSON text, exactly what ws would have sent for the same string.
    this.afterSeq = Buffer.from(`,"streamId":${q(streamId)},"media":{"track":${q(track)},"timestamp":"`, 'utf8');
    this.tail = Buffer.from(`"},"extra_headers":${q(extraHeaders)}}`, 'utf8');
    this.upState = format.encoding === 'audio/x-l16' && format.sampleRate === 16000 ? createUpsampleState() : undefined;
  }

  /**
   * The message for this frame as UTF-8 JSON text, or undefined when the frame carries no audio.
   * The Buffer is one reused per-encoder buffer: send it (the agent socket copies it into
   * the masked frame before send returns) or copy it before the next encode.
   */
  encode(frame: CallAudioFrame, seq: number, chunk: number, wallMs: number): Buffer | undefined {
    const n = this.fill(frame);
    if (n === 0) return undefined;
    const ts = Math.trunc(wallMs);
    const m = this.msg;
    // Steady state: same digit counts and payload size as the previous frame, so every constant
    // piece is already in place and only the numbers and the payload are rewritten.
    if (n === this.lastBytes && m.length > 0 && decimalLength(seq) === this.lastSeqLen
      && decimalLength(ts) === this.lastTsLen && decimalLength(chunk) === this.lastChunkLen) {
      writeDecimal(seq, m, this.seqAt);
      writeDecimal(ts, m, this.tsAt);
      writeDecimal(chunk, m, this.chunkAt);
      writeBase64(this.bytes, n, m, this.payloadAt);
      return m;
    }
    return this.layout(seq, ts, chunk, n);
  }

  /** Writes the whole message, recording where the variable parts start. */
  private layout(seq: number, ts: number, chunk: number, n: number): Buffer {
    const need = this.head.length + this.afterSeq.length + this.afterTs.length + this.afterChunk.length + this.tail.length
      + 3 * MAX_DECIMAL + 4 * Math.ceil(n / 3);
    if (this.scratch.length < need) this.scratch = Buffer.alloc(need);
    const m = this.scratch;
    let o = this.head.copy(m, 0);
    this.seqAt = o;
    o = writeDecimal(seq, m, o);
    o += this.afterSeq.copy(m, o);
    this.tsAt = o;
    o = writeDecimal(ts, m, o);
    o += this.afterTs.copy(m, o);
    this.chunkAt = o;
    o = writeDecimal(chunk, m, o);
    o += this.afterChunk.copy(m, o);
    this.payloadAt = o;
    o = writeBase64(this.bytes, n, m, o);
    o += this.tail.copy(m, o);
    this.lastBytes = n;
    this.lastSeqLen = decimalLength(seq);
    this.lastTsLen = decimalLength(ts);
    this.lastChunkLen = decimalLength(chunk);
    // Keep the message in a buffer of exactly its length, so the steady path returns the buffer
    // itself rather than a new view of it every frame.
    if (this.msg.length !== o) this.msg = Buffer.allocUnsafe(o);
    m.copy(this.msg, 0, 0, o);
    return this.msg;
  }

  /** Writes the frame's payload into `bytes`; returns its length. */
  private fill(frame: CallAudioFrame): number {
    if (frame.silence !== undefined) {
      if (this.format.encoding === 'audio/x-mulaw') {
        this.reserveBytes(frame.silence);
        this.bytes.fill(0xff, 0, frame.silence);
        return frame.silence;
      }
      const n = frame.silence * 2 * (this.upState ? 2 : 1);
      this.reserveBytes(n);
      this.bytes.fill(0, 0, n);
      if (this.upState) this.upState = createUpsampleState(); // the next real frame starts from silence
      return n;
    }
    if (this.format.encoding === 'audio/x-mulaw') {
      if (frame.ulaw) {
        this.reserveBytes(frame.ulaw.length);
        this.bytes.set(frame.ulaw, 0);
        return frame.ulaw.length;
      }
      if (!frame.pcm) return 0;
      this.reserveBytes(frame.pcm.length);
      return ulawEncode(frame.pcm, this.bytes).length;
    }
    let pcm: Int16Array;
    if (frame.pcm) pcm = frame.pcm;
    else if (frame.ulaw) {
      if (this.pcm8.length < frame.ulaw.length) this.pcm8 = new Int16Array(frame.ulaw.length);
      pcm = ulawDecode(frame.ulaw, this.pcm8);
    } else return 0;
    if (this.upState) {
      if (this.pcm16.length < 2 * pcm.length) this.pcm16 = new Int16Array(2 * pcm.length);
      pcm = upsample8kTo16k(pcm, this.upState, this.pcm16);
    }
    const n = pcm.length * 2;
    this.reserveBytes(n);
    const b = this.bytes;
    for (let i = 0, j = 0; i < pcm.length; i++, j += 2) {
      const s = pcm[i]!;
      b[j] = s & 0xff; // L16 goes out little-endian, as agent-transport decodes it (reference G10)
      b[j + 1] = (s >> 8) & 0xff;
    }
    return n;
  }

  private reserveBytes(n: number): void {
    if (n > this.bytes.length) this.bytes = Buffer.alloc(n);
  }
}

/** The small, infrequent platform messages, with their constant parts precomputed. */
export class ControlMessages {
  private readonly sid: string;
  private readonly extra: string;
  constructor(streamId: string, extraHeaders: string) {
    this.sid = q(streamId);
    this.extra = q(extraHeaders);
  }
  dtmf(seq: number, digit: string, wallMs: number): string {
    return `{"event":"dtmf","sequenceNumber":${seq},"streamId":${this.sid},"dtmf":{"track":"inbound","digit":${q(digit)},"timestamp":"${Math.trunc(wallMs)}"},"extra_headers":${this.extra}}`;
  }
  playedStream(seq: number, name: string): string {
    return `{"event":"playedStream","sequenceNumber":${seq},"streamId":${this.sid},"name":${q(name)}}`;
  }
  clearedAudio(seq: number): string {
    return `{"event":"clearedAudio","sequenceNumber":${seq},"streamId":${this.sid}}`;
  }
  stop(seq: number, reason: StreamStopReason): string {
    return `{"event":"stop","sequenceNumber":${seq},"streamId":${this.sid},"reason":${q(reason)}}`;
  }
}

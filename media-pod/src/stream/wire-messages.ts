/**
 * Builders for the JSON messages the platform sends on a stream. The per-frame `media` message
 * is assembled from precomputed string pieces and a reused byte buffer, because it is sent
 * 50 times a second per track per call and JSON.stringify plus fresh buffers would dominate.
 */

import { ulawDecode, ulawEncode } from '../media/codec/g711.js';
import { createUpsampleState, upsample8kTo16k, type ResamplerState } from '../media/codec/resample.js';
import type { StreamFormat, StreamStopReason, StreamTrack } from './protocol.js';

/** One 20 ms frame from the RTP layer: μ-law bytes (PCMU passthrough) and/or 8 kHz PCM. */
export interface CallAudioFrame {
  readonly ulaw?: Uint8Array;
  readonly pcm?: Int16Array;
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

/** Encodes one track's frames into `media` messages in the stream's format. */
export class MediaMessageEncoder {
  private readonly head = '{"event":"media","sequenceNumber":';
  private readonly afterSeq: string;
  private readonly afterTs = '","chunk":';
  private readonly afterChunk = ',"payload":"';
  private readonly tail: string;
  /** Payload bytes of the current frame (reused). */
  private bytes: Buffer = Buffer.alloc(640);
  private pcm8: Int16Array = new Int16Array(160);
  private pcm16: Int16Array = new Int16Array(320);
  /** Filter memory for 16 kHz streams, carried across frames of this track. */
  private readonly upState: ResamplerState | undefined;

  constructor(track: StreamTrack, private readonly format: StreamFormat, streamId: string, extraHeaders: string) {
    this.afterSeq = `,"streamId":${q(streamId)},"media":{"track":${q(track)},"timestamp":"`;
    this.tail = `"},"extra_headers":${q(extraHeaders)}}`;
    this.upState = format.encoding === 'audio/x-l16' && format.sampleRate === 16000 ? createUpsampleState() : undefined;
  }

  /** The message for this frame, or undefined when the frame carries no audio. */
  encode(frame: CallAudioFrame, seq: number, chunk: number, wallMs: number): string | undefined {
    const n = this.fill(frame);
    if (n === 0) return undefined;
    return this.head + seq + this.afterSeq + Math.trunc(wallMs) + this.afterTs + chunk + this.afterChunk
      + this.bytes.toString('base64', 0, n) + this.tail;
  }

  /** Writes the frame's payload into `bytes`; returns its length. */
  private fill(frame: CallAudioFrame): number {
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

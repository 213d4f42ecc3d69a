/**
 * The codecs the media pod negotiates (G.711 only) behind one name, so callers switch on the
 * SDP-negotiated codec instead of importing μ-law and A-law functions separately.
 */
import { ALAW_SILENCE, alawDecode, alawEncode, ULAW_SILENCE, ulawDecode, ulawEncode } from './g711.js';

export * from './g711.js';
export * from './resample.js';

export type Codec = 'PCMU' | 'PCMA';

export const CODECS: readonly Codec[] = ['PCMU', 'PCMA'];

/** RFC 3551 static payload types. */
export const STATIC_PAYLOAD_TYPE: Readonly<Record<Codec, number>> = { PCMU: 0, PCMA: 8 };

/** G.711 runs at 8 kHz: one byte per sample, 160 bytes per 20 ms frame. */
export const G711_RATE = 8000;
export const SAMPLES_PER_20MS = 160;

export function isCodec(name: string): name is Codec {
  return name === 'PCMU' || name === 'PCMA';
}

/** Encodes a PCM frame (8 kHz) to the codec's bytes; `out` is reused when given. */
export function encodeFrame(codec: Codec, pcm: Int16Array, out?: Uint8Array): Uint8Array {
  return codec === 'PCMU' ? ulawEncode(pcm, out) : alawEncode(pcm, out);
}

/** Decodes a codec payload to 8 kHz PCM; `out` is reused when given. */
export function decodeFrame(codec: Codec, bytes: Uint8Array, out?: Int16Array): Int16Array {
  return codec === 'PCMU' ? ulawDecode(bytes, out) : alawDecode(bytes, out);
}

/** The byte value that decodes to silence in this codec (for filling muted frames). */
export function silenceByte(codec: Codec): number {
  return codec === 'PCMU' ? ULAW_SILENCE : ALAW_SILENCE;
}

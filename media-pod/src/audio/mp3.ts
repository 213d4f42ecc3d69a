/**
 * MPEG audio (MP3, and Layer I/II, which the same decoder handles) to mono 16-bit PCM, via the
 * mpg123 WebAssembly build. Input is fed in slices and reduced to mono int16 slice by slice, so
 * a long file never exists as full-rate stereo float in memory.
 */
import { MPEGDecoder } from 'mpg123-decoder';
import { AudioFileError } from './errors.js';
import { concatInt16, downmixFloatPlanar, type DecodedPcm } from './pcm.js';

export interface Mp3DecodeOptions {
  /** Refuse files holding more than this many seconds of audio with `too_large`. */
  maxSeconds?: number;
}

const SLICE_BYTES = 64 * 1024;

// Indexed by [version][layer] as they appear in the header; 0 = free/unknown, reserved rows are empty.
const SAMPLE_RATES: Record<number, readonly number[]> = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };

/** Size of an ID3v2 tag at the start of `b` (header, body and optional footer), or 0. */
export function id3v2Length(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x49 || b[1] !== 0x44 || b[2] !== 0x33) return 0; // "ID3"
  const sizeBytes = [b[6]!, b[7]!, b[8]!, b[9]!];
  if (sizeBytes.some((x) => x & 0x80)) return 0; // not syncsafe: not an ID3v2 header
  const body = (sizeBytes[0]! << 21) | (sizeBytes[1]! << 14) | (sizeBytes[2]! << 7) | sizeBytes[3]!;
  const footer = (b[5]! & 0x10) ? 10 : 0;
  return 10 + body + footer;
}

/** True when the 4 bytes at `at` form a plausible MPEG audio frame header (sync, no reserved fields). */
export function isMpegFrameHeader(b: Uint8Array, at: number): boolean {
  if (at + 4 > b.length) return false;
  const b1 = b[at + 1]!;
  const b2 = b[at + 2]!;
  if (b[at] !== 0xff || (b1 & 0xe0) !== 0xe0) return false;
  const version = (b1 >> 3) & 3;
  const layer = (b1 >> 1) & 3;
  const bitrateIdx = b2 >> 4;
  const rateIdx = (b2 >> 2) & 3;
  return version !== 1 && layer !== 0 && bitrateIdx !== 15 && rateIdx !== 3 && SAMPLE_RATES[version] !== undefined;
}

/** True when the bytes start like an MP3 file: an ID3v2 tag or an MPEG frame header. */
export function looksLikeMpeg(b: Uint8Array): boolean {
  return id3v2Length(b) > 0 || isMpegFrameHeader(b, 0);
}

/**
 * Decode a whole MPEG audio file to mono int16 at its native rate. Throws AudioFileError
 * `corrupt` when no frame decodes, `too_large` past `maxSeconds`.
 */
export async function decodeMp3(b: Uint8Array, opts: Mp3DecodeOptions = {}): Promise<DecodedPcm> {
  const decoder = new MPEGDecoder({ enableGapless: true });
  await decoder.ready;
  const chunks: Int16Array[] = [];
  let total = 0;
  let sampleRate = 0;
  let errors = 0;
  let firstError = '';
  try {
    for (let off = 0; off < b.length; off += SLICE_BYTES) {
      const r = decoder.decode(b.subarray(off, Math.min(b.length, off + SLICE_BYTES)));
      if (r.errors.length > 0) { errors += r.errors.length; firstError ||= r.errors[0]!.message; }
      if (r.samplesDecoded === 0) continue;
      if (sampleRate === 0) sampleRate = r.sampleRate;
      total += r.samplesDecoded;
      if (opts.maxSeconds !== undefined && total > opts.maxSeconds * sampleRate) {
        throw new AudioFileError('too_large', `MP3 holds more than the ${opts.maxSeconds} s of audio allowed`);
      }
      chunks.push(downmixFloatPlanar(r.channelData, r.samplesDecoded));
    }
  } finally {
    decoder.free();
  }
  if (total === 0 || sampleRate === 0) {
    throw new AudioFileError('corrupt', `no decodable MPEG audio frame${errors ? ` (${errors} decode errors, first: ${firstError})` : ''}`);
  }
  return { pcm: concatInt16(chunks, total), sampleRate };
}

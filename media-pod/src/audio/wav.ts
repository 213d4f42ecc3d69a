/**
 * RIFF/WAVE decoder for <Play> files and TTS output: walks the chunk list with every size
 * checked against the bytes actually present, and reduces any supported sample format and
 * channel count to mono 16-bit PCM at the file's own rate.
 */
import { alawDecode, ulawDecode } from '../media/codec/g711.js';
import { AudioFileError } from './errors.js';
import { downmixInt16, floatToInt16, type DecodedPcm } from './pcm.js';

export const WAVE_FORMAT_PCM = 0x0001;
export const WAVE_FORMAT_IEEE_FLOAT = 0x0003;
export const WAVE_FORMAT_ALAW = 0x0006;
export const WAVE_FORMAT_MULAW = 0x0007;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** What the `fmt ` chunk said, after resolving WAVE_FORMAT_EXTENSIBLE to its sub-format. */
export interface WavFormat {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
}

export interface DecodedWav extends DecodedPcm {
  format: WavFormat;
}

export interface WavDecodeOptions {
  /** Refuse files holding more than this many seconds of audio with `too_large`. */
  maxSeconds?: number;
  /** Return an empty result instead of failing when the data chunk holds no samples (TTS of blank text). */
  allowEmpty?: boolean;
}

const MAX_CHUNKS = 256;
const MAX_CHANNELS = 8;
const MIN_RATE = 1000;
const MAX_RATE = 384_000;
/** The fixed tail of the KSDATAFORMAT_SUBTYPE_* GUIDs; the first two bytes carry the format tag. */
const KS_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

const SUPPORTED_BITS: Record<number, readonly number[]> = {
  [WAVE_FORMAT_PCM]: [8, 16, 24, 32],
  [WAVE_FORMAT_IEEE_FLOAT]: [32, 64],
  [WAVE_FORMAT_ALAW]: [8],
  [WAVE_FORMAT_MULAW]: [8],
};

const FORMAT_NAMES: Record<number, string> = {
  0x0001: 'PCM', 0x0002: 'MS ADPCM', 0x0003: 'IEEE float', 0x0006: 'A-law', 0x0007: 'mu-law',
  0x0011: 'IMA ADPCM', 0x0031: 'GSM 6.10', 0x0055: 'MPEG Layer III', 0xfffe: 'extensible',
};

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

function formatName(tag: number): string {
  return `0x${tag.toString(16).padStart(4, '0')}${FORMAT_NAMES[tag] ? ` (${FORMAT_NAMES[tag]})` : ''}`;
}

/** True when the bytes start like a RIFF/WAVE file (format sniffing, not validation). */
export function looksLikeWav(b: Uint8Array): boolean {
  return b.length >= 12 && fourcc(b, 0) === 'RIFF' && fourcc(b, 8) === 'WAVE';
}

function parseFmt(view: DataView, b: Uint8Array, at: number, size: number): WavFormat {
  if (size < 16) throw new AudioFileError('corrupt', `WAV fmt chunk is ${size} bytes, needs at least 16`);
  let formatTag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const sampleRate = view.getUint32(at + 4, true);
  const blockAlign = view.getUint16(at + 12, true);
  const bitsPerSample = view.getUint16(at + 14, true);
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) throw new AudioFileError('corrupt', `WAV extensible fmt chunk is ${size} bytes, needs 40`);
    const guid = at + 24;
    for (let i = 0; i < KS_GUID_TAIL.length; i++) {
      if (b[guid + 2 + i] !== KS_GUID_TAIL[i]) throw new AudioFileError('unsupported_format', 'WAV extensible sub-format is not a standard KSDATAFORMAT GUID');
    }
    formatTag = view.getUint16(guid, true);
  }
  if (channels === 0) throw new AudioFileError('corrupt', 'WAV declares 0 channels');
  if (channels > MAX_CHANNELS) throw new AudioFileError('unsupported_format', `WAV has ${channels} channels; at most ${MAX_CHANNELS} are supported`);
  if (sampleRate < MIN_RATE || sampleRate > MAX_RATE) {
    throw new AudioFileError('unsupported_format', `WAV sample rate ${sampleRate} Hz is outside ${MIN_RATE}-${MAX_RATE} Hz`);
  }
  const bits = SUPPORTED_BITS[formatTag];
  if (!bits) throw new AudioFileError('unsupported_format', `WAV format ${formatName(formatTag)} is not supported (PCM, IEEE float, A-law and mu-law are)`);
  if (!bits.includes(bitsPerSample)) {
    throw new AudioFileError('unsupported_format', `WAV format ${formatName(formatTag)} with ${bitsPerSample} bits per sample is not supported`);
  }
  if (blockAlign !== channels * (bitsPerSample / 8)) {
    throw new AudioFileError('corrupt', `WAV block align ${blockAlign} does not match ${channels} channel(s) of ${bitsPerSample} bits`);
  }
  return { formatTag, channels, sampleRate, bitsPerSample, blockAlign };
}

function decodeSamples(view: DataView, b: Uint8Array, at: number, count: number, f: WavFormat): Int16Array {
  if (f.formatTag === WAVE_FORMAT_MULAW) return ulawDecode(b.subarray(at, at + count));
  if (f.formatTag === WAVE_FORMAT_ALAW) return alawDecode(b.subarray(at, at + count));
  const out = new Int16Array(count);
  const width = f.bitsPerSample / 8;
  if (f.formatTag === WAVE_FORMAT_IEEE_FLOAT) {
    for (let i = 0, p = at; i < count; i++, p += width) {
      out[i] = floatToInt16(width === 4 ? view.getFloat32(p, true) : view.getFloat64(p, true));
    }
    return out;
  }
  switch (width) {
    case 1: for (let i = 0; i < count; i++) out[i] = (b[at + i]! - 128) << 8; break;
    case 2: for (let i = 0, p = at; i < count; i++, p += 2) out[i] = view.getInt16(p, true); break;
    case 3: for (let i = 0, p = at; i < count; i++, p += 3) out[i] = view.getInt16(p + 1, true); break;
    default: for (let i = 0, p = at; i < count; i++, p += 4) out[i] = view.getInt32(p, true) >> 16; break;
  }
  return out;
}

/**
 * Decode a whole WAV file to mono int16 at its native rate. Throws AudioFileError
 * (`unsupported_format`, `corrupt`, or `too_large` when `maxFrames` is exceeded).
 */
export function decodeWav(b: Uint8Array, opts: WavDecodeOptions = {}): DecodedWav {
  if (!looksLikeWav(b)) throw new AudioFileError('unsupported_format', 'missing RIFF/WAVE header');
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let fmt: WavFormat | undefined;
  let dataAt = -1;
  let dataLen = 0;
  let pos = 12;
  for (let chunks = 0; pos + 8 <= b.length; chunks++) {
    if (chunks >= MAX_CHUNKS) throw new AudioFileError('corrupt', `WAV has more than ${MAX_CHUNKS} chunks`);
    const id = fourcc(b, pos);
    let size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    const remaining = b.length - body;
    if (size > remaining) {
      // Streaming writers that cannot seek back leave 0xFFFFFFFF in the data size: take the rest.
      if (id === 'data' && size === 0xffffffff) size = remaining;
      else throw new AudioFileError('corrupt', `WAV chunk '${printable(id)}' declares ${size} bytes but only ${remaining} remain`);
    }
    if (id === 'fmt ') {
      if (fmt) throw new AudioFileError('corrupt', 'WAV has more than one fmt chunk');
      fmt = parseFmt(view, b, body, size);
    } else if (id === 'data' && dataAt < 0) {
      dataAt = body;
      dataLen = size;
      if (fmt) break; // anything after the audio (LIST, id3) is irrelevant
    }
    pos = body + size + (size & 1);
  }
  if (!fmt) throw new AudioFileError('corrupt', 'WAV has no fmt chunk');
  if (dataAt < 0) throw new AudioFileError('corrupt', 'WAV has no data chunk');
  const frames = Math.floor(dataLen / fmt.blockAlign);
  if (frames === 0 && !opts.allowEmpty) throw new AudioFileError('corrupt', 'WAV data chunk holds no complete sample frame');
  if (opts.maxSeconds !== undefined && frames > opts.maxSeconds * fmt.sampleRate) {
    throw new AudioFileError('too_large', `WAV holds ${(frames / fmt.sampleRate).toFixed(1)} s of audio, more than the ${opts.maxSeconds} s allowed`);
  }
  const interleaved = decodeSamples(view, b, dataAt, frames * fmt.channels, fmt);
  return { pcm: downmixInt16(interleaved, fmt.channels), sampleRate: fmt.sampleRate, format: fmt };
}

function printable(id: string): string {
  return /^[\x20-\x7e]{4}$/.test(id) ? id : JSON.stringify(id);
}

/** The canonical 44-byte header of a 16-bit PCM WAV holding `dataBytes` of samples. */
export function wavHeaderPcm16(dataBytes: number, sampleRate: number, channels = 1): Uint8Array {
  const out = new Uint8Array(44);
  const v = new DataView(out.buffer);
  const ascii = (at: number, s: string): void => { for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i); };
  ascii(0, 'RIFF'); v.setUint32(4, 36 + dataBytes, true); ascii(8, 'WAVE');
  ascii(12, 'fmt '); v.setUint32(16, 16, true); v.setUint16(20, WAVE_FORMAT_PCM, true); v.setUint16(22, channels, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, sampleRate * channels * 2, true); v.setUint16(32, channels * 2, true); v.setUint16(34, 16, true);
  ascii(36, 'data'); v.setUint32(40, dataBytes, true);
  return out;
}

/** Encode mono or interleaved int16 PCM as a canonical 44-byte-header WAV (for tests and TTS plumbing). */
export function encodeWavPcm16(pcm: Int16Array, sampleRate: number, channels = 1): Uint8Array {
  const out = new Uint8Array(44 + pcm.length * 2);
  out.set(wavHeaderPcm16(pcm.length * 2, sampleRate, channels));
  const v = new DataView(out.buffer);
  for (let i = 0; i < pcm.length; i++) v.setInt16(44 + i * 2, pcm[i]!, true);
  return out;
}

/**
 * Turns the bytes of a <Play> file into what the media pacer plays: mono 16-bit PCM at 8 kHz.
 * The container is recognised by its magic bytes, never by file extension or Content-Type,
 * because both are routinely wrong on customer web servers.
 */
import { resample } from '../media/codec/resample.js';
import { AudioFileError } from './errors.js';
import { decodeMp3, looksLikeMpeg } from './mp3.js';
import { decodeWav, looksLikeWav } from './wav.js';

export type AudioContainer = 'wav' | 'mp3';

export const TELEPHONY_RATE = 8000;

export interface AudioDecodeOptions {
  /** Refuse files holding more audio than this (default 1800 s) with `too_large`. */
  maxSeconds?: number;
}

/** Which supported container the bytes hold, or null. */
export function sniffAudioContainer(b: Uint8Array): AudioContainer | null {
  if (looksLikeWav(b)) return 'wav';
  if (looksLikeMpeg(b)) return 'mp3';
  return null;
}

function describeUnknown(b: Uint8Array): string {
  const head = b.subarray(0, 16);
  const text = Buffer.from(head).toString('latin1');
  if (b.length === 0) return 'the file is empty';
  if (/^\s*</.test(text)) return 'the file looks like HTML/XML text, not audio';
  if (text.startsWith('OggS')) return 'Ogg files are not supported (use WAV or MP3)';
  if (text.startsWith('fLaC')) return 'FLAC files are not supported (use WAV or MP3)';
  if (text.startsWith('RIFF')) return 'RIFF file that is not WAVE';
  return `unrecognised leading bytes ${Buffer.from(head.subarray(0, 8)).toString('hex')}`;
}

/** Decode WAV or MP3 bytes to mono int16 at 8 kHz. Throws AudioFileError. */
export async function decodeAudioFile(b: Uint8Array, opts: AudioDecodeOptions = {}): Promise<Int16Array> {
  const maxSeconds = opts.maxSeconds ?? 1800;
  const container = sniffAudioContainer(b);
  if (!container) throw new AudioFileError('unsupported_format', describeUnknown(b));
  const decoded = container === 'wav' ? decodeWav(b, { maxSeconds }) : await decodeMp3(b, { maxSeconds });
  return decoded.sampleRate === TELEPHONY_RATE ? decoded.pcm : resample(decoded.pcm, decoded.sampleRate, TELEPHONY_RATE);
}

/**
 * Sample-format helpers shared by the WAV and MP3 decoders: everything is reduced to mono
 * 16-bit PCM before resampling, because the telephone leg is mono 8 kHz anyway.
 */

/** Mono PCM at some sample rate, the common output of every decoder here. */
export interface DecodedPcm {
  pcm: Int16Array;
  sampleRate: number;
}

/** Clamp and scale a float in [-1, 1] to int16. NaN becomes silence rather than garbage. */
export function floatToInt16(x: number): number {
  if (!(x === x)) return 0;
  const v = Math.round(x * 32767);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Average interleaved channels into one; a mono input is returned unchanged (no copy). */
export function downmixInt16(interleaved: Int16Array, channels: number): Int16Array {
  if (channels === 1) return interleaved;
  const frames = Math.floor(interleaved.length / channels);
  const out = new Int16Array(frames);
  for (let f = 0, i = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[i++]!;
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/** Average planar float channels (as MP3 decoders return them) into one int16 channel. */
export function downmixFloatPlanar(channelData: readonly Float32Array[], frames: number): Int16Array {
  const out = new Int16Array(frames);
  const n = channelData.length;
  if (n === 0) return out;
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < n; c++) sum += channelData[c]![f] ?? 0;
    out[f] = floatToInt16(sum / n);
  }
  return out;
}

/** Concatenate chunks into one buffer of exactly `total` samples. */
export function concatInt16(chunks: readonly Int16Array[], total: number): Int16Array {
  const out = new Int16Array(total);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

/**
 * Audio arithmetic for the media tests, written independently of the media pod's codec so a
 * bug there cannot hide itself: G.711 μ-law per ITU-T G.711, tone synthesis, and a Goertzel
 * detector that says how much of a signal's energy sits at one frequency.
 */

export const RATE = 8000;
export const FRAME_SAMPLES = 160;

/** Linear 16-bit sample to μ-law (G.711, with the usual 0x84 bias and 32635 clip). */
export function linearToUlaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(32635, Math.abs(Math.trunc(sample))) + 0x84;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  s = ~(sign | (exponent << 4) | mantissa);
  return s & 0xff;
}

export function ulawToLinear(u: number): number {
  const v = ~u & 0xff;
  const t = (((v & 0x0f) << 3) + 0x84) << ((v & 0x70) >> 4);
  return (v & 0x80) !== 0 ? 0x84 - t : t - 0x84;
}

export function ulawEncode(pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToUlaw(pcm[i]!);
  return out;
}

export function ulawDecode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = ulawToLinear(bytes[i]!);
  return out;
}

/** Linear 16-bit sample to A-law (G.711 on the 13-bit magnitude; even bits inverted as on the wire). */
export function linearToAlaw(sample: number): number {
  let x = Math.max(-32768, Math.min(32767, Math.trunc(sample))) >> 3;
  let mask = 0xd5;
  if (x < 0) { mask = 0x55; x = -x - 1; }
  // Segment = position of the highest set bit above bit 4 (segment 0 and 1 share a step size).
  let seg = 0;
  while (seg < 8 && x > (0x20 << seg) - 1) seg++;
  if (seg >= 8) return 0x7f ^ mask;
  const mantissa = seg < 2 ? (x >> 1) & 0x0f : (x >> seg) & 0x0f;
  return ((seg << 4) | mantissa) ^ mask;
}

export function alawToLinear(a: number): number {
  const v = a ^ 0x55;
  const seg = (v & 0x70) >> 4;
  let t = (v & 0x0f) << 4;
  t += seg === 0 ? 8 : 0x108;
  if (seg > 1) t <<= seg - 1;
  return (v & 0x80) !== 0 ? t : -t;
}

export function alawEncode(pcm: Int16Array): Buffer {
  const out = Buffer.alloc(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToAlaw(pcm[i]!);
  return out;
}

export function alawDecode(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = alawToLinear(bytes[i]!);
  return out;
}

/** `samples` of a sine at `freqHz`, continuing from sample index `start` (phase-continuous). */
export function tone(freqHz: number, samples: number, opts: { rate?: number; amplitude?: number; start?: number } = {}): Int16Array {
  const rate = opts.rate ?? RATE;
  const a = opts.amplitude ?? 8000;
  const start = opts.start ?? 0;
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(a * Math.sin((2 * Math.PI * freqHz * (start + i)) / rate));
  return out;
}

export function meanSquare(x: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < x.length; i++) e += x[i]! * x[i]!;
  return x.length === 0 ? 0 : e / x.length;
}

/** Goertzel power at `freqHz`, scaled so a full-length sine of amplitude A gives about A²/4. */
export function tonePower(x: ArrayLike<number>, freqHz: number, rate = RATE): number {
  const c = 2 * Math.cos((2 * Math.PI * freqHz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i]! + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.length * x.length);
}

/** Share of the energy at `freqHz`: close to 1 for a pure tone there, near 0 for another tone or noise. */
export function toneShare(x: ArrayLike<number>, freqHz: number, rate = RATE): number {
  const ms = meanSquare(x);
  return ms === 0 ? 0 : (2 * tonePower(x, freqHz, rate)) / ms;
}

/** Root mean square in dBFS (−Infinity for digital silence). */
export function rmsDbfs(x: ArrayLike<number>): number {
  const ms = meanSquare(x);
  return ms === 0 ? Number.NEGATIVE_INFINITY : 10 * Math.log10(ms / (32768 * 32768));
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Successive differences (e.g. inter-arrival times). */
export function gaps(xs: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < xs.length; i++) out.push(xs[i]! - xs[i - 1]!);
  return out;
}

/**
 * 20 ms μ-law frames of a 1 kHz tone, each marked with its index in the two samples at the
 * tone's zero crossings (0 and 4) as small μ-law codes: the tone stays clean, every frame's bytes
 * differ (so order and loss show), and every code survives a μ-law → PCM → μ-law round trip.
 */
export function markedToneFrames(count: number, startIndex = 0, amplitude = 8000): Buffer[] {
  const base = ulawEncode(tone(1000, FRAME_SAMPLES, { amplitude }));
  const out: Buffer[] = [];
  for (let f = 0; f < count; f++) {
    const k = startIndex + f;
    const frame = Buffer.from(base);
    frame[0] = 0xf0 | (k & 0x0f);
    frame[4] = 0xf0 | ((k >> 4) & 0x0f);
    out.push(frame);
  }
  return out;
}

/** A mono 16-bit PCM WAV file. */
export function wavFile(pcm: Int16Array, rate = RATE): Buffer {
  const data = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) data.writeInt16LE(pcm[i]!, i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

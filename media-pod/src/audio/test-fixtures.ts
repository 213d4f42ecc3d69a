/**
 * Builders for audio test fixtures (WAV files of any format, hand-assembled silent MP3 frames),
 * so tests generate their inputs instead of depending on binary files.
 */

export interface WavSpec {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  data: Uint8Array;
  blockAlign?: number;
  /** Chunks placed before `fmt ` (e.g. LIST with an odd size, to exercise padding). */
  leadingChunks?: Array<{ id: string; body: Uint8Array }>;
  /** Override the size written in the data chunk header. */
  dataSizeField?: number;
  /** Write a WAVE_FORMAT_EXTENSIBLE fmt chunk carrying `formatTag` as the sub-format. */
  extensible?: boolean;
}

function chunk(id: string, body: Uint8Array, sizeField = body.length): Uint8Array {
  const out = new Uint8Array(8 + body.length + (body.length & 1));
  for (let i = 0; i < 4; i++) out[i] = id.charCodeAt(i);
  new DataView(out.buffer).setUint32(4, sizeField, true);
  out.set(body, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

export function buildWav(s: WavSpec): Uint8Array {
  const fmt = new Uint8Array(s.extensible ? 40 : 16);
  const v = new DataView(fmt.buffer);
  const blockAlign = s.blockAlign ?? s.channels * (s.bitsPerSample / 8);
  v.setUint16(0, s.extensible ? 0xfffe : s.formatTag, true);
  v.setUint16(2, s.channels, true);
  v.setUint32(4, s.sampleRate, true);
  v.setUint32(8, s.sampleRate * blockAlign, true);
  v.setUint16(12, blockAlign, true);
  v.setUint16(14, s.bitsPerSample, true);
  if (s.extensible) {
    v.setUint16(16, 22, true);
    v.setUint16(18, s.bitsPerSample, true);
    v.setUint32(20, s.channels === 2 ? 3 : 4, true);
    v.setUint16(24, s.formatTag, true);
    fmt.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 26);
  }
  const body = concat([
    ...(s.leadingChunks ?? []).map((c) => chunk(c.id, c.body)),
    chunk('fmt ', fmt),
    chunk('data', s.data, s.dataSizeField),
  ]);
  const head = new Uint8Array(12);
  head.set([0x52, 0x49, 0x46, 0x46], 0);
  new DataView(head.buffer).setUint32(4, 4 + body.length, true);
  head.set([0x57, 0x41, 0x56, 0x45], 8);
  return concat([head, body]);
}

/** A sine at `freq` Hz, amplitude `amp` (of full scale), `seconds` long. */
export function sine(rate: number, freq: number, seconds: number, amp = 0.5): Float64Array {
  const n = Math.round(rate * seconds);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

export function rms(pcm: Int16Array, from = 0, to = pcm.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += pcm[i]! * pcm[i]!;
  return Math.sqrt(s / Math.max(1, to - from));
}

/**
 * `frames` MPEG-1 Layer III frames of digital silence: 48 kHz, 64 kbit/s, mono, no CRC. Each is
 * a 4-byte header plus all-zero side info and main data (no Huffman bits ⇒ every spectral line
 * is zero), 192 bytes and 1152 samples long.
 */
export function silentMp3(frames: number, withId3 = false): Uint8Array {
  const FRAME = 192;
  const id3 = withId3 ? Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 10, ...new Array<number>(10).fill(0)]) : new Uint8Array(0);
  const out = new Uint8Array(id3.length + FRAME * frames);
  out.set(id3, 0);
  for (let f = 0; f < frames; f++) out.set([0xff, 0xfb, 0x54, 0xc0], id3.length + f * FRAME);
  return out;
}

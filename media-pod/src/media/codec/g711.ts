/**
 * ITU-T G.711 μ-law and A-law, table-driven so that a 20 ms frame costs 160 array lookups each
 * way. The tables are computed at load time from the G.711 segment rules (as in ITU-T G.191's
 * reference implementation), including its one's-complement handling of negative samples.
 */

/** μ-law looks only at the top 14 bits of a 16-bit sample, so the table is indexed by x >> 2. */
const ULAW_ENC = new Uint8Array(1 << 14);
/** A-law looks only at the top 12 bits (sign + 11), so the table is indexed by x >> 4. */
const ALAW_ENC = new Uint8Array(1 << 12);
const ULAW_DEC = new Int16Array(256);
const ALAW_DEC = new Int16Array(256);

function computeUlaw(x: number): number {
  // Negative samples use the one's complement (~x) so that -1 and 0 land in mirror-image codes.
  let mag = (x < 0 ? ~x : x) >> 2;
  mag += 33;
  if (mag > 0x1fff) mag = 0x1fff;
  let seg = 1;
  for (let i = mag >> 6; i !== 0; i >>= 1) seg++;
  const high = 8 - seg;
  const low = 0x0f - ((mag >> seg) & 0x0f);
  let out = (high << 4) | low;
  if (x >= 0) out |= 0x80;
  return out & 0xff;
}

function computeUlawDecode(u: number): number {
  const inv = ~u & 0xff;
  const exponent = (inv >> 4) & 0x07;
  const mantissa = inv & 0x0f;
  const step = 4 << (exponent + 1);
  const mag = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
  return u < 0x80 ? -mag : mag;
}

function computeAlaw(x: number): number {
  let ix = (x < 0 ? ~x : x) >> 4;
  if (ix > 15) {
    let exp = 1;
    while (ix > 16 + 15) { ix >>= 1; exp++; }
    ix -= 16;
    ix += exp << 4;
  }
  if (x >= 0) ix |= 0x80;
  return (ix ^ 0x55) & 0xff;
}

function computeAlawDecode(a: number): number {
  const ix = (a ^ 0x55) & 0x7f;
  const exp = ix >> 4;
  let mant = ix & 0x0f;
  if (exp > 0) mant += 16;
  mant = (mant << 4) + 8;
  if (exp > 1) mant <<= exp - 1;
  return a > 127 ? mant : -mant;
}

for (let i = 0; i < ULAW_ENC.length; i++) {
  // Index i holds x >> 2 for x in [-32768, 32767], offset so that negatives come first.
  const x = (i - 8192) << 2;
  ULAW_ENC[i] = computeUlaw(x);
}
for (let i = 0; i < ALAW_ENC.length; i++) {
  const x = (i - 2048) << 4;
  ALAW_ENC[i] = computeAlaw(x);
}
for (let i = 0; i < 256; i++) {
  ULAW_DEC[i] = computeUlawDecode(i);
  ALAW_DEC[i] = computeAlawDecode(i);
}

/** One 16-bit linear sample to a μ-law byte. Out-of-range inputs are clamped to 16 bits. */
export function linearToUlaw(x: number): number {
  const s = x > 32767 ? 32767 : x < -32768 ? -32768 : x | 0;
  return ULAW_ENC[(s >> 2) + 8192]!;
}

/** One μ-law byte to a 16-bit linear sample. */
export function ulawToLinear(u: number): number {
  return ULAW_DEC[u & 0xff]!;
}

/** One 16-bit linear sample to an A-law byte (even bits already inverted, as sent on the wire). */
export function linearToAlaw(x: number): number {
  const s = x > 32767 ? 32767 : x < -32768 ? -32768 : x | 0;
  return ALAW_ENC[(s >> 4) + 2048]!;
}

/** One A-law byte to a 16-bit linear sample. */
export function alawToLinear(a: number): number {
  return ALAW_DEC[a & 0xff]!;
}

function checkOut<T extends Uint8Array | Int16Array>(out: T, need: number, what: string): T {
  if (out.length < need) throw new RangeError(`G.711 ${what}: output buffer holds ${out.length}, need ${need}`);
  return out;
}

/**
 * Encodes PCM to μ-law. Pass `out` to reuse a buffer on the hot path; the result is `out`
 * itself when it has exactly the input's length, otherwise a view of its first `pcm.length` bytes.
 */
export function ulawEncode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  const n = pcm.length;
  const o = out ? checkOut(out, n, 'ulawEncode') : new Uint8Array(n);
  for (let i = 0; i < n; i++) o[i] = ULAW_ENC[(pcm[i]! >> 2) + 8192]!;
  return o.length === n ? o : o.subarray(0, n);
}

/** Decodes μ-law to PCM; `out` as for `ulawEncode`. */
export function ulawDecode(u: Uint8Array, out?: Int16Array): Int16Array {
  const n = u.length;
  const o = out ? checkOut(out, n, 'ulawDecode') : new Int16Array(n);
  for (let i = 0; i < n; i++) o[i] = ULAW_DEC[u[i]!]!;
  return o.length === n ? o : o.subarray(0, n);
}

/** Encodes PCM to A-law; `out` as for `ulawEncode`. */
export function alawEncode(pcm: Int16Array, out?: Uint8Array): Uint8Array {
  const n = pcm.length;
  const o = out ? checkOut(out, n, 'alawEncode') : new Uint8Array(n);
  for (let i = 0; i < n; i++) o[i] = ALAW_ENC[(pcm[i]! >> 4) + 2048]!;
  return o.length === n ? o : o.subarray(0, n);
}

/** Decodes A-law to PCM; `out` as for `ulawEncode`. */
export function alawDecode(a: Uint8Array, out?: Int16Array): Int16Array {
  const n = a.length;
  const o = out ? checkOut(out, n, 'alawDecode') : new Int16Array(n);
  for (let i = 0; i < n; i++) o[i] = ALAW_DEC[a[i]!]!;
  return o.length === n ? o : o.subarray(0, n);
}

/** The μ-law byte for digital silence (0xFF); what a muted μ-law stream carries. */
export const ULAW_SILENCE = 0xff;
/** The A-law byte for digital silence (0xD5). */
export const ALAW_SILENCE = 0xd5;

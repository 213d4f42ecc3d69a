/**
 * HMAC-SHA1 (RFC 2104) for the per-packet SRTP/SRTCP tag, in plain JS with the SHA-1 states after
 * the key's inner and outer pad blocks computed once per session key. Measured on Node 20, a
 * Hash per packet (createHmac, or Hash.copy() of a keyed state) costs ~3 µs, mostly in creating
 * Hash objects and digest buffers; this costs about a third of that and allocates nothing.
 * SHA-1 has no data-dependent branches or table lookups, so the JS version is not a timing leak.
 */

const BLOCK = 64;
const DIGEST = 20;

export class HmacSha1 {
  private readonly innerState = new Int32Array(5);
  private readonly outerState = new Int32Array(5);
  private readonly state = new Int32Array(5);
  private readonly w = new Int32Array(80);
  /** The message, trailer and padding of the inner hash; grown on demand (one packet's size). */
  private scratch = new Uint8Array(4 * BLOCK);
  /** The outer hash's only block: inner digest, then padding for a 64 + 20 byte message. */
  private readonly outerBlock = new Uint8Array(BLOCK);
  private readonly digest = Buffer.alloc(DIGEST);

  constructor(key: Uint8Array) {
    if (key.length > BLOCK) throw new RangeError(`HMAC-SHA1 key longer than ${BLOCK} bytes is not used by SRTP`);
    const pad = new Uint8Array(BLOCK);
    for (const [target, byte] of [[this.innerState, 0x36], [this.outerState, 0x5c]] as const) {
      pad.fill(byte);
      for (let i = 0; i < key.length; i++) pad[i] = (key[i] as number) ^ byte;
      target.set(SHA1_IV);
      this.compress(target, pad, 0);
    }
    pad.fill(0);
    this.outerBlock[DIGEST] = 0x80;
    writeBitLength(this.outerBlock, BLOCK + DIGEST);
  }

  /** Writes the first `length` bytes of HMAC(key, message || trailer) into out[offset...]. */
  macInto(message: Uint8Array, trailer: Uint8Array | undefined, out: Uint8Array, offset: number, length: number): void {
    const n = message.length + (trailer ? trailer.length : 0);
    // Padded length: n bytes, 0x80, zeros, and the 8-byte bit count, in whole blocks.
    const padded = Math.ceil((n + 9) / BLOCK) * BLOCK;
    if (this.scratch.length < padded) this.scratch = new Uint8Array(padded);
    const s = this.scratch;
    s.set(message, 0);
    if (trailer) s.set(trailer, message.length);
    s[n] = 0x80;
    s.fill(0, n + 1, padded);
    writeBitLength(s.subarray(0, padded), BLOCK + n);

    const st = this.state;
    st.set(this.innerState);
    for (let at = 0; at < padded; at += BLOCK) this.compress(st, s, at);
    const ob = this.outerBlock;
    for (let i = 0; i < 5; i++) writeUint32(ob, i * 4, st[i] as number);
    st.set(this.outerState);
    this.compress(st, ob, 0);
    for (let i = 0; i < length; i++) out[offset + i] = ((st[i >>> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff;
  }

  /** The full 20-byte MAC in a buffer that the next call overwrites. */
  mac(message: Uint8Array, trailer?: Uint8Array): Buffer {
    this.macInto(message, trailer, this.digest, 0, DIGEST);
    return this.digest;
  }

  private compress(h: Int32Array, block: Uint8Array, at: number): void {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = at + i * 4;
      w[i] = ((block[j] as number) << 24) | ((block[j + 1] as number) << 16) | ((block[j + 2] as number) << 8) | (block[j + 3] as number);
    }
    for (let i = 16; i < 80; i++) {
      const x = (w[i - 3] as number) ^ (w[i - 8] as number) ^ (w[i - 14] as number) ^ (w[i - 16] as number);
      w[i] = (x << 1) | (x >>> 31);
    }
    let a = h[0] as number, b = h[1] as number, c = h[2] as number, d = h[3] as number, e = h[4] as number;
    // Four loops rather than one with a branch per round: the rounds differ only in f and k.
    let i = 0;
    for (; i < 20; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + (w[i] as number)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 40; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + (w[i] as number)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 60; i++) {
      const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + (w[i] as number)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    for (; i < 80; i++) {
      const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + (w[i] as number)) | 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    h[0] = ((h[0] as number) + a) | 0;
    h[1] = ((h[1] as number) + b) | 0;
    h[2] = ((h[2] as number) + c) | 0;
    h[3] = ((h[3] as number) + d) | 0;
    h[4] = ((h[4] as number) + e) | 0;
  }
}

const SHA1_IV = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);

/** The message length in bits into the last 8 bytes of `padded` (messages here are far below 2^32 bits). */
function writeBitLength(padded: Uint8Array, bytes: number): void {
  const bits = bytes * 8;
  const end = padded.length;
  writeUint32(padded, end - 8, Math.floor(bits / 0x1_0000_0000));
  writeUint32(padded, end - 4, bits >>> 0);
}

function writeUint32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

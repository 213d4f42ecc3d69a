/**
 * HMAC-SHA1 with the keyed inner and outer hash states computed once per session key, so a
 * packet costs two Hash.copy() calls instead of re-hashing the 64-byte padded key twice
 * (what createHmac would do for every packet). Output is the full 20-byte MAC; SRTP truncates.
 */
import { createHash, type Hash } from 'node:crypto';

const SHA1_BLOCK = 64;

export class HmacSha1 {
  private readonly inner: Hash;
  private readonly outer: Hash;

  constructor(key: Uint8Array) {
    // SRTP auth keys are 20 bytes; longer keys would be hashed first (RFC 2104), kept for completeness.
    const k = key.length > SHA1_BLOCK ? createHash('sha1').update(key).digest() : key;
    const ipad = Buffer.alloc(SHA1_BLOCK, 0x36);
    const opad = Buffer.alloc(SHA1_BLOCK, 0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i] = (ipad[i] as number) ^ (k[i] as number);
      opad[i] = (opad[i] as number) ^ (k[i] as number);
    }
    this.inner = createHash('sha1').update(ipad);
    this.outer = createHash('sha1').update(opad);
    ipad.fill(0);
    opad.fill(0);
  }

  /** HMAC over `message` followed by `trailer` (the ROC for SRTP; empty for SRTCP). */
  mac(message: Uint8Array, trailer?: Uint8Array): Buffer {
    const h = this.inner.copy().update(message);
    if (trailer) h.update(trailer);
    return this.outer.copy().update(h.digest()).digest();
  }
}

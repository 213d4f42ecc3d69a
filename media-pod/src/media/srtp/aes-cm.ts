/**
 * AES in counter mode as SRTP defines it (RFC 3711 §4.1.1): the 16-byte IV carries the salt,
 * SSRC and packet index, and the keystream block j is AES(key, IV + j) with j in the low 16 bits.
 * One ECB cipher object per key serves every packet: ECB has no state between blocks, so the
 * same object can encrypt any batch of counter blocks, and no cipher is created per packet.
 */
import { createCipheriv, type Cipher } from 'node:crypto';

const BLOCK = 16;
/** The counter lives in the IV's low 16 bits, so one IV covers at most 2^16 blocks (1 MiB). */
const MAX_BLOCKS = 0x10000;

export class AesCounterMode {
  private readonly ecb: Cipher;
  /** Counter blocks for the current packet, grown on demand and reused; never past MAX_BLOCKS. */
  private counters: Buffer;

  constructor(key: Uint8Array, cipherName: 'aes-128-ecb' | 'aes-256-ecb') {
    this.ecb = createCipheriv(cipherName, key, null);
    this.ecb.setAutoPadding(false);
    this.counters = Buffer.alloc(BLOCK * 16);
  }

  /**
   * XORs the keystream for `iv` (16 bytes, low 16 bits zero) into data[start, end), in place.
   * Throws RangeError only when the span is longer than one IV can cover (past 1 MiB), which no
   * RTP packet can be.
   */
  apply(iv: Uint8Array, data: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (length <= 0) return;
    const stream = this.keystreamBlocks(iv, Math.ceil(length / BLOCK));
    for (let i = 0; i < length; i++) data[start + i] = (data[start + i] as number) ^ (stream[i] as number);
  }

  /** The first `length` bytes of keystream for `iv`; used by the key derivation and tests. */
  keystream(iv: Uint8Array, length: number): Buffer {
    return this.keystreamBlocks(iv, Math.ceil(length / BLOCK)).subarray(0, length);
  }

  private keystreamBlocks(iv: Uint8Array, blocks: number): Buffer {
    if (blocks > MAX_BLOCKS) throw new RangeError(`AES-CM keystream of ${blocks} blocks exceeds one IV's 2^16 blocks`);
    const bytes = blocks * BLOCK;
    if (this.counters.length < bytes) this.counters = Buffer.alloc(Math.min(MAX_BLOCKS * BLOCK, Math.max(bytes, this.counters.length * 2)));
    const c = this.counters;
    c.set(iv.subarray(0, BLOCK), 0);
    for (let j = 1; j < blocks; j++) c.copyWithin(j * BLOCK, 0, BLOCK - 2);
    for (let j = 0; j < blocks; j++) {
      // The IV's low 16 bits are zero by construction, so adding j is writing it.
      c[j * BLOCK + 14] = j >>> 8;
      c[j * BLOCK + 15] = j & 0xff;
    }
    return this.ecb.update(c.subarray(0, bytes));
  }
}

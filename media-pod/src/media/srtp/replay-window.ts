/**
 * A sliding replay window over packet indices (RFC 3711 §3.3.2): remembers which of the last
 * `size` indices below the highest one were accepted. Checking and recording are separate so a
 * caller can check before authenticating and record only after the tag verified, which keeps
 * forged packets from moving the window.
 */

export class ReplayWindow {
  /** Highest index recorded, or -1 before the first. */
  private highest = -1;
  /** Bit (i mod size) says whether index i, within the window, was seen. */
  private readonly bits: Uint32Array;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 64 || size > 32768 || size % 32 !== 0) {
      throw new RangeError(`replay window must be a multiple of 32 between 64 and 32768, got ${size}`);
    }
    this.bits = new Uint32Array(size / 32);
  }

  get highestIndex(): number {
    return this.highest;
  }

  /** 'ok' when `index` is new, 'old' when it fell behind the window, 'seen' when it is a repeat. */
  check(index: number): 'ok' | 'old' | 'seen' {
    if (index > this.highest) return 'ok';
    if (this.highest - index >= this.size) return 'old';
    return this.isSet(index) ? 'seen' : 'ok';
  }

  /** Records an index that passed check() and authentication. */
  record(index: number): void {
    if (index > this.highest) {
      const advance = this.highest < 0 ? this.size : index - this.highest;
      if (advance >= this.size) this.bits.fill(0);
      else for (let i = this.highest + 1; i < index; i++) this.clear(i);
      this.highest = index;
    }
    const bit = index % this.size;
    this.bits[bit >>> 5] = (this.bits[bit >>> 5] as number) | (1 << (bit & 31));
  }

  private isSet(index: number): boolean {
    const bit = index % this.size;
    return (((this.bits[bit >>> 5] as number) >>> (bit & 31)) & 1) === 1;
  }

  private clear(index: number): void {
    const bit = index % this.size;
    this.bits[bit >>> 5] = (this.bits[bit >>> 5] as number) & ~(1 << (bit & 31));
  }
}

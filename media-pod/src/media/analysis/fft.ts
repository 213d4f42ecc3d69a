/**
 * An in-place complex FFT for power-of-two sizes, the transform under the noise suppressor's
 * short-time spectra. Tables are built once so a transform allocates nothing.
 */

/** Iterative radix-2 decimation-in-time FFT of one fixed size. */
export class Fft {
  readonly size: number;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly bitReversed: Uint32Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 2 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size must be a power of two ≥ 2, got ${size}`);
    }
    this.size = size;
    const half = size / 2;
    this.cos = new Float64Array(half);
    this.sin = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / size);
      this.sin[k] = Math.sin((2 * Math.PI * k) / size);
    }
    const bits = Math.log2(size);
    this.bitReversed = new Uint32Array(size);
    for (let i = 0; i < size; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >>> b) & 1) << (bits - 1 - b);
      this.bitReversed[i] = r;
    }
  }

  /** X[k] = Σ x[n]·e^(−2πikn/N), unscaled, in place. */
  forward(re: Float64Array, im: Float64Array): void {
    this.transform(re, im, -1);
  }

  /** x[n] = (1/N)·Σ X[k]·e^(+2πikn/N), in place: the exact inverse of forward(). */
  inverse(re: Float64Array, im: Float64Array): void {
    this.transform(re, im, 1);
    const scale = 1 / this.size;
    for (let i = 0; i < this.size; i++) {
      re[i]! *= scale;
      im[i]! *= scale;
    }
  }

  private transform(re: Float64Array, im: Float64Array, sign: 1 | -1): void {
    const n = this.size;
    if (re.length !== n || im.length !== n) {
      throw new RangeError(`FFT of size ${n} given arrays of length ${re.length} and ${im.length}`);
    }
    for (let i = 0; i < n; i++) {
      const j = this.bitReversed[i]!;
      if (j > i) {
        const tr = re[i]!;
        re[i] = re[j]!;
        re[j] = tr;
        const ti = im[i]!;
        im[i] = im[j]!;
        im[j] = ti;
      }
    }
    // Butterflies of span `len`; the twiddle for step k of a span is table entry k·(n/len).
    const cos = this.cos;
    const sin = this.sin;
    for (let len = 2; len <= n; len <<= 1) {
      const halfLen = len >>> 1;
      const stride = (n / len) | 0;
      for (let start = 0; start < n; start += len) {
        for (let k = 0; k < halfLen; k++) {
          const wr = cos[k * stride]!;
          const wi = sign * sin[k * stride]!;
          const a = start + k;
          const b = a + halfLen;
          const br = re[b]!;
          const bi = im[b]!;
          const tr = br * wr - bi * wi;
          const ti = br * wi + bi * wr;
          re[b] = re[a]! - tr;
          im[b] = im[a]! - ti;
          re[a] = re[a]! + tr;
          im[a] = im[a]! + ti;
        }
      }
    }
  }
}

/**
 * The FFT of a real signal of N samples through one complex FFT of N/2 (even samples as the real
 * part, odd ones as the imaginary part, then one pass to separate them): half the work of a
 * complex transform, and only the N/2 + 1 bins that are not mirror images are produced.
 */
export class RealFft {
  readonly size: number;
  private readonly half: Fft;
  private readonly zr: Float64Array;
  private readonly zi: Float64Array;
  /** cos and sin of 2πk/N for k = 0 … N/2. */
  private readonly wc: Float64Array;
  private readonly ws: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 4 || (size & (size - 1)) !== 0) {
      throw new RangeError(`real FFT size must be a power of two ≥ 4, got ${size}`);
    }
    this.size = size;
    const m = size / 2;
    this.half = new Fft(m);
    this.zr = new Float64Array(m);
    this.zi = new Float64Array(m);
    this.wc = new Float64Array(m + 1);
    this.ws = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      this.wc[k] = Math.cos((2 * Math.PI * k) / size);
      this.ws[k] = Math.sin((2 * Math.PI * k) / size);
    }
  }

  /** X[k] = Σ x[n]·e^(−2πikn/N) for k = 0 … N/2 into `re`/`im` (N/2 + 1 long each), unscaled. */
  forward(x: Float64Array, re: Float64Array, im: Float64Array): void {
    const m = this.size / 2;
    if (x.length !== this.size || re.length < m + 1 || im.length < m + 1) {
      throw new RangeError(`real FFT of size ${this.size} given ${x.length} samples and ${re.length}/${im.length} bins`);
    }
    const { zr, zi, wc, ws } = this;
    for (let n = 0; n < m; n++) { zr[n] = x[2 * n]!; zi[n] = x[2 * n + 1]!; }
    this.half.forward(zr, zi);
    for (let k = 0; k <= m; k++) {
      // Z = E + iO, with E and O the spectra of the even and odd samples; Z[M−k]* = E − iO.
      const a = k === m ? 0 : k;
      const b = k === 0 ? 0 : m - k;
      const pr = zr[a]!; const pi = zi[a]!;
      const cr = zr[b]!; const ci = -zi[b]!;
      const er = (pr + cr) / 2; const ei = (pi + ci) / 2;
      const or = (pi - ci) / 2; const oi = -(pr - cr) / 2;
      // X[k] = E[k] + e^(−2πik/N)·O[k]
      const c = wc[k]!; const s = ws[k]!;
      re[k] = er + c * or + s * oi;
      im[k] = ei + c * oi - s * or;
    }
  }

  /** The inverse: N real samples into `x` from the N/2 + 1 bins of a real signal's spectrum. */
  inverse(re: Float64Array, im: Float64Array, x: Float64Array): void {
    const m = this.size / 2;
    if (x.length !== this.size || re.length < m + 1 || im.length < m + 1) {
      throw new RangeError(`real FFT of size ${this.size} given ${x.length} samples and ${re.length}/${im.length} bins`);
    }
    const { zr, zi, wc, ws } = this;
    for (let k = 0; k < m; k++) {
      // X[k+M] = X[M−k]*, so E = (X[k] + X[M−k]*)/2 and O = (X[k] − X[M−k]*)·e^(+2πik/N)/2.
      const xr = re[k]!; const xi = im[k]!;
      const cr = re[m - k]!; const ci = -im[m - k]!;
      const er = (xr + cr) / 2; const ei = (xi + ci) / 2;
      const dr = (xr - cr) / 2; const di = (xi - ci) / 2;
      const c = wc[k]!; const s = ws[k]!;
      const or = dr * c - di * s; const oi = dr * s + di * c;
      zr[k] = er - oi;
      zi[k] = ei + or;
    }
    this.half.inverse(zr, zi);
    for (let n = 0; n < m; n++) { x[2 * n] = zr[n]!; x[2 * n + 1] = zi[n]!; }
  }
}

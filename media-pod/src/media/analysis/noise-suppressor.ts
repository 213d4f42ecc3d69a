/**
 * Background-noise suppression of the caller's audio for <Stream noiseCancellation="true">, so the
 * agent's speech recognizer hears the voice and less of the room, street or line hiss behind it.
 * A single-channel spectral suppressor: STFT, minimum-statistics noise floor, decision-directed
 * (two-step) Wiener gain with a floor set by noiseCancellationLevel, overlap-add back to 8 kHz.
 */
import { RealFft } from './fft.js';

export interface NoiseSuppressorOptions {
  /** Plivo's noiseCancellationLevel, 60–100 (default 85): higher suppresses more. */
  level?: number;
}

/** 256 samples (32 ms) resolve 31 Hz, enough to pass pitch harmonics between noisy bins. */
const FFT_SIZE = 256;
/** Half-overlap: with sqrt-Hann analysis and synthesis windows, w² sums to exactly 1. */
const HOP = FFT_SIZE / 2;
const BINS = FFT_SIZE / 2 + 1;
/**
 * Output held back beyond the STFT's own N − hop, so that a call of any length can always be
 * answered from completed hops: after T input samples, T mod HOP ≤ HOP − 1 are still waiting.
 */
const FIFO_DELAY = HOP - 1;

export const DEFAULT_LEVEL = 85;
const MIN_LEVEL = 60;
const MAX_LEVEL = 100;

/**
 * Maximum attenuation for a level: −10 dB at 60, −22.5 dB at 85, −30 dB at 100, linear in dB.
 * A floor, not full removal, keeps the residual noise natural and the voice free of pumping;
 * out-of-range or non-numeric levels are clamped (NaN gives the default).
 */
export function attenuationFloorDb(level: number = DEFAULT_LEVEL): number {
  const l = Number.isFinite(level) ? Math.min(MAX_LEVEL, Math.max(MIN_LEVEL, level)) : DEFAULT_LEVEL;
  return -10 - ((l - MIN_LEVEL) * 20) / (MAX_LEVEL - MIN_LEVEL);
}

/**
 * Per-hop smoothing of the power the minimum is taken over (time constant ≈ 45 ms): short enough
 * that a strong harmonic's power falls to the noise within a half-second pause, so the floor
 * under voiced bins is not overestimated.
 */
const POWER_SMOOTHING = 0.7;
/**
 * The noise floor is the minimum of the smoothed power over SUBWINDOWS × SUBWINDOW_HOPS hops
 * (≈ 1.5 s): longer than a word, so speech rarely lifts it, short enough that a louder noise is
 * taken on within about 1.5–1.8 s. Sub-windows let old minima expire without storing every hop.
 */
const SUBWINDOWS = 8;
const SUBWINDOW_HOPS = 12;
/**
 * The minimum of a fluctuating power sits below its mean; this factor (measured on Gaussian
 * white and pink noise with these smoothing and window lengths: within ±0.5 dB in every band)
 * brings it back up to the mean.
 */
const MINIMUM_BIAS = 3;
/**
 * Decision-directed a-priori SNR (Ephraim–Malah): mostly last hop's cleaned power. The heavy
 * weight on the past is what keeps isolated noise peaks from becoming "musical" tones.
 */
const DD_ALPHA = 0.98;
/**
 * Bins 0 and 1 (DC and 31 Hz, nothing above ~50 Hz) always get the floor gain: no voice lives
 * there (the lowest fundamentals are near 70 Hz and handsets cut below ~300 Hz), but rumble, hum
 * and DC offset do, and their slow swings would otherwise pass as "speech".
 */
const RUMBLE_BINS = 2;
/** Keeps divisions finite on digital silence. */
const POWER_EPSILON = 1e-6;
const MAX_XI = 1e8;

export class NoiseSuppressor {
  /** Fixed delay the suppressor adds, in samples at 8 kHz: N − hop of the STFT plus FIFO_DELAY. */
  readonly latencySamples = FFT_SIZE - HOP + FIFO_DELAY;

  private readonly fft = new RealFft(FFT_SIZE);
  private readonly window = new Float64Array(FFT_SIZE);
  private readonly gainFloor: number;
  private readonly xiMin: number;

  /** The last FFT_SIZE input samples; new ones are written from HOP + filled. */
  private readonly analysis = new Float64Array(FFT_SIZE);
  private filled = 0;
  /** The windowed hop, then its cleaned inverse. */
  private readonly frame = new Float64Array(FFT_SIZE);
  /** The N/2 + 1 bins of the hop's spectrum (the rest mirror them). */
  private readonly re = new Float64Array(BINS);
  private readonly im = new Float64Array(BINS);
  /** Overlap-add accumulator: the first HOP samples are final after each hop. */
  private readonly overlap = new Float64Array(FFT_SIZE);

  /** Finished output waiting to be handed out: at most FIFO_DELAY + HOP < 2 · HOP samples. */
  private readonly outRing = new Int16Array(2 * HOP);
  private outRead = 0;
  private outCount = FIFO_DELAY;

  private hops = 0;
  private readonly smoothedPower = new Float64Array(BINS);
  /** Last hop's cleaned power |G·Y|², the decision-directed memory, and a copy read during updates. */
  private readonly cleanPower = new Float64Array(BINS);
  private readonly previousClean = new Float64Array(BINS);
  private readonly gain = new Float64Array(BINS);
  private readonly subwindowMin = new Float64Array(BINS).fill(Infinity);
  /** Minima of the last SUBWINDOWS finished sub-windows, one row per sub-window. */
  private readonly pastMinima = new Float64Array(SUBWINDOWS * BINS).fill(Infinity);
  /** Minimum over pastMinima per bin, refreshed when a sub-window finishes. */
  private readonly pastMin = new Float64Array(BINS).fill(Infinity);
  private subwindowHop = 0;
  private subwindowIndex = 0;

  constructor(opts: NoiseSuppressorOptions = {}) {
    this.gainFloor = 10 ** (attenuationFloorDb(opts.level) / 20);
    // An a-priori SNR floor at the gain floor: Wiener gain ξ/(1+ξ) then bottoms out there smoothly.
    this.xiMin = this.gainFloor;
    for (let i = 0; i < FFT_SIZE; i++) this.window[i] = Math.sqrt(0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FFT_SIZE));
  }

  /**
   * Takes one 20 ms frame of the caller's audio (160 samples, 8 kHz, 16-bit) and writes 160
   * samples of cleaned audio, `latencySamples` behind, into `out` (may be the same array as
   * `input`). Allocates nothing per call after construction. Other frame lengths work too
   * (10 or 30 ms packets) with the same latency, as long as `out` is as long as `input`.
   */
  process(input: Int16Array, out: Int16Array): void {
    if (out.length !== input.length) {
      throw new RangeError(`noise suppressor: out has ${out.length} samples, input ${input.length}`);
    }
    let i = 0;
    while (i < input.length) {
      const n = Math.min(HOP - this.filled, input.length - i);
      const base = HOP + this.filled;
      for (let j = 0; j < n; j++) this.analysis[base + j] = input[i + j]!;
      this.filled += n;
      if (this.filled === HOP) this.processHop();
      // Written only after the same positions of `input` were read, so out === input is safe.
      for (let j = 0; j < n; j++) {
        out[i + j] = this.outRing[this.outRead]!;
        this.outRead = (this.outRead + 1) % this.outRing.length;
      }
      this.outCount -= n;
      i += n;
    }
  }

  private processHop(): void {
    const { re, im, window, analysis, overlap, frame } = this;
    for (let i = 0; i < FFT_SIZE; i++) frame[i] = analysis[i]! * window[i]!;
    this.fft.forward(frame, re, im);
    this.updateGains();
    // A real gain per bin keeps the spectrum that of a real signal.
    for (let k = 0; k < BINS; k++) {
      const g = this.gain[k]!;
      re[k]! *= g;
      im[k]! *= g;
    }
    this.fft.inverse(re, im, frame);
    for (let i = 0; i < FFT_SIZE; i++) overlap[i]! += frame[i]! * window[i]!;

    let write = (this.outRead + this.outCount) % this.outRing.length;
    for (let i = 0; i < HOP; i++) {
      const v = Math.round(overlap[i]!);
      this.outRing[write] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      write = (write + 1) % this.outRing.length;
    }
    this.outCount += HOP;
    overlap.copyWithin(0, HOP);
    overlap.fill(0, HOP);
    analysis.copyWithin(0, HOP);
    this.filled = 0;
  }

  private updateGains(): void {
    const { re, im, smoothedPower, cleanPower, gain, subwindowMin, pastMin } = this;
    const prev = this.previousClean;
    prev.set(cleanPower);
    const first = this.hops === 0;
    // A running mean over the first hops, so the early floor is not one noisy periodogram.
    const a = Math.min(POWER_SMOOTHING, this.hops / (this.hops + 1));
    for (let k = 0; k < BINS; k++) {
      let power = re[k]! * re[k]! + im[k]! * im[k]!;
      // The first frame holds HOP zeros of history: half the window's energy.
      if (first) power *= 2;
      const smoothed = a * smoothedPower[k]! + (1 - a) * power;
      smoothedPower[k] = smoothed;
      if (smoothed < subwindowMin[k]!) subwindowMin[k] = smoothed;
      const floor = Math.min(subwindowMin[k]!, pastMin[k]!);
      const noise = Math.max(POWER_EPSILON, MINIMUM_BIAS * floor);

      // Decision-directed a-priori SNR. The memory is the strongest of this bin and its two
      // neighbours, so a harmonic gliding by a bin per hop keeps its SNR instead of restarting.
      let previous = prev[k]!;
      if (k > 0 && prev[k - 1]! > previous) previous = prev[k - 1]!;
      if (k < BINS - 1 && prev[k + 1]! > previous) previous = prev[k + 1]!;
      const posterior = power / noise;
      let xi = (DD_ALPHA * previous) / noise + (1 - DD_ALPHA) * Math.max(posterior - 1, 0);
      xi = xi < this.xiMin ? this.xiMin : xi > MAX_XI ? MAX_XI : xi;
      // Two-step refinement (Plapous et al.): re-estimate the SNR from this hop's own cleaned
      // power, which removes the decision-directed one-hop lag at onsets without letting noise
      // peaks through (their first-step gain is already low).
      const g1 = xi / (1 + xi);
      let xi2 = (g1 * g1 * power) / noise;
      if (xi2 < this.xiMin) xi2 = this.xiMin;
      let g = xi2 / (1 + xi2);
      if (g < this.gainFloor || k < RUMBLE_BINS) g = this.gainFloor;
      gain[k] = g;
      cleanPower[k] = g * g * power;
    }
    this.hops++;
    if (++this.subwindowHop === SUBWINDOW_HOPS) this.finishSubwindow();
  }

  private finishSubwindow(): void {
    const { pastMinima, subwindowMin, pastMin } = this;
    pastMinima.set(subwindowMin, this.subwindowIndex * BINS);
    this.subwindowIndex = (this.subwindowIndex + 1) % SUBWINDOWS;
    this.subwindowHop = 0;
    for (let k = 0; k < BINS; k++) {
      let m = Infinity;
      for (let s = 0; s < SUBWINDOWS; s++) m = Math.min(m, pastMinima[s * BINS + k]!);
      pastMin[k] = m;
    }
    subwindowMin.fill(Infinity);
  }
}

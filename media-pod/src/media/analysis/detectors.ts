/**
 * What <Wait silence="true"> and <Wait beep="true"> listen for in the caller's audio: whether a
 * 20 ms frame carries sound at all, and a voicemail beep (one steady pure tone, as answering
 * machines play before recording). Both work on 8 kHz 16-bit frames and allocate nothing per frame.
 */

import { frameEnergy, goertzelCoefficient, goertzelPower } from './goertzel.js';

const SAMPLE_RATE = 8000;

/**
 * A frame is sound when its RMS level is above this (-40 dBFS): speech sits around -25 to -10
 * dBFS, while telephone line noise and comfort noise stay well below.
 */
export const SOUND_RMS = Math.round(32768 * 10 ** (-40 / 20));

/** True when the frame's RMS level is above SOUND_RMS. */
export function isSound(pcm: Int16Array): boolean {
  return pcm.length > 0 && frameEnergy(pcm) / pcm.length > SOUND_RMS * SOUND_RMS;
}

export interface BeepDetectorOptions {
  /** Lowest and highest beep frequencies searched, Hz. Default 350 and 2050. */
  minHz?: number;
  maxHz?: number;
  /** Steady frames (20 ms each) that make a beep. Default 8 (160 ms). */
  minFrames?: number;
}

/** Frames quieter than this (-35 dBFS) are never part of a beep. */
const BEEP_MIN_RMS = Math.round(32768 * 10 ** (-35 / 20));
/** Share of the frame's energy the strongest frequency must hold to count as a pure tone. */
const TONE_SHARE = 0.6;
/** Frequency step of the search: a quarter of the 50 Hz resolution of a 160-sample frame. */
const STEP_HZ = 12.5;
/** How far the tone may wander between frames and still be the same beep. */
const SAME_TONE_HZ = 50;

/**
 * Finds a voicemail beep: at least `minFrames` consecutive frames in which one frequency holds
 * most of the energy, staying within 50 Hz. Voice does not qualify (its energy is spread over
 * many harmonics that move), nor do key tones (two frequencies) or noise.
 */
export class BeepDetector {
  private readonly coeffs: Float64Array;
  private readonly freqs: Float64Array;
  private readonly minFrames: number;
  private run = 0;
  private runHz = 0;

  constructor(opts: BeepDetectorOptions = {}) {
    const lo = opts.minHz ?? 350;
    const hi = opts.maxHz ?? 2050;
    const n = Math.floor((hi - lo) / STEP_HZ) + 1;
    this.freqs = new Float64Array(n);
    this.coeffs = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      this.freqs[k] = lo + k * STEP_HZ;
      this.coeffs[k] = goertzelCoefficient(this.freqs[k]!, SAMPLE_RATE);
    }
    this.minFrames = opts.minFrames ?? 8;
  }

  /** Feeds one frame; true once a beep has lasted `minFrames` frames (and on every frame after). */
  push(pcm: Int16Array): boolean {
    const hz = this.toneOf(pcm);
    if (hz === 0) { this.run = 0; return false; }
    if (this.run > 0 && Math.abs(hz - this.runHz) <= SAME_TONE_HZ) this.run++;
    else { this.run = 1; this.runHz = hz; }
    return this.run >= this.minFrames;
  }

  /** The frequency of the frame's pure tone, or 0 when it is quiet or not a pure tone. */
  private toneOf(pcm: Int16Array): number {
    const n = pcm.length;
    const energy = frameEnergy(pcm);
    if (n === 0 || energy / n < BEEP_MIN_RMS * BEEP_MIN_RMS) return 0;
    let best = 0;
    let bestK = -1;
    for (let k = 0; k < this.coeffs.length; k++) {
      const power = goertzelPower(pcm, this.coeffs[k]!);
      if (power > best) { best = power; bestK = k; }
    }
    // A sine of amplitude A has energy A²n/2 and Goertzel power (An/2)², so share = 2·power/(n·energy).
    const share = (2 * best) / (n * energy);
    return share >= TONE_SHARE && bestK >= 0 ? this.freqs[bestK]! : 0;
  }
}

/**
 * In-band DTMF detection for callers whose SDP has no telephone-event: their key presses arrive
 * as dual tones inside the audio. Each 20 ms frame is run through eight Goertzel filters (the
 * keypad's row and column frequencies); a key counts when one row and one column tone carry most
 * of the frame's energy for two frames in a row (40 ms, the shortest press ITU-T Q.24 requires
 * receivers to accept), and is reported once per press.
 */
import { frameEnergy, goertzelCoefficient, goertzelPower } from '../analysis/goertzel.js';
import { DTMF_DIGITS } from './telephone-event.js';

const ROW_HZ = [697, 770, 852, 941] as const;
const COL_HZ = [1209, 1336, 1477, 1633] as const;
const KEYPAD = '123A456B789C*0#D';
const RATE = 8000;

/** Quietest tone accepted, as a sine amplitude (about −35 dBFS per tone). */
const MIN_AMPLITUDE = 600;
/** The strongest row (column) tone must beat the others in its group by this power ratio (8 dB). */
const GROUP_MARGIN = 6.3;
/** Column power ÷ row power allowed: normal twist 8 dB, reverse twist 4 dB (Q.24). */
const MIN_TWIST = 1 / 6.3;
const MAX_TWIST = 2.5;
/** Share of the frame's energy the two tones must hold (speech and music spread theirs); low enough for a key 1.5 % off frequency, whose power a 20 ms filter underestimates by half. */
const MIN_TONE_SHARE = 0.45;
/** Frames a key must be seen in a row before it is reported. */
const CONFIRM_FRAMES = 2;
/** Frames without the held key before a new press of it can count. */
const RELEASE_FRAMES = 2;

export interface InbandDtmfStats {
  /** Frames with a candidate key in them. */
  toneFrames: number;
  digits: number;
}

export class InbandDtmfDetector {
  private readonly coeffs = new Float64Array(8);
  private readonly power = new Float64Array(8);
  private candidate = '';
  private candidateFrames = 0;
  /** The key already reported for the press under way ('' between presses). */
  private held = '';
  private heldMisses = 0;
  readonly stats: InbandDtmfStats = { toneFrames: 0, digits: 0 };

  constructor() {
    [...ROW_HZ, ...COL_HZ].forEach((f, i) => { this.coeffs[i] = goertzelCoefficient(f, RATE); });
  }

  /** Feeds one frame of 8 kHz audio; returns a key when a press is confirmed, once per press. */
  process(pcm: Int16Array): string | null {
    const key = this.classify(pcm);
    if (key !== '') this.stats.toneFrames++;
    if (this.held !== '') {
      if (key === this.held) { this.heldMisses = 0; return null; }
      // One frame lost in the middle of a press (a dropout, a noisy frame) does not make it two.
      if (++this.heldMisses >= RELEASE_FRAMES) this.held = '';
    }
    if (key === '') { this.candidate = ''; this.candidateFrames = 0; return null; }
    if (key === this.candidate) this.candidateFrames++;
    else { this.candidate = key; this.candidateFrames = 1; }
    if (this.candidateFrames < CONFIRM_FRAMES || this.held !== '') return null;
    this.held = key;
    this.heldMisses = 0;
    this.candidate = '';
    this.candidateFrames = 0;
    this.stats.digits++;
    return key;
  }

  /** The key whose tone pair dominates this frame, or ''. */
  private classify(pcm: Int16Array): string {
    const n = pcm.length;
    if (n === 0) return '';
    const energy = frameEnergy(pcm);
    // A sine of amplitude A has energy A²·n/2 over the frame; two of them at the minimum level.
    if (energy < MIN_AMPLITUDE * MIN_AMPLITUDE * n) return '';
    // Goertzel power |X(f)|², scaled to the energy a sine at f contributes to the frame.
    for (let k = 0; k < 8; k++) this.power[k] = (2 * goertzelPower(pcm, this.coeffs[k]!)) / n;
    const row = strongest(this.power, 0);
    const col = strongest(this.power, 4);
    if (row < 0 || col < 0) return '';
    const rowP = this.power[row]!; const colP = this.power[col]!;
    const minTone = (MIN_AMPLITUDE * MIN_AMPLITUDE * n) / 2;
    if (rowP < minTone || colP < minTone) return '';
    const twist = colP / rowP;
    if (twist < MIN_TWIST || twist > MAX_TWIST) return '';
    if (rowP + colP < MIN_TONE_SHARE * energy) return '';
    const key = KEYPAD[row * 4 + (col - 4)]!;
    return DTMF_DIGITS.includes(key) ? key : '';
  }
}

/** Index of the group's (4 filters from `from`) strongest filter if it clears the others by GROUP_MARGIN, else −1. */
function strongest(p: Float64Array, from: number): number {
  let best = from;
  for (let k = from + 1; k < from + 4; k++) if (p[k]! > p[best]!) best = k;
  for (let k = from; k < from + 4; k++) if (k !== best && p[k]! * GROUP_MARGIN > p[best]!) return -1;
  return best;
}

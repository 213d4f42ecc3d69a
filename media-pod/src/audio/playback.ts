/**
 * What the media pacer pulls audio from, one 20 ms frame (160 samples at 8 kHz) per tick:
 * a decoded file or prompt played `loop` times, or plain silence for <Wait>. Sources never
 * touch timers; the pacer owns time, so a source is driven entirely by pullFrame().
 */

export const FRAME_SAMPLES = 160;
export const FRAME_MS = 20;

export type PlaybackState = 'playing' | 'finished' | 'stopped';

export interface PcmSource {
  /**
   * The next 160-sample frame, or null once the source is exhausted or stopped. The returned
   * array may be a view into shared (cached) audio: read it, do not write to it, and do not
   * keep it past the next pull.
   */
  pullFrame(): Int16Array | null;
  /** End early (barge-in, hangup, GetDigits input). Idempotent. */
  stop(): void;
  readonly state: PlaybackState;
  /** Resolves when the source finishes or is stopped; never rejects. */
  readonly done: Promise<void>;
}

abstract class SourceBase implements PcmSource {
  state: PlaybackState = 'playing';
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  constructor() { this.done = new Promise<void>((r) => { this.resolveDone = r; }); }
  abstract pullFrame(): Int16Array | null;
  stop(): void { this.end('stopped'); }
  protected end(state: 'finished' | 'stopped'): void {
    if (this.state !== 'playing') return;
    this.state = state;
    this.resolveDone();
  }
}

/**
 * Plays mono 8 kHz PCM `loop` times (0 = until stopped). Loop iterations join seamlessly, so a
 * frame can straddle the end of one pass and the start of the next; only the very last frame is
 * zero-padded. `done` resolves as the last frame is handed out.
 */
export class PcmPlayback extends SourceBase {
  private readonly pcm: Int16Array;
  private readonly loops: number;
  private pos = 0;
  private pass = 0;
  private readonly scratch = new Int16Array(FRAME_SAMPLES);
  /** Frames handed out so far. */
  framesPlayed = 0;

  constructor(pcm8k: Int16Array, loop: number) {
    super();
    if (!Number.isInteger(loop) || loop < 0) throw new RangeError(`loop must be a non-negative integer, got ${loop}`);
    this.pcm = pcm8k;
    this.loops = loop === 0 ? Infinity : loop;
    if (pcm8k.length === 0) this.end('finished'); // an empty file would loop forever producing nothing
  }

  pullFrame(): Int16Array | null {
    if (this.state !== 'playing') return null;
    const n = this.pcm.length;
    let frame: Int16Array;
    if (this.pos + FRAME_SAMPLES <= n) {
      frame = this.pcm.subarray(this.pos, this.pos + FRAME_SAMPLES);
      this.pos += FRAME_SAMPLES;
    } else {
      // Straddles the end of a pass: fill from the following passes, or pad with silence after the last.
      frame = this.scratch;
      let filled = 0;
      while (filled < FRAME_SAMPLES) {
        if (this.pos >= n) {
          this.pass++;
          if (this.pass >= this.loops) break;
          this.pos = 0;
        }
        const take = Math.min(FRAME_SAMPLES - filled, n - this.pos);
        frame.set(this.pcm.subarray(this.pos, this.pos + take), filled);
        filled += take;
        this.pos += take;
      }
      frame.fill(0, filled);
    }
    this.framesPlayed++;
    if (this.pos >= n && this.pass + 1 >= this.loops) { this.pass = this.loops; this.end('finished'); }
    return frame;
  }

  /** Length of one pass in milliseconds. */
  get passDurationMs(): number { return (this.pcm.length / 8000) * 1000; }
}

class SilenceSource extends SourceBase {
  private left: number;
  private readonly zero = new Int16Array(FRAME_SAMPLES);
  constructor(frames: number) {
    super();
    this.left = frames;
    if (frames === 0) this.end('finished');
  }
  pullFrame(): Int16Array | null {
    if (this.state !== 'playing') return null;
    this.left--;
    if (this.left <= 0) this.end('finished');
    return this.zero;
  }
}

/** Silence lasting `ms`, rounded up to whole 20 ms frames, without allocating the whole duration. */
export function silenceFrames(ms: number): PcmSource {
  if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`silence length must be a finite non-negative number of ms, got ${ms}`);
  return new SilenceSource(Math.ceil(ms / FRAME_MS));
}

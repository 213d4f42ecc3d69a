/**
 * The pod-wide 20 ms media pacer. One timer drives every call's outbound frame (instead of a
 * setInterval per call), scheduled against the monotonic clock as start + n × interval so that
 * timer lateness never accumulates into drift.
 *
 * The interval is cut into phases (10 by default, 2 ms each) and every stream is placed in the
 * least used one. Each stream is still ticked exactly once per interval, on its own phase, but the
 * pod sends its calls' frames in ten small bursts instead of one large one: with hundreds of calls
 * a single burst took several milliseconds, and every RTP packet arriving meanwhile waited for
 * it before it could go to its agent.
 */
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import type { Logger } from '@sipflow/operator/log';

/** Anything that produces or consumes one frame per tick (an RtpSession). */
export interface PacedStream {
  onTick(nowMs: number): void;
  /**
   * The clock stalled and these ticks will never come. Called before the next onTick; returns
   * how many frames of audio the stream dropped because of it (it may hold them back instead).
   */
  onSkippedTicks?(ticks: number): number | void;
}

export interface MediaClockOptions {
  clock?: Clock;
  /** Default 20. */
  intervalMs?: number;
  /**
   * How many phases the interval is cut into (default 10). 1 ticks every stream at the same
   * moment.
   */
  phases?: number;
  /**
   * If the event loop stalls for more than this many ticks, skip the missed ticks rather than
   * bursting them all out at once. Default 5 (100 ms).
   */
  maxCatchUpTicks?: number;
  logger?: Logger;
  /** Told of every stall that skipped ticks: how many, and how many streams missed that many ticks. */
  onSkip?: (ticks: number, streams: number) => void;
  /** Told when streams dropped frames of audio after a stall (rather than holding them back). */
  onDrop?: (frames: number) => void;
}

export interface MediaClockStats {
  /** Timer firings (one per phase that had streams). */
  ticks: number;
  /** Intervals missed in stalls (each stream skips this many ticks per stall). */
  skippedTicks: number;
  /** Frames of audio the streams dropped after stalls. */
  droppedFrames: number;
  /** Largest observed lateness of a tick, ms. */
  maxLagMs: number;
  /** Errors thrown by streams' onTick (each is logged and isolated). */
  streamErrors: number;
}

export class MediaClock {
  readonly intervalMs: number;
  readonly phases: number;
  private readonly slotMs: number;
  private readonly clock: Clock;
  private readonly maxCatchUp: number;
  private readonly logger: Logger | undefined;
  private readonly onSkip: ((ticks: number, streams: number) => void) | undefined;
  private readonly onDrop: ((frames: number) => void) | undefined;
  /** Streams by phase. */
  private readonly groups: Set<PacedStream>[];
  private readonly phaseOf = new Map<PacedStream, number>();
  /** Skipped intervals not yet reported to a stream of a phase that has not ticked since. */
  private readonly pendingSkips = new Map<PacedStream, number>();
  private timer: TimerHandle | undefined;
  private active = false;
  private inTick = false;
  private startMs = 0;
  /** The slot (phase boundary) the timer fired for last; slot m is due at start + m × slotMs. */
  private slot = 0;
  private nextSlot = 0;
  private readonly tickFn = (): void => this.tick();
  readonly stats: MediaClockStats = { ticks: 0, skippedTicks: 0, droppedFrames: 0, maxLagMs: 0, streamErrors: 0 };

  constructor(opts: MediaClockOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.intervalMs = opts.intervalMs ?? 20;
    const phases = opts.phases ?? 10;
    if (!Number.isInteger(phases) || phases < 1) throw new RangeError(`phases must be a positive integer, got ${phases}`);
    this.phases = phases;
    this.slotMs = this.intervalMs / phases;
    this.groups = Array.from({ length: phases }, () => new Set<PacedStream>());
    this.maxCatchUp = opts.maxCatchUpTicks ?? 5;
    this.logger = opts.logger;
    this.onSkip = opts.onSkip;
    this.onDrop = opts.onDrop;
  }

  get size(): number { return this.phaseOf.size; }
  get running(): boolean { return this.active; }

  /** Registers a stream in the least used phase; the clock starts with its first stream. */
  add(s: PacedStream): void {
    if (this.phaseOf.has(s)) return;
    let phase = 0;
    for (let i = 1; i < this.phases; i++) if (this.groups[i]!.size < this.groups[phase]!.size) phase = i;
    this.groups[phase]!.add(s);
    this.phaseOf.set(s, phase);
    if (!this.active) {
      this.active = true;
      this.startMs = this.clock.now();
      this.slot = 0;
    }
    // Inside a tick the tick itself schedules the next one. Otherwise the new stream's phase may
    // come before the slot the timer waits for (slots of empty phases are not woken for).
    if (!this.inTick) {
      this.clock.clearTimeout(this.timer);
      this.schedule();
    }
  }

  /** Unregisters a stream; the clock stops with its last one. Safe to call from onTick. */
  remove(s: PacedStream): void {
    const phase = this.phaseOf.get(s);
    if (phase === undefined) return;
    this.phaseOf.delete(s);
    this.groups[phase]!.delete(s);
    this.pendingSkips.delete(s);
    if (this.phaseOf.size === 0) this.stop();
  }

  stop(): void {
    this.active = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Arms the timer for the next slot after the current one whose phase has streams. */
  private schedule(): void {
    this.nextSlot = this.followingSlot();
    this.timer = this.clock.setTimeout(this.tickFn, Math.max(0, this.startMs + this.nextSlot * this.slotMs - this.clock.now()));
  }

  /** The first slot after the current one whose phase has streams. */
  private followingSlot(): number {
    let next = this.slot + 1;
    for (let i = 1; i < this.phases && this.groups[next % this.phases]!.size === 0; i++) next++;
    return next;
  }

  private tick(): void {
    this.timer = undefined;
    // When the event loop is busy a timer fires late, and the next phases may already be due:
    // they are run now, since each wake-up costs a whole turn of the loop (all pending I/O first),
    // and waiting a turn per phase would let the clock fall ever further behind.
    for (let i = 0; i < this.phases; i++) {
      this.runSlot(this.nextSlot);
      if (!this.active) return;
      this.nextSlot = this.followingSlot();
      if (this.startMs + this.nextSlot * this.slotMs > this.clock.now()) break;
    }
    this.schedule();
  }

  private runSlot(slot: number): void {
    this.slot = slot;
    const now = this.clock.now();
    const lag = now - (this.startMs + this.slot * this.slotMs);
    if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
    const phase = this.slot % this.phases;
    const group = this.groups[phase]!;
    let skipped = 0;
    if (lag > this.maxCatchUp * this.intervalMs) {
      skipped = Math.floor(lag / this.intervalMs);
      this.stats.skippedTicks += skipped;
      // Moving the grid moves every phase: the streams of the other phases lost as many frames
      // and hear of it before their own next tick.
      this.startMs += skipped * this.intervalMs;
      for (const [s, p] of this.phaseOf) if (p !== phase) this.pendingSkips.set(s, (this.pendingSkips.get(s) ?? 0) + skipped);
      this.logger?.warn('media clock stalled; calls paused', { lagMs: Math.round(lag), skippedTicks: skipped, streams: this.phaseOf.size });
      this.onSkip?.(skipped, this.phaseOf.size);
    }
    this.stats.ticks++;
    this.inTick = true;
    let dropped = 0;
    for (const s of group) {
      try {
        let skip = skipped;
        if (this.pendingSkips.size > 0) {
          const pending = this.pendingSkips.get(s);
          if (pending !== undefined) { this.pendingSkips.delete(s); skip += pending; }
        }
        if (skip > 0) dropped += s.onSkippedTicks?.(skip) ?? 0;
        s.onTick(now);
      } catch (err) {
        this.stats.streamErrors++;
        this.logger?.error('media stream tick failed', { err: err as Error });
      }
    }
    this.inTick = false;
    if (dropped > 0) {
      this.stats.droppedFrames += dropped;
      this.onDrop?.(dropped);
    }
  }
}

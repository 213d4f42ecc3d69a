/**
 * The pod-wide 20 ms media pacer. One timer drives every call's outbound frame (instead of a
 * setInterval per call), scheduled against the monotonic clock as start + n × interval so that
 * timer lateness never accumulates into drift.
 */
import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import type { Logger } from '@sipflow/operator/log';

/** Anything that produces or consumes one frame per tick (an RtpSession). */
export interface PacedStream {
  onTick(nowMs: number): void;
  /**
   * The clock stalled and these ticks will never come: the frames they would have played are
   * due in the past. Called before the next onTick.
   */
  onSkippedTicks?(ticks: number): void;
}

export interface MediaClockOptions {
  clock?: Clock;
  /** Default 20. */
  intervalMs?: number;
  /**
   * If the event loop stalls for more than this many ticks, skip the missed ticks rather than
   * bursting them all out at once. Default 5 (100 ms).
   */
  maxCatchUpTicks?: number;
  logger?: Logger;
}

export interface MediaClockStats {
  ticks: number;
  /** Ticks dropped after stalls. */
  skippedTicks: number;
  /** Largest observed lateness of a tick, ms. */
  maxLagMs: number;
  /** Errors thrown by streams' onTick (each is logged and isolated). */
  streamErrors: number;
}

export class MediaClock {
  readonly intervalMs: number;
  private readonly clock: Clock;
  private readonly maxCatchUp: number;
  private readonly logger: Logger | undefined;
  private readonly streams = new Set<PacedStream>();
  private timer: TimerHandle | undefined;
  private active = false;
  private inTick = false;
  private startMs = 0;
  private n = 0;
  private readonly tickFn = (): void => this.tick();
  readonly stats: MediaClockStats = { ticks: 0, skippedTicks: 0, maxLagMs: 0, streamErrors: 0 };

  constructor(opts: MediaClockOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.intervalMs = opts.intervalMs ?? 20;
    this.maxCatchUp = opts.maxCatchUpTicks ?? 5;
    this.logger = opts.logger;
  }

  get size(): number { return this.streams.size; }
  get running(): boolean { return this.active; }

  /** Registers a stream; the clock starts with its first stream. */
  add(s: PacedStream): void {
    this.streams.add(s);
    if (!this.active) {
      this.active = true;
      this.startMs = this.clock.now();
      this.n = 0;
      // Inside a tick the tick itself schedules the next one.
      if (!this.inTick) this.timer = this.clock.setTimeout(this.tickFn, this.intervalMs);
    }
  }

  /** Unregisters a stream; the clock stops with its last one. Safe to call from onTick. */
  remove(s: PacedStream): void {
    this.streams.delete(s);
    if (this.streams.size === 0) this.stop();
  }

  stop(): void {
    this.active = false;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    this.timer = undefined;
    this.n++;
    const now = this.clock.now();
    const lag = now - (this.startMs + this.n * this.intervalMs);
    if (lag > this.stats.maxLagMs) this.stats.maxLagMs = lag;
    let skipped = 0;
    if (lag > this.maxCatchUp * this.intervalMs) {
      const skip = Math.floor(lag / this.intervalMs);
      skipped = skip;
      this.stats.skippedTicks += skip;
      this.startMs += skip * this.intervalMs;
      this.logger?.warn('media clock stalled; skipping frames', { lagMs: Math.round(lag), skippedTicks: skip });
    }
    this.stats.ticks++;
    this.inTick = true;
    for (const s of this.streams) {
      try {
        if (skipped > 0) s.onSkippedTicks?.(skipped);
        s.onTick(now);
      } catch (err) {
        this.stats.streamErrors++;
        this.logger?.error('media stream tick failed', { err: err as Error });
      }
    }
    this.inTick = false;
    if (!this.active) return;
    const due = this.startMs + (this.n + 1) * this.intervalMs;
    this.timer = this.clock.setTimeout(this.tickFn, Math.max(0, due - this.clock.now()));
  }
}

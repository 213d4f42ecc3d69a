/**
 * Time as the SIP stack sees it. Every layer that has timers (transactions, nonces, lockout,
 * RTP pacing) takes a Clock so tests can drive time by hand instead of sleeping.
 */

export interface TimerHandle { readonly id: number }

export interface Clock {
  /** Monotonic milliseconds (not wall time). */
  now(): number;
  /** Wall-clock epoch milliseconds (for timestamps that leave the process). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

class SystemClock implements Clock {
  private next = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  now(): number { return performance.now(); }
  wallNow(): number { return Date.now(); }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    const t = setTimeout(() => { this.timers.delete(id); fn(); }, ms);
    t.unref?.();
    this.timers.set(id, t);
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) { clearTimeout(t); this.timers.delete(handle.id); }
  }
}

export const systemClock: Clock = new SystemClock();

/** A clock for tests: time moves only when `advance` is called; due timers fire in order. */
export class FakeClock implements Clock {
  private t: number;
  private wallBase: number;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = 0, wallBase = 1_700_000_000_000) { this.t = start; this.wallBase = wallBase; }
  now(): number { return this.t; }
  wallNow(): number { return this.wallBase + this.t; }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void { if (handle) this.timers.delete(handle.id); }
  /** Number of timers still pending. */
  pending(): number { return this.timers.size; }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let dueId = -1; let dueAt = Infinity;
      for (const [id, tm] of this.timers) if (tm.at <= end && (tm.at < dueAt || (tm.at === dueAt && id < dueId))) { dueAt = tm.at; dueId = id; }
      if (dueId < 0) break;
      const tm = this.timers.get(dueId)!;
      this.timers.delete(dueId);
      this.t = Math.max(this.t, tm.at);
      tm.fn();
    }
    this.t = end;
  }
}

/**
 * Time as sipflow's code sees it. Everything with timers (the operator's work queue, watchdog
 * and lease loop; the media pod's transactions, nonces, lockout and RTP pacing) takes a Clock so
 * tests drive time by hand instead of sleeping.
 */

export interface TimerHandle { readonly id: number }

export interface Clock {
  /** Monotonic milliseconds (not wall time): used for backoff, expiry and durations. */
  now(): number;
  /** Wall-clock epoch milliseconds, for timestamps written to the API. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export class SystemClock implements Clock {
  private next = 1;
  /** `unref: true` lets the process exit while timers are pending (the media pod's per-call timers). */
  constructor(private readonly opts: { unref?: boolean } = {}) {}
  private readonly timers = new Map<number, NodeJS.Timeout>();
  now(): number { return performance.now(); }
  wallNow(): number { return Date.now(); }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    if (this.opts.unref) t.unref();
    this.timers.set(id, t);
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) {
      clearTimeout(t);
      this.timers.delete(handle.id);
    }
  }
}

export const systemClock: Clock = new SystemClock();

/** A clock for tests: time moves only in `advance`, and due timers fire in deadline order. */
export class FakeClock implements Clock {
  private t: number;
  private next = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(start = 0, private readonly wallBase = 1_700_000_000_000) { this.t = start; }
  now(): number { return this.t; }
  wallNow(): number { return this.wallBase + this.t; }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.next++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }
  clearTimeout(handle: TimerHandle | undefined): void { if (handle) this.timers.delete(handle.id); }
  pending(): number { return this.timers.size; }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let dueId = -1;
      let dueAt = Infinity;
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (tm.at < dueAt || (tm.at === dueAt && id < dueId))) {
          dueAt = tm.at;
          dueId = id;
        }
      }
      const tm = this.timers.get(dueId);
      if (!tm) break;
      this.timers.delete(dueId);
      this.t = Math.max(this.t, tm.at);
      tm.fn();
    }
    this.t = end;
  }
}

/** Promise-returning sleep on a Clock; resolves early (without error) when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clock.clearTimeout(h);
      resolve();
    };
    const h = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

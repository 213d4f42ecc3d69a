/**
 * Brute-force guard for SIP auth: 10 failures from one source within 60 s lock it out for
 * 60 s (Plivo's documented rule). Memory stays bounded under a flood from many addresses.
 *
 * Choices:
 *  - Sliding window: the last `threshold` failure times are kept per source; the source locks
 *    when the oldest of them is still inside the window.
 *  - A success does NOT reset the count (Plivo counts failed attempts, not streaks); otherwise
 *    an attacker sharing a NAT with a legitimate client would get a fresh budget each time
 *    that client authenticates. Hence there is no `recordSuccess`.
 *  - Failures while locked are not counted and do not extend the lockout: callers answer 403
 *    without evaluating credentials during a lockout.
 *  - IPv6 sources are keyed by their /64 by default, since one host commonly owns a whole /64.
 *  - Over the cap, the least recently failing unlocked sources are evicted first; locked
 *    sources are evicted only when nothing else is left (oldest lock first).
 */
import { systemClock, type Clock } from '../clock.js';
import { parseIp, formatIp } from './ipAddress.js';

export interface LockoutOptions {
  clock?: Clock;
  /** Failures within the window that trigger a lockout (default 10). */
  threshold?: number;
  windowMs?: number;
  lockoutMs?: number;
  /** Hard cap on tracked sources, locked or counting (default 50 000). */
  maxTracked?: number;
  /** IPv6 sources are aggregated to this prefix length (default 64; 128 = per address). */
  ipv6PrefixLength?: number;
}

export interface LockoutStats {
  tracked: number;
  locked: number;
  lockoutsTotal: number;
  evictedTotal: number;
}

export class LockoutTable {
  private readonly clock: Clock;
  private readonly threshold: number;
  private readonly windowMs: number;
  private readonly lockoutMs: number;
  private readonly maxTracked: number;
  private readonly v6Mask: bigint;
  /** source → recent failure times (≤ threshold); Map order = least recently failing first. */
  private readonly counting = new Map<string, number[]>();
  /** source → lockedUntil; lockout length is constant, so Map order = expiry order. */
  private readonly locked = new Map<string, number>();
  private lockoutsTotal = 0;
  private evictedTotal = 0;

  constructor(opts: LockoutOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.threshold = opts.threshold ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.lockoutMs = opts.lockoutMs ?? 60_000;
    this.maxTracked = opts.maxTracked ?? 50_000;
    const p6 = opts.ipv6PrefixLength ?? 64;
    if (!(this.threshold >= 1 && this.windowMs > 0 && this.lockoutMs > 0 && this.maxTracked >= 1 && p6 >= 1 && p6 <= 128)) {
      throw new Error('LockoutTable: threshold, windowMs, lockoutMs, maxTracked must be positive and ipv6PrefixLength 1..128');
    }
    this.v6Mask = ((1n << BigInt(p6)) - 1n) << BigInt(128 - p6);
  }

  /** The table key for a source address (canonical IPv4; IPv6 reduced to its prefix). */
  keyOf(ip: string): string {
    const p = parseIp(ip);
    if (!p) return ip;
    if (p.family === 4) return formatIp(p);
    return formatIp({ family: 6, value: p.value & this.v6Mask });
  }

  /** Records a failed attempt; returns true if this failure started a lockout. */
  recordFailure(ip: string): boolean {
    const now = this.clock.now();
    this.sweep(now);
    const key = this.keyOf(ip);
    if (this.lockedUntilKey(key, now) !== undefined) return false;
    let times = this.counting.get(key);
    if (times) this.counting.delete(key);
    else times = [];
    times.push(now);
    if (times.length > this.threshold) times.shift();
    const first = times[0];
    if (times.length >= this.threshold && first !== undefined && now - first < this.windowMs) {
      this.locked.set(key, now + this.lockoutMs);
      this.lockoutsTotal++;
      this.enforceCap();
      return true;
    }
    this.counting.set(key, times);
    this.enforceCap();
    return false;
  }

  isLockedOut(ip: string): boolean {
    return this.lockedUntilKey(this.keyOf(ip), this.clock.now()) !== undefined;
  }

  /** Milliseconds until the lockout ends (for Retry-After), or 0 when not locked. */
  remainingMs(ip: string): number {
    const now = this.clock.now();
    const until = this.lockedUntilKey(this.keyOf(ip), now);
    return until === undefined ? 0 : until - now;
  }

  /** Tracked sources (counting + locked). */
  size(): number { return this.counting.size + this.locked.size; }

  stats(): LockoutStats {
    this.sweep(this.clock.now());
    return { tracked: this.size(), locked: this.locked.size, lockoutsTotal: this.lockoutsTotal, evictedTotal: this.evictedTotal };
  }

  private lockedUntilKey(key: string, now: number): number | undefined {
    const until = this.locked.get(key);
    if (until === undefined) return undefined;
    if (until <= now) { this.locked.delete(key); return undefined; }
    return until;
  }

  /** Drops expired lockouts and sources whose last failure left the window (amortized O(1)). */
  private sweep(now: number): void {
    for (const [k, until] of this.locked) {
      if (until > now) break;
      this.locked.delete(k);
    }
    for (const [k, times] of this.counting) {
      const last = times[times.length - 1];
      if (last !== undefined && now - last < this.windowMs) break;
      this.counting.delete(k);
    }
  }

  private enforceCap(): void {
    while (this.size() > this.maxTracked) {
      const c = this.counting.keys().next();
      if (!c.done) { this.counting.delete(c.value); this.evictedTotal++; continue; }
      const l = this.locked.keys().next();
      if (l.done) break;
      this.locked.delete(l.value);
      this.evictedTotal++;
    }
  }
}

/**
 * A least-recently-used cache of decoded audio whose bound is the total number of samples
 * held (memory), not the number of entries, because one long prompt can weigh as much as a
 * thousand short ones. Used for <Play> files and synthesized <Speak> prompts.
 */
import { systemClock, type Clock } from '../clock.js';

export interface PcmCacheOptions {
  /** Upper bound on the samples held across all entries (2 bytes each). */
  maxTotalSamples: number;
  /** Entries older than this are treated as absent (default: never expire). */
  maxAgeMs?: number;
  clock?: Clock;
}

interface Entry { pcm: Int16Array; storedAt: number }

export class PcmCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;
  private readonly maxTotal: number;
  private readonly maxAgeMs: number;
  private readonly clock: Clock;
  hits = 0;
  misses = 0;

  constructor(opts: PcmCacheOptions) {
    if (!(opts.maxTotalSamples >= 0)) throw new RangeError('maxTotalSamples must be >= 0');
    this.maxTotal = opts.maxTotalSamples;
    this.maxAgeMs = opts.maxAgeMs ?? Infinity;
    this.clock = opts.clock ?? systemClock;
  }

  /** The cached PCM (shared: callers must not write to it), refreshed as most recently used. */
  get(key: string): Int16Array | undefined {
    const e = this.entries.get(key);
    if (!e || this.clock.now() - e.storedAt > this.maxAgeMs) {
      if (e) this.delete(key);
      this.misses++;
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    this.hits++;
    return e.pcm;
  }

  /** Store `pcm`; an entry larger than the whole budget is not stored. Returns whether it was. */
  set(key: string, pcm: Int16Array): boolean {
    this.delete(key);
    if (pcm.length > this.maxTotal) return false;
    this.entries.set(key, { pcm, storedAt: this.clock.now() });
    this.total += pcm.length;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxTotal) break;
      this.entries.delete(k);
      this.total -= e.pcm.length;
    }
    return true;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.total -= e.pcm.length;
  }

  clear(): void { this.entries.clear(); this.total = 0; }
  get size(): number { return this.entries.size; }
  get totalSamples(): number { return this.total; }
}

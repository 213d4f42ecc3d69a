/**
 * A keyed work queue with client-go semantics: pending keys are deduplicated, a key is never
 * handed to two workers at once (a key added while it is processed is re-queued when `done`),
 * failed keys come back with per-key exponential backoff under an overall token bucket, and
 * `shutDown` lets workers drain.
 */
import { systemClock, type Clock, type TimerHandle } from './clock.js';

/** Optional observers; the operator wires them to prom-client (see metrics.ts). */
export interface WorkQueueMetrics {
  depth(name: string, depth: number): void;
  add(name: string): void;
  retry(name: string): void;
  /** Seconds a key waited between being queued and being handed to a worker. */
  queueDuration(name: string, seconds: number): void;
}

export interface RateLimitOptions {
  /** First retry delay (client-go: 5 ms). */
  baseDelayMs?: number;
  /** Cap of the per-key exponential delay (client-go: 1000 s). */
  maxDelayMs?: number;
  /** Overall token bucket for rate-limited adds (sample-controller: 50 qps, burst 300). */
  qps?: number;
  burst?: number;
}

export interface WorkQueueOptions extends RateLimitOptions {
  name: string;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

/** Per-key exponential backoff: base·2^failures, capped. */
export class ExponentialBackoff<K> {
  private readonly failures = new Map<K, number>();
  constructor(private readonly baseMs: number, private readonly maxMs: number) {}
  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const d = this.baseMs * 2 ** n;
    return Number.isFinite(d) ? Math.min(d, this.maxMs) : this.maxMs;
  }
  retries(key: K): number { return this.failures.get(key) ?? 0; }
  forget(key: K): void { this.failures.delete(key); }
}

/**
 * Token bucket measured on a Clock. `reserve` always takes a token (possibly one that only
 * exists in the future) and says how long to wait for it, like golang.org/x/time/rate.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(private readonly qps: number, private readonly burst: number, private readonly clock: Clock) {
    this.tokens = burst;
    this.last = clock.now();
  }
  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
}

export class WorkQueue<K> {
  readonly name: string;
  private readonly clock: Clock;
  private readonly metrics: WorkQueueMetrics | undefined;
  private readonly queue: K[] = [];
  /** Keys that need processing: queued ones, and processed ones that were added again. */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly delayed = new Map<K, { at: number; timer: TimerHandle }>();
  private readonly waiters: ((k: K | undefined) => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private readonly backoff: ExponentialBackoff<K>;
  private readonly bucket: TokenBucket;
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? systemClock;
    this.metrics = opts.metrics;
    this.backoff = new ExponentialBackoff<K>(opts.baseDelayMs ?? 5, opts.maxDelayMs ?? 1_000_000);
    this.bucket = new TokenBucket(opts.qps ?? 50, opts.burst ?? 300, this.clock);
  }

  get length(): number { return this.queue.length; }
  get isShuttingDown(): boolean { return this.shuttingDown; }
  /** Keys waiting in `addAfter` timers (not yet in the queue). */
  get delayedCount(): number { return this.delayed.size; }
  isProcessing(key: K): boolean { return this.processing.has(key); }

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.dirty.has(key)) return;
    this.metrics?.add(this.name);
    this.dirty.add(key);
    this.addedAt.set(key, this.clock.now());
    if (this.processing.has(key)) return;
    this.push(key);
  }

  /** Adds `key` after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.timer);
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Re-queues a failed key after max(its exponential backoff, the token bucket's wait). */
  addRateLimited(key: K): void {
    this.metrics?.retry(this.name);
    const delay = Math.max(this.backoff.when(key), this.bucket.reserve());
    this.addAfter(key, delay);
  }

  /** Clears the failure history of `key` (call after a successful reconcile). */
  forget(key: K): void { this.backoff.forget(key); }
  numRequeues(key: K): number { return this.backoff.retries(key); }

  /** Next key to process, or undefined once the queue is shut down and empty. */
  get(): Promise<K | undefined> {
    const k = this.take();
    if (k !== undefined || this.shuttingDown) return Promise.resolve(k);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` processed; if it was added meanwhile, it goes back in the queue. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key);
    else if (this.processing.size === 0) this.notifyIdle();
  }

  /** Stops accepting keys and drops delayed ones; waiting workers get undefined once drained. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const d of this.delayed.values()) this.clock.clearTimeout(d.timer);
    this.delayed.clear();
    if (this.queue.length === 0) this.releaseWaiters();
    if (this.processing.size === 0) this.notifyIdle();
  }

  /**
   * Shuts down and resolves once no key is being processed, or after `timeoutMs` (true = drained).
   * Keys still queued are dropped: the next leader or process start re-lists and re-queues all.
   */
  async shutDownWithDrain(timeoutMs: number): Promise<boolean> {
    this.shutDown();
    this.queue.length = 0;
    this.dirty.clear();
    this.metrics?.depth(this.name, 0);
    this.releaseWaiters();
    if (this.processing.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        this.clock.clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private push(key: K): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.start(key);
      waiter(key);
      return;
    }
    this.queue.push(key);
    this.metrics?.depth(this.name, this.queue.length);
  }

  private take(): K | undefined {
    if (this.queue.length === 0) return undefined;
    const k = this.queue.shift() as K;
    this.metrics?.depth(this.name, this.queue.length);
    this.start(k);
    if (this.shuttingDown && this.queue.length === 0) this.releaseWaiters();
    return k;
  }

  private start(key: K): void {
    this.processing.add(key);
    this.dirty.delete(key);
    const at = this.addedAt.get(key);
    this.addedAt.delete(key);
    if (at !== undefined) this.metrics?.queueDuration(this.name, Math.max(0, this.clock.now() - at) / 1000);
  }

  private releaseWaiters(): void {
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

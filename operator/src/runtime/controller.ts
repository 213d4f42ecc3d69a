/**
 * The worker loop that ties a WorkQueue to a reconcile function: a few workers take keys,
 * a thrown error re-queues the key with backoff, success forgets its failures and may ask
 * for a later visit. Reconciles get an AbortSignal that fires when the controller stops
 * (shutdown or lost leadership), so they stop writing as soon as they can.
 */
import type { Logger } from '../log.js';
import { WorkQueue, type WorkQueueOptions } from './workqueue.js';

export interface ReconcileResult {
  /** Visit this key again after this long even if nothing changes (level-triggered safety net). */
  requeueAfterMs?: number;
}

export type Reconcile<K> = (key: K, signal: AbortSignal) => Promise<ReconcileResult | void>;

export interface ReconcileMetrics {
  reconciled(controller: string, result: 'success' | 'error' | 'requeue_after', seconds: number): void;
}

export interface ControllerOptions<K> {
  name: string;
  reconcile: Reconcile<K>;
  logger: Logger;
  workers?: number;
  queue?: Omit<WorkQueueOptions, 'name'>;
  metrics?: ReconcileMetrics;
  /** Display form of a key for logs. */
  describe?: (key: K) => string;
}

export class Controller<K> {
  readonly name: string;
  readonly queue: WorkQueue<K>;
  private readonly opts: ControllerOptions<K>;
  private running: Promise<void>[] = [];
  private abort = new AbortController();

  constructor(opts: ControllerOptions<K>) {
    this.name = opts.name;
    this.opts = opts;
    this.queue = new WorkQueue<K>({ name: opts.name, ...opts.queue });
  }

  get started(): boolean { return this.running.length > 0; }

  /** Starts the workers; keys may have been queued before (informers fill the queue early). */
  start(): void {
    if (this.running.length > 0) return;
    this.abort = new AbortController();
    const n = Math.max(1, this.opts.workers ?? 1);
    for (let i = 0; i < n; i++) this.running.push(this.worker(this.abort.signal));
  }

  /**
   * Stops handing out keys, signals in-flight reconciles to abort and waits for them up to
   * `drainMs`. The queue cannot be restarted: a new leader term builds new controllers.
   */
  async stop(drainMs: number): Promise<boolean> {
    this.abort.abort();
    const drained = await this.queue.shutDownWithDrain(drainMs);
    // Drained means no reconcile is in flight, so the workers are about to return.
    if (drained) await Promise.all(this.running);
    this.running = [];
    return drained;
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      if (signal.aborted) {
        this.queue.done(key);
        continue;
      }
      const t0 = performance.now();
      const label = this.opts.describe ? this.opts.describe(key) : String(key);
      try {
        const res = await this.opts.reconcile(key, signal);
        const seconds = (performance.now() - t0) / 1000;
        this.queue.forget(key);
        if (res?.requeueAfterMs !== undefined && !signal.aborted) {
          this.queue.addAfter(key, res.requeueAfterMs);
          this.opts.metrics?.reconciled(this.name, 'requeue_after', seconds);
        } else {
          this.opts.metrics?.reconciled(this.name, 'success', seconds);
        }
      } catch (e) {
        const seconds = (performance.now() - t0) / 1000;
        this.opts.metrics?.reconciled(this.name, 'error', seconds);
        if (!signal.aborted) {
          this.opts.logger.warn('reconcile failed; retrying with backoff', {
            controller: this.name, key: label, retries: this.queue.numRequeues(key), error: describeError(e),
          });
          this.queue.addRateLimited(key);
        }
      } finally {
        this.queue.done(key);
      }
    }
  }
}

/**
 * Error text for logs: the API Status reason and message when there is one. Never the whole
 * ApiException message, which embeds the response body and headers.
 */
export function describeError(e: unknown): string {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; body?: unknown; message?: unknown };
    if (typeof o.code === 'number' && 'body' in o) {
      let status: unknown = o.body;
      if (typeof status === 'string') {
        try {
          status = JSON.parse(status);
        } catch {
          status = undefined;
        }
      }
      if (status && typeof status === 'object') {
        const s = status as { message?: unknown; reason?: unknown };
        if (typeof s.message === 'string') return `HTTP ${o.code} ${typeof s.reason === 'string' ? s.reason : ''}: ${s.message}`.slice(0, 500);
      }
      return `HTTP ${o.code}`;
    }
    if (typeof o.message === 'string') return o.message.split('\n')[0]?.slice(0, 500) ?? '';
  }
  return String(e).slice(0, 500);
}

/** The HTTP status of a client-node ApiException (or an informer's watch error), if any. */
export function httpStatus(e: unknown): number | undefined {
  if (!e || typeof e !== 'object') return undefined;
  const o = e as { code?: unknown; statusCode?: unknown };
  if (typeof o.code === 'number') return o.code;
  if (typeof o.statusCode === 'number') return o.statusCode;
  return undefined;
}

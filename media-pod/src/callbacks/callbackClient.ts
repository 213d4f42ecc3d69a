/**
 * Fire-and-forget delivery of status callbacks (hangup_url and similar): one retry, a bounded
 * number in flight, a bounded queue that sheds the oldest request when overwhelmed. It never
 * throws into the call path; the returned promise (for tests and metrics) always resolves.
 */
import type { Logger } from '@sipflow/operator/log';
import { CallbackTransport, redactUrl, type CallbackFailureCause, type CallbackRequest, type CallbackTransportOptions } from './transport.js';

export type NotifyOutcome =
  | { delivered: true; status: number; attempts: number; elapsedMs: number }
  | { delivered: false; cause: CallbackFailureCause | 'dropped' | 'closed'; detail: string; status?: number; attempts: number };

export interface NotifyRequest extends CallbackRequest {
  /** For logs, e.g. 'hangup'. */
  purpose?: string;
  callUuid?: string;
}

export interface CallbackClientOptions extends CallbackTransportOptions {
  logger?: Logger;
  transport?: CallbackTransport;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Requests waiting beyond those in flight; the oldest is dropped past this (default 1000). */
  maxQueue?: number;
}

export interface CallbackClientStats {
  inFlight: number;
  queued: number;
  delivered: number;
  failed: number;
  dropped: number;
}

interface Job { req: NotifyRequest; resolve: (o: NotifyOutcome) => void }

export class CallbackClient {
  private readonly transport: CallbackTransport;
  private readonly ownsTransport: boolean;
  private readonly log: Logger | undefined;
  private readonly concurrency: number;
  private readonly maxQueue: number;
  private readonly queue: Job[] = [];
  private inFlight = 0;
  private closed = false;
  private readonly counts = { delivered: 0, failed: 0, dropped: 0 };

  constructor(opts: CallbackClientOptions = {}) {
    this.transport = opts.transport ?? new CallbackTransport(opts);
    this.ownsTransport = !opts.transport;
    this.log = opts.logger;
    this.concurrency = Math.max(1, opts.concurrency ?? 16);
    this.maxQueue = Math.max(0, opts.maxQueue ?? 1000);
  }

  notify(req: NotifyRequest): Promise<NotifyOutcome> {
    return new Promise<NotifyOutcome>((resolve) => {
      if (this.closed) { resolve({ delivered: false, cause: 'closed', detail: 'callback client closed', attempts: 0 }); return; }
      this.queue.push({ req, resolve });
      while (this.queue.length > this.maxQueue + Math.max(0, this.concurrency - this.inFlight)) {
        const old = this.queue.shift();
        if (!old) break;
        this.counts.dropped++;
        this.log?.warn('callback dropped: queue full', { purpose: old.req.purpose, callUuid: old.req.callUuid, url: redactUrl(old.req.url), queued: this.queue.length });
        old.resolve({ delivered: false, cause: 'dropped', detail: 'callback queue full', attempts: 0 });
      }
      this.pump();
    });
  }

  stats(): CallbackClientStats {
    return { inFlight: this.inFlight, queued: this.queue.length, ...this.counts };
  }

  /** Drops queued requests (in-flight ones finish) and, if owned, closes the transport. */
  close(): void {
    this.closed = true;
    for (const j of this.queue.splice(0)) j.resolve({ delivered: false, cause: 'closed', detail: 'callback client closed', attempts: 0 });
    if (this.ownsTransport) this.transport.close();
  }

  private pump(): void {
    while (this.inFlight < this.concurrency) {
      const job = this.queue.shift();
      if (!job) return;
      this.inFlight++;
      void this.run(job);
    }
  }

  /** Never rejects: every path ends by resolving the job and pumping the queue. */
  private async run(job: Job): Promise<void> {
    let outcome: NotifyOutcome;
    try {
      const r = await this.transport.exchange(job.req, false);
      if (r.ok) outcome = { delivered: true, status: r.status, attempts: r.attempts, elapsedMs: r.elapsedMs };
      // The receiver accepted it and merely answered with a big body: that is a delivery.
      else if (r.cause === 'too_large' && r.status !== undefined && r.status >= 200 && r.status < 300) {
        outcome = { delivered: true, status: r.status, attempts: r.attempts, elapsedMs: r.elapsedMs };
      } else outcome = { delivered: false, cause: r.cause, detail: r.detail, attempts: r.attempts, ...(r.status !== undefined ? { status: r.status } : {}) };
    } catch (err) {
      outcome = { delivered: false, cause: 'network', detail: `unexpected: ${(err as Error).message}`.slice(0, 200), attempts: 1 };
    }
    this.inFlight--;
    if (outcome.delivered) this.counts.delivered++;
    else {
      this.counts.failed++;
      try {
        this.log?.warn('callback failed', { purpose: job.req.purpose, callUuid: job.req.callUuid, url: redactUrl(job.req.url), cause: outcome.cause, detail: outcome.detail, status: outcome.status });
      } catch { /* a broken log sink must not stall the queue */ }
    }
    job.resolve(outcome);
    this.pump();
  }
}

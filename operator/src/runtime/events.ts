/**
 * Kubernetes Events (events.k8s.io/v1) for what a person watching `kubectl describe` should
 * notice. Events are best-effort and never on a reconcile's path: `record` only queues (bounded,
 * like client-go's broadcaster, which drops when its channel is full), a sender drains the queue
 * under a token bucket so thousands of transitions at start-up cannot crowd out status writes at
 * the API server, identical pending events are folded into one, and a failed send is logged.
 */
import { EventsV1Api, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { describeError } from './controller.js';
import { TokenBucket } from './workqueue.js';

export const REPORTING_CONTROLLER = 'sipflow.io/operator';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion?: string;
}

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. Ready or IpAclNotFound. */
  reason: string;
  /** What the controller did, CamelCase, e.g. Reconcile. */
  action: string;
  note: string;
}

export interface EventSink {
  create(namespace: string, body: Record<string, unknown>): Promise<void>;
}

export class EventsV1Sink implements EventSink {
  private readonly api: EventsV1Api;
  constructor(kc: KubeConfig) { this.api = kc.makeApiClient(EventsV1Api); }
  async create(namespace: string, body: Record<string, unknown>): Promise<void> {
    await this.api.createNamespacedEvent({ namespace, body: body as never });
  }
}

export type EventOutcome = 'sent' | 'failed' | 'dropped' | 'folded';

export interface EventMetrics {
  event(outcome: EventOutcome, count?: number): void;
}

export interface EventRecorderOptions {
  sink: EventSink;
  /** Event reportingInstance (the pod). */
  reportingInstance: string;
  logger: Logger;
  clock?: Clock;
  metrics?: EventMetrics;
  /** Events waiting to be sent; a new one beyond this is dropped. Default 1000 (client-go's queue length). */
  maxQueued?: number;
  /** Sustained sends per second and burst. Default 10/s, burst 100. */
  qps?: number;
  burst?: number;
  /** Sends in flight at once. Default 2. */
  concurrency?: number;
  /** At most one "events dropped" warning per this interval. Default 60 s. */
  dropLogIntervalMs?: number;
}

interface Pending {
  namespace: string;
  body: Record<string, unknown>;
}

export class EventRecorder {
  private seq = 0;
  private readonly sink: EventSink;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxQueued: number;
  private readonly concurrency: number;
  private readonly bucket: TokenBucket;
  private readonly dropLogIntervalMs: number;
  /** Insertion-ordered; the key folds identical events about one object. */
  private readonly pending = new Map<string, Pending>();
  private inFlight = 0;
  private timer: TimerHandle | undefined;
  private droppedSinceLog = 0;
  private lastDropLog = -Infinity;
  private readonly idle: (() => void)[] = [];

  constructor(private readonly opts: EventRecorderOptions) {
    this.sink = opts.sink;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    this.maxQueued = Math.max(1, opts.maxQueued ?? 1000);
    this.concurrency = Math.max(1, opts.concurrency ?? 2);
    this.bucket = new TokenBucket(opts.qps ?? 10, Math.max(1, opts.burst ?? 100), this.clock);
    this.dropLogIntervalMs = opts.dropLogIntervalMs ?? 60_000;
  }

  /** Events queued and not yet handed to the sink. */
  get queued(): number { return this.pending.size; }

  /** Queues an Event; never blocks and never throws. */
  record(target: EventTarget, ev: EventSpec): void {
    const key = [target.kind, target.namespace, target.name, target.uid ?? '', ev.type, ev.reason, ev.action].join('\u0000');
    const existing = this.pending.get(key);
    if (existing) {
      // Same object, same reason, not sent yet: one Event with the latest note says it all.
      existing.body.note = ev.note.slice(0, 1024);
      this.opts.metrics?.event('folded');
      return;
    }
    if (this.pending.size >= this.maxQueued) {
      this.dropped(1);
      return;
    }
    this.pending.set(key, { namespace: target.namespace, body: this.body(target, ev) });
    this.pump();
  }

  /** Drops every queued Event (lost leadership, shutdown); returns how many. Sends in flight finish. */
  clear(): number {
    const n = this.pending.size;
    this.pending.clear();
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (n > 0) this.dropped(n);
    this.notifyIdle();
    return n;
  }

  /** Resolves once nothing is queued or in flight (tests, graceful shutdown). */
  whenIdle(): Promise<void> {
    if (this.pending.size === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private body(target: EventTarget, ev: EventSpec): Record<string, unknown> {
    const now = new V1MicroTime(this.clock.wallNow());
    const name = `${target.name}.${now.getTime().toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    return {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: name.slice(0, 253), namespace: target.namespace },
      // A MicroTime, serialised with six fractional digits as the API requires; the time of the transition, not of the send.
      eventTime: now,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.opts.reportingInstance.slice(0, 128),
      action: ev.action,
      reason: ev.reason,
      note: ev.note.slice(0, 1024),
      type: ev.type,
      regarding: {
        apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name,
        ...(target.uid ? { uid: target.uid } : {}),
        ...(target.resourceVersion ? { resourceVersion: target.resourceVersion } : {}),
      },
    };
  }

  private pump(): void {
    while (this.timer === undefined && this.inFlight < this.concurrency && this.pending.size > 0) {
      const wait = this.bucket.reserve();
      if (wait > 0) {
        // The token is ours already; the send waits for it.
        this.timer = this.clock.setTimeout(() => {
          this.timer = undefined;
          this.sendNext();
          this.pump();
        }, wait);
        return;
      }
      this.sendNext();
    }
  }

  private sendNext(): void {
    const first = this.pending.entries().next();
    if (first.done) return;
    const [key, p] = first.value;
    this.pending.delete(key);
    this.inFlight++;
    this.sink.create(p.namespace, p.body).then(
      () => this.opts.metrics?.event('sent'),
      (e: unknown) => {
        this.opts.metrics?.event('failed');
        const r = p.body.regarding as { kind: string; namespace: string; name: string };
        this.log.warn('could not record event', { regarding: `${r.kind} ${r.namespace}/${r.name}`, reason: p.body.reason, error: describeError(e) });
      },
    ).finally(() => {
      this.inFlight--;
      this.pump();
      this.notifyIdle();
    });
  }

  private dropped(n: number): void {
    this.opts.metrics?.event('dropped', n);
    this.droppedSinceLog += n;
    const now = this.clock.now();
    if (now - this.lastDropLog >= this.dropLogIntervalMs) {
      this.log.warn('events dropped (queue full or cleared); Events are best-effort', { dropped: this.droppedSinceLog, queued: this.pending.size });
      this.droppedSinceLog = 0;
      this.lastDropLog = now;
    }
  }

  private notifyIdle(): void {
    if (this.pending.size > 0 || this.inFlight > 0) return;
    for (const w of this.idle.splice(0)) w();
  }
}

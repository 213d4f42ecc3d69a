/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules: acquire or renew
 * by replacing the Lease at the resourceVersion we read (409 = someone else wrote first = lost),
 * judge another holder's lease expired by when WE last saw its record change (never by its
 * renewTime, which is another machine's clock), and give up leadership as soon as renewals
 * miss the renew deadline. Releasing empties holderIdentity so a standby takes over at once.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { sleep, systemClock, type Clock } from './clock.js';
import { describeError, httpStatus } from './controller.js';

export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** MicroTime strings (RFC 3339, six fractional digits). */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions: number;
  resourceVersion?: string;
}

/** The Lease changed (or was created) between our read and our write. */
export class LeaseConflictError extends Error {
  constructor(what: string) {
    super(`lease ${what} conflicted with another writer`);
    this.name = 'LeaseConflictError';
  }
}

export interface LeaseClient {
  /** Undefined when the Lease does not exist. */
  get(): Promise<LeaseRecord | undefined>;
  /** Throws LeaseConflictError when it already exists. */
  create(rec: LeaseRecord): Promise<LeaseRecord>;
  /** Replaces at rec.resourceVersion; throws LeaseConflictError on 409. */
  replace(rec: LeaseRecord): Promise<LeaseRecord>;
}

function toRecord(l: V1Lease): LeaseRecord {
  const s = l.spec ?? {};
  // client-node does not know the MicroTime type when reading, so these arrive as strings.
  const micro = (d: unknown): string | undefined =>
    typeof d === 'string' ? d : d instanceof Date ? new V1MicroTime(d.getTime()).toISOString() : undefined;
  return {
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    ...(s.acquireTime ? { acquireTime: micro(s.acquireTime) } : {}),
    ...(s.renewTime ? { renewTime: micro(s.renewTime) } : {}),
    leaseTransitions: s.leaseTransitions ?? 0,
    ...(l.metadata?.resourceVersion ? { resourceVersion: l.metadata.resourceVersion } : {}),
  };
}

export class KubeLeaseClient implements LeaseClient {
  private readonly api: CoordinationV1Api;
  constructor(kc: KubeConfig, private readonly namespace: string, private readonly name: string) {
    this.api = kc.makeApiClient(CoordinationV1Api);
  }
  private body(rec: LeaseRecord): V1Lease {
    const micro = (s: string | undefined): V1MicroTime | undefined => (s ? new V1MicroTime(s) : undefined);
    return {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, ...(rec.resourceVersion ? { resourceVersion: rec.resourceVersion } : {}) },
      spec: {
        holderIdentity: rec.holderIdentity,
        leaseDurationSeconds: rec.leaseDurationSeconds,
        ...(rec.acquireTime ? { acquireTime: micro(rec.acquireTime) } : {}),
        ...(rec.renewTime ? { renewTime: micro(rec.renewTime) } : {}),
        leaseTransitions: rec.leaseTransitions,
      },
    };
  }
  async get(): Promise<LeaseRecord | undefined> {
    try {
      return toRecord(await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }));
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }
  async create(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return toRecord(await this.api.createNamespacedLease({ namespace: this.namespace, body: this.body(rec) }));
    } catch (e) {
      if (httpStatus(e) === 409) throw new LeaseConflictError('create');
      throw e;
    }
  }
  async replace(rec: LeaseRecord): Promise<LeaseRecord> {
    try {
      return toRecord(await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: this.body(rec) }));
    } catch (e) {
      if (httpStatus(e) === 409) throw new LeaseConflictError('replace');
      throw e;
    }
  }
}

export interface LeaderElectorOptions {
  client: LeaseClient;
  identity: string;
  logger: Logger;
  clock?: Clock;
  /** controller-runtime defaults: 15 s, 10 s, 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  /** Called once per term, as soon as leadership is lost or released. */
  onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly client: LeaseClient;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly opts: LeaderElectorOptions;
  private leading = false;
  private observed: LeaseRecord | undefined;
  private observedAt = 0;
  private lastRenew = 0;
  /** Last time a tick reached the API, for /readyz of a standby. */
  private lastContact = -Infinity;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(opts: LeaderElectorOptions) {
    this.opts = opts;
    this.identity = opts.identity;
    this.client = opts.client;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ identity: opts.identity });
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.renewDeadlineMs < this.leaseDurationMs)) throw new RangeError('renew deadline must be shorter than the lease duration');
    if (!(this.retryPeriodMs < this.renewDeadlineMs)) throw new RangeError('retry period must be shorter than the renew deadline');
  }

  isLeader(): boolean { return this.leading; }

  /** Leading with a fresh renewal, or standing by and able to read the Lease. */
  healthy(): boolean {
    const now = this.clock.now();
    if (this.leading) return now - this.lastRenew <= this.renewDeadlineMs;
    return now - this.lastContact <= this.leaseDurationMs;
  }

  /** The holder we last saw (for logs and tests). */
  observedHolder(): string | undefined { return this.observed?.holderIdentity; }

  start(): void {
    if (this.loop) return;
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        await this.tick();
        await sleep(this.clock, this.retryPeriodMs, this.abort.signal);
      }
    })();
  }

  /** One acquire-or-renew round; `start` calls it every retry period, tests call it directly. */
  async tick(): Promise<void> {
    if (this.abort.signal.aborted) return;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
      this.lastContact = this.clock.now();
    } catch (e) {
      if (e instanceof LeaseConflictError) {
        this.lastContact = this.clock.now();
        if (this.leading) this.lose('the Lease was written by someone else');
        return;
      }
      this.log.warn('lease round failed', { error: describeError(e) });
    }
    if (this.abort.signal.aborted) {
      if (ok && !this.leading) await this.releaseQuietly();
      return;
    }
    if (ok) {
      this.lastRenew = this.clock.now();
      if (!this.leading) {
        this.leading = true;
        this.log.info('acquired leadership');
        this.opts.onStartedLeading();
      }
      return;
    }
    if (this.leading) {
      if (this.observed && this.observed.holderIdentity !== this.identity && this.observed.holderIdentity !== '') {
        this.lose(`the Lease is held by ${this.observed.holderIdentity}`);
      } else if (this.clock.now() - this.lastRenew > this.renewDeadlineMs) {
        this.lose(`no successful renewal for ${this.renewDeadlineMs} ms`);
      }
    }
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.log.warn('lost leadership', { why });
    this.opts.onStoppedLeading();
  }

  private nowMicro(): string {
    return new V1MicroTime(this.clock.wallNow()).toISOString();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = this.nowMicro();
    const current = await this.client.get();
    if (!current) {
      const rec = await this.client.create({
        holderIdentity: this.identity, leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        acquireTime: now, renewTime: now, leaseTransitions: 0,
      });
      this.observe(rec);
      return true;
    }
    if (!this.observed || this.observed.resourceVersion !== current.resourceVersion || this.observed.holderIdentity !== current.holderIdentity) {
      this.observe(current);
    }
    const mine = current.holderIdentity === this.identity;
    const free = current.holderIdentity === '';
    if (!mine && !free && this.observedAt + current.leaseDurationSeconds * 1000 > this.clock.now()) return false;
    const rec = await this.client.replace({
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: mine && current.acquireTime ? current.acquireTime : now,
      renewTime: now,
      leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
      ...(current.resourceVersion ? { resourceVersion: current.resourceVersion } : {}),
    });
    this.observe(rec);
    return true;
  }

  private observe(rec: LeaseRecord): void {
    this.observed = rec;
    this.observedAt = this.clock.now();
  }

  /**
   * Stops the loop; when leading (and `release`), hands the Lease back so a standby need not
   * wait for it to expire. onStoppedLeading runs before the release is written.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.abort.abort();
    await this.loop;
    const wasLeading = this.leading;
    if (wasLeading) {
      this.leading = false;
      this.opts.onStoppedLeading();
    }
    if (wasLeading && opts.release !== false) await this.releaseQuietly();
  }

  private async releaseQuietly(): Promise<void> {
    const rec = this.observed;
    if (!rec || rec.holderIdentity !== this.identity) return;
    const now = this.nowMicro();
    try {
      const out = await this.client.replace({
        holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now,
        leaseTransitions: rec.leaseTransitions,
        ...(rec.resourceVersion ? { resourceVersion: rec.resourceVersion } : {}),
      });
      this.observe(out);
      this.log.info('released leadership');
    } catch (e) {
      this.log.warn('could not release the lease; it will expire', { error: describeError(e) });
    }
  }
}

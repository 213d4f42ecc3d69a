/**
 * An informer over client-node's ListWatch that survives what ListWatch alone does not: it
 * restarts with exponential backoff after any error (ListWatch stays stopped), restarts a watch
 * that has been silent for too long (client-node sets no watch timeout, so a half-open
 * connection would hang forever), replays its cache periodically (there is no resync), and
 * tells /healthz whether it is connected.
 *
 * Restarts are guarded by an epoch: every watch or list started before a restart is cut off
 * from the cache, so a late AbortError or a late list result can never feed stale data into it
 * or abort the watch that replaced it.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { describeError, httpStatus } from './controller.js';
import type { ResourceType } from './resources.js';

export type InformerEvent<T> =
  | { type: 'add'; obj: T }
  | { type: 'update'; obj: T; old: T | undefined }
  | { type: 'delete'; obj: T }
  /** Periodic replay of a cached object: the level-triggered safety net. */
  | { type: 'resync'; obj: T };

export interface InformerOptions<T extends KubernetesObject> {
  resource: ResourceType<T>;
  logger: Logger;
  clock?: Clock;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Applied to every object before it is cached (client-go's SetTransform): drop what the
   * operator never reads, to bound memory. Bookmarks and errors are not transformed.
   */
  transform?: (obj: T) => T;
  /** Restart the watch when nothing (event, bookmark, connect) was seen for this long. Default 5 min. */
  watchdogMs?: number;
  /** Replay every cached object this often. Default 10 min; 0 disables. */
  resyncMs?: number;
  /** Restart backoff after errors: starts here, doubles, capped at maxBackoffMs. Default 1 s → 60 s. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Page size of the initial list; bounds the peak memory of listing many objects. Default 500. */
  pageSize?: number;
  /**
   * For kinds with a status subresource, where metadata.generation moves with every spec change:
   * an update of the same object (uid) at the same generation keeps the cached spec object and
   * drops the freshly parsed copy. A status write then promotes only metadata and status into
   * the long-lived heap, not a third copy of a spec that did not change (13,000 status writes
   * at start-up otherwise leave tens of MiB of old-generation garbage).
   */
  shareUnchangedSpec?: boolean;
}

export interface InformerMetrics {
  restart(resource: string, cause: 'error' | 'watchdog'): void;
}

class StaleListError extends Error {
  constructor() {
    super('list started before an informer restart; result dropped');
    this.name = 'StaleListError';
  }
}

/** client-node's Watch, with every request tagged by the epoch it started in. */
class EpochWatch extends Watch {
  epoch = 0;
  private readonly live = new Set<AbortController>();

  constructor(kc: KubeConfig, private readonly onActivity: () => void, private readonly transform: (o: KubernetesObject) => KubernetesObject) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const epoch = this.epoch;
    let finished = false;
    // Bookmarks keep the resume point fresh and prove a quiet watch is alive (watchdog).
    const ctl = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, (phase, obj, raw) => {
      if (epoch !== this.epoch) return;
      this.onActivity();
      const o = (phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED') && obj && typeof obj === 'object'
        ? this.transform(obj as KubernetesObject) : obj;
      callback(phase, o, raw);
    }, (err) => {
      finished = true;
      if (epoch === this.epoch) done(err);
    });
    if (epoch !== this.epoch) ctl.abort();
    else if (!finished) {
      this.live.add(ctl);
      ctl.signal.addEventListener('abort', () => this.live.delete(ctl), { once: true });
    }
    return ctl;
  }

  /** Cuts every running request off from the cache and aborts it. */
  invalidate(): void {
    this.epoch++;
    for (const c of [...this.live]) c.abort();
    this.live.clear();
  }
}

function isAbort(e: unknown): boolean {
  if (e instanceof StaleListError) return true;
  const o = e as { name?: unknown; type?: unknown } | null;
  return !!o && (o.name === 'AbortError' || o.type === 'aborted');
}

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what no reconciler reads but every cached object would carry: managedFields (often
 * larger than the object itself) and kubectl's last-applied-configuration annotation (a second
 * copy of the spec as a JSON string). Mutates and returns `obj`.
 */
export function stripForCache<T extends KubernetesObject>(obj: T): T {
  const m = obj.metadata;
  if (!m) return obj;
  if (m.managedFields) delete m.managedFields;
  if (m.annotations && LAST_APPLIED_ANNOTATION in m.annotations) {
    delete m.annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(m.annotations).length === 0) delete m.annotations;
  }
  return obj;
}

export function objectKeyOf(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name ?? ''}` : (o.metadata?.name ?? '');
}

export class Informer<T extends KubernetesObject = KubernetesObject> {
  readonly resource: ResourceType<T>;
  readonly synced: Promise<void>;
  private resolveSynced!: () => void;
  private hasSyncedFlag = false;
  private readonly lw: ListWatch<T>;
  private readonly watch: EpochWatch;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly handlers: ((ev: InformerEvent<T>) => void)[] = [];
  private readonly shadow = new Map<string, T>();
  private readonly watchdogMs: number;
  private readonly resyncMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private backoffMs: number;
  private stopped = true;
  private connectedFlag = false;
  private lastActivity: number;
  private lastConnected: number;
  private restartTimer: TimerHandle | undefined;
  private watchdogTimer: TimerHandle | undefined;
  private resyncTimer: TimerHandle | undefined;
  metrics: InformerMetrics | undefined;

  constructor(kc: KubeConfig, opts: InformerOptions<T>) {
    this.resource = opts.resource;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger.child({ informer: `${opts.resource.kind}${opts.resource.namespace ? `@${opts.resource.namespace}` : ''}` });
    this.watchdogMs = opts.watchdogMs ?? 5 * 60_000;
    this.resyncMs = opts.resyncMs ?? 10 * 60_000;
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 60_000;
    this.backoffMs = this.initialBackoffMs;
    this.lastActivity = this.clock.now();
    this.lastConnected = this.clock.now();
    this.synced = new Promise((r) => { this.resolveSynced = r; });
    const transform = opts.transform ?? ((o: T) => o);
    const { apiVersion, kind } = opts.resource;
    const normalize = (o: KubernetesObject): T => {
      const obj = o as T;
      if (obj.apiVersion === undefined) obj.apiVersion = apiVersion;
      if (obj.kind === undefined) obj.kind = kind;
      stripForCache(obj);
      if (opts.shareUnchangedSpec) this.shareSpec(obj);
      return transform(obj);
    };
    this.watch = new EpochWatch(kc, () => this.activity(), normalize as (o: KubernetesObject) => KubernetesObject);
    const pageSize = opts.pageSize ?? 500;
    const listFn = async (): Promise<KubernetesListObject<T>> => {
      const epoch = this.watch.epoch;
      const items: T[] = [];
      let resourceVersion: string | undefined;
      let continueToken: string | undefined;
      for (let page = 0; page < 100_000; page++) {
        const res = await opts.resource.list({
          ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
          ...(opts.fieldSelector !== undefined ? { fieldSelector: opts.fieldSelector } : {}),
          limit: pageSize,
          ...(continueToken !== undefined ? { continueToken } : {}),
        });
        if (epoch !== this.watch.epoch) throw new StaleListError();
        resourceVersion ??= res.metadata?.resourceVersion;
        for (const item of res.items) items.push(normalize(item));
        continueToken = res.metadata?._continue || undefined;
        if (!continueToken) break;
      }
      this.activity();
      return { metadata: { ...(resourceVersion !== undefined ? { resourceVersion } : {}) }, items };
    };
    this.lw = new ListWatch<T>(opts.resource.path, this.watch, listFn, false, opts.labelSelector, opts.fieldSelector);
    this.lw.on('add', (obj) => {
      this.shadow.set(objectKeyOf(obj), obj);
      this.emit({ type: 'add', obj });
    });
    this.lw.on('update', (obj) => {
      const k = objectKeyOf(obj);
      const old = this.shadow.get(k);
      this.shadow.set(k, obj);
      this.emit({ type: 'update', obj, old });
    });
    this.lw.on('delete', (obj) => {
      this.shadow.delete(objectKeyOf(obj));
      this.emit({ type: 'delete', obj });
    });
    this.lw.on('connect', () => {
      this.connectedFlag = true;
      this.activity();
    });
    this.lw.on('error', (err) => this.onError(err));
  }

  on(handler: (ev: InformerEvent<T>) => void): void { this.handlers.push(handler); }

  get hasSynced(): boolean { return this.hasSyncedFlag; }
  get connected(): boolean { return this.connectedFlag; }

  /** Connected, or disconnected for less than the watchdog bound (a restart is on its way). */
  healthy(): boolean {
    if (this.stopped) return false;
    return this.connectedFlag || this.clock.now() - this.lastConnected <= this.watchdogMs;
  }

  get(name: string, namespace?: string): T | undefined { return this.lw.get(name, namespace); }
  list(namespace?: string): readonly T[] { return this.lw.list(namespace); }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.lastActivity = this.clock.now();
    this.lastConnected = this.clock.now();
    this.run();
    this.armWatchdog();
    this.armResync();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.connectedFlag = false;
    for (const t of [this.restartTimer, this.watchdogTimer, this.resyncTimer]) this.clock.clearTimeout(t);
    this.restartTimer = this.watchdogTimer = this.resyncTimer = undefined;
    this.watch.invalidate();
    await this.lw.stop();
  }

  /** Restart now (also used by tests); the cache and resume point are kept. */
  restart(cause: 'error' | 'watchdog'): void {
    if (this.stopped) return;
    this.metrics?.restart(this.resource.kind, cause);
    this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.watch.invalidate();
    void this.lw.stop().then(() => {
      if (!this.stopped) this.run();
    });
  }

  private run(): void {
    const epoch = this.watch.epoch;
    this.lw.start().then(() => {
      if (epoch === this.watch.epoch && !this.stopped && !this.hasSyncedFlag && this.lw.latestResourceVersion() !== '') {
        this.hasSyncedFlag = true;
        this.resolveSynced();
      }
    }, (err: unknown) => this.onError(err));
  }

  private shareSpec(obj: T): void {
    const m = obj.metadata;
    const cached = this.shadow.get(objectKeyOf(obj)) as (T & { spec?: unknown }) | undefined;
    if (!m || !cached || m.generation === undefined || !('spec' in obj)) return;
    if (cached.metadata?.uid !== m.uid || cached.metadata?.generation !== m.generation || cached.spec === undefined) return;
    (obj as T & { spec?: unknown }).spec = cached.spec;
  }

  private activity(): void {
    this.lastActivity = this.clock.now();
    this.lastConnected = this.lastActivity;
    this.backoffMs = this.initialBackoffMs;
  }

  private onError(err: unknown): void {
    if (this.stopped || isAbort(err)) return;
    this.connectedFlag = false;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
    this.log.warn('list/watch failed; restarting', { error: describeError(err), status: httpStatus(err), retryInMs: Math.round(delay) });
    this.clock.clearTimeout(this.restartTimer);
    this.restartTimer = this.clock.setTimeout(() => {
      this.restartTimer = undefined;
      this.restart('error');
    }, delay);
  }

  private armWatchdog(): void {
    const period = Math.max(10, Math.floor(this.watchdogMs / 4));
    this.watchdogTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      if (this.restartTimer === undefined && this.clock.now() - this.lastActivity > this.watchdogMs) {
        this.log.warn('watch silent for too long; restarting it', { silentMs: Math.round(this.clock.now() - this.lastActivity) });
        this.lastActivity = this.clock.now();
        this.restart('watchdog');
      }
      this.armWatchdog();
    }, period);
  }

  private armResync(): void {
    if (this.resyncMs <= 0) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      if (this.stopped) return;
      if (this.hasSyncedFlag) for (const obj of this.lw.list()) this.emit({ type: 'resync', obj });
      this.armResync();
    }, this.resyncMs);
  }

  private emit(ev: InformerEvent<T>): void {
    for (const h of this.handlers) {
      try {
        h(ev);
      } catch (e) {
        this.log.error('informer event handler threw', { error: describeError(e) });
      }
    }
  }
}

/**
 * The `--kube` config source: watches the contract ConfigMaps and Secrets of one namespace
 * through the API server and offers each complete generation to the ConfigStore, so media pods
 * pick up a new routing config in about a second without volume mounts or restarts.
 *
 * RBAC the media pod's ServiceAccount needs, in the contract namespace only (a Role plus a
 * RoleBinding, never a ClusterRole):
 *   - apiGroups: [""]
 *     resources: ["configmaps", "secrets"]
 *     verbs: ["get", "list", "watch"]
 * Both informers are label-selected (`app.kubernetes.io/managed-by=sipflow-operator`), so the
 * pod caches only the operator's own objects, not every Secret of the namespace.
 *
 * Failure model: the API server going away never clears anything. The informer caches and the
 * served config stay as they are; watches are restarted with exponential backoff, and a
 * watchdog restarts a watch that has been silent too long (client-node 1.4 sets no watch
 * timeout, so a half-open connection would otherwise hang forever).
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  CoreV1Api,
  KubeConfig,
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1ConfigMap,
  type V1ObjectMeta,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  CREDENTIALS_KEY, INDEX_KEY, INDEX_NAME, ROUTING_KEY, assembleRuntimeConfig, shardSha256,
} from '@sipflow/operator/contract/contract';
import type { RoutingIndex } from '@sipflow/operator/contract/types';
import type { Logger } from '@sipflow/operator/log';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { MediaMetrics } from '../observability/metrics.js';
import type { ConfigLoadResult, ConfigStore } from './store.js';

export const MANAGED_BY_SELECTOR = 'app.kubernetes.io/managed-by=sipflow-operator';
export const IN_CLUSTER_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export class KubeNamespaceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeNamespaceError';
  }
}

/**
 * The namespace to watch: `--kube-namespace`, else `POD_NAMESPACE` (downward API), else the
 * service account's namespace file. Refuses to guess beyond that: watching `default` by
 * mistake would look like "no config" rather than a clear error.
 */
export function resolveKubeNamespace(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  namespaceFile: string = IN_CLUSTER_NAMESPACE_FILE,
): string {
  const pick = (v: string | undefined): string | undefined => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);
  const ns = pick(explicit) ?? pick(env.POD_NAMESPACE) ?? (() => {
    try {
      return pick(readFileSync(namespaceFile, 'utf8'));
    } catch {
      return undefined;
    }
  })();
  if (ns === undefined) {
    throw new KubeNamespaceError(`--kube needs a namespace: pass --kube-namespace, set POD_NAMESPACE, or run in a pod (${namespaceFile})`);
  }
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new KubeNamespaceError(`not a valid namespace name: ${JSON.stringify(ns)}`);
  return ns;
}

/** What the caches hold right now, seen from the contract's point of view. */
export type KubeAssembly =
  /** A generation is incomplete or mid-update (no index yet, a shard missing or stale). */
  | { state: 'pending'; reason: string }
  /** The index and every shard it names are consistent; `result` may still be a refusal (invalid contract). */
  | { state: 'complete'; result: ConfigLoadResult; indexUpdatedAt: number | undefined };

export interface ContractObjects {
  configMap(name: string): V1ConfigMap | undefined;
  secret(name: string): V1Secret | undefined;
}

/** Latest write to the object as the API server recorded it (managedFields times, second resolution). */
export function lastUpdateTime(meta: V1ObjectMeta | undefined): number | undefined {
  let latest: number | undefined;
  for (const mf of meta?.managedFields ?? []) {
    // Listed objects carry Date (client-node deserializes them); watched objects carry the raw string.
    const raw = mf.time as Date | string | undefined;
    if (raw === undefined) continue;
    const t = new Date(raw).getTime();
    if (Number.isFinite(t) && (latest === undefined || t > latest)) latest = t;
  }
  return latest;
}

/**
 * Assembles from the caches. Missing or stale shards are reported as `pending` rather than as a
 * refusal: during an update the shards and the index arrive on two separate watches in no
 * guaranteed order, so an index ahead of its shards is normal for a moment.
 */
export function assembleFromObjects(objects: ContractObjects): KubeAssembly {
  const indexCm = objects.configMap(INDEX_NAME);
  const indexText = indexCm?.data?.[INDEX_KEY];
  if (indexText === undefined) return { state: 'pending', reason: `ConfigMap ${INDEX_NAME} (key ${INDEX_KEY}) not found` };
  let index: Partial<RoutingIndex> | undefined;
  try {
    index = JSON.parse(indexText) as Partial<RoutingIndex>;
  } catch {
    index = undefined; // assembleRuntimeConfig reports the parse error with context.
  }
  const shardTexts = new Map<string, string>();
  const refs = (list: unknown): { name: string; sha256: string }[] =>
    (Array.isArray(list) ? list : []).filter((r): r is { name: string; sha256: string } =>
      typeof r === 'object' && r !== null && typeof (r as { name?: unknown }).name === 'string' && typeof (r as { sha256?: unknown }).sha256 === 'string');
  if (index && typeof index === 'object') {
    for (const ref of refs(index.routingShards)) {
      const text = objects.configMap(ref.name)?.data?.[ROUTING_KEY];
      if (text === undefined) return { state: 'pending', reason: `routing shard ConfigMap ${ref.name} named by the index is not there yet` };
      if (shardSha256(text) !== ref.sha256) return { state: 'pending', reason: `routing shard ConfigMap ${ref.name} does not match the index sha256 (not yet updated?)` };
      shardTexts.set(ref.name, text);
    }
    for (const ref of refs(index.credentialShards)) {
      const b64 = objects.secret(ref.name)?.data?.[CREDENTIALS_KEY];
      if (b64 === undefined) return { state: 'pending', reason: `credential shard Secret ${ref.name} named by the index is not there yet` };
      const text = Buffer.from(b64, 'base64').toString('utf8');
      if (shardSha256(text) !== ref.sha256) return { state: 'pending', reason: `credential shard Secret ${ref.name} does not match the index sha256 (not yet updated?)` };
      // A name listed in both lists lands once here; assembleRuntimeConfig refuses the duplicate.
      shardTexts.set(ref.name, text);
    }
  }
  const assembled = assembleRuntimeConfig(indexText, shardTexts);
  return {
    state: 'complete',
    result: assembled.ok ? { ok: true, config: assembled.config, warnings: [] } : { ok: false, error: assembled.error },
    indexUpdatedAt: lastUpdateTime(indexCm?.metadata),
  };
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

function backoffDelay(policy: BackoffPolicy, failures: number, random: () => number): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(failures, 30));
  // ±20 % jitter so a fleet of pods does not reconnect in lockstep after an API server restart.
  return Math.max(1, Math.round(base * (0.8 + 0.4 * random())));
}

type ResourceKind = 'configmaps' | 'secrets';

interface ResourceWatchOptions {
  clock: Clock;
  logger: Logger;
  metrics: MediaMetrics | undefined;
  backoff: BackoffPolicy;
  watchdogMs: number;
  random: () => number;
  onChange: () => void;
  onSynced: () => void;
  onConnection: () => void;
}

/**
 * One informer plus what client-node 1.4 leaves to the caller: restart after an error (it stays
 * stopped otherwise), a watchdog for silent watches, and a `connected` flag. The cache survives
 * restarts, so a restart resumes from the last resourceVersion instead of relisting.
 */
class ResourceWatch<T extends KubernetesObject> {
  connected = false;
  synced = false;
  private epoch = 0;
  private failedEpoch = -1;
  private failures = 0;
  private stopping = false;
  private stopped = false;
  private lastActivity: number;
  private retryTimer: TimerHandle | undefined;
  private watchdogTimer: TimerHandle | undefined;
  private starting: Promise<void> | undefined;

  constructor(readonly kind: ResourceKind, readonly informer: Informer<T> & ObjectCache<T>, private readonly o: ResourceWatchOptions) {
    this.lastActivity = o.clock.now();
    const changed = (): void => { this.lastActivity = this.o.clock.now(); this.o.onChange(); };
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('connect', () => { this.lastActivity = this.o.clock.now(); });
    informer.on('error', (err: unknown) => this.failed(err, this.epoch));
  }

  start(): void {
    this.launch();
    this.armWatchdog();
  }

  private launch(): void {
    if (this.stopped) return;
    const epoch = ++this.epoch;
    this.lastActivity = this.o.clock.now();
    // start() resolves once the watch is open, or after it reported an error through 'error'.
    const started = this.informer.start().then(
      () => {
        if (this.stopped || epoch !== this.epoch || this.failedEpoch === epoch) return;
        this.failures = 0;
        this.lastActivity = this.o.clock.now();
        this.setConnected(true);
        if (!this.synced) { this.synced = true; this.o.onSynced(); }
      },
      (err: unknown) => this.failed(err, epoch),
    );
    this.starting = started;
  }

  private failed(err: unknown, epoch: number): void {
    // Our own stop() aborts the watch request, which client-node reports as an AbortError.
    if (this.stopping || this.stopped) return;
    if (epoch !== this.epoch || this.failedEpoch === epoch) return;
    this.failedEpoch = epoch;
    this.setConnected(false);
    const delayMs = backoffDelay(this.o.backoff, this.failures, this.o.random);
    this.failures++;
    this.o.metrics?.kubeWatchRestarts.inc({ resource: this.kind, reason: 'error' });
    const e = err as { name?: string; message?: string; code?: unknown; statusCode?: unknown } | undefined;
    // A long outage retries every maxMs; keep the log to the first attempts and then every tenth.
    const level = this.failures <= 3 || this.failures % 10 === 0 ? 'warn' : 'debug';
    this.o.logger[level]('watch failed; retrying with backoff (still serving the last good config)', {
      resource: this.kind, attempt: this.failures, retryInMs: delayMs,
      errorName: e?.name, error: e?.message ?? String(err), code: e?.statusCode ?? e?.code,
    });
    this.o.clock.clearTimeout(this.retryTimer);
    this.retryTimer = this.o.clock.setTimeout(() => { this.retryTimer = undefined; this.launch(); }, delayMs);
  }

  private armWatchdog(): void {
    if (this.stopped) return;
    // Check a few times per window so a silent watch is caught within ~1.25 windows.
    const every = Math.max(1, Math.floor(this.o.watchdogMs / 4));
    this.watchdogTimer = this.o.clock.setTimeout(() => {
      this.watchdogTimer = undefined;
      this.checkSilence();
      this.armWatchdog();
    }, every);
  }

  private checkSilence(): void {
    if (this.stopped || this.retryTimer !== undefined) return; // backing off: the retry is already scheduled
    const silentMs = this.o.clock.now() - this.lastActivity;
    if (silentMs < this.o.watchdogMs) return;
    this.o.metrics?.kubeWatchRestarts.inc({ resource: this.kind, reason: 'silent' });
    this.o.logger.info('watch silent for too long; restarting it', { resource: this.kind, silentMs: Math.round(silentMs) });
    this.abortWatch();
    this.launch();
  }

  private abortWatch(): void {
    this.stopping = true;
    try {
      void this.informer.stop();
    } finally {
      this.stopping = false;
    }
  }

  private setConnected(c: boolean): void {
    if (this.connected === c) return;
    this.connected = c;
    this.o.onConnection();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopping = true;
    this.stopped = true;
    this.o.clock.clearTimeout(this.retryTimer);
    this.o.clock.clearTimeout(this.watchdogTimer);
    this.retryTimer = undefined;
    this.watchdogTimer = undefined;
    await this.informer.stop();
    // A start() still listing opens its watch after the list returns, whatever stop() said;
    // wait for it (bounded: a hung list must not hang shutdown) and abort that watch too.
    if (this.starting) {
      let bound: NodeJS.Timeout | undefined;
      await Promise.race([this.starting, new Promise<void>((r) => { bound = setTimeout(r, 2000); bound.unref(); })]);
      clearTimeout(bound);
      await this.informer.stop();
    }
    this.connected = false;
  }
}

export interface KubeConfigSourceOptions {
  store: ConfigStore;
  logger: Logger;
  /** Default: `loadFromDefault()` (in-cluster service account, else KUBECONFIG / ~/.kube/config). */
  kubeConfig?: KubeConfig;
  /** Default: resolveKubeNamespace(undefined). */
  namespace?: string;
  metrics?: MediaMetrics;
  clock?: Clock;
  /** Coalesces the burst of events of one operator write (default 50 ms). */
  debounceMs?: number;
  /** How long an incomplete generation may stay incomplete before it is refused loudly (default 5 s). */
  partialGraceMs?: number;
  /** A watch with no event and no (re)connect for this long is restarted (default 5 min). */
  watchdogMs?: number;
  /** Bound on one list call (default 30 s). */
  listTimeoutMs?: number;
  backoff?: BackoffPolicy;
  /** For deterministic jitter in tests. */
  random?: () => number;
}

export interface KubeConfigSourceEvents {
  /** `connected` changed. */
  connection: [connected: boolean];
  /** The caches hold an incomplete generation; it is not offered (yet). */
  pending: [reason: string];
}

/** Watches the contract objects of one namespace and feeds the ConfigStore. */
export class KubeConfigSource extends EventEmitter<KubeConfigSourceEvents> {
  readonly namespace: string;
  /** The `origin` this source passes to ConfigStore.offer. */
  readonly origin: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly configMaps: ResourceWatch<V1ConfigMap>;
  private readonly secrets: ResourceWatch<V1Secret>;
  private readonly debounceMs: number;
  private readonly partialGraceMs: number;
  private debounceTimer: TimerHandle | undefined;
  private graceTimer: TimerHandle | undefined;
  private pendingSince: number | undefined;
  private lastPendingReason: string | undefined;
  /** The refusal last passed to the store, so a persisting problem is reported once. */
  private reportedRefusal: string | undefined;
  /** The generation last offered successfully, so unrelated events do not re-offer it. */
  private lastOffered: string | undefined;
  private startedWall = 0;
  private wasConnected = false;
  private started = false;
  private stopped = false;

  constructor(private readonly o: KubeConfigSourceOptions) {
    super();
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger;
    this.debounceMs = o.debounceMs ?? 50;
    this.partialGraceMs = o.partialGraceMs ?? 5000;
    this.namespace = o.namespace ?? resolveKubeNamespace(undefined);
    this.origin = `kube:${this.namespace}`;
    const kc = o.kubeConfig ?? (() => { const k = new KubeConfig(); k.loadFromDefault(); return k; })();
    const core = kc.makeApiClient(CoreV1Api);
    const ns = this.namespace;
    const listTimeoutMs = o.listTimeoutMs ?? 30_000;
    const bounded = <L>(what: string, p: Promise<L>): Promise<L> => new Promise<L>((resolve, reject) => {
      const t = this.clock.setTimeout(() => reject(new Error(`listing ${what} in ${ns} took longer than ${listTimeoutMs} ms`)), listTimeoutMs);
      p.then((v) => { this.clock.clearTimeout(t); resolve(v); }, (e: unknown) => { this.clock.clearTimeout(t); reject(e as Error); });
    });
    const common = {
      clock: this.clock,
      metrics: o.metrics,
      backoff: o.backoff ?? { initialMs: 500, maxMs: 30_000 },
      watchdogMs: o.watchdogMs ?? 5 * 60_000,
      random: o.random ?? Math.random,
      onChange: () => this.changed(),
      onSynced: () => this.changed(),
      onConnection: () => this.connectionChanged(),
    };
    this.configMaps = new ResourceWatch('configmaps', makeInformer<V1ConfigMap>(
      kc, `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`,
      () => bounded('configmaps', core.listNamespacedConfigMap({ namespace: ns, labelSelector: MANAGED_BY_SELECTOR })) as Promise<KubernetesListObject<V1ConfigMap>>,
      MANAGED_BY_SELECTOR,
    ), { ...common, logger: this.logger.child({ resource: 'configmaps' }) });
    this.secrets = new ResourceWatch('secrets', makeInformer<V1Secret>(
      kc, `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`,
      () => bounded('secrets', core.listNamespacedSecret({ namespace: ns, labelSelector: MANAGED_BY_SELECTOR })) as Promise<KubernetesListObject<V1Secret>>,
      MANAGED_BY_SELECTOR,
    ), { ...common, logger: this.logger.child({ resource: 'secrets' }) });
  }

  /** True while both watches are open. False says "serving possibly stale config", never "broken". */
  get connected(): boolean { return this.configMaps.connected && this.secrets.connected; }

  /** Both resources were listed at least once since start. */
  get synced(): boolean { return this.configMaps.synced && this.secrets.synced; }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.startedWall = this.clock.wallNow();
    this.logger.info('watching contract objects', { namespace: this.namespace, selector: MANAGED_BY_SELECTOR });
    this.configMaps.start();
    this.secrets.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.clearTimeout(this.debounceTimer);
    this.clock.clearTimeout(this.graceTimer);
    this.debounceTimer = undefined;
    this.graceTimer = undefined;
    await Promise.all([this.configMaps.stop(), this.secrets.stop()]);
  }

  private connectionChanged(): void {
    const c = this.connected;
    this.o.metrics?.kubeConnected.set(c ? 1 : 0);
    if (c === this.wasConnected) return;
    this.wasConnected = c;
    if (c) this.logger.info('connected to the API server', { namespace: this.namespace });
    else this.logger.warn('lost the API server; serving the last good config until it is back', {
      namespace: this.namespace, servingGeneration: this.o.store.current()?.generation ?? null,
    });
    this.emit('connection', c);
  }

  private changed(): void {
    if (this.stopped || this.debounceTimer !== undefined) return;
    this.debounceTimer = this.clock.setTimeout(() => { this.debounceTimer = undefined; this.evaluate(); }, this.debounceMs);
  }

  /** Re-reads the caches and offers what they hold. Public for tests and for a manual resync. */
  evaluate(): void {
    if (this.stopped || !this.synced) return;
    const ns = this.namespace;
    const a = assembleFromObjects({
      configMap: (name) => this.configMaps.informer.get(name, ns),
      secret: (name) => this.secrets.informer.get(name, ns),
    });
    if (a.state === 'pending') {
      const now = this.clock.now();
      this.pendingSince ??= now;
      if (a.reason !== this.lastPendingReason) {
        this.lastPendingReason = a.reason;
        this.logger.debug('contract objects incomplete; waiting for the rest', { reason: a.reason });
        this.emit('pending', a.reason);
      }
      const waited = now - this.pendingSince;
      if (waited >= this.partialGraceMs) {
        this.refuse(`${a.reason} (for ${Math.round(waited / 1000)} s)`);
      } else if (this.graceTimer === undefined) {
        // Re-armed on every early wake-up: timers may fire a fraction of a millisecond before the clock says so.
        this.graceTimer = this.clock.setTimeout(() => { this.graceTimer = undefined; this.evaluate(); }, this.partialGraceMs - waited + 1);
      }
      return;
    }
    this.pendingSince = undefined;
    this.lastPendingReason = undefined;
    this.clock.clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (!a.result.ok) { this.refuse(a.result.error); return; }
    const generation = a.result.config.generation;
    if (generation === this.lastOffered && this.reportedRefusal === undefined) return;
    const applied = this.o.store.offer(a.result, this.origin);
    this.lastOffered = generation;
    this.reportedRefusal = undefined;
    if (applied && a.indexUpdatedAt !== undefined && a.indexUpdatedAt >= this.startedWall - 1000) {
      // Only generations written while we watch: an index older than this pod measures its age, not propagation.
      this.o.metrics?.configPropagation.observe(Math.max(0, (this.clock.wallNow() - a.indexUpdatedAt) / 1000));
    }
  }

  private refuse(error: string): void {
    if (error === this.reportedRefusal) return;
    // Compare without the "(for N s)" suffix so a persisting pending state is reported once.
    const key = error.replace(/ \(for \d+ s\)$/, '');
    if (this.reportedRefusal !== undefined && this.reportedRefusal.replace(/ \(for \d+ s\)$/, '') === key) return;
    this.reportedRefusal = error;
    this.lastOffered = undefined;
    this.o.store.offer({ ok: false, error }, this.origin);
  }
}

/**
 * The running operator: informers for the three custom resources and the Secrets they
 * reference (all namespaces) and for the operator's own outputs (its namespace, by label);
 * the config controller and one status controller per kind; optional leader election; and
 * the health and readiness the probes report. Informers run on every replica so a standby has
 * warm caches; only the leader's controllers write, and only after every cache has synced
 * (an empty cache would render an empty config).
 */
import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { GROUP, VERSION, type KubeObject, type SipflowKind } from '../api/types.js';
import type { Logger } from '../log.js';
import type { OperatorMetrics, ProbeResult } from '../metrics.js';
import { MANAGED_BY_LABELS } from '../render/render.js';
import { KubeApiWriter, type KubeWriter } from '../runtime/apply.js';
import { systemClock, type Clock } from '../runtime/clock.js';
import { Controller } from '../runtime/controller.js';
import { EventRecorder, EventsV1Sink, type EventRecorderOptions, type EventSink } from '../runtime/events.js';
import { Informer, objectKeyOf, type InformerEvent } from '../runtime/informer.js';
import { KubeLeaseClient, LeaderElector, type LeaseClient } from '../runtime/leader.js';
import { coreResource, customResource, type CustomResourceName } from '../runtime/resources.js';
import { CONFIG_KEY, ConfigReconciler, KubeSecretReader, digestOutput, type SecretReader } from './config.js';
import { ReferencedSecrets } from './secrets.js';
import { CACHE_WAIT_MS, StatusReconciler } from './status.js';

export const CRDS: Record<SipflowKind, CustomResourceName> = {
  SipApplication: { group: GROUP, version: VERSION, plural: 'sipapplications', kind: 'SipApplication' },
  IpAcl: { group: GROUP, version: VERSION, plural: 'ipacls', kind: 'IpAcl' },
  SipCredential: { group: GROUP, version: VERSION, plural: 'sipcredentials', kind: 'SipCredential' },
};
const KINDS = Object.keys(CRDS) as SipflowKind[];

export const MANAGED_SELECTOR = `app.kubernetes.io/managed-by=${MANAGED_BY_LABELS['app.kubernetes.io/managed-by']}`;

export interface LeaderElectionOptions {
  leaseName: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Injected in tests; default a Lease in the operator namespace. */
  client?: LeaseClient;
}

export interface SipflowOperatorOptions {
  kubeConfig: KubeConfig;
  /** Where the outputs (and the Lease) go. */
  namespace: string;
  sipDomain: string;
  defaultRealm?: string;
  /** holderIdentity and Event reportingInstance; default POD_NAME or hostname_pid. */
  identity?: string;
  leaderElection?: LeaderElectionOptions;
  logger: Logger;
  metrics: OperatorMetrics;
  clock?: Clock;
  watchdogMs?: number;
  resyncMs?: number;
  statusWorkers?: number;
  /** Bound for draining in-flight reconciles at shutdown. */
  drainMs?: number;
  writer?: KubeWriter;
  events?: EventSink;
  /** Bounds and rate of the best-effort Event queue (defaults in EventRecorderOptions). */
  eventQueue?: Pick<EventRecorderOptions, 'maxQueued' | 'qps' | 'burst' | 'concurrency'>;
  secretReader?: SecretReader;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}_${process.pid}`;
}

interface Term {
  config: Controller<typeof CONFIG_KEY>;
  status: Map<SipflowKind, Controller<string>>;
}

export class SipflowOperator {
  readonly identity: string;
  private readonly opts: SipflowOperatorOptions;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly crInformers = new Map<SipflowKind, Informer>();
  private readonly secretInformer: Informer;
  private readonly outputInformers: Informer[];
  private readonly secrets = new ReferencedSecrets();
  private readonly config: ConfigReconciler;
  private readonly statusReconcilers = new Map<SipflowKind, StatusReconciler>();
  private readonly recorder: EventRecorder;
  private readonly elector: LeaderElector | undefined;
  private term: Term | undefined;
  private termStopping: Promise<void> = Promise.resolve();
  private started = false;
  private stopped = false;
  private allSynced = false;
  private crSynced = false;
  private refreshPending = false;

  constructor(opts: SipflowOperatorOptions) {
    this.opts = opts;
    this.identity = opts.identity ?? defaultIdentity();
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock;
    const kc = opts.kubeConfig;
    const common = {
      logger: opts.logger, clock: this.clock,
      ...(opts.watchdogMs !== undefined ? { watchdogMs: opts.watchdogMs } : {}),
      ...(opts.resyncMs !== undefined ? { resyncMs: opts.resyncMs } : {}),
    };
    for (const kind of KINDS) {
      const inf = new Informer(kc, { ...common, resource: customResource(kc, CRDS[kind]), shareUnchangedSpec: true });
      inf.metrics = opts.metrics;
      inf.on((ev) => this.onCustomResource(kind, ev));
      this.crInformers.set(kind, inf);
    }
    this.secretInformer = new Informer(kc, { ...common, resource: coreResource(kc, 'Secret'), transform: this.secrets.transform });
    this.secretInformer.metrics = opts.metrics;
    this.secretInformer.on((ev) => this.onSecret(ev));
    this.outputInformers = (['ConfigMap', 'Secret'] as const).map((k) => {
      const inf = new Informer(kc, { ...common, resource: coreResource(kc, k, opts.namespace), labelSelector: MANAGED_SELECTOR, transform: digestOutput });
      inf.metrics = opts.metrics;
      inf.on((ev) => {
        if (ev.type === 'resync') return;
        if (this.config.observeOutput(ev.obj as unknown as KubeObject, ev.type === 'delete')) this.term?.config.queue.add(CONFIG_KEY);
      });
      return inf;
    });

    const writer = opts.writer ?? new KubeApiWriter(kc);
    this.config = new ConfigReconciler({
      namespace: opts.namespace,
      sipDomain: opts.sipDomain,
      ...(opts.defaultRealm ? { defaultRealm: opts.defaultRealm } : {}),
      writer,
      secrets: this.secrets,
      secretReader: opts.secretReader ?? new KubeSecretReader(kc),
      logger: opts.logger.child({ controller: 'config' }),
      sources: {
        customResources: () => KINDS.flatMap((k) => this.crInformers.get(k)?.list() ?? []) as unknown as KubeObject[],
        secret: (ns, name) => this.secretInformer.get(name, ns) as unknown as KubeObject | undefined,
        outputs: () => this.outputInformers.flatMap((i) => i.list()) as unknown as KubeObject[],
      },
      onResults: (_results, changed) => {
        for (const k of changed) {
          const [kind, ns, name] = k.split('/') as [SipflowKind, string, string];
          this.term?.status.get(kind)?.queue.add(`${ns}/${name}`);
        }
      },
      onApplied: (s) => opts.metrics.setConfig(s),
      onWrite: (kind, verb) => opts.metrics.wrote(kind, verb),
    });
    this.recorder = new EventRecorder({
      sink: opts.events ?? new EventsV1Sink(kc), reportingInstance: this.identity, logger: opts.logger.child({ component: 'events' }),
      clock: this.clock, metrics: opts.metrics, ...opts.eventQueue,
    });
    const recorder = this.recorder;
    for (const kind of KINDS) {
      this.statusReconcilers.set(kind, new StatusReconciler({
        crd: CRDS[kind],
        get: (ns, name) => this.crInformers.get(kind)?.get(name, ns) as unknown as KubeObject | undefined,
        results: () => this.config.results(),
        writer, recorder, clock: this.clock,
        logger: opts.logger.child({ controller: kind.toLowerCase() }),
        onWrite: (k) => opts.metrics.wrote(k, 'status'),
      }));
    }
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector({
        client: le.client ?? new KubeLeaseClient(kc, opts.namespace, le.leaseName),
        identity: this.identity,
        logger: opts.logger.child({ component: 'leader-election', lease: `${opts.namespace}/${le.leaseName}` }),
        clock: this.clock,
        ...(le.leaseDurationMs !== undefined ? { leaseDurationMs: le.leaseDurationMs } : {}),
        ...(le.renewDeadlineMs !== undefined ? { renewDeadlineMs: le.renewDeadlineMs } : {}),
        ...(le.retryPeriodMs !== undefined ? { retryPeriodMs: le.retryPeriodMs } : {}),
        onStartedLeading: () => {
          opts.metrics.setLeader(true);
          this.startTerm();
        },
        onStoppedLeading: () => {
          opts.metrics.setLeader(false);
          this.stopTerm();
        },
      });
    }
  }

  isLeader(): boolean { return this.elector ? this.elector.isLeader() : this.started && !this.stopped; }
  /** Results of the last applied render (for tests and diagnostics). */
  configGeneration(): string | undefined { return this.config.generation(); }

  /** Starts informers (custom resources first, so the Secret filter knows what is referenced) and election. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const inf of this.crInformers.values()) inf.start();
    for (const inf of this.outputInformers) inf.start();
    if (this.elector) this.elector.start();
    else {
      this.opts.metrics.setLeader(true);
      this.startTerm();
    }
    await Promise.all([...this.crInformers.values()].map((i) => i.synced));
    if (this.stopped) return;
    this.crSynced = true;
    this.config.refreshReferences();
    this.secretInformer.start();
    await Promise.all([this.secretInformer.synced, ...this.outputInformers.map((i) => i.synced)]);
    this.allSynced = true;
    this.log.info('caches synced');
  }

  /** Resolves once every informer has listed (the operator may not be leading yet). */
  async waitForSync(): Promise<void> {
    await Promise.all([...this.crInformers.values(), this.secretInformer, ...this.outputInformers].map((i) => i.synced));
  }

  /** Graceful shutdown: stop reconciling (bounded drain), then hand back the lease, then stop informers. */
  async stop(opts: { releaseLease?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Drain before releasing: a successor must not start while our last write is in flight.
    this.stopTerm();
    await this.termStopping;
    if (this.elector) await this.elector.stop({ release: opts.releaseLease !== false });
    await Promise.all([...this.crInformers.values(), this.secretInformer, ...this.outputInformers].map((i) => i.stop()));
    this.opts.metrics.setLeader(false);
    this.log.info('stopped');
  }

  healthz(): ProbeResult {
    const informers = [...this.crInformers.values(), this.secretInformer, ...this.outputInformers];
    const sick = informers.filter((i) => this.started && !this.stopped && i.hasSynced && !i.healthy()).map((i) => i.resource.kind);
    if (sick.length) return { ok: false, detail: `watch down beyond the watchdog bound: ${sick.join(', ')}` };
    if (this.elector && !this.elector.healthy()) return { ok: false, detail: 'leader election cannot reach the Lease' };
    return { ok: true, detail: 'informers connected' };
  }

  readyz(): ProbeResult {
    if (!this.allSynced) return { ok: false, detail: 'caches not synced yet' };
    if (this.elector) {
      if (this.elector.isLeader()) return { ok: true, detail: 'leading' };
      return this.elector.healthy() ? { ok: true, detail: `standing by (leader: ${this.elector.observedHolder() || 'none'})` } : { ok: false, detail: 'standby cannot reach the Lease' };
    }
    return { ok: true, detail: 'running' };
  }

  private onCustomResource(kind: SipflowKind, ev: InformerEvent<KubernetesObject>): void {
    const key = objectKeyOf(ev.obj);
    const specChanged = ev.type !== 'update' || ev.old?.metadata?.generation !== ev.obj.metadata?.generation;
    if (specChanged && ev.type !== 'resync') this.scheduleReferenceRefresh();
    const term = this.term;
    if (!term) return;
    if (specChanged) term.config.queue.add(CONFIG_KEY);
    if (ev.type === 'delete') return;
    // The update our own status write caused: the status reconciler already knows what it says.
    if (ev.type === 'update' && !specChanged && this.statusReconcilers.get(kind)?.isOwnWrite(ev.obj as unknown as KubeObject)) return;
    term.status.get(kind)?.queue.add(key);
  }

  /**
   * References may have changed: Secrets arriving from now on must be kept in full. Recomputing
   * them walks every custom resource, so it is skipped during the initial lists (start() does it
   * once before the Secret informer starts) and coalesced per turn of the event loop — once per
   * event made start-up quadratic (10,000 apps: over a minute of CPU). A Secret that slips in
   * bare meanwhile is still read in full by the config reconciler (SecretReader).
   */
  private scheduleReferenceRefresh(): void {
    if (!this.crSynced || this.refreshPending) return;
    this.refreshPending = true;
    setImmediate(() => {
      this.refreshPending = false;
      if (!this.stopped) this.config.refreshReferences();
    });
  }

  private onSecret(ev: InformerEvent<KubernetesObject>): void {
    const ns = ev.obj.metadata?.namespace ?? '';
    const name = ev.obj.metadata?.name ?? '';
    if (ev.type === 'resync' || !this.secrets.has(ns, name)) return;
    this.term?.config.queue.add(CONFIG_KEY);
  }

  private startTerm(): void {
    if (this.term || this.stopped) return;
    const metrics = this.opts.metrics;
    const config = new Controller<typeof CONFIG_KEY>({
      name: 'sipflow-config',
      logger: this.log,
      metrics,
      queue: { metrics, clock: this.clock },
      reconcile: async (_key, signal) => {
        await this.config.reconcile(signal);
      },
    });
    const status = new Map<SipflowKind, Controller<string>>();
    for (const kind of KINDS) {
      const rec = this.statusReconcilers.get(kind) as StatusReconciler;
      status.set(kind, new Controller<string>({
        name: kind.toLowerCase(),
        logger: this.log,
        metrics,
        // Status writes are independent per object; a few in flight hide the API round trip.
        workers: this.opts.statusWorkers ?? 16,
        queue: { metrics, clock: this.clock },
        describe: (k) => `${kind} ${k}`,
        reconcile: async (key, signal) => {
          const outcome = await rec.reconcile(key, signal);
          return outcome === 'waiting-for-cache' ? { requeueAfterMs: CACHE_WAIT_MS } : undefined;
        },
      }));
    }
    const term: Term = { config, status };
    this.term = term;
    // Everything once at the start of a term: a new leader trusts nothing its predecessor did.
    config.queue.add(CONFIG_KEY);
    for (const kind of KINDS) {
      for (const obj of this.crInformers.get(kind)?.list() ?? []) status.get(kind)?.queue.add(objectKeyOf(obj));
    }
    this.log.info('reconciling');
    void this.waitForSync().then(() => {
      if (this.term !== term) return;
      for (const kind of KINDS) for (const obj of this.crInformers.get(kind)?.list() ?? []) status.get(kind)?.queue.add(objectKeyOf(obj));
      config.start();
      for (const c of status.values()) c.start();
    });
  }

  /** Stops the current term's controllers at once (abort signal) and drains them in the background. */
  private stopTerm(): void {
    const term = this.term;
    if (!term) return;
    this.term = undefined;
    // Events queued by this term are about transitions a successor will judge for itself.
    this.recorder.clear();
    const drainMs = this.opts.drainMs ?? 10_000;
    this.log.info('stopped reconciling');
    this.termStopping = Promise.all([term.config, ...term.status.values()].map((c) => c.stop(drainMs))).then(() => undefined);
  }
}

/**
 * The config reconciler: every SipApplication, IpAcl and SipCredential in the cluster (plus the
 * Secrets they reference) renders into ONE sharded config, so there is one work-queue key for
 * it. Each visit re-renders everything from the informer caches (level-triggered: the event
 * that caused it does not matter), server-side-applies the shards and then the index, and only
 * after the index points away from them deletes stale shards. Objects whose content is already
 * right are not written at all.
 *
 * Ownership: the outputs aggregate many custom resources from many namespaces, and an
 * ownerReference can name neither several owners usefully nor an owner in another namespace.
 * So the outputs carry no ownerReferences; they are labelled
 * app.kubernetes.io/managed-by=sipflow-operator and this reconciler garbage-collects the ones
 * the current render no longer names.
 */
import { createHash } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../api/types.js';
import { isPlainObject } from '../api/types.js';
import type { Logger } from '../log.js';
import type { ConfigSummary } from '../metrics.js';
import { render, toKubeObjects, type ObjectResult, type RenderResult } from '../render/render.js';
import type { KubeWriter } from '../runtime/apply.js';
import { httpStatus } from '../runtime/controller.js';
import { plainSecret, secretReferences, type ReferencedSecrets } from './secrets.js';

export const CONFIG_KEY = 'config' as const;

/** What the reconciler reads; the operator backs it with informer caches, tests with arrays. */
export interface ConfigSources {
  customResources(): readonly KubeObject[];
  /** The cached Secret (possibly bare, see ReferencedSecrets), or undefined when absent. */
  secret(namespace: string, name: string): KubeObject | undefined;
  /** Operator-labelled ConfigMaps and Secrets in the output namespace. */
  outputs(): readonly KubeObject[];
}

export interface SecretReader {
  /** Undefined when the Secret does not exist. */
  read(namespace: string, name: string): Promise<KubeObject | undefined>;
}

export class KubeSecretReader implements SecretReader {
  private readonly api: CoreV1Api;
  constructor(kc: KubeConfig) { this.api = kc.makeApiClient(CoreV1Api); }
  async read(namespace: string, name: string): Promise<KubeObject | undefined> {
    try {
      return plainSecret(await this.api.readNamespacedSecret({ name, namespace }));
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }
}

export interface ConfigReconcilerOptions {
  namespace: string;
  sipDomain: string;
  defaultRealm?: string;
  sources: ConfigSources;
  writer: KubeWriter;
  secrets: ReferencedSecrets;
  secretReader: SecretReader;
  logger: Logger;
  /** Called with the results of every render that was fully applied. */
  onResults?: (results: Map<string, ObjectResult>, changedKeys: string[]) => void;
  onApplied?: (summary: ConfigSummary) => void;
  onWrite?: (kind: string, verb: 'apply' | 'delete') => void;
}

export class ReconcileAbortedError extends Error {
  constructor() {
    super('reconcile aborted (shutdown or lost leadership)');
    this.name = 'ReconcileAbortedError';
  }
}

export function resultKey(r: { kind: string; namespace: string; name: string }): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

function sameStrings(want: Record<string, string> | undefined, have: unknown, exact: boolean): boolean {
  const w = want ?? {};
  const h = isPlainObject(have) ? have : {};
  for (const [k, v] of Object.entries(w)) if (h[k] !== v) return false;
  return !exact || Object.keys(h).length === Object.keys(w).length;
}

const digested = new WeakSet<object>();

function digestOf(value: string): string {
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex')}`;
}

/**
 * Output-informer transform: the operator's outputs are cached with each data value replaced by
 * its digest. Comparing needs no more, and the shards (8 MiB at 10,000 apps) are not held a
 * second time in the operator's heap. Mutates and returns `obj`.
 */
export function digestOutput<T extends object>(obj: T): T {
  const o = obj as { data?: unknown };
  if (isPlainObject(o.data)) {
    const data: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.data)) data[k] = digestOf(String(v));
    o.data = data;
  }
  digested.add(obj);
  return obj;
}

/** Does the object in the API already say what we would apply? (Extra labels by others are fine.) */
export function sameContent(have: KubeObject | undefined, want: KubeObject): boolean {
  if (!have || have.kind !== want.kind) return false;
  if (!sameStrings(want.metadata.labels, have.metadata.labels, false)) return false;
  if (!sameStrings(want.metadata.annotations, have.metadata.annotations, false)) return false;
  if (want.kind === 'Secret' && want.type !== undefined && have.type !== want.type) return false;
  const wantData = want.data as Record<string, string> | undefined;
  if (!digested.has(have)) return sameStrings(wantData, have.data, true);
  const h = isPlainObject(have.data) ? have.data : {};
  const w = wantData ?? {};
  if (Object.keys(h).length !== Object.keys(w).length) return false;
  for (const [k, v] of Object.entries(w)) if (h[k] !== digestOf(v)) return false;
  return true;
}

/** Hash of what an output says, fed piece by piece: one JSON string of all shards would be 8 MiB of garbage at 10,000 apps. */
function contentHash(obj: KubeObject): string {
  const h = createHash('sha256');
  const feed = (m: unknown): void => {
    if (!isPlainObject(m)) {
      h.update('\u0001');
      return;
    }
    for (const k of Object.keys(m).sort()) h.update(`\u0000${k}\u0000`).update(String(m[k]));
    h.update('\u0002');
  };
  feed(obj.metadata.labels);
  feed(obj.metadata.annotations);
  h.update(`\u0000${obj.type ?? ''}`);
  feed(obj.data);
  return h.digest('hex');
}

function sameResult(a: ObjectResult, b: ObjectResult): boolean {
  return a.generation === b.generation && a.ready === b.ready && a.reason === b.reason && a.message === b.message &&
    a.sipUri === b.sipUri && a.entryCount === b.entryCount;
}

export class ConfigReconciler {
  private readonly opts: ConfigReconcilerOptions;
  private readonly fetched = new Map<string, { resourceVersion: string; secret: KubeObject | undefined }>();
  private lastResults = new Map<string, ObjectResult>();
  /**
   * What we last applied per output, so a cache that has not caught up with our own write does
   * not cause the same write again; any other change to the object clears the entry.
   */
  private readonly applied = new Map<string, { hash: string; resourceVersion: string | undefined }>();
  private lastGeneration: string | undefined;

  constructor(opts: ConfigReconcilerOptions) { this.opts = opts; }

  /** The results of the last fully applied render, keyed `Kind/namespace/name`. */
  results(): ReadonlyMap<string, ObjectResult> { return this.lastResults; }
  generation(): string | undefined { return this.lastGeneration; }

  /**
   * Feed of the output informers: forget our record of an output someone else changed or deleted.
   * Returns false when the event is just our own last write arriving (nothing to re-render: a
   * full render of 10,000 apps costs seconds of CPU and tens of MiB of garbage).
   */
  observeOutput(obj: KubeObject, deleted: boolean): boolean {
    const k = `${obj.kind}/${obj.metadata.name ?? ''}`;
    const a = this.applied.get(k);
    if (a && !deleted && a.resourceVersion !== undefined && obj.metadata.resourceVersion === a.resourceVersion) return false;
    if (a) this.applied.delete(k);
    return true;
  }

  /** Recomputes which Secrets are referenced (call on custom-resource events, before the Secret informer starts). */
  refreshReferences(): string[] {
    return this.opts.secrets.update(secretReferences(this.opts.sources.customResources()));
  }

  async reconcile(signal?: AbortSignal): Promise<RenderResult> {
    const o = this.opts;
    const crs = o.sources.customResources();
    this.opts.secrets.update(secretReferences(crs));
    const secrets: KubeObject[] = [];
    for (const key of o.secrets.keys()) {
      const [ns = '', name = ''] = key.split('/');
      const s = await this.secretContent(ns, name);
      if (s) secrets.push(s);
    }
    for (const k of this.fetched.keys()) if (!o.secrets.keys().includes(k)) this.fetched.delete(k);

    const result = render({ objects: [...crs, ...secrets], sipDomain: o.sipDomain, ...(o.defaultRealm ? { defaultRealm: o.defaultRealm } : {}) });
    const desired = toKubeObjects(result, o.namespace);
    const outputs = o.sources.outputs();
    const current = new Map(outputs.map((x) => [`${x.kind}/${x.metadata.name ?? ''}`, x]));

    // Shards first, the index last (toKubeObjects' order): a reader never sees an index naming a shard not yet written.
    for (const obj of desired) {
      const k = `${obj.kind}/${obj.metadata.name ?? ''}`;
      const hash = contentHash(obj);
      if (sameContent(current.get(k), obj) || this.applied.get(k)?.hash === hash) continue;
      if (signal?.aborted) throw new ReconcileAbortedError();
      const res = await o.writer.applyServerSide(obj);
      this.applied.set(k, { hash, resourceVersion: res.metadata?.resourceVersion });
      o.onWrite?.(obj.kind, 'apply');
      o.logger.info('applied', { kind: obj.kind, name: obj.metadata.name, generation: result.index.generation });
    }
    // Only now that the index points at the new shards may the old ones go.
    const wanted = new Set(desired.map((x) => `${x.kind}/${x.metadata.name ?? ''}`));
    for (const x of outputs) {
      const component = x.metadata.labels?.['sipflow.io/component'];
      if (component !== 'routing' && component !== 'credentials') continue;
      if (wanted.has(`${x.kind}/${x.metadata.name ?? ''}`)) continue;
      if (x.kind !== 'ConfigMap' && x.kind !== 'Secret') continue;
      if (signal?.aborted) throw new ReconcileAbortedError();
      await o.writer.deleteObject(x.kind, o.namespace, x.metadata.name ?? '');
      this.applied.delete(`${x.kind}/${x.metadata.name ?? ''}`);
      o.onWrite?.(x.kind, 'delete');
      o.logger.info('deleted stale shard', { kind: x.kind, name: x.metadata.name });
    }

    const next = new Map(result.results.map((r) => [resultKey(r), r]));
    const changed: string[] = [];
    for (const [k, r] of next) {
      const prev = this.lastResults.get(k);
      if (!prev || !sameResult(prev, r)) changed.push(k);
    }
    this.lastResults = next;
    if (this.lastGeneration !== result.index.generation) {
      o.logger.info('config generation', { generation: result.index.generation, applications: result.index.appCount });
    }
    this.lastGeneration = result.index.generation;
    o.onResults?.(next, changed);
    o.onApplied?.({
      generation: result.index.generation,
      applications: result.index.appCount,
      bytes: [result.indexText, ...result.routingShards.map((s) => s.text), ...result.credentialShards.map((s) => s.text)]
        .reduce((n, t) => n + Buffer.byteLength(t, 'utf8'), 0),
      routingShards: result.routingShards.length,
      credentialShards: result.credentialShards.length,
    });
    return result;
  }

  private async secretContent(namespace: string, name: string): Promise<KubeObject | undefined> {
    const cached = this.opts.sources.secret(namespace, name);
    if (!cached) return undefined;
    if (!this.opts.secrets.isBare(cached)) return plainSecret(cached);
    const key = `${namespace}/${name}`;
    const rv = cached.metadata.resourceVersion ?? '';
    const hit = this.fetched.get(key);
    if (hit && hit.resourceVersion === rv) return hit.secret;
    const secret = await this.opts.secretReader.read(namespace, name);
    this.fetched.set(key, { resourceVersion: rv, secret });
    return secret;
  }
}

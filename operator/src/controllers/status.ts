/**
 * The status reconciler of one custom-resource kind: it writes what the last applied render
 * said about the object (Ready, observedGeneration, sipUri or entryCount) to the status
 * subresource, only when that differs from what the object shows, and queues an Event when
 * Ready flips (sent later, best-effort: see EventRecorder). It waits for a render of the
 * object's current generation, so Ready=True always means "the config that serves this is written".
 *
 * It remembers its own writes (two resourceVersions each) until the informer has caught up with
 * them: a visit in between waits for the cache instead of comparing against the stale object, so
 * it neither repeats the write nor records the transition twice, and the watch update its own
 * write causes need not queue the object again (isOwnWrite).
 */
import type { KubeObject } from '../api/types.js';
import type { Logger } from '../log.js';
import type { ObjectResult } from '../render/render.js';
import type { CustomResourceName } from '../runtime/resources.js';
import type { KubeWriter } from '../runtime/apply.js';
import type { Clock } from '../runtime/clock.js';
import type { EventRecorder } from '../runtime/events.js';
import { planStatus } from './conditions.js';
import { ReconcileAbortedError, resultKey } from './config.js';

export interface StatusReconcilerOptions {
  crd: CustomResourceName;
  /** Cache lookup of the custom resource. */
  get(namespace: string, name: string): KubeObject | undefined;
  results(): ReadonlyMap<string, ObjectResult>;
  writer: KubeWriter;
  recorder?: Pick<EventRecorder, 'record'>;
  clock: Clock;
  logger: Logger;
  onWrite?: (kind: string) => void;
}

export type StatusOutcome = 'gone' | 'waiting-for-render' | 'waiting-for-cache' | 'unchanged' | 'patched';

/** How soon to look again at an object whose cache entry predates our own write. */
export const CACHE_WAIT_MS = 500;

/** One status write whose watch event the cache may not have delivered yet. */
interface OwnWrite {
  /** The resourceVersion the write was based on (the cache's, before). */
  before: string | undefined;
  /** The resourceVersion the write produced. */
  after: string;
}

export class StatusReconciler {
  private readonly written = new Map<string, OwnWrite>();

  constructor(private readonly opts: StatusReconcilerOptions) {}

  get kind(): string { return this.opts.crd.kind; }

  /** Writes whose watch event has not been seen yet (bounded by the objects being written). */
  get pendingOwnWrites(): number { return this.written.size; }

  /**
   * True when `obj` (from a watch update) is the result of our own last status write: nothing
   * new to reconcile. Forgets the write either way once the cache has moved past it.
   */
  isOwnWrite(obj: KubeObject): boolean {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const w = this.written.get(key);
    if (!w || obj.metadata.resourceVersion === w.before) return false;
    this.written.delete(key);
    return obj.metadata.resourceVersion === w.after;
  }

  /** `key` is `namespace/name`. */
  async reconcile(key: string, signal?: AbortSignal): Promise<StatusOutcome> {
    const o = this.opts;
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const obj = o.get(namespace, name);
    if (!obj) {
      this.written.delete(key);
      return 'gone';
    }
    const result = o.results().get(resultKey({ kind: o.crd.kind, namespace, name }));
    // No render of this generation yet: the config key is queued and will queue us again.
    if (!result || result.generation !== obj.metadata.generation) return 'waiting-for-render';
    const rv = obj.metadata.resourceVersion;
    const w = this.written.get(key);
    // The cache still shows the object as it was before our last write: the caller looks again shortly.
    if (w && rv === w.before) return 'waiting-for-cache';
    if (w) this.written.delete(key);
    const plan = planStatus(o.crd.kind, obj.status, result, o.clock.wallNow());
    if (!plan.changed) return 'unchanged';
    if (signal?.aborted) throw new ReconcileAbortedError();
    const after = await o.writer.patchStatus({ ...o.crd, namespace, name }, plan.patch, rv);
    // A write that changed nothing keeps the resourceVersion: there is no watch update to wait for
    // (and without a resourceVersion back, the 409 guard is what prevents a repeat on a stale cache).
    if (after !== undefined && after !== rv) this.written.set(key, { before: rv, after });
    o.onWrite?.(o.crd.kind);
    if (plan.transition && o.recorder) {
      const ready = plan.transition.to === 'True';
      o.recorder.record(
        {
          apiVersion: `${o.crd.group}/${o.crd.version}`, kind: o.crd.kind, namespace, name,
          ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
        },
        {
          type: ready ? 'Normal' : 'Warning',
          reason: result.reason,
          action: 'Reconcile',
          note: ready ? result.message : `not ready: ${result.message}`,
        },
      );
    }
    return 'patched';
  }
}

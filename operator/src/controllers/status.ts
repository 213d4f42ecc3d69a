/**
 * The status reconciler of one custom-resource kind: it writes what the last applied render
 * said about the object (Ready, observedGeneration, sipUri or entryCount) to the status
 * subresource, only when that differs from what the object shows, and records an Event when
 * Ready flips. It waits for a render of the object's current generation, so Ready=True always
 * means "the config that serves this is written".
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
  recorder?: EventRecorder;
  clock: Clock;
  logger: Logger;
  onWrite?: (kind: string) => void;
}

export type StatusOutcome = 'gone' | 'waiting-for-render' | 'unchanged' | 'patched';

export class StatusReconciler {
  constructor(private readonly opts: StatusReconcilerOptions) {}

  get kind(): string { return this.opts.crd.kind; }

  /** `key` is `namespace/name`. */
  async reconcile(key: string, signal?: AbortSignal): Promise<StatusOutcome> {
    const o = this.opts;
    const slash = key.indexOf('/');
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const obj = o.get(namespace, name);
    if (!obj) return 'gone';
    const result = o.results().get(resultKey({ kind: o.crd.kind, namespace, name }));
    // No render of this generation yet: the config key is queued and will queue us again.
    if (!result || result.generation !== obj.metadata.generation) return 'waiting-for-render';
    const plan = planStatus(o.crd.kind, obj.status, result, o.clock.wallNow());
    if (!plan.changed) return 'unchanged';
    if (signal?.aborted) throw new ReconcileAbortedError();
    await o.writer.patchStatus({ ...o.crd, namespace, name }, plan.status);
    o.onWrite?.(o.crd.kind);
    if (plan.transition && o.recorder) {
      const ready = plan.transition.to === 'True';
      await o.recorder.record(
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

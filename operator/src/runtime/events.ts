/**
 * Kubernetes Events (events.k8s.io/v1) for what a person watching `kubectl describe` should
 * notice. Events are rate-limited by the API server and are not a log: callers record only
 * transitions, and a failure to record is logged, never thrown into a reconcile.
 */
import { EventsV1Api, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { describeError } from './controller.js';

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

export class EventRecorder {
  private seq = 0;
  constructor(private readonly sink: EventSink, private readonly reportingInstance: string, private readonly logger: Logger) {}

  async record(target: EventTarget, ev: EventSpec): Promise<void> {
    const now = new V1MicroTime();
    const name = `${target.name}.${now.getTime().toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, '0')}`;
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: name.slice(0, 253), namespace: target.namespace },
      // A MicroTime, serialised with six fractional digits as the API requires.
      eventTime: now,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.reportingInstance.slice(0, 128),
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
    try {
      await this.sink.create(target.namespace, body);
    } catch (e) {
      this.logger.warn('could not record event', { regarding: `${target.kind} ${target.namespace}/${target.name}`, reason: ev.reason, error: describeError(e) });
    }
  }
}

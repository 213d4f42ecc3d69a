/**
 * Status of the custom resources as a pure function of the last render: the Ready condition
 * (api-conventions: lastTransitionTime moves only when status moves), observedGeneration, and
 * the per-kind fields (sipUri, entryCount). Also decides whether a write is needed at all and
 * whether Ready transitioned (which is what Events are recorded for).
 */
import type { ObjectResult } from '../render/render.js';
import { isPlainObject } from '../api/types.js';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface StatusPlan {
  /** The operator's fields of the status as they should read. */
  status: Record<string, unknown>;
  /**
   * The JSON merge patch for `.status`: the operator's fields, `null` for one of them to remove,
   * and the whole conditions list (merge patch replaces lists) with other writers' conditions kept.
   * Sent with the object's resourceVersion, so a condition added meanwhile is not lost (409, retry).
   */
  patch: Record<string, unknown>;
  /** False when the object already shows exactly this. */
  changed: boolean;
  /** Set when Ready's status differs from what the object showed (undefined = no condition yet). */
  transition?: { from: ConditionStatus | undefined; to: ConditionStatus };
}

/** metav1.Time: RFC 3339 with seconds precision. */
export function metaTime(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function readyCondition(status: unknown): Condition | undefined {
  if (!isPlainObject(status) || !Array.isArray(status.conditions)) return undefined;
  for (const c of status.conditions) {
    if (isPlainObject(c) && c.type === 'Ready') return c as unknown as Condition;
  }
  return undefined;
}

/**
 * What `obj.status` should become after `result` (a render of generation `result.generation`).
 * `nowMs` is only used when Ready's status changes.
 */
export function planStatus(kind: string, currentStatus: unknown, result: ObjectResult, nowMs: number): StatusPlan {
  const current = isPlainObject(currentStatus) ? currentStatus : {};
  const prev = readyCondition(current);
  const to: ConditionStatus = result.ready ? 'True' : 'False';
  const ready: Condition = {
    type: 'Ready',
    status: to,
    reason: result.reason,
    message: result.message,
    ...(result.generation !== undefined ? { observedGeneration: result.generation } : {}),
    lastTransitionTime: prev && prev.status === to && typeof prev.lastTransitionTime === 'string' ? prev.lastTransitionTime : metaTime(nowMs),
  };
  const status: Record<string, unknown> = {
    ...(result.generation !== undefined ? { observedGeneration: result.generation } : {}),
    conditions: [ready],
  };
  if (kind === 'SipApplication' && result.sipUri !== undefined) status.sipUri = result.sipUri;
  if (kind === 'IpAcl' && result.entryCount !== undefined) status.entryCount = result.entryCount;

  const others = Array.isArray(current.conditions) ? current.conditions : [];
  let placed = false;
  const conditions = others.map((c: unknown) => {
    if (!isPlainObject(c) || c.type !== 'Ready') return c;
    if (placed) return undefined;
    placed = true;
    return ready;
  }).filter((c) => c !== undefined);
  if (!placed) conditions.push(ready);
  const patch: Record<string, unknown> = { ...status, conditions };
  for (const field of ['observedGeneration', 'sipUri', 'entryCount']) {
    if (patch[field] === undefined && current[field] !== undefined) patch[field] = null;
  }

  const same =
    prev !== undefined &&
    prev.status === ready.status &&
    prev.reason === ready.reason &&
    prev.message === ready.message &&
    prev.observedGeneration === ready.observedGeneration &&
    current.observedGeneration === status.observedGeneration &&
    (kind !== 'SipApplication' || current.sipUri === status.sipUri) &&
    (kind !== 'IpAcl' || current.entryCount === status.entryCount);
  return {
    status,
    patch,
    changed: !same,
    ...(prev?.status !== to ? { transition: { from: prev?.status, to } } : {}),
  };
}

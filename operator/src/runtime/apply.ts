/**
 * Writes to the API the way the operator owns things: its outputs by server-side apply with one
 * field manager and force (so the operator wins conflicts over fields it owns); status through the
 * status subresource only (never spec), as a JSON merge patch guarded by the resourceVersion it was
 * computed from — at 13,000 objects a status write per object is most of the operator's API load,
 * and a merge patch costs the API server much less than an apply (no structured merge of the
 * object); deletes treat "already gone" as success. client-node defaults every patch to JSON
 * Patch, so each call sets its Content-Type.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import type { KubeObject } from '../api/types.js';
import { httpStatus } from './controller.js';

export const FIELD_MANAGER = 'sipflow-operator';

const SSA = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const MERGE = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class UnsupportedKindError extends Error {
  constructor(kind: string) {
    super(`applyServerSide supports ConfigMap and Secret, not ${kind}`);
    this.name = 'UnsupportedKindError';
  }
}

export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespace: string;
  name: string;
}

/** The API calls the reconcilers make, as an interface so tests can also count them. */
export interface KubeWriter {
  applyServerSide(obj: KubeObject): Promise<KubeObject>;
  deleteObject(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): Promise<boolean>;
  /**
   * JSON merge patch of `{status}` on the status subresource; with `resourceVersion`, only if the
   * object is still at it (else HTTP 409). Returns the resourceVersion the write produced.
   */
  patchStatus(ref: CustomResourceRef, status: Record<string, unknown>, resourceVersion?: string): Promise<string | undefined>;
}

export class KubeApiWriter implements KubeWriter {
  private readonly core: CoreV1Api;
  private readonly custom: CustomObjectsApi;
  constructor(kc: KubeConfig, private readonly fieldManager = FIELD_MANAGER) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
  }

  async applyServerSide(obj: KubeObject): Promise<KubeObject> {
    const name = obj.metadata.name;
    const namespace = obj.metadata.namespace;
    if (!name || !namespace) throw new Error(`applyServerSide: ${obj.kind} needs metadata.name and metadata.namespace`);
    const common = { name, namespace, fieldManager: this.fieldManager, force: true };
    if (obj.kind === 'ConfigMap') {
      const res = await this.core.patchNamespacedConfigMap({ ...common, body: obj as unknown as V1ConfigMap }, SSA);
      return res as unknown as KubeObject;
    }
    if (obj.kind === 'Secret') {
      const res = await this.core.patchNamespacedSecret({ ...common, body: obj as unknown as V1Secret }, SSA);
      return res as unknown as KubeObject;
    }
    throw new UnsupportedKindError(obj.kind);
  }

  async deleteObject(kind: 'ConfigMap' | 'Secret', namespace: string, name: string): Promise<boolean> {
    try {
      if (kind === 'ConfigMap') await this.core.deleteNamespacedConfigMap({ name, namespace });
      else await this.core.deleteNamespacedSecret({ name, namespace });
      return true;
    } catch (e) {
      if (httpStatus(e) === 404) return false;
      throw e;
    }
  }

  async patchStatus(ref: CustomResourceRef, status: Record<string, unknown>, resourceVersion?: string): Promise<string | undefined> {
    const res: unknown = await this.custom.patchNamespacedCustomObjectStatus({
      group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name: ref.name,
      fieldManager: this.fieldManager,
      body: { ...(resourceVersion ? { metadata: { resourceVersion } } : {}), status },
    }, MERGE);
    const rv = (res as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
    return typeof rv === 'string' ? rv : undefined;
  }
}

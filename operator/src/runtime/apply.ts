/**
 * Writes to the API the way the operator owns things: server-side apply with one field
 * manager and force (so the operator wins conflicts over fields it owns), status through the
 * status subresource only (never spec), and deletes that treat "already gone" as success.
 * client-node defaults every patch to JSON Patch, so each call sets its Content-Type.
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
  /** Applies `{status}` to the status subresource (SSA, force). */
  patchStatus(ref: CustomResourceRef, status: Record<string, unknown>): Promise<void>;
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

  async patchStatus(ref: CustomResourceRef, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus({
      group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name: ref.name,
      fieldManager: this.fieldManager, force: true,
      body: { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace }, status },
    }, SSA);
  }

  /** JSON merge patch of the status subresource, for callers that must not take field ownership. */
  async mergeStatus(ref: CustomResourceRef, status: Record<string, unknown>): Promise<void> {
    await this.custom.patchNamespacedCustomObjectStatus({
      group: ref.group, version: ref.version, plural: ref.plural, namespace: ref.namespace, name: ref.name,
      body: { status },
    }, MERGE);
  }
}

/**
 * The resource types the informers list and watch: the watch path plus a paged list call,
 * for custom resources (CustomObjectsApi, raw JSON) and the two core kinds the operator
 * reads (Secrets, ConfigMaps). List items get apiVersion/kind set, which the API omits in lists.
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continueToken?: string;
}

export interface ResourceType<T extends KubernetesObject = KubernetesObject> {
  apiVersion: string;
  kind: string;
  plural: string;
  /** Undefined = all namespaces. */
  namespace?: string;
  /** Path for `?watch=true`. */
  path: string;
  list(q: ListQuery): Promise<KubernetesListObject<T>>;
}

export interface CustomResourceName { group: string; version: string; plural: string; kind: string }

export function customResource(kc: KubeConfig, crd: CustomResourceName, namespace?: string): ResourceType {
  const api = kc.makeApiClient(CustomObjectsApi);
  const base = `/apis/${crd.group}/${crd.version}`;
  return {
    apiVersion: `${crd.group}/${crd.version}`,
    kind: crd.kind,
    plural: crd.plural,
    ...(namespace !== undefined ? { namespace } : {}),
    path: namespace !== undefined ? `${base}/namespaces/${namespace}/${crd.plural}` : `${base}/${crd.plural}`,
    async list(q) {
      const common = {
        group: crd.group, version: crd.version, plural: crd.plural,
        ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
        ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.continueToken !== undefined ? { _continue: q.continueToken } : {}),
      };
      const body = (namespace !== undefined
        ? await api.listNamespacedCustomObject({ ...common, namespace })
        : await api.listClusterCustomObject(common)) as KubernetesListObject<KubernetesObject> & { metadata?: { continue?: string } };
      // The custom-objects API hands back the raw JSON, whose list metadata says `continue`; the
      // typed lists (and the informer's pager) use `_continue`. Without this only the first page was read.
      if (body.metadata && body.metadata._continue === undefined && body.metadata.continue) body.metadata._continue = body.metadata.continue;
      return body;
    },
  };
}

type CoreKind = 'Secret' | 'ConfigMap';

/** Secrets or ConfigMaps, in one namespace or all. */
export function coreResource(kc: KubeConfig, kind: CoreKind, namespace?: string): ResourceType {
  const api = kc.makeApiClient(CoreV1Api);
  const plural = kind === 'Secret' ? 'secrets' : 'configmaps';
  return {
    apiVersion: 'v1',
    kind,
    plural,
    ...(namespace !== undefined ? { namespace } : {}),
    path: namespace !== undefined ? `/api/v1/namespaces/${namespace}/${plural}` : `/api/v1/${plural}`,
    async list(q) {
      const common = {
        ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
        ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
        ...(q.limit !== undefined ? { limit: q.limit } : {}),
        ...(q.continueToken !== undefined ? { _continue: q.continueToken } : {}),
      };
      if (kind === 'Secret') {
        return namespace !== undefined
          ? await api.listNamespacedSecret({ ...common, namespace })
          : await api.listSecretForAllNamespaces(common);
      }
      return namespace !== undefined
        ? await api.listNamespacedConfigMap({ ...common, namespace })
        : await api.listConfigMapForAllNamespaces(common);
    },
  };
}

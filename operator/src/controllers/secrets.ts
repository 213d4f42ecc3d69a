/**
 * Which user Secrets the operator keeps in memory. It must watch Secrets in every namespace
 * (users do not label the Secrets their SipCredentials point at, and a password rotation has to
 * reach the HA1 at once), but it keeps full content only for Secrets some SipCredential or
 * SipApplication references: every other Secret is cached as bare metadata (name, namespace,
 * resourceVersion), about 200 bytes each instead of up to 1 MiB (Helm release Secrets, TLS keys).
 * A Secret that becomes referenced while cached bare is read once with a GET; its later
 * changes arrive in full through the watch because it is referenced by then.
 */
import { isPlainObject, type KubeObject } from '../api/types.js';

/** The envelope shared by client-node's typed Secrets and plain JSON ones. */
interface SecretLike {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export class ReferencedSecrets {
  private refs = new Set<string>();
  private readonly bare = new WeakSet<object>();

  /** Replaces the set of referenced `namespace/name` keys; returns the keys newly referenced. */
  update(keys: Iterable<string>): string[] {
    const next = new Set(keys);
    const added = [...next].filter((k) => !this.refs.has(k));
    this.refs = next;
    return added;
  }

  has(namespace: string, name: string): boolean { return this.refs.has(`${namespace}/${name}`); }
  keys(): readonly string[] { return [...this.refs]; }

  /**
   * Informer transform: identity, type and data if referenced now (what the render reads; labels,
   * annotations and the rest are dropped), else identity only.
   */
  readonly transform = <T extends SecretLike>(obj: T): T => {
    const ns = obj.metadata?.namespace ?? '';
    const name = obj.metadata?.name ?? '';
    const slim = {
      apiVersion: obj.apiVersion, kind: obj.kind,
      metadata: { name, namespace: ns, ...(obj.metadata?.resourceVersion ? { resourceVersion: obj.metadata.resourceVersion } : {}), ...(obj.metadata?.uid ? { uid: obj.metadata.uid } : {}) },
    } as T & { type?: unknown; data?: unknown };
    if (this.refs.has(`${ns}/${name}`)) {
      const full = obj as T & { type?: unknown; data?: unknown };
      if (full.type !== undefined) slim.type = full.type;
      if (full.data !== undefined) slim.data = full.data;
      return slim;
    }
    this.bare.add(slim);
    return slim;
  };

  /** True when `obj` came out of `transform` without its data. */
  isBare(obj: object): boolean { return this.bare.has(obj); }
}

/** `namespace/name` of every Secret the custom resources point at (same-namespace references). */
export function secretReferences(objects: readonly unknown[]): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    if (!isPlainObject(o) || !isPlainObject(o.metadata) || !isPlainObject(o.spec)) continue;
    const ns = typeof o.metadata.namespace === 'string' ? o.metadata.namespace : 'default';
    const refs = [o.spec.passwordSecretRef, o.spec.authTokenSecretRef];
    for (const r of refs) if (isPlainObject(r) && typeof r.name === 'string') out.add(`${ns}/${r.name}`);
  }
  return out;
}

/** A plain JSON Secret from whatever client-node handed us (typed class or raw JSON). */
export function plainSecret(s: { metadata?: { name?: string; namespace?: string; resourceVersion?: string }; data?: unknown; type?: unknown }): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Secret',
    metadata: {
      name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '',
      ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}),
    },
    ...(typeof s.type === 'string' ? { type: s.type } : {}),
    ...(isPlainObject(s.data) ? { data: { ...s.data } } : {}),
  };
}

/**
 * TypeScript shapes of the user API (sipflow.io/v1alpha1) and of the few core objects the
 * render reads, as they look after schema defaulting. The CRDs in `crds/` are normative.
 */

export const GROUP = 'sipflow.io' as const;
export const VERSION = 'v1alpha1' as const;
export const API_VERSION = `${GROUP}/${VERSION}` as const;

export type SipflowKind = 'SipApplication' | 'IpAcl' | 'SipCredential';
export const SIPFLOW_KINDS: readonly SipflowKind[] = ['SipApplication', 'IpAcl', 'SipCredential'];

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  generation?: number;
  creationTimestamp?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** Any Kubernetes object; the fields beyond the envelope are checked by validateObject. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface NameRef { name: string }
export interface SecretKeyRef { name: string; key: string }

export interface SipApplicationSpec {
  appId?: string;
  answerUrl: string;
  answerMethod: 'GET' | 'POST';
  fallbackAnswerUrl?: string;
  fallbackMethod: 'GET' | 'POST';
  hangupUrl?: string;
  hangupMethod: 'GET' | 'POST';
  sipAuth: {
    type: 'IpAcl' | 'Credential' | 'IpAclAndCredential' | 'None';
    ipAclRefs?: NameRef[];
    credentialRefs?: NameRef[];
  };
  numbers?: string[];
  authTokenSecretRef?: SecretKeyRef;
  security?: { requireTls?: boolean; requireSrtp?: boolean };
}

export interface IpAclEntry { ip: string; cidrPrefix?: number; description?: string }
export interface IpAclSpec { entries: IpAclEntry[] }

export interface SipCredentialSpec {
  username: string;
  realm?: string;
  passwordSecretRef: SecretKeyRef;
}

export interface SipApplication extends KubeObject { kind: 'SipApplication'; spec: SipApplicationSpec }
export interface IpAcl extends KubeObject { kind: 'IpAcl'; spec: IpAclSpec }
export interface SipCredential extends KubeObject { kind: 'SipCredential'; spec: SipCredentialSpec }
export interface Secret extends KubeObject {
  kind: 'Secret';
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
export interface ConfigMap extends KubeObject {
  kind: 'ConfigMap';
  data?: Record<string, string>;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `namespace/name`, with the namespace an unnamespaced manifest gets from kubectl by default. */
export function objectKey(obj: { metadata?: ObjectMeta }): string {
  return `${obj.metadata?.namespace ?? 'default'}/${obj.metadata?.name ?? '?'}`;
}

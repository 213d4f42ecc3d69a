/**
 * The config contract between the operator (writer) and media pods (readers): what a
 * SipApplication, its IpAcls and SipCredentials become once rendered. The JSON Schema in
 * `schema.json` beside this file is the normative form; these types mirror it.
 *
 * Layout on the cluster (all in the operator's namespace, labelled
 * `app.kubernetes.io/managed-by=sipflow-operator`):
 *   - ConfigMap `sipflow-routing-index`: key `index.json`, a RoutingIndex naming every shard and its sha256.
 *   - ConfigMaps `sipflow-routing-<n>`: key `routing.json`, a RoutingShard (apps whose shard number is n).
 *   - Secrets `sipflow-credentials-<n>`: key `credentials.json`, a CredentialShard (HA1 digests, app auth tokens).
 * A reader applies a new config only when every shard the index names is present with the
 * matching sha256, so it never serves a mix of two generations.
 */

export const CONTRACT_API_VERSION = 'contract.sipflow.io/v1' as const;

export type HttpMethod = 'GET' | 'POST';
export type SipAuthType = 'IpAcl' | 'Credential' | 'IpAclAndCredential' | 'None';

/** One resolved IP ACL entry: an address and prefix length (IPv4 or IPv6). */
export interface AclEntry {
  ip: string;
  prefix: number;
  /** namespace/name of the IpAcl it came from, for logs. */
  source: string;
}

export interface RoutingApp {
  appId: string;
  /** The SipApplication this came from. */
  namespace: string;
  name: string;
  /** E.164 numbers (without '+') also accepted as the Request-URI user part. */
  numbers: string[];
  answerUrl: string;
  answerMethod: HttpMethod;
  fallbackAnswerUrl?: string;
  fallbackMethod: HttpMethod;
  hangupUrl?: string;
  hangupMethod: HttpMethod;
  auth: {
    type: SipAuthType;
    /** Union of the entries of every referenced IpAcl. */
    acl: AclEntry[];
    /** Realm the digest challenge names; every allowed identity shares it. */
    realm?: string;
    /** Allowed identities as `username@realm`; their HA1 live in the credential shards. */
    identities: string[];
  };
  /** True when an auth token exists for this app in the credential shards (callbacks are signed). */
  signed: boolean;
  /** Present when the SipApplication asks for encryption: INVITEs only over TLS, media only as SRTP. */
  security?: { requireTls: boolean; requireSrtp: boolean };
}

export interface RoutingShard {
  apiVersion: typeof CONTRACT_API_VERSION;
  kind: 'RoutingShard';
  shard: number;
  apps: RoutingApp[];
}

export interface CredentialHash {
  username: string;
  realm: string;
  /** hex MD5(username:realm:password) */
  ha1Md5: string;
  /** hex SHA-256(username:realm:password) */
  ha1Sha256: string;
}

export interface CredentialShard {
  apiVersion: typeof CONTRACT_API_VERSION;
  kind: 'CredentialShard';
  shard: number;
  /** Keyed by `username@realm`. */
  credentials: Record<string, CredentialHash>;
  /** Keyed by appId: the token that signs that app's callbacks (X-Plivo-Signature-V3). */
  appTokens: Record<string, string>;
}

export interface ShardRef {
  /** ConfigMap/Secret name (or file name stem in --config-dir mode). */
  name: string;
  /** hex sha256 of the shard's JSON text exactly as stored. */
  sha256: string;
}

export interface RoutingIndex {
  apiVersion: typeof CONTRACT_API_VERSION;
  kind: 'RoutingIndex';
  /** hex sha256 over all shard hashes: identifies one config generation. */
  generation: string;
  sipDomain: string;
  appCount: number;
  routingShards: ShardRef[];
  credentialShards: ShardRef[];
}

/** What a media pod serves from: the assembled, validated view of one generation. */
export interface RuntimeConfig {
  generation: string;
  sipDomain: string;
  appsById: Map<string, RoutingApp>;
  /** number (no '+') → app */
  appsByNumber: Map<string, RoutingApp>;
  /** `username@realm` → hashes */
  credentials: Map<string, CredentialHash>;
  /** appId → auth token */
  appTokens: Map<string, string>;
}

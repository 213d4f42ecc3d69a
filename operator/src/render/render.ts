/**
 * The pure heart of the operator: custom resources (plus the Secrets they reference) in,
 * contract documents (routing index, routing shards, credential shards) and one status
 * result per custom resource out. No I/O, no clock: same input in any order gives
 * byte-identical output, which is what the golden tests and idempotent applies rely on.
 */
import { createHash } from 'node:crypto';
import {
  CONTRACT_API_VERSION,
  CREDENTIALS_KEY,
  INDEX_KEY,
  INDEX_NAME,
  ROUTING_KEY,
  SHARD_MAX_BYTES,
  canonicalJson,
  computeGeneration,
  credentialShardName,
  routingShardName,
  shardSha256,
  type ContractDocs,
} from '../contract/contract.js';
import type { AclEntry, CredentialHash, CredentialShard, RoutingApp, RoutingIndex, RoutingShard, ShardRef } from '../contract/types.js';
import { formatFieldErrors, validateObject } from '../api/validate.js';
import {
  isPlainObject,
  type ConfigMap,
  type IpAcl,
  type KubeObject,
  type Secret,
  type SipApplication,
  type SipCredential,
} from '../api/types.js';

export interface RenderInput {
  /** SipApplication, IpAcl, SipCredential and Secret objects of any namespaces; other kinds are ignored. */
  objects: unknown[];
  sipDomain: string;
  /** Realm for SipCredentials without spec.realm; defaults to sipDomain. */
  defaultRealm?: string;
}

export interface ObjectResult {
  kind: string;
  namespace: string;
  name: string;
  generation?: number;
  ready: boolean;
  /** CamelCase condition reason. */
  reason: string;
  message: string;
  /** SipApplication only, while it is served. */
  sipUri?: string;
  /** IpAcl only: number of entries, for status.entryCount. */
  entryCount?: number;
}

export interface RenderResult extends ContractDocs {
  index: RoutingIndex;
  indexText: string;
  routingShards: { name: string; text: string }[];
  credentialShards: { name: string; text: string }[];
  results: ObjectResult[];
}

/** Every reason the render can report, for tests and for documentation of the API. */
export const REASONS = [
  'Ready', 'Resolved', 'Invalid', 'IpAclNotFound', 'IpAclNotReady', 'SipCredentialNotFound', 'SipCredentialNotReady',
  'SecretNotFound', 'SecretKeyMissing', 'WeakPassword', 'CredentialConflict', 'AppIdConflict', 'RealmConflict', 'AuthTokenInvalid',
] as const;
export type Reason = (typeof REASONS)[number];

const MESSAGE_MAX = 2000;
const CUSTOM_KINDS = new Set(['SipApplication', 'IpAcl', 'SipCredential']);

export function sipUri(appId: string, sipDomain: string): string {
  return `sip:${appId}@${sipDomain}`;
}

function truncate(s: string): string {
  return s.length <= MESSAGE_MAX ? s : `${s.slice(0, MESSAGE_MAX - 1)}…`;
}

interface Meta { namespace: string; name: string; generation?: number; creationTimestamp: string }
function metaOf(o: unknown): Meta | undefined {
  if (!isPlainObject(o) || !isPlainObject(o.metadata) || typeof o.metadata.name !== 'string') return undefined;
  const m = o.metadata;
  return {
    namespace: typeof m.namespace === 'string' ? m.namespace : 'default',
    name: m.name as string,
    ...(typeof m.generation === 'number' ? { generation: m.generation } : {}),
    creationTimestamp: typeof m.creationTimestamp === 'string' ? m.creationTimestamp : '',
  };
}
const keyOf = (m: Meta): string => `${m.namespace}/${m.name}`;

/** Older first (creationTimestamp, then namespace/name): the order in which claims are granted. */
function byAge(a: Meta, b: Meta): number {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp < b.creationTimestamp ? -1 : 1;
  return compareStrings(keyOf(a), keyOf(b));
}
function compareStrings(a: string, b: string): number { return a < b ? -1 : a > b ? 1 : 0; }

/**
 * Groups objects of one kind by namespace/name. Two manifests with the same identity (possible
 * in local mode, never on a cluster) make that identity invalid, whatever their order.
 */
function indexByKey<T>(objs: T[], meta: (o: T) => Meta): { byKey: Map<string, T>; duplicates: Set<string> } {
  const byKey = new Map<string, T>();
  const duplicates = new Set<string>();
  for (const o of objs) {
    const k = keyOf(meta(o));
    if (byKey.has(k)) duplicates.add(k);
    else byKey.set(k, o);
  }
  for (const k of duplicates) byKey.delete(k);
  return { byKey, duplicates };
}

/** Reads a Secret value the way the API server merges it: stringData wins over base64 data. */
export function secretValue(secret: Secret, key: string): string | undefined {
  const sd = secret.stringData;
  if (isPlainObject(sd) && typeof sd[key] === 'string') return sd[key];
  const d = secret.data;
  if (isPlainObject(d) && typeof d[key] === 'string') return Buffer.from(d[key], 'base64').toString('utf8');
  return undefined;
}

/** Plivo's rule for SIP credential passwords. */
function passwordProblem(pw: string): string | undefined {
  if (pw.length < 12 || pw.length > 128) return 'must be 12-128 characters long';
  if (!/[A-Z]/.test(pw) || !/[a-z]/.test(pw) || !/[0-9]/.test(pw)) return 'must contain an upper-case letter, a lower-case letter and a digit';
  return undefined;
}

interface ResolvedCredential { meta: Meta; hash: CredentialHash }

type Lookup<T> = { ok: true; value: T } | { ok: false; reason: Reason; message: string };

function lookupSecretKey(secrets: Map<string, Secret>, dupSecrets: Set<string>, namespace: string, name: string, key: string, what: string): Lookup<string> {
  const id = `${namespace}/${name}`;
  if (dupSecrets.has(id)) return { ok: false, reason: 'SecretNotFound', message: `Secret ${id} (${what}) is defined more than once in the input` };
  const s = secrets.get(id);
  if (!s) return { ok: false, reason: 'SecretNotFound', message: `Secret ${id} (${what}) not found` };
  const v = secretValue(s, key);
  if (v === undefined) return { ok: false, reason: 'SecretKeyMissing', message: `Secret ${id} has no key ${JSON.stringify(key)} (${what})` };
  if (v === '') return { ok: false, reason: 'SecretKeyMissing', message: `key ${JSON.stringify(key)} of Secret ${id} is empty (${what})` };
  return { ok: true, value: v };
}

function hashHex(alg: 'md5' | 'sha256', text: string): string {
  return createHash(alg).update(text, 'utf8').digest('hex');
}

/** Greedy, order-preserving packing under the shard size bound; sizes are upper estimates. */
function pack<T>(items: T[], size: (item: T) => number, budget: number): T[][] {
  const out: T[][] = [[]];
  let used = 0;
  for (const item of items) {
    const s = size(item);
    const cur = out[out.length - 1] as T[];
    if (cur.length > 0 && used + s > budget) {
      out.push([item]);
      used = s;
    } else {
      cur.push(item);
      used += s;
    }
  }
  return out;
}

/**
 * Upper bound of the bytes an item adds when nested two levels deep in canonical JSON. Key order
 * does not change the length, so this measures plain JSON.stringify (no sorted copy per item):
 * canonicalJson(value) is that text plus a newline, i.e. one more byte and one more line.
 */
function nestedSize(key: string, value: unknown): number {
  const text = JSON.stringify(value, null, 2);
  let newlines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) newlines++;
  const bytes = Buffer.byteLength(text, 'utf8') + 1;
  const lines = newlines + 2;
  return bytes + lines * 4 + Buffer.byteLength(key, 'utf8') + 8;
}

export function render(input: RenderInput): RenderResult {
  const sipDomain = input.sipDomain;
  const defaultRealm = input.defaultRealm ?? sipDomain;
  const results: ObjectResult[] = [];
  const report = (kind: string, m: Meta, ready: boolean, reason: Reason, message: string, extra: Partial<ObjectResult> = {}): void => {
    results.push({
      kind, namespace: m.namespace, name: m.name,
      ...(m.generation !== undefined ? { generation: m.generation } : {}),
      ready, reason, message: truncate(message), ...extra,
    });
  };

  // 1. Admission: the same validator as `kubectl apply` (via the CRDs) and the CLI.
  const apps: { meta: Meta; obj: SipApplication }[] = [];
  const acls: { meta: Meta; obj: IpAcl }[] = [];
  const creds: { meta: Meta; obj: SipCredential }[] = [];
  const secretsIn: { meta: Meta; obj: Secret }[] = [];
  const customIn: { meta: Meta; raw: unknown; kind: string }[] = [];
  for (const raw of input.objects) {
    const meta = metaOf(raw);
    if (!meta || !isPlainObject(raw)) continue;
    if (raw.kind === 'Secret' && raw.apiVersion === 'v1') secretsIn.push({ meta, obj: raw as Secret });
    else if (typeof raw.kind === 'string' && CUSTOM_KINDS.has(raw.kind)) customIn.push({ meta, raw, kind: raw.kind });
  }
  for (const kind of CUSTOM_KINDS) {
    const ofKind = customIn.filter((c) => c.kind === kind);
    const { byKey, duplicates } = indexByKey(ofKind, (c) => c.meta);
    for (const k of duplicates) {
      const [namespace = 'default', name = ''] = k.split('/');
      report(kind, { namespace, name, creationTimestamp: '' }, false, 'Invalid', `${kind} ${k} is defined more than once in the input`);
    }
    for (const c of byKey.values()) {
      const v = validateObject(c.raw);
      if (!v.ok) {
        report(kind, c.meta, false, 'Invalid', formatFieldErrors(v.errors));
        continue;
      }
      if (kind === 'SipApplication') apps.push({ meta: c.meta, obj: v.object as SipApplication });
      else if (kind === 'IpAcl') acls.push({ meta: c.meta, obj: v.object as IpAcl });
      else creds.push({ meta: c.meta, obj: v.object as SipCredential });
    }
  }
  const { byKey: secretByKey, duplicates: dupSecrets } = indexByKey(secretsIn, (s) => s.meta);
  const secrets = new Map([...secretByKey].map(([k, s]) => [k, s.obj]));

  // 2. IpAcls: valid means usable.
  const aclByKey = new Map<string, { meta: Meta; obj: IpAcl }>();
  for (const a of acls) {
    aclByKey.set(keyOf(a.meta), a);
    const n = a.obj.spec.entries.length;
    report('IpAcl', a.meta, true, 'Resolved', `${n} ${n === 1 ? 'entry' : 'entries'}`, { entryCount: n });
  }
  const invalidKeys = (kind: string): Set<string> =>
    new Set(results.filter((r) => r.kind === kind && !r.ready).map((r) => `${r.namespace}/${r.name}`));
  const invalidAcls = invalidKeys('IpAcl');

  // 3. SipCredentials: password → HA1; username@realm is one identity cluster-wide, the older object keeps it.
  const credByKey = new Map<string, ResolvedCredential>();
  const credProblem = new Map<string, string>();
  const identityOwner = new Map<string, string>();
  for (const c of [...creds].sort((a, b) => byAge(a.meta, b.meta))) {
    const { username, passwordSecretRef: ref } = c.obj.spec;
    const realm = c.obj.spec.realm ?? defaultRealm;
    const key = keyOf(c.meta);
    const pw = lookupSecretKey(secrets, dupSecrets, c.meta.namespace, ref.name, ref.key, 'password');
    if (!pw.ok) {
      report('SipCredential', c.meta, false, pw.reason, pw.message);
      credProblem.set(key, pw.reason);
      continue;
    }
    const weak = passwordProblem(pw.value);
    if (weak) {
      report('SipCredential', c.meta, false, 'WeakPassword', `the password in Secret ${c.meta.namespace}/${ref.name} key ${JSON.stringify(ref.key)} ${weak}`);
      credProblem.set(key, 'WeakPassword');
      continue;
    }
    const identity = `${username}@${realm}`;
    const owner = identityOwner.get(identity);
    if (owner !== undefined) {
      report('SipCredential', c.meta, false, 'CredentialConflict', `username ${JSON.stringify(username)} in realm ${JSON.stringify(realm)} is already defined by SipCredential ${owner}, which is older`);
      credProblem.set(key, 'CredentialConflict');
      continue;
    }
    identityOwner.set(identity, key);
    const secretText = `${username}:${realm}:${pw.value}`;
    credByKey.set(key, { meta: c.meta, hash: { username, realm, ha1Md5: hashHex('md5', secretText), ha1Sha256: hashHex('sha256', secretText) } });
    report('SipCredential', c.meta, true, 'Resolved', `identity ${identity}`);
  }
  const invalidCreds = invalidKeys('SipCredential');

  // 4. SipApplications: claims on Request-URI user parts by age, then references (fail closed).
  const served: RoutingApp[] = [];
  const usedCredentials = new Map<string, CredentialHash>();
  const tokens = new Map<string, string>();
  const claimOwner = new Map<string, string>();
  for (const a of [...apps].sort((x, y) => byAge(x.meta, y.meta))) {
    const spec = a.obj.spec;
    const ns = a.meta.namespace;
    const appId = spec.appId ?? a.meta.name;
    const numbers = [...new Set((spec.numbers ?? []).map((n) => n.replace(/^\+/, '')))];
    const claims = [...new Set([appId, ...numbers])];
    const taken = claims.map((k) => [k, claimOwner.get(k)] as const).filter(([, o]) => o !== undefined);
    if (taken.length > 0) {
      const what = taken.map(([k, o]) => `${k === appId ? 'appId' : 'number'} ${JSON.stringify(k)} is already used by SipApplication ${o}`).join('; ');
      report('SipApplication', a.meta, false, 'AppIdConflict', `${what}, which is older; this application is not served`);
      continue;
    }
    for (const k of claims) claimOwner.set(k, keyOf(a.meta));

    const problems: { reason: Reason; message: string }[] = [];
    const acl: AclEntry[] = [];
    for (const ref of spec.sipAuth.ipAclRefs ?? []) {
      const id = `${ns}/${ref.name}`;
      const found = aclByKey.get(id);
      if (found) {
        for (const e of found.obj.spec.entries) {
          const ip = e.ip.toLowerCase();
          acl.push({ ip, prefix: e.cidrPrefix ?? (ip.includes(':') ? 128 : 32), source: id });
        }
      } else if (invalidAcls.has(id)) {
        problems.push({ reason: 'IpAclNotReady', message: `IpAcl ${id} is not Ready (see its status)` });
      } else {
        problems.push({ reason: 'IpAclNotFound', message: `IpAcl ${id} not found` });
      }
    }
    const identities: string[] = [];
    const hashes: CredentialHash[] = [];
    for (const ref of spec.sipAuth.credentialRefs ?? []) {
      const id = `${ns}/${ref.name}`;
      const found = credByKey.get(id);
      if (found) {
        hashes.push(found.hash);
        identities.push(`${found.hash.username}@${found.hash.realm}`);
      } else if (invalidCreds.has(id)) {
        problems.push({ reason: 'SipCredentialNotReady', message: `SipCredential ${id} is not Ready (${credProblem.get(id) ?? 'Invalid'})` });
      } else {
        problems.push({ reason: 'SipCredentialNotFound', message: `SipCredential ${id} not found` });
      }
    }
    const realms = [...new Set(hashes.map((h) => h.realm))].sort();
    if (realms.length > 1) {
      problems.push({ reason: 'RealmConflict', message: `the referenced SipCredentials use different realms (${realms.map((r) => JSON.stringify(r)).join(', ')}); one digest challenge can name only one` });
    }
    let token: string | undefined;
    if (spec.authTokenSecretRef) {
      const t = lookupSecretKey(secrets, dupSecrets, ns, spec.authTokenSecretRef.name, spec.authTokenSecretRef.key, 'authTokenSecretRef');
      if (!t.ok) problems.push({ reason: t.reason, message: t.message });
      else if (t.value.length > 4096) problems.push({ reason: 'AuthTokenInvalid', message: `the auth token in Secret ${ns}/${spec.authTokenSecretRef.name} is longer than 4096 characters` });
      else token = t.value;
    }
    const first = problems[0];
    if (first) {
      report('SipApplication', a.meta, false, first.reason, `${problems.map((p) => p.message).join('; ')}; calls to ${appId} are rejected until this is fixed`);
      continue;
    }
    const app: RoutingApp = {
      appId, namespace: ns, name: a.meta.name, numbers,
      answerUrl: spec.answerUrl, answerMethod: spec.answerMethod,
      ...(spec.fallbackAnswerUrl !== undefined ? { fallbackAnswerUrl: spec.fallbackAnswerUrl } : {}),
      fallbackMethod: spec.fallbackMethod,
      ...(spec.hangupUrl !== undefined ? { hangupUrl: spec.hangupUrl } : {}),
      hangupMethod: spec.hangupMethod,
      auth: { type: spec.sipAuth.type, acl, ...(realms[0] !== undefined ? { realm: realms[0] } : {}), identities },
      signed: token !== undefined,
      ...(spec.security?.requireTls || spec.security?.requireSrtp
        ? { security: { requireTls: spec.security.requireTls === true, requireSrtp: spec.security.requireSrtp === true } }
        : {}),
    };
    served.push(app);
    for (const h of hashes) usedCredentials.set(`${h.username}@${h.realm}`, h);
    if (token !== undefined) tokens.set(appId, token);
    const uri = sipUri(appId, sipDomain);
    report('SipApplication', a.meta, true, 'Ready', `serving ${uri} (auth ${spec.sipAuth.type}${numbers.length ? `, ${numbers.length} number${numbers.length === 1 ? '' : 's'}` : ''})`, { sipUri: uri });
  }

  // 5. Contract documents.
  served.sort((x, y) => compareStrings(x.appId, y.appId));
  const budget = SHARD_MAX_BYTES - 1024;
  const routingShards = pack(served, (app) => nestedSize('', app), budget).map((chunk, n) => {
    const shard: RoutingShard = { apiVersion: CONTRACT_API_VERSION, kind: 'RoutingShard', shard: n, apps: chunk };
    return { name: routingShardName(n), text: canonicalJson(shard) };
  });
  type CredItem = { kind: 'cred'; key: string; hash: CredentialHash } | { kind: 'token'; key: string; token: string };
  const credItems: CredItem[] = [
    ...[...usedCredentials].sort(([x], [y]) => compareStrings(x, y)).map(([key, hash]): CredItem => ({ kind: 'cred', key, hash })),
    ...[...tokens].sort(([x], [y]) => compareStrings(x, y)).map(([key, token]): CredItem => ({ kind: 'token', key, token })),
  ];
  const credentialShards = pack(credItems, (i) => nestedSize(i.key, i.kind === 'cred' ? i.hash : i.token), budget).map((chunk, n) => {
    const shard: CredentialShard = { apiVersion: CONTRACT_API_VERSION, kind: 'CredentialShard', shard: n, credentials: {}, appTokens: {} };
    for (const i of chunk) {
      if (i.kind === 'cred') shard.credentials[i.key] = i.hash;
      else shard.appTokens[i.key] = i.token;
    }
    return { name: credentialShardName(n), text: canonicalJson(shard) };
  });
  const refs = (shards: { name: string; text: string }[]): ShardRef[] => shards.map((s) => ({ name: s.name, sha256: shardSha256(s.text) }));
  const routingRefs = refs(routingShards);
  const credentialRefs = refs(credentialShards);
  const index: RoutingIndex = {
    apiVersion: CONTRACT_API_VERSION,
    kind: 'RoutingIndex',
    generation: computeGeneration(sipDomain, routingRefs, credentialRefs),
    sipDomain,
    appCount: served.length,
    routingShards: routingRefs,
    credentialShards: credentialRefs,
  };

  results.sort((x, y) => compareStrings(x.kind, y.kind) || compareStrings(x.namespace, y.namespace) || compareStrings(x.name, y.name));
  return { index, indexText: canonicalJson(index), routingShards, credentialShards, results };
}

export const MANAGED_BY_LABELS = {
  'app.kubernetes.io/managed-by': 'sipflow-operator',
  'app.kubernetes.io/part-of': 'sipflow',
} as const;

/**
 * The ConfigMaps and Secrets the operator applies for a render, in the order to apply them:
 * shards first, the index last, so readers never see an index naming a shard not yet written.
 */
export function toKubeObjects(result: RenderResult, namespace: string): KubeObject[] {
  const meta = (name: string, component: string, annotations: Record<string, string>) => ({
    name, namespace,
    labels: { ...MANAGED_BY_LABELS, 'sipflow.io/component': component },
    annotations,
  });
  const out: KubeObject[] = [];
  for (const s of result.routingShards) {
    const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(s.name, 'routing', { 'sipflow.io/sha256': shardSha256(s.text) }), data: { [ROUTING_KEY]: s.text } };
    out.push(cm);
  }
  for (const s of result.credentialShards) {
    const secret: Secret = {
      apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
      metadata: meta(s.name, 'credentials', { 'sipflow.io/sha256': shardSha256(s.text) }),
      data: { [CREDENTIALS_KEY]: Buffer.from(s.text, 'utf8').toString('base64') },
    };
    out.push(secret);
  }
  const index: ConfigMap = {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: meta(INDEX_NAME, 'index', { 'sipflow.io/generation': result.index.generation }),
    data: { [INDEX_KEY]: result.indexText },
  };
  out.push(index);
  return out;
}

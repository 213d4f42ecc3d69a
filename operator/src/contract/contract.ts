/**
 * The config contract in code: validation of the documents against `schema.json`, the shard
 * hashing and generation rules, assembly of a RuntimeConfig from one complete generation, and
 * the `--config-dir` file layout. The operator uses it to check what it writes, media pods to
 * check what they read.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import schema from './schema.json' with { type: 'json' };
import {
  CONTRACT_API_VERSION,
  type CredentialHash,
  type CredentialShard,
  type RoutingApp,
  type RoutingIndex,
  type RoutingShard,
  type RuntimeConfig,
  type ShardRef,
} from './types.js';

export const CONTRACT_SCHEMA_ID = schema.$id;
export const INDEX_NAME = 'sipflow-routing-index';
export const INDEX_KEY = 'index.json';
export const ROUTING_KEY = 'routing.json';
export const CREDENTIALS_KEY = 'credentials.json';
/** Upper bound for one shard's JSON text; 1 MiB objects still fit after base64 (Secrets). */
export const SHARD_MAX_BYTES = 512 * 1024;
export const INDEX_FILE = 'index.json';

export function routingShardName(n: number): string { return `sipflow-routing-${n}`; }
export function credentialShardName(n: number): string { return `sipflow-credentials-${n}`; }
const SHARD_FILE = /^sipflow-(routing|credentials)-(0|[1-9][0-9]*)\.json$/;

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addSchema(schema);
function compileDef(name: string): ValidateFunction {
  const v = ajv.getSchema(`${schema.$id}#/$defs/${name}`);
  if (!v) throw new Error(`contract schema has no $defs/${name}`);
  return v;
}
const validators = {
  RoutingIndex: compileDef('RoutingIndex'),
  RoutingShard: compileDef('RoutingShard'),
  CredentialShard: compileDef('CredentialShard'),
};

function describe(e: ErrorObject): string {
  const at = e.instancePath || '/';
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') return `${at}: unknown property ${JSON.stringify(p.additionalProperty)}`;
  if (e.keyword === 'required') return `${at}: missing property ${JSON.stringify(p.missingProperty)}`;
  // Messages never carry the offending value: credential shards hold secrets.
  return `${at}: ${e.message ?? e.keyword}`;
}

function check<T>(v: ValidateFunction, x: unknown): Validation<T> {
  if (v(x)) return { ok: true, value: x as T };
  return { ok: false, errors: (v.errors ?? []).map(describe) };
}

export function validateRoutingIndex(x: unknown): Validation<RoutingIndex> { return check(validators.RoutingIndex, x); }
export function validateRoutingShard(x: unknown): Validation<RoutingShard> { return check(validators.RoutingShard, x); }
export function validateCredentialShard(x: unknown): Validation<CredentialShard> { return check(validators.CredentialShard, x); }

export function shardSha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The generation id: see the top-level description of schema.json. */
export function computeGeneration(sipDomain: string, routingShards: ShardRef[], credentialShards: ShardRef[]): string {
  let text = `sipDomain=${sipDomain}\n`;
  for (const r of [...routingShards, ...credentialShards]) text += `${r.name}=${r.sha256}\n`;
  return shardSha256(text);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const val = (v as Record<string, unknown>)[k];
      if (val !== undefined) out[k] = sortKeys(val);
    }
    return out;
  }
  return v;
}

/** The one JSON spelling of the contract: sorted keys, two-space indent, trailing newline. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

export type AssembleResult = { ok: true; config: RuntimeConfig } | { ok: false; error: string };

function parseJson(text: string, what: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `${what}: invalid JSON: ${(e as Error).message}` };
  }
}

/**
 * Builds the RuntimeConfig of one generation, or says why it cannot: a shard missing or from
 * another generation (sha256 mismatch), a schema violation, a duplicate appId/number, an
 * identity without a credential. A reader keeps serving its previous config on failure.
 */
export function assembleRuntimeConfig(indexText: string, shardTexts: Map<string, string>): AssembleResult {
  const fail = (error: string): AssembleResult => ({ ok: false, error });
  const parsedIndex = parseJson(indexText, INDEX_NAME);
  if (!parsedIndex.ok) return fail(parsedIndex.error);
  const idx = validateRoutingIndex(parsedIndex.value);
  if (!idx.ok) return fail(`${INDEX_NAME}: ${idx.errors.join('; ')}`);
  const index = idx.value;
  const expectedGeneration = computeGeneration(index.sipDomain, index.routingShards, index.credentialShards);
  if (expectedGeneration !== index.generation) {
    return fail(`${INDEX_NAME}: generation ${index.generation} does not match its shard list (expected ${expectedGeneration})`);
  }

  const load = <T>(ref: ShardRef, validate: (x: unknown) => Validation<T>): { ok: true; value: T } | { ok: false; error: string } => {
    const text = shardTexts.get(ref.name);
    if (text === undefined) return { ok: false, error: `shard ${ref.name} named by generation ${index.generation} is missing` };
    const sha = shardSha256(text);
    if (sha !== ref.sha256) return { ok: false, error: `shard ${ref.name} has sha256 ${sha}, generation ${index.generation} expects ${ref.sha256} (not yet updated?)` };
    const parsed = parseJson(text, ref.name);
    if (!parsed.ok) return parsed;
    const v = validate(parsed.value);
    if (!v.ok) return { ok: false, error: `${ref.name}: ${v.errors.join('; ')}` };
    return v;
  };

  const appsById = new Map<string, RoutingApp>();
  const appsByNumber = new Map<string, RoutingApp>();
  const owner = new Map<string, string>();
  const seenShards = new Set<string>();
  for (const ref of index.routingShards) {
    if (seenShards.has(ref.name)) return fail(`${INDEX_NAME}: shard ${ref.name} is listed twice`);
    seenShards.add(ref.name);
    const r = load(ref, validateRoutingShard);
    if (!r.ok) return fail(r.error);
    if (routingShardName(r.value.shard) !== ref.name) return fail(`${ref.name}: holds shard number ${r.value.shard}`);
    for (const app of r.value.apps) {
      const ref0 = `${app.namespace}/${app.name}`;
      // appIds and numbers share one space: both are Request-URI user parts.
      for (const key of new Set([app.appId, ...app.numbers])) {
        const prev = owner.get(key);
        if (prev !== undefined) return fail(`${ref.name}: Request-URI user part ${JSON.stringify(key)} of ${ref0} is also claimed by ${prev}`);
        owner.set(key, ref0);
      }
      appsById.set(app.appId, app);
      for (const n of app.numbers) appsByNumber.set(n, app);
    }
  }
  if (appsById.size !== index.appCount) return fail(`${INDEX_NAME}: appCount ${index.appCount} but the shards hold ${appsById.size} apps`);

  const credentials = new Map<string, CredentialHash>();
  const appTokens = new Map<string, string>();
  for (const ref of index.credentialShards) {
    if (seenShards.has(ref.name)) return fail(`${INDEX_NAME}: shard ${ref.name} is listed twice`);
    seenShards.add(ref.name);
    const r = load(ref, validateCredentialShard);
    if (!r.ok) return fail(r.error);
    if (credentialShardName(r.value.shard) !== ref.name) return fail(`${ref.name}: holds shard number ${r.value.shard}`);
    for (const [key, hash] of Object.entries(r.value.credentials)) {
      if (key !== `${hash.username}@${hash.realm}`) return fail(`${ref.name}: credential key ${JSON.stringify(key)} does not match its username and realm`);
      if (credentials.has(key)) return fail(`${ref.name}: credential ${JSON.stringify(key)} appears twice`);
      credentials.set(key, hash);
    }
    for (const [appId, token] of Object.entries(r.value.appTokens)) {
      if (appTokens.has(appId)) return fail(`${ref.name}: auth token of app ${JSON.stringify(appId)} appears twice`);
      appTokens.set(appId, token);
    }
  }

  for (const app of appsById.values()) {
    const usesAcl = app.auth.type === 'IpAcl' || app.auth.type === 'IpAclAndCredential';
    const usesDigest = app.auth.type === 'Credential' || app.auth.type === 'IpAclAndCredential';
    if (usesAcl && app.auth.acl.length === 0) return fail(`app ${app.appId}: auth type ${app.auth.type} with an empty ACL`);
    if (usesDigest && (app.auth.identities.length === 0 || !app.auth.realm)) return fail(`app ${app.appId}: auth type ${app.auth.type} without identities or realm`);
    for (const id of app.auth.identities) {
      const hash = credentials.get(id);
      if (!hash) return fail(`app ${app.appId}: identity ${JSON.stringify(id)} has no credential in this generation`);
      if (hash.realm !== app.auth.realm) return fail(`app ${app.appId}: identity ${JSON.stringify(id)} is not in realm ${JSON.stringify(app.auth.realm)}`);
    }
    if (app.signed && !appTokens.has(app.appId)) return fail(`app ${app.appId}: marked signed but no auth token in this generation`);
  }
  for (const appId of appTokens.keys()) {
    if (!appsById.has(appId)) return fail(`auth token for unknown app ${JSON.stringify(appId)}`);
  }

  return {
    ok: true,
    config: { generation: index.generation, sipDomain: index.sipDomain, appsById, appsByNumber, credentials, appTokens },
  };
}

/** The documents of one generation as text, ready to store. */
export interface ContractDocs {
  indexText: string;
  routingShards: { name: string; text: string }[];
  credentialShards: { name: string; text: string }[];
}

function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, path);
}

/**
 * Writes the `--config-dir` layout: every shard first, `index.json` last (each by rename, so
 * a watcher never reads half a file), then removes shard files the new index no longer names.
 * Credential shards are written owner-only: they hold HA1 digests and tokens.
 */
export function writeContractFiles(dir: string, docs: ContractDocs): void {
  mkdirSync(dir, { recursive: true });
  const keep = new Set<string>();
  for (const s of docs.routingShards) { writeAtomic(join(dir, `${s.name}.json`), s.text, 0o644); keep.add(`${s.name}.json`); }
  for (const s of docs.credentialShards) { writeAtomic(join(dir, `${s.name}.json`), s.text, 0o600); keep.add(`${s.name}.json`); }
  writeAtomic(join(dir, INDEX_FILE), docs.indexText, 0o644);
  for (const f of readdirSync(dir)) {
    if (SHARD_FILE.test(f) && !keep.has(f)) rmSync(join(dir, f), { force: true });
  }
}

export class ContractReadError extends Error {
  constructor(message: string, readonly dir: string) {
    super(`${dir}: ${message}`);
    this.name = 'ContractReadError';
  }
}

/**
 * Reads `index.json` and the shard files it names from a `--config-dir` folder. A shard that
 * is absent is simply not in the map: assembleRuntimeConfig reports it.
 */
export function readContractDir(dir: string): { indexText: string; shardTexts: Map<string, string> } {
  let indexText: string;
  try {
    indexText = readFileSync(join(dir, INDEX_FILE), 'utf8');
  } catch (e) {
    throw new ContractReadError(`cannot read ${INDEX_FILE}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, dir);
  }
  const shardTexts = new Map<string, string>();
  let names: string[] = [];
  try {
    const idx = JSON.parse(indexText) as Partial<RoutingIndex>;
    names = [...(idx.routingShards ?? []), ...(idx.credentialShards ?? [])].map((r) => r.name).filter((n) => typeof n === 'string');
  } catch {
    // Invalid JSON: assembleRuntimeConfig says so with context.
  }
  for (const name of names) {
    if (!/^sipflow-(routing|credentials)-\d+$/.test(name)) continue;
    try {
      shardTexts.set(name, readFileSync(join(dir, `${name}.json`), 'utf8'));
    } catch {
      // Missing (e.g. mid-update): reported by assembleRuntimeConfig.
    }
  }
  return { indexText, shardTexts };
}

export { CONTRACT_API_VERSION };

// The contract: schema validation with JSON-pointer paths, generation/sha checks in assembly,
// and the --config-dir layout (atomic order, stale shard removal).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assembleRuntimeConfig,
  canonicalJson,
  computeGeneration,
  readContractDir,
  shardSha256,
  validateCredentialShard,
  validateRoutingIndex,
  validateRoutingShard,
  writeContractFiles,
  type ContractDocs,
} from './contract.js';
import { CONTRACT_API_VERSION, type CredentialShard, type RoutingApp, type RoutingShard } from './types.js';

const app = (appId: string, extra: Partial<RoutingApp> = {}): RoutingApp => ({
  appId, namespace: 'default', name: appId, numbers: [], answerUrl: 'http://127.0.0.1:5080/answer',
  answerMethod: 'POST', fallbackMethod: 'POST', hangupMethod: 'POST',
  auth: { type: 'None', acl: [], identities: [] }, signed: false, ...extra,
});

const HA1 = { username: 'bob', realm: 'sip.local', ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) };

function docs(apps: RoutingApp[], cred: Partial<CredentialShard> = {}, sipDomain = 'sip.local'): ContractDocs {
  const routing: RoutingShard = { apiVersion: CONTRACT_API_VERSION, kind: 'RoutingShard', shard: 0, apps };
  const creds: CredentialShard = { apiVersion: CONTRACT_API_VERSION, kind: 'CredentialShard', shard: 0, credentials: {}, appTokens: {}, ...cred };
  const routingShards = [{ name: 'sipflow-routing-0', text: canonicalJson(routing) }];
  const credentialShards = [{ name: 'sipflow-credentials-0', text: canonicalJson(creds) }];
  const rr = routingShards.map((s) => ({ name: s.name, sha256: shardSha256(s.text) }));
  const cr = credentialShards.map((s) => ({ name: s.name, sha256: shardSha256(s.text) }));
  const index = {
    apiVersion: CONTRACT_API_VERSION, kind: 'RoutingIndex', generation: computeGeneration(sipDomain, rr, cr), sipDomain,
    appCount: apps.length, routingShards: rr, credentialShards: cr,
  };
  return { indexText: canonicalJson(index), routingShards, credentialShards };
}

const texts = (d: ContractDocs): Map<string, string> => new Map([...d.routingShards, ...d.credentialShards].map((s) => [s.name, s.text]));

test('validators report JSON-pointer paths and never echo values', () => {
  const bad = { apiVersion: CONTRACT_API_VERSION, kind: 'CredentialShard', shard: 0, credentials: { 'bob@x': { ...HA1, ha1Md5: 'SECRETVALUE' } }, appTokens: {} };
  const r = validateCredentialShard(bad);
  assert.ok(!r.ok);
  assert.ok(r.errors.some((e) => e.startsWith('/credentials/bob@x/ha1Md5: ')), r.errors.join('\n'));
  assert.ok(!r.errors.join('').includes('SECRETVALUE'));
  assert.ok(!validateRoutingIndex({ kind: 'RoutingIndex' }).ok);
  const rs = validateRoutingShard({ apiVersion: CONTRACT_API_VERSION, kind: 'RoutingShard', shard: 0, apps: [{ ...app('a'), extra: 1 }] });
  assert.ok(!rs.ok);
  assert.deepEqual(rs.errors, ['/apps/0: unknown property "extra"']);
  assert.ok(validateRoutingShard({ apiVersion: CONTRACT_API_VERSION, kind: 'RoutingShard', shard: 0, apps: [app('a')] }).ok);
});

test('assembles a consistent generation into lookup maps', () => {
  const d = docs(
    [app('a', { numbers: ['14155550100'] }), app('b', { auth: { type: 'Credential', acl: [], realm: 'sip.local', identities: ['bob@sip.local'] }, signed: true })],
    { credentials: { 'bob@sip.local': HA1 }, appTokens: { b: 'tok' } },
  );
  const r = assembleRuntimeConfig(d.indexText, texts(d));
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.equal(r.config.appsById.get('a')?.appId, 'a');
  assert.equal(r.config.appsByNumber.get('14155550100')?.appId, 'a');
  assert.equal(r.config.credentials.get('bob@sip.local')?.username, 'bob');
  assert.equal(r.config.appTokens.get('b'), 'tok');
  assert.equal(r.config.sipDomain, 'sip.local');
  assert.match(r.config.generation, /^[0-9a-f]{64}$/);
});

test('refuses a generation with a missing shard, a stale shard or a forged generation', () => {
  const d = docs([app('a')]);
  const missing = texts(d);
  missing.delete('sipflow-routing-0');
  const r1 = assembleRuntimeConfig(d.indexText, missing);
  assert.ok(!r1.ok && /sipflow-routing-0 .* is missing/.test(r1.error));

  const stale = texts(docs([app('old')]));
  const r2 = assembleRuntimeConfig(d.indexText, stale);
  assert.ok(!r2.ok && /sha256/.test(r2.error));

  const idx = JSON.parse(d.indexText) as { generation: string };
  idx.generation = '0'.repeat(64);
  const r3 = assembleRuntimeConfig(JSON.stringify(idx), texts(d));
  assert.ok(!r3.ok && /does not match its shard list/.test(r3.error));

  const r4 = assembleRuntimeConfig('{not json', texts(d));
  assert.ok(!r4.ok && /invalid JSON/.test(r4.error));
});

test('refuses duplicate user parts and dangling identities or tokens', () => {
  const dup = docs([app('a', { numbers: ['123'] }), app('b', { numbers: ['123'] })]);
  const r1 = assembleRuntimeConfig(dup.indexText, texts(dup));
  assert.ok(!r1.ok && /"123" of default\/b is also claimed by default\/a/.test(r1.error), r1.ok ? '' : r1.error);

  const idAsNumber = docs([app('4930123'), app('b', { numbers: ['4930123'] })]);
  assert.ok(!assembleRuntimeConfig(idAsNumber.indexText, texts(idAsNumber)).ok);

  const dangling = docs([app('b', { auth: { type: 'Credential', acl: [], realm: 'sip.local', identities: ['eve@sip.local'] } })]);
  const r2 = assembleRuntimeConfig(dangling.indexText, texts(dangling));
  assert.ok(!r2.ok && /eve@sip.local/.test(r2.error));

  const unsigned = docs([app('a', { signed: true })]);
  assert.ok(!assembleRuntimeConfig(unsigned.indexText, texts(unsigned)).ok);

  const emptyAcl = docs([app('a', { auth: { type: 'IpAcl', acl: [], identities: [] } })]);
  assert.ok(!assembleRuntimeConfig(emptyAcl.indexText, texts(emptyAcl)).ok);
});

test('generation changes with the sip domain and with any shard', () => {
  const a = JSON.parse(docs([app('a')]).indexText) as { generation: string };
  const b = JSON.parse(docs([app('a')], {}, 'other.example').indexText) as { generation: string };
  const c = JSON.parse(docs([app('b')]).indexText) as { generation: string };
  assert.notEqual(a.generation, b.generation);
  assert.notEqual(a.generation, c.generation);
  assert.equal(a.generation, (JSON.parse(docs([app('a')]).indexText) as { generation: string }).generation);
});

test('config-dir round trip removes stale shards and keeps credential files private', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-contract-'));
  try {
    writeFileSync(join(dir, 'sipflow-routing-7.json'), '{}');
    writeFileSync(join(dir, 'unrelated.json'), '{}');
    const d = docs([app('a')], { credentials: { 'bob@sip.local': HA1 } });
    writeContractFiles(dir, d);
    assert.deepEqual(readdirSync(dir).sort(), ['index.json', 'sipflow-credentials-0.json', 'sipflow-routing-0.json', 'unrelated.json']);
    assert.equal(statSync(join(dir, 'sipflow-credentials-0.json')).mode & 0o077, 0);
    const { indexText, shardTexts } = readContractDir(dir);
    const r = assembleRuntimeConfig(indexText, shardTexts);
    assert.ok(r.ok, r.ok ? '' : r.error);
    rmSync(join(dir, 'sipflow-routing-0.json'));
    const again = readContractDir(dir);
    assert.equal(again.shardTexts.has('sipflow-routing-0'), false);
    assert.ok(!assembleRuntimeConfig(again.indexText, again.shardTexts).ok);
    rmSync(join(dir, 'index.json'));
    assert.throws(() => readContractDir(dir), /index.json/);
    assert.ok(!existsSync(join(dir, 'sipflow-routing-7.json')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

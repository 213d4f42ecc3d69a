// Golden tests for the pure render: operator/testdata/render/<case>/input.yaml → expected/.
// Run with UPDATE_GOLDEN=1 to rewrite expected/ (and to refresh the example-* inputs from
// examples/), then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { canonicalJson, assembleRuntimeConfig, SHARD_MAX_BYTES } from '../contract/contract.js';
import { loadManifestFile } from '../api/manifests.js';
import { operatorRoot, repoRoot } from '../api/paths.js';
import { render, sipUri, toKubeObjects, type RenderResult } from './render.js';
import type { Secret } from '../api/types.js';

const UPDATE = process.env.UPDATE_GOLDEN === '1';
const goldenRoot = join(operatorRoot(), 'testdata', 'render');
const examplesDir = join(repoRoot(), 'examples');
const SIP_DOMAIN = 'sip.local';

// The examples are golden cases too; their input.yaml must stay a byte copy of examples/.
const exampleCases = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml')).sort()
  .map((f) => ({ dir: `example-${f.replace(/^app-/, '').replace(/\.yaml$/, '')}`, source: join(examplesDir, f) }));
if (UPDATE) {
  for (const c of exampleCases) {
    mkdirSync(join(goldenRoot, c.dir), { recursive: true });
    copyFileSync(c.source, join(goldenRoot, c.dir, 'input.yaml'));
  }
}

function outputs(r: RenderResult): Map<string, string> {
  const files = new Map<string, string>([['index.json', r.indexText], ['results.json', canonicalJson(r.results)]]);
  for (const s of [...r.routingShards, ...r.credentialShards]) files.set(`${s.name}.json`, s.text);
  return files;
}

function loadInput(dir: string): unknown[] {
  const set = loadManifestFile(join(goldenRoot, dir, 'input.yaml'));
  assert.deepEqual(set.problems, []);
  return set.docs.map((d) => d.object);
}

function passwords(objects: unknown[]): string[] {
  const out: string[] = [];
  for (const o of objects as Secret[]) {
    if (o.kind !== 'Secret') continue;
    out.push(...Object.values(o.stringData ?? {}), ...Object.values(o.data ?? {}).map((b) => Buffer.from(b, 'base64').toString('utf8')));
  }
  return out.filter((p) => p.length >= 4 && !p.startsWith('demo-callback'));
}

const caseDirs = readdirSync(goldenRoot, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

test('golden cases include the examples and every failure reason case', () => {
  for (const c of exampleCases) assert.ok(caseDirs.includes(c.dir), c.dir);
  for (const c of ['missing-acl', 'missing-secret', 'missing-key', 'duplicate-appid', 'number-conflict', 'realm-conflict']) assert.ok(caseDirs.includes(c), c);
});

for (const c of exampleCases) {
  test(`golden ${c.dir}: input.yaml is a copy of examples/`, () => {
    assert.equal(readFileSync(join(goldenRoot, c.dir, 'input.yaml'), 'utf8'), readFileSync(c.source, 'utf8'));
  });
}

for (const dir of caseDirs) {
  test(`golden ${dir}`, () => {
    const objects = loadInput(dir);
    const r = render({ objects, sipDomain: SIP_DOMAIN });
    const got = outputs(r);
    const expectedDir = join(goldenRoot, dir, 'expected');
    if (UPDATE) {
      rmSync(expectedDir, { recursive: true, force: true });
      mkdirSync(expectedDir, { recursive: true });
      for (const [name, text] of got) writeFileSync(join(expectedDir, name), text);
    }
    assert.ok(existsSync(expectedDir), `${expectedDir} missing: run with UPDATE_GOLDEN=1`);
    assert.deepEqual([...got.keys()].sort(), readdirSync(expectedDir).sort());
    for (const [name, text] of got) assert.equal(text, readFileSync(join(expectedDir, name), 'utf8'), `${dir}/expected/${name}`);

    // Whatever the case, the output is a valid generation and no password leaks into it.
    const assembled = assembleRuntimeConfig(r.indexText, new Map([...r.routingShards, ...r.credentialShards].map((s) => [s.name, s.text])));
    assert.ok(assembled.ok, assembled.ok ? '' : assembled.error);
    const all = [...got.values()].join('\n');
    for (const pw of passwords(objects)) assert.ok(!all.includes(pw), `${dir}: a password appears in the output`);
    assert.equal(r.results.length, (objects as { kind: string }[]).filter((o) => o.kind !== 'Secret').length - (dir === 'invalid-objects' ? 1 : 0));
  });
}

/** Deterministic shuffle (LCG) so the test needs no randomness. */
function shuffled<T>(xs: T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

test('same input in any order gives byte-identical output', () => {
  for (const dir of caseDirs) {
    const objects = loadInput(dir);
    const want = outputs(render({ objects, sipDomain: SIP_DOMAIN }));
    for (const seed of [1, 7, 42]) {
      assert.deepEqual(outputs(render({ objects: shuffled(objects, seed), sipDomain: SIP_DOMAIN })), want, `${dir} seed ${seed}`);
    }
  }
});

test('HA1 digests are MD5 and SHA-256 of username:realm:password', () => {
  const r = render({ objects: loadInput('example-credential'), sipDomain: SIP_DOMAIN });
  const shard = JSON.parse(r.credentialShards[0]?.text ?? '{}') as { credentials: Record<string, { ha1Md5: string; ha1Sha256: string }> };
  // Independently computed: printf 'agent-demo:sip.local:Demo-Agent-Passw0rd' | md5sum / sha256sum
  assert.equal(shard.credentials['agent-demo@sip.local']?.ha1Md5, 'b32945460c88b66c9d2de9380db31f83');
  assert.equal(shard.credentials['agent-demo@sip.local']?.ha1Sha256, '965c01576d354a50f94478546fd5ef54d980de8c96dc578b0a6485e9d643d89b');
  const other = render({ objects: loadInput('example-credential'), sipDomain: SIP_DOMAIN, defaultRealm: 'realm.example' });
  const hash = (JSON.parse(other.credentialShards[0]?.text ?? '{}') as { credentials: Record<string, { ha1Md5: string }> }).credentials['agent-demo@realm.example'];
  assert.equal(hash?.ha1Md5, createHash('md5').update('agent-demo:realm.example:Demo-Agent-Passw0rd').digest('hex'));
});

test('thousands of apps spread over several shards under the size bound', () => {
  const objects: unknown[] = [
    { apiVersion: 'sipflow.io/v1alpha1', kind: 'IpAcl', metadata: { name: 'carriers', namespace: 'bulk' }, spec: { entries: [{ ip: '203.0.113.0', cidrPrefix: 24 }, { ip: '2001:db8::', cidrPrefix: 32 }] } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tokens', namespace: 'bulk' }, stringData: { token: 'x'.repeat(600) } },
  ];
  const N = 2000;
  for (let i = 0; i < N; i++) {
    objects.push({
      apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: `app-${i}`, namespace: 'bulk' },
      spec: {
        answerUrl: `https://agents.example.com/tenant/${i}/answer?region=eu-central-1&x=${'q'.repeat(40)}`,
        hangupUrl: `https://agents.example.com/tenant/${i}/hangup`,
        numbers: [`+1415${String(i).padStart(7, '0')}`],
        sipAuth: { type: 'IpAcl', ipAclRefs: [{ name: 'carriers' }] },
        authTokenSecretRef: { name: 'tokens', key: 'token' },
      },
    });
  }
  const r = render({ objects, sipDomain: SIP_DOMAIN });
  assert.equal(r.index.appCount, N);
  assert.ok(r.routingShards.length > 1, `only ${r.routingShards.length} routing shard(s)`);
  assert.ok(r.credentialShards.length > 1, `only ${r.credentialShards.length} credential shard(s)`);
  for (const s of [...r.routingShards, ...r.credentialShards]) assert.ok(Buffer.byteLength(s.text) <= SHARD_MAX_BYTES, `${s.name} is ${Buffer.byteLength(s.text)} bytes`);
  assert.deepEqual(r.routingShards.map((s) => s.name), r.routingShards.map((_, i) => `sipflow-routing-${i}`));
  const assembled = assembleRuntimeConfig(r.indexText, new Map([...r.routingShards, ...r.credentialShards].map((s) => [s.name, s.text])));
  assert.ok(assembled.ok, assembled.ok ? '' : assembled.error);
  assert.equal(assembled.config.appsById.size, N);
  assert.equal(assembled.config.appTokens.size, N);
  assert.equal(assembled.config.appsByNumber.get('14150001234')?.appId, 'app-1234');
  // Apps are placed by sorted appId, so the split does not depend on input order.
  const again = render({ objects: shuffled(objects, 3), sipDomain: SIP_DOMAIN });
  assert.equal(again.indexText, r.indexText);
});

test('toKubeObjects: shards before the index, labelled, credentials only in a Secret', () => {
  const r = render({ objects: loadInput('example-ip-acl-and-credential'), sipDomain: SIP_DOMAIN });
  const objs = toKubeObjects(r, 'sipflow-system');
  assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`), ['ConfigMap/sipflow-routing-0', 'Secret/sipflow-credentials-0', 'ConfigMap/sipflow-routing-index']);
  for (const o of objs) {
    assert.equal(o.metadata.namespace, 'sipflow-system');
    assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'sipflow-operator');
    assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'sipflow');
  }
  assert.deepEqual(objs.map((o) => o.metadata.labels?.['sipflow.io/component']), ['routing', 'credentials', 'index']);
  const secret = objs[1] as Secret;
  assert.equal(Buffer.from(secret.data?.['credentials.json'] ?? '', 'base64').toString('utf8'), r.credentialShards[0]?.text);
  assert.equal((objs[2] as unknown as { data: Record<string, string> }).data['index.json'], r.indexText);
  assert.equal(objs[2]?.metadata.annotations?.['sipflow.io/generation'], r.index.generation);
});

test('sipUri and ready results', () => {
  assert.equal(sipUri('support-line', 'sip.example.com'), 'sip:support-line@sip.example.com');
  const r = render({ objects: loadInput('missing-acl'), sipDomain: 'sip.example.com' });
  const fine = r.results.find((x) => x.name === 'fine');
  assert.equal(fine?.sipUri, 'sip:fine@sip.example.com');
  assert.equal(fine?.generation, 1);
  const broken = r.results.find((x) => x.name === 'broken');
  assert.equal(broken?.ready, false);
  assert.equal(broken?.reason, 'IpAclNotFound');
  assert.equal(broken?.sipUri, undefined);
  assert.match(broken?.message ?? '', /IpAcl voice\/typo-office not found/);
});

// Replays the admission case tables and checks that they exercise every CEL rule and every
// bound of the CRDs, plus CRD hygiene (descriptions, limits) and the IP address pattern.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { loadCrds, type SchemaNode } from './crds.js';
import { collectRules, compileRule } from './cel.js';
import { validateObject, type FieldError } from './validate.js';
import { loadSchemaCases } from './schema-cases.js';
import { operatorRoot, repoRoot } from './paths.js';

const crds = loadCrds(join(repoRoot(), 'crds'));
const cases = loadSchemaCases(join(operatorRoot(), 'testdata', 'schema-cases'));
const seen: FieldError[] = [];

test('the case tables are not empty and cover every kind', () => {
  assert.ok(cases.length > 40);
  for (const kind of ['SipApplication', 'IpAcl', 'SipCredential', 'Secret']) {
    assert.ok(cases.some((c) => (c.object as { kind?: string }).kind === kind), kind);
  }
});

for (const c of cases) {
  test(`${c.file}: ${c.name}`, () => {
    const r = validateObject(c.object, { crds, ...(c.oldObject !== undefined ? { oldObject: c.oldObject } : {}) });
    if (c.valid) {
      assert.equal(r.ok, true, r.ok ? '' : JSON.stringify(r.errors, null, 1));
      return;
    }
    assert.equal(r.ok, false, 'expected the object to be rejected');
    if (r.ok) return;
    seen.push(...r.errors);
    assert.ok(c.errors.length > 0, 'an invalid case must name the errors it expects');
    for (const want of c.errors) {
      assert.ok(
        r.errors.some((e) => e.path === want.path && e.message.includes(want.message)),
        `no error at ${want.path} containing ${JSON.stringify(want.message)}; got:\n${r.errors.map((e) => `  ${e.path}: ${e.message}`).join('\n')}`,
      );
    }
  });
}

test('every CEL rule of every CRD is exercised by an invalid case', () => {
  for (const crd of crds.values()) {
    for (const v of crd.versions) {
      for (const { path, rule } of collectRules(v.schema)) {
        assert.ok(seen.some((e) => e.rule === rule.rule), `${crd.kind} ${path}: rule not exercised: ${rule.rule}`);
      }
    }
  }
});

/** JSON pointers (as ajv reports schemaPath) of every bound under spec and the root. */
function bounds(node: SchemaNode, ptr: string, out: string[]): string[] {
  for (const k of ['required', 'enum', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum'] as const) {
    if (node[k] !== undefined) out.push(`${ptr}/${k}`);
  }
  for (const [name, sub] of Object.entries(node.properties ?? {})) {
    if (ptr === '#' && (name === 'status' || name === 'metadata')) continue;
    bounds(sub, `${ptr}/properties/${name}`, out);
  }
  if (node.items) bounds(node.items, `${ptr}/items`, out);
  return out;
}

test('every bound of every CRD spec is exercised by an invalid case', () => {
  const hit = new Set(seen.map((e) => e.schemaPath));
  const missing: string[] = [];
  let total = 0;
  for (const crd of crds.values()) {
    for (const v of crd.versions) {
      for (const b of bounds(v.schema, '#', [])) {
        total++;
        if (!hit.has(b)) missing.push(`${crd.kind} ${b}`);
      }
    }
  }
  assert.ok(total > 50, `only ${total} bounds found`);
  assert.deepEqual(missing, []);
});

test('every CEL rule compiles and has a message', () => {
  for (const crd of crds.values()) {
    for (const v of crd.versions) {
      for (const { rule } of collectRules(v.schema)) {
        assert.doesNotThrow(() => compileRule(rule.rule), rule.rule);
        assert.ok(rule.message && rule.message.length > 10, rule.rule);
      }
    }
  }
});

function walk(node: SchemaNode, path: string, visit: (n: SchemaNode, p: string) => void): void {
  visit(node, path);
  for (const [k, sub] of Object.entries(node.properties ?? {})) walk(sub, `${path}.${k}`, visit);
  if (node.items) walk(node.items, `${path}[]`, visit);
}

test('CRDs read like docs and bound every string and list (CEL cost budget)', () => {
  const problems: string[] = [];
  for (const crd of crds.values()) {
    const c = crd.crd as { spec: { scope: string; names: { shortNames?: string[]; categories?: string[] } } };
    assert.equal(c.spec.scope, 'Namespaced');
    assert.deepEqual(c.spec.names.categories, ['sipflow']);
    assert.ok((c.spec.names.shortNames ?? []).length > 0);
    assert.deepEqual(crd.versions.map((v) => [v.name, v.served, v.storage]), [['v1alpha1', true, true]]);
    for (const v of crd.versions) {
      walk(v.schema, crd.kind, (n, p) => {
        // The API server forbids anything but `type` on the root `metadata` of a CRD schema.
        if (!n.description && !p.endsWith('[]') && !/^[A-Za-z]+\.metadata$/.test(p)) problems.push(`${p}: no description`);
        if (n.type === 'string' && n.maxLength === undefined && n.enum === undefined && !/\.(apiVersion|kind)$/.test(p) && n.format !== 'date-time') problems.push(`${p}: string without maxLength`);
        if (n.type === 'array' && n.maxItems === undefined) problems.push(`${p}: list without maxItems`);
      });
    }
  }
  assert.deepEqual(problems, []);
});

test('the IpAcl ip pattern agrees with node:net on IPv4 and IPv6 forms', () => {
  const schema = crds.get('IpAcl')?.versions[0]?.schema.properties?.spec?.properties?.entries?.items?.properties?.ip;
  assert.ok(schema?.pattern);
  const re = new RegExp(schema.pattern, 'u');
  const corpus = [
    '127.0.0.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '1.2.3.4 ', '::1', '::', '1::', 'fe80::1',
    '2001:db8::', '2001:0db8:85a3:0000:0000:8a2e:0370:7334', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::ffff:10.0.0.1',
    '1::2::3', ':1', '1:', '::1/128', 'abc', 'a:b:c:d:e:f:1.2.3.4', '2001:db8::1:2:3:4:5', '12345::1', 'g::1', '::2:3:4:5:6:7:8',
    '1::3:4:5:6:7:8', 'FE80::ABCD', '1:2:3:4:5:6:7:8::', '',
  ];
  for (const ip of corpus) assert.equal(re.test(ip), isIP(ip) !== 0, ip);
  // Zone ids name an interface of one host; they mean nothing in a cluster-wide ACL.
  assert.equal(isIP('fe80::1%eth0'), 6);
  assert.equal(re.test('fe80::1%eth0'), false);
});

test('defaults are applied the way the API server applies them', () => {
  const r = validateObject({
    apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', metadata: { name: 'x' },
    spec: { answerUrl: 'http://a.example/', sipAuth: { type: 'None' } }, status: { sipUri: 'sip:forged@x' },
  }, { crds });
  assert.ok(r.ok);
  const spec = r.object.spec as Record<string, unknown>;
  assert.equal(spec.answerMethod, 'POST');
  assert.equal(spec.fallbackMethod, 'POST');
  assert.equal(spec.hangupMethod, 'POST');
  assert.equal(r.object.metadata.namespace, 'default');
  assert.equal(r.object.status, undefined, 'status is dropped as on create');
});

test('secret values never appear in validation messages', () => {
  const r = validateObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { password: 'Sup3r$ecret!!' }, stringData: { k: 42 } }, { crds });
  assert.ok(!r.ok);
  assert.ok(!JSON.stringify(r.errors).includes('Sup3r'));
});

// Installs the CRDs from crds/ into a real kube-apiserver and checks what only the server can
// judge: the CRDs are accepted and Established, the examples validate, and the schema cases in
// operator/testdata/schema-cases/ are accepted or rejected (OpenAPI + CEL) with the expected messages.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { loadSchemaCases, type SchemaCase } from '@sipflow/operator/api/schema-cases';
import {
  controlPlaneSkipReason,
  repoRoot,
  startControlPlane,
  type CommandResult,
  type ControlPlane,
} from '../support/control-plane.js';

const skip = await controlPlaneSkipReason();
const root = repoRoot();
// SIPFLOW_CRDS_DIR lets a CRD author try edited CRDs against the real server before committing.
const crdDir = process.env.SIPFLOW_CRDS_DIR ?? join(root, 'crds');
const examplesDir = join(root, 'examples');
const casesDir = join(root, 'operator', 'testdata', 'schema-cases');

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

function documents(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJS() as unknown;
    })
    .filter((d) => d !== null && d !== undefined);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface CrdInfo {
  name: string;
  kind: string;
}

function crdInfos(): CrdInfo[] {
  const out: CrdInfo[] = [];
  for (const file of yamlFiles(crdDir)) {
    for (const doc of documents(file)) {
      if (!isRecord(doc) || doc.kind !== 'CustomResourceDefinition') continue;
      const meta = doc.metadata;
      const spec = doc.spec;
      if (!isRecord(meta) || typeof meta.name !== 'string' || !isRecord(spec) || !isRecord(spec.names)) {
        throw new Error(`${file}: CustomResourceDefinition without metadata.name or spec.names`);
      }
      out.push({ name: meta.name, kind: String(spec.names.kind) });
    }
  }
  return out;
}

const crds = crdInfos();
const cases: SchemaCase[] = existsSync(casesDir) ? loadSchemaCases(casesDir) : [];

function ok(res: CommandResult, what: string): string {
  assert.equal(res.code, 0, `${what} failed: ${res.stderr}`);
  return res.stdout;
}

function asRecord(v: unknown, c: SchemaCase): Record<string, unknown> {
  if (!isRecord(v)) throw new Error(`${c.file}: case "${c.name}" object is not a mapping`);
  return v;
}

/** Puts the object in `ns` unless it names a namespace itself (which `force` overrides). */
function withNamespace(obj: Record<string, unknown>, ns: string, force: boolean): Record<string, unknown> {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  return { ...obj, metadata: { ...meta, namespace: force || meta.namespace === undefined ? ns : meta.namespace } };
}

/** apimachinery prints map keys as data[password]; the tables may write data["password"]. */
function normalizePath(p: string): string {
  return p.replace(/\["([^"]*)"\]/g, '[$1]');
}

/**
 * True when one reported error line names `path` and contains `message`. Decoding errors
 * (bad base64, unknown fields) carry no field path, so there only the message is compared.
 */
function reportsError(stderr: string, e: { path: string; message: string }, messageOnly: boolean): boolean {
  const path = normalizePath(e.path);
  return normalizePath(stderr)
    .split(/\n|(?=\* )|, (?=[a-z][\w.[\]]*: )/)
    .some((line) => line.includes(e.message) && (messageOnly || line.includes(path)));
}

type RejectionStage = 'client' | 'namespace' | 'decode' | 'validation';

function rejectionStage(stderr: string): RejectionStage {
  if (/resource mapping not found|no matches for kind|kind not set/.test(stderr)) return 'client';
  const missingNs = /namespaces "([^"]*)" not found/.exec(stderr)?.[1];
  if (missingNs !== undefined && !DNS_LABEL.test(missingNs)) return 'namespace';
  if (/cannot be handled as a/.test(stderr)) return 'decode';
  return 'validation';
}

const ssa = ['apply', '--server-side', '--force-conflicts', '--field-manager=schema-case'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Objects may name a namespace (e.g. `default`, `voice`); a valid one is created on demand. */
async function ensureNamespace(cp: ControlPlane, obj: Record<string, unknown>): Promise<void> {
  const name = isRecord(obj.metadata) ? obj.metadata.namespace : undefined;
  if (typeof name !== 'string' || !DNS_LABEL.test(name)) return;
  if ((await cp.kubectl(['get', 'namespace', name, '-o', 'name'])).code === 0) return;
  const res = await cp.kubectl(['create', 'namespace', name]);
  assert.ok(res.code === 0 || res.stderr.includes('AlreadyExists'), `create namespace ${name}: ${res.stderr}`);
}

describe('CRDs on a real kube-apiserver', { skip }, () => {
  let cp: ControlPlane;
  const ns = `crd-cases-${randomBytes(4).toString('hex')}`;
  let installed = false;

  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
  });

  it('finds CRDs in crds/', () => {
    assert.ok(crds.length > 0, `no CustomResourceDefinition in ${crdDir}`);
  });

  it('installs every CRD and each becomes Established with the declared kind', async () => {
    ok(await cp.kubectl(['apply', '--server-side', '-f', crdDir]), 'kubectl apply -f crds/');
    ok(
      await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.name}`)], {
        timeoutMs: 90_000,
      }),
      'kubectl wait Established',
    );
    for (const crd of crds) {
      const kind = ok(await cp.kubectl(['get', 'crd', crd.name, '-o', 'jsonpath={.status.acceptedNames.kind}']), `get crd ${crd.name}`);
      assert.equal(kind, crd.kind);
    }
    ok(await cp.kubectl(['create', 'namespace', ns]), 'create namespace');
    installed = true;
  });

  for (const file of yamlFiles(examplesDir)) {
    it(`accepts example ${file.slice(root.length + 1)} (server-side dry run)`, async () => {
      assert.ok(installed, 'the CRDs did not install; see that test');
      ok(await cp.kubectl(['apply', '--dry-run=server', '-f', file]), `dry-run apply ${file}`);
    });
  }

  if (cases.length === 0) {
    it('validates the schema cases', { skip: `no cases in ${casesDir.slice(root.length + 1)}/ yet` }, () => {});
  }
  cases.forEach((c, i) => {
    it(`${c.valid ? 'accepts' : 'rejects'} ${c.file}: ${c.name}`, async (t) => {
      assert.ok(installed, 'the CRDs did not install; see that test');
      let object = asRecord(c.object, c);
      let verb = ['create'];
      if (c.oldObject !== undefined) {
        // Transition cases reuse names; each gets its own namespace so stored objects never collide.
        const caseNs = `${ns}-u${i}`;
        ok(await cp.kubectl(['create', 'namespace', caseNs]), `create namespace ${caseNs}`);
        // Server-side apply by one field manager for both steps: fields missing from `object` are
        // then removed, so the update is exactly oldObject -> object (client-side apply would keep
        // fields it has no last-applied record of).
        ok(await cp.kubectl([...ssa, '-f', '-'], { input: JSON.stringify(withNamespace(asRecord(c.oldObject, c), caseNs, true)) }), 'apply oldObject');
        object = withNamespace(object, caseNs, true);
        verb = ssa;
      } else {
        object = withNamespace(object, ns, false);
        await ensureNamespace(cp, object);
      }
      // create (a plain POST) rather than apply, whose preliminary GET would pre-empt the server's
      // own checks on e.g. an empty name.
      const res = await cp.kubectl([...verb, '--dry-run=server', '-f', '-'], { input: JSON.stringify(object) });
      if (c.valid) {
        assert.equal(res.code, 0, `expected acceptance, got: ${res.stderr}`);
        return;
      }
      assert.notEqual(res.code, 0, 'expected rejection, but the object was accepted');
      const stage = rejectionStage(res.stderr);
      if (stage === 'client' || stage === 'namespace') {
        // The request never reached validation (kubectl could not map the kind, or the object's
        // namespace cannot exist); the table's messages describe the offline validator there.
        t.diagnostic(`rejected before validation (${stage}): ${res.stderr.trim()}`);
        return;
      }
      for (const e of c.errors) {
        assert.ok(
          reportsError(res.stderr, e, stage === 'decode'),
          `expected an error at ${e.path} containing "${e.message}"; got:\n${res.stderr}`,
        );
      }
    });
  });
});

// Installs the CRDs from crds/ into a real kube-apiserver and checks what only the server can
// judge: the CRDs are accepted and Established, the examples validate, and the schema cases in
// operator/testdata/schema-cases/ are accepted or rejected (OpenAPI + CEL) with the expected messages.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import {
  controlPlaneSkipReason,
  repoRoot,
  startControlPlane,
  type CommandResult,
  type ControlPlane,
} from '../support/control-plane.js';

const skip = await controlPlaneSkipReason();
const root = repoRoot();
const crdDir = join(root, 'crds');
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

/**
 * One schema case. The table format is owned by the CRD author; this reader accepts the field
 * spellings below and fails loudly (naming the file) on anything it cannot interpret.
 */
interface SchemaCase {
  file: string;
  name: string;
  valid: boolean;
  /** Substrings the apiserver's rejection must contain (invalid cases). */
  messages: string[];
  object: Record<string, unknown>;
  /** When set, applied for real first so the case exercises update rules (oldSelf). */
  old?: Record<string, unknown>;
}

function pick(rec: Record<string, unknown>, keys: string[]): unknown {
  for (const k of keys) if (rec[k] !== undefined) return rec[k];
  return undefined;
}

function toSchemaCase(file: string, raw: unknown, index: number): SchemaCase {
  if (!isRecord(raw)) throw new Error(`${file}: case #${index} is not a mapping`);
  const name = String(pick(raw, ['name', 'description', 'title']) ?? `case #${index}`);
  const object = pick(raw, ['object', 'resource', 'manifest', 'cr', 'input']);
  if (!isRecord(object)) throw new Error(`${file}: case "${name}" has no object/resource/manifest mapping`);
  const old = pick(raw, ['old', 'oldObject', 'before', 'existing']);
  const expect = pick(raw, ['valid', 'expect', 'expected', 'result']);
  let valid: boolean;
  if (typeof expect === 'boolean') valid = expect;
  else if (typeof expect === 'string' && /^(valid|accept(ed)?|ok|pass)$/i.test(expect)) valid = true;
  else if (typeof expect === 'string' && /^(invalid|reject(ed)?|error|fail)$/i.test(expect)) valid = false;
  else if (raw.invalid === true) valid = false;
  else throw new Error(`${file}: case "${name}" does not say whether it is valid (valid: true|false)`);
  const msg = pick(raw, ['messages', 'message', 'errors', 'error', 'expectMessages', 'expectedMessages', 'errorContains', 'contains']);
  const messages = msg === undefined ? [] : (Array.isArray(msg) ? msg : [msg]).map(String);
  if (!valid && messages.length === 0) throw new Error(`${file}: invalid case "${name}" names no expected message`);
  return { file, name, valid, messages, object, ...(isRecord(old) ? { old } : {}) };
}

function schemaCases(): SchemaCase[] {
  const out: SchemaCase[] = [];
  for (const file of yamlFiles(casesDir)) {
    for (const doc of documents(file)) {
      const list = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.cases) ? doc.cases : [doc];
      list.forEach((c, i) => out.push(toSchemaCase(file, c, i)));
    }
  }
  return out;
}

const crds = crdInfos();
const cases = schemaCases();

function ok(res: CommandResult, what: string): string {
  assert.equal(res.code, 0, `${what} failed: ${res.stderr}`);
  return res.stdout;
}

function inNamespace(obj: Record<string, unknown>, ns: string): Record<string, unknown> {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  return { ...obj, metadata: { ...meta, namespace: meta.namespace ?? ns } };
}

describe('CRDs on a real kube-apiserver', { skip }, () => {
  let cp: ControlPlane;
  const ns = `crd-cases-${randomBytes(4).toString('hex')}`;

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
  });

  for (const file of yamlFiles(examplesDir)) {
    it(`accepts example ${file.slice(root.length + 1)} (server-side dry run)`, async () => {
      ok(await cp.kubectl(['apply', '--dry-run=server', '-f', file]), `dry-run apply ${file}`);
    });
  }

  if (cases.length === 0) {
    it('validates the schema cases', { skip: `no cases in ${casesDir.slice(root.length + 1)}/ yet` }, () => {});
  }
  for (const c of cases) {
    it(`${c.valid ? 'accepts' : 'rejects'} ${c.file.slice(casesDir.length + 1)}: ${c.name}`, async () => {
      if (c.old) ok(await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(inNamespace(c.old, ns)) }), 'apply old object');
      const res = await cp.kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify(inNamespace(c.object, ns)) });
      if (c.valid) {
        assert.equal(res.code, 0, `expected acceptance, apiserver said: ${res.stderr}`);
      } else {
        assert.notEqual(res.code, 0, 'expected rejection, but the apiserver accepted the object');
        for (const m of c.messages) assert.ok(res.stderr.includes(m), `rejection lacks "${m}": ${res.stderr}`);
      }
    });
  }
});

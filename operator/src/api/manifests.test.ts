// Manifest loading: multi-document files, JSON, broken YAML, positions in messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDoc, formatDocError, loadManifestDir, parseManifestText } from './manifests.js';
import { validateObject } from './validate.js';

test('multi-document YAML keeps document positions, skipping empty documents', () => {
  const set = parseManifestText('---\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n---\n- not\n- an object\n', 'x.yaml');
  assert.equal(set.docs.length, 1);
  assert.equal(set.docs[0]?.source.index, 2);
  assert.equal(set.problems.length, 1);
  assert.equal(set.problems[0]?.source.index, 3);
  assert.match(set.problems[0]?.message ?? '', /not an object/);
});

test('broken YAML is a problem with a line number, not a crash', () => {
  const set = parseManifestText('apiVersion: v1\nkind: Secret\nmetadata: {name: a\n', 'bad.yaml');
  assert.equal(set.docs.length, 0);
  assert.equal(set.problems.length, 1);
  assert.match(set.problems[0]?.message ?? '', /invalid YAML \(line \d+, column \d+\)/);
});

test('duplicate keys are rejected', () => {
  const set = parseManifestText('kind: Secret\nkind: ConfigMap\n', 'dup.yaml');
  assert.equal(set.problems.length, 1);
});

test('a folder loads *.yaml, *.yml and *.json in name order and ignores other files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sipflow-manifests-'));
  try {
    writeFileSync(join(dir, 'b.yml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: b}\n');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a' } }));
    writeFileSync(join(dir, 'c.yaml'), 'apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: d}\n');
    writeFileSync(join(dir, 'notes.txt'), 'kind: nope');
    const set = loadManifestDir(dir);
    assert.deepEqual(set.docs.map((d) => (d.object as { metadata: { name: string } }).metadata.name), ['a', 'b', 'c', 'd']);
    assert.deepEqual(set.docs.map((d) => d.source.index), [1, 1, 1, 2]);
    assert.equal(set.files.length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('messages name file, document, kind, namespace/name and the field', () => {
  const set = parseManifestText(
    'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: sipflow.io/v1alpha1\nkind: SipApplication\nmetadata: {name: foo}\nspec: {answerUrl: "http://a/x", sipAuth: {type: IpAcl}}\n',
    'examples/x.yaml',
  );
  const doc = set.docs[1];
  assert.ok(doc);
  const r = validateObject(doc.object);
  assert.ok(!r.ok);
  const first = r.errors[0];
  assert.ok(first);
  assert.equal(formatDocError(doc.source, doc.object, first), 'examples/x.yaml#2 SipApplication default/foo: spec.sipAuth.ipAclRefs: must have at least 1 item when type is IpAcl or IpAclAndCredential');
  assert.equal(describeDoc({ file: 'f.yaml', index: 3 }, 'scalar'), 'f.yaml#3');
});

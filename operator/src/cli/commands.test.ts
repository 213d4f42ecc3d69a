// The CLI: render and validate in-process with captured output, plus the installed bin shim
// as a subprocess (when dist/ is built).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { main } from './commands.js';
import { operatorRoot, repoRoot } from '../api/paths.js';
import { assembleRuntimeConfig, readContractDir } from '../contract/contract.js';

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const examples = join(repoRoot(), 'examples');

function withTmp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sipflow-cli-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

test('validate accepts the examples with a short summary', async () => {
  const r = await run('validate', examples);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(r.err, []);
  assert.equal(r.out.length, 1);
  assert.match(r.out[0] ?? '', /^OK: 9 objects in 3 files \(2 IpAcl, 2 Secret, 3 SipApplication, 2 SipCredential\)$/);
});

test('validate reports broken YAML, unknown kinds, missing fields and CEL violations path-precisely', withTmp(async (dir) => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, [
    'apiVersion: sipflow.io/v1alpha1\nkind: SipApplication\nmetadata: {name: foo}\nspec: {answerUrl: "http://a/x", sipAuth: {type: IpAcl}}',
    'apiVersion: sipflow.io/v1alpha1\nkind: SipTrunk\nmetadata: {name: t}',
    'apiVersion: sipflow.io/v1alpha1\nkind: SipCredential\nmetadata: {name: c, namespace: voice}\nspec: {username: bob}',
    'apiVersion: v1\nkind: Secret\nmetadata: {name: s\n',
  ].join('\n---\n'));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, 'apiVersion: v1\nkind: Secret\nmetadata: {name: fine}\nstringData: {k: v}\n');
  const r = await run('validate', bad, good);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, []);
  const lines = r.err.join('\n');
  assert.ok(lines.includes(`${bad}#1 SipApplication default/foo: spec.sipAuth.ipAclRefs: must have at least 1 item when type is IpAcl or IpAclAndCredential`), lines);
  assert.ok(lines.includes(`${bad}#2 SipTrunk default/t: kind: unknown kind "SipTrunk"`), lines);
  assert.ok(lines.includes(`${bad}#3 SipCredential voice/c: spec.passwordSecretRef: Required value`), lines);
  assert.match(lines, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}#4: invalid YAML \\(line \\d+`));
  assert.match(r.err[r.err.length - 1] ?? '', /^4 invalid documents \(1 valid\) in 2 files$/);
}));

test('validate: missing file and usage errors', async () => {
  const missing = await run('validate', '/nonexistent/sipflow.yaml');
  assert.equal(missing.code, 1);
  assert.match(missing.err.join('\n'), /ENOENT/);
  assert.equal((await run('validate')).code, 2);
  assert.equal((await run('frobnicate')).code, 2);
  assert.equal((await run()).code, 2);
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.out.join('\n'), /render .*\n.*--manifests DIR --out DIR/);
});

test('render writes the config-dir layout and objects.yaml and lists every object', withTmp(async (dir) => {
  const out = join(dir, 'out');
  const r = await run('render', '--manifests', examples, '--out', out, '--sip-domain', 'voice.example.com');
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.deepEqual(readdirSync(out).sort(), ['index.json', 'objects.yaml', 'sipflow-credentials-0.json', 'sipflow-routing-0.json']);
  assert.ok(r.out.includes('SipApplication default/support-line: Ready=True Ready: serving sip:support-line@voice.example.com (auth IpAcl, 1 number)'), r.out.join('\n'));
  assert.equal(r.out.filter((l) => / Ready=True /.test(l)).length, 7);
  const { indexText, shardTexts } = readContractDir(out);
  const cfg = assembleRuntimeConfig(indexText, shardTexts);
  assert.ok(cfg.ok, cfg.ok ? '' : cfg.error);
  assert.equal(cfg.config.sipDomain, 'voice.example.com');
  assert.deepEqual([...cfg.config.appsById.keys()].sort(), ['agent-demo', 'secure-agent', 'support-line']);
  const objects = parseAllDocuments(readFileSync(join(out, 'objects.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace: string } });
  assert.deepEqual(objects.map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`), [
    'ConfigMap/sipflow-system/sipflow-routing-0', 'Secret/sipflow-system/sipflow-credentials-0', 'ConfigMap/sipflow-system/sipflow-routing-index',
  ]);
  assert.ok(!readFileSync(join(out, 'objects.yaml'), 'utf8').includes('Passw0rd'));
}));

test('render exits non-zero on invalid manifests but still renders the valid ones', withTmp(async (dir) => {
  const manifests = join(dir, 'm');
  const out = join(dir, 'out');
  mkdirSync(manifests);
  writeFileSync(join(manifests, 'apps.yaml'), [
    'apiVersion: sipflow.io/v1alpha1\nkind: SipApplication\nmetadata: {name: ok}\nspec: {answerUrl: "http://a/x", sipAuth: {type: None}}',
    'apiVersion: sipflow.io/v1alpha1\nkind: SipApplication\nmetadata: {name: bad}\nspec: {answerUrl: "http://a/x", sipAuth: {type: None, ipAclRefs: [{name: x}]}}',
  ].join('\n---\n'));
  writeFileSync(join(manifests, 'broken.yaml'), 'kind: [\n');
  const r = await run('render', '--manifests', manifests, '--out', out);
  assert.equal(r.code, 1);
  assert.ok(r.err.some((l) => l.includes('apps.yaml#2 SipApplication default/bad: spec.sipAuth.ipAclRefs: must be empty when type is Credential or None')), r.err.join('\n'));
  assert.ok(r.err.some((l) => l.includes('broken.yaml#1: invalid YAML')), r.err.join('\n'));
  assert.ok(r.out.includes('SipApplication default/ok: Ready=True Ready: serving sip:ok@sip.local (auth None)'), r.out.join('\n'));
  assert.ok(r.out.some((l) => l.startsWith('SipApplication default/bad: Ready=False Invalid: ')));
  assert.ok(existsSync(join(out, 'index.json')));
  assert.equal((await run('render', '--manifests', manifests)).code, 2);
  assert.equal((await run('render', '--manifests', join(dir, 'nope'), '--out', out)).code, 1);
}));

test('the bin shim runs the compiled CLI', { skip: !existsSync(join(operatorRoot(), 'dist', 'cli', 'main.js')) && 'dist/ not built' }, () => {
  const bin = join(operatorRoot(), 'bin', 'sipflow-operator.js');
  const ok = spawnSync(process.execPath, [bin, 'validate', examples], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^OK: 9 objects/);
  const bad = spawnSync(process.execPath, [bin, 'validate', join(repoRoot(), 'crds')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown kind "CustomResourceDefinition"/);
});

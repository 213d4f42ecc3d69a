// Runs the Argo CD health checks in argocd/health/sipflow.io/<Kind>/health.lua with a real Lua
// interpreter (lua5.4, Debian package lua5.4) over the fixtures listed in each health_test.yaml,
// in Argo CD's own test layout; and checks that argocd-cm-patch.yaml and application.yaml match.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '../support/control-plane.js';
import { findLua, lua51Problems, runHealth as runHealthWith } from './lua-health.js';

const root = repoRoot();
const healthDir = join(root, 'argocd', 'health', 'sipflow.io');
const KINDS = ['IpAcl', 'SipApplication', 'SipCredential'];

const lua = await findLua();
const luaSkip = lua ? false : 'no Lua interpreter (apt-get install -y lua5.4)';
const runHealth = (script: string, obj: unknown) => runHealthWith(lua!, script, obj);

interface HealthTest {
  healthStatus: { status: string; message: string };
  inputPath: string;
}

describe('Argo CD health checks', () => {
  it('one folder per kind, each with health.lua, health_test.yaml and testdata', () => {
    assert.deepEqual(readdirSync(healthDir).sort(), KINDS);
    for (const k of KINDS) {
      for (const f of ['health.lua', 'health_test.yaml', 'testdata']) assert.ok(existsSync(join(healthDir, k, f)), `${k}/${f}`);
    }
  });

  for (const kind of KINDS) {
    describe(kind, { skip: luaSkip }, () => {
      const dir = join(healthDir, kind);
      const script = readFileSync(join(dir, 'health.lua'), 'utf8');
      const tests = (parseYaml(readFileSync(join(dir, 'health_test.yaml'), 'utf8')) as { tests: HealthTest[] }).tests;

      it('uses only Lua 5.1 syntax (Argo CD runs gopher-lua)', () => {
        assert.deepEqual(lua51Problems(script), []);
        assert.deepEqual(lua51Problems('local x = 7 // 2'), ['floor division //']);
      });

      it('health_test.yaml covers every fixture and all three statuses', () => {
        assert.deepEqual(tests.map((t) => t.inputPath.replace(/^testdata\//, '')).sort(), readdirSync(join(dir, 'testdata')).sort());
        assert.deepEqual([...new Set(tests.map((t) => t.healthStatus.status))].sort(), ['Degraded', 'Healthy', 'Progressing']);
      });

      for (const t of tests) {
        it(`${t.inputPath} → ${t.healthStatus.status}`, async () => {
          const obj = parseYaml(readFileSync(join(dir, t.inputPath), 'utf8')) as Record<string, unknown>;
          assert.equal(obj.kind, kind, 'fixture kind');
          assert.deepEqual(await runHealth(script, obj), t.healthStatus);
        });
      }

      it('a Ready condition from an older generation is not Healthy', async () => {
        const obj = parseYaml(readFileSync(join(dir, 'testdata', 'healthy.yaml'), 'utf8')) as {
          status: { conditions: { observedGeneration: number }[] };
        };
        obj.status.conditions[0]!.observedGeneration -= 1;
        assert.equal((await runHealth(script, obj)).status, 'Progressing');
      });

      it('Ready=False without a message reports the reason', async () => {
        const obj = parseYaml(readFileSync(join(dir, 'testdata', 'degraded.yaml'), 'utf8')) as {
          status: { conditions: { message?: string; reason: string }[] };
        };
        delete obj.status.conditions[0]!.message;
        assert.deepEqual(await runHealth(script, obj), { status: 'Degraded', message: obj.status.conditions[0]!.reason });
      });
    });
  }

  it('the harness, like Argo CD, offers no string/os/io library', { skip: luaSkip }, async () => {
    await assert.rejects(runHealth('return { status = string.upper("healthy") }', {}), /attempt to index a nil value/);
    assert.deepEqual(await runHealth('return { status = "Healthy", message = obj.metadata.name }', { metadata: { name: 'x' } }), { status: 'Healthy', message: 'x' });
  });

  it('argocd-cm-patch.yaml embeds each health.lua exactly, under resource.customizations.health.sipflow.io_<Kind>', () => {
    const patch = parseYaml(readFileSync(join(root, 'argocd', 'argocd-cm-patch.yaml'), 'utf8')) as { data: Record<string, string> };
    assert.deepEqual(Object.keys(patch.data).sort(), KINDS.map((k) => `resource.customizations.health.sipflow.io_${k}`));
    for (const k of KINDS) {
      assert.equal(patch.data[`resource.customizations.health.sipflow.io_${k}`], readFileSync(join(healthDir, k, 'health.lua'), 'utf8'), k);
    }
  });

  it('application.yaml installs the chart with ServerSideApply and SkipDryRunOnMissingResource', () => {
    const app = parseYaml(readFileSync(join(root, 'argocd', 'application.yaml'), 'utf8')) as {
      kind: string;
      spec: { source: { path: string; helm: { valuesObject: Record<string, unknown> } }; syncPolicy: { syncOptions: string[] } };
    };
    assert.equal(app.kind, 'Application');
    assert.equal(app.spec.source.path, 'charts/sipflow');
    assert.ok(existsSync(join(root, app.spec.source.path, 'Chart.yaml')));
    for (const o of ['ServerSideApply=true', 'SkipDryRunOnMissingResource=true']) assert.ok(app.spec.syncPolicy.syncOptions.includes(o), o);
  });
});

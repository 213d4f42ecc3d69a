// Runs the Argo CD health checks in argocd/health/sipflow.io/<Kind>/health.lua with a real Lua
// interpreter (lua5.4, Debian package lua5.4) over the fixtures listed in each health_test.yaml,
// in Argo CD's own test layout; and checks that argocd-cm-patch.yaml and application.yaml match.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot, runCommand } from '../support/control-plane.js';

const root = repoRoot();
const healthDir = join(root, 'argocd', 'health', 'sipflow.io');
const KINDS = ['IpAcl', 'SipApplication', 'SipCredential'];

async function findLua(): Promise<string | undefined> {
  for (const bin of ['lua5.4', 'lua5.3', 'lua']) {
    const res = await runCommand(bin, ['-v'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (res && res.code === 0) return bin;
  }
  return undefined;
}
const lua = await findLua();
const luaSkip = lua ? false : 'no Lua interpreter (apt-get install -y lua5.4)';

/** Converts parsed YAML into a Lua table constructor; integers stay integers, as Argo CD passes numbers. */
export function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`cannot pass ${v} to Lua`);
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v).replace(/\\u([0-9a-fA-F]{4})/g, '\\u{$1}');
  if (Array.isArray(v)) return `{${v.map(toLua).join(', ')}}`;
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${JSON.stringify(k)}] = ${toLua(x)}`).join(', ')}}`;
  }
  throw new Error(`cannot pass a ${typeof v} to Lua`);
}

/**
 * Argo CD runs the script with a global `obj` and takes the table it returns, without Lua's standard
 * libraries (no useOpenLibs). The harness loads it the same way: in an environment holding only `obj`
 * and base functions, so a script reaching for string/os/io fails here too. It prints status and
 * message on two lines.
 */
async function runHealth(script: string, obj: unknown): Promise<{ status: string; message: string }> {
  assert.ok(!script.includes(']==]'), 'the script cannot be embedded in a long string');
  const program = [
    `local env = { obj = ${toLua(obj)}, ipairs = ipairs, pairs = pairs, next = next, type = type,`,
    '  tostring = tostring, tonumber = tonumber, error = error, table = table }',
    `local check = assert(load([==[${script}]==], "=health.lua", "t", env))`,
    'local hs = check()',
    'io.write(tostring(hs.status), "\\n", tostring(hs.message), "\\n")',
  ].join('\n');
  const res = await runCommand(lua!, ['-'], { input: program, timeoutMs: 10_000 });
  assert.equal(res.code, 0, `lua failed: ${res.stderr}`);
  const [status = '', message = ''] = res.stdout.split('\n');
  return { status, message };
}

/** Argo CD embeds gopher-lua (Lua 5.1): refuse syntax that only newer interpreters accept. */
function lua51Problems(script: string): string[] {
  const code = script
    .replace(/--\[(=*)\[[\s\S]*?\]\1\]/g, '')
    .replace(/--[^\n]*/g, '')
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'/g, '""');
  const rules: [RegExp, string][] = [
    [/\/\//, 'floor division //'],
    [/\bgoto\b|::\w+::/, 'goto/labels'],
    [/<(const|close)>/, 'attributes'],
    [/[&|]|~[^=]|<<|>>/, 'bitwise operators'],
  ];
  return rules.filter(([re]) => re.test(code)).map(([, what]) => what);
}

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

// Runs an Argo CD resource health script (Lua) the way Argo CD does — a global `obj`, no standard
// libraries — with a real Lua interpreter (Debian package lua5.4), for the fixture and live-object tests.
import assert from 'node:assert/strict';
import { runCommand } from '../support/control-plane.js';

export async function findLua(): Promise<string | undefined> {
  for (const bin of ['lua5.4', 'lua5.3', 'lua']) {
    const res = await runCommand(bin, ['-v'], { timeoutMs: 10_000 }).catch(() => undefined);
    if (res && res.code === 0) return bin;
  }
  return undefined;
}

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
export async function runHealth(lua: string, script: string, obj: unknown): Promise<{ status: string; message: string }> {
  assert.ok(!script.includes(']==]'), 'the script cannot be embedded in a long string');
  const program = [
    `local env = { obj = ${toLua(obj)}, ipairs = ipairs, pairs = pairs, next = next, type = type,`,
    '  tostring = tostring, tonumber = tonumber, error = error, table = table }',
    `local check = assert(load([==[${script}]==], "=health.lua", "t", env))`,
    'local hs = check()',
    'io.write(tostring(hs.status), "\\n", tostring(hs.message), "\\n")',
  ].join('\n');
  const res = await runCommand(lua, ['-'], { input: program, timeoutMs: 10_000 });
  assert.equal(res.code, 0, `lua failed: ${res.stderr}`);
  const [status = '', message = ''] = res.stdout.split('\n');
  return { status, message };
}

/** Argo CD embeds gopher-lua (Lua 5.1): refuse syntax that only newer interpreters accept. */
export function lua51Problems(script: string): string[] {
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


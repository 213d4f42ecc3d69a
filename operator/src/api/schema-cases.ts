/**
 * Reads the admission case tables in `operator/testdata/schema-cases/` and expands their
 * macros (see the README there), for the unit test and for a later replay against a real
 * API server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { isPlainObject } from './types.js';

export interface SchemaCase {
  file: string;
  name: string;
  valid: boolean;
  errors: { path: string; message: string }[];
  object: unknown;
  oldObject?: unknown;
}

function expandString(s: string): unknown {
  const whole = /^\{\{(numbers|refs|entries) (\d+)\}\}$/.exec(s);
  if (whole) {
    const n = Number(whole[2]);
    const idx = Array.from({ length: n }, (_, i) => i);
    if (whole[1] === 'numbers') return idx.map((i) => `+1415555${String(i).padStart(4, '0')}`);
    if (whole[1] === 'refs') return idx.map((i) => ({ name: `ref-${i}` }));
    return idx.map((i) => ({ ip: `10.${Math.floor(i / 256)}.${i % 256}.0`, cidrPrefix: 24 }));
  }
  return s.replace(/\{\{repeat (\d+) (\S+?)\}\}/g, (_, n: string, x: string) => x.repeat(Number(n)));
}

export function expandMacros(v: unknown): unknown {
  if (typeof v === 'string') return expandString(v);
  if (Array.isArray(v)) return v.map(expandMacros);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expandMacros(x)]));
  return v;
}

export function loadSchemaCases(dir: string): SchemaCase[] {
  const out: SchemaCase[] = [];
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml')).sort()) {
    const doc = parseYaml(readFileSync(join(dir, f), 'utf8')) as { cases?: unknown[] };
    for (const c of doc.cases ?? []) {
      if (!isPlainObject(c) || typeof c.name !== 'string' || typeof c.valid !== 'boolean') throw new Error(`${f}: malformed case ${JSON.stringify(c).slice(0, 80)}`);
      out.push({
        file: f,
        name: c.name,
        valid: c.valid,
        errors: Array.isArray(c.errors) ? (c.errors as { path: string; message: string }[]) : [],
        object: expandMacros(c.object),
        ...(c.oldObject !== undefined ? { oldObject: expandMacros(c.oldObject) } : {}),
      });
    }
  }
  return out;
}

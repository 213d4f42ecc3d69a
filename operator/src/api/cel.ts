/**
 * Offline evaluation of a CRD's `x-kubernetes-validations` (CEL) rules and list-type
 * uniqueness, mirroring what the API server does, so `sipflow-operator validate` and the
 * render reject the same objects `kubectl apply` would.
 */
import { celEnv, isCelError, parse, plan, type CelInput, type CelResult } from '@bufbuild/cel';
import type { CelRule, SchemaNode } from './crds.js';
import type { FieldError } from './validate.js';
import { isPlainObject } from './types.js';

type Program = (bindings: Record<string, CelInput>) => CelResult;
const programs = new Map<string, Program>();
const env = celEnv();

/** Parses and plans a rule once; throws on a syntax error (a broken CRD). */
export function compileRule(rule: string): Program {
  let p = programs.get(rule);
  if (!p) {
    p = plan(env, parse(rule)) as Program;
    programs.set(rule, p);
  }
  return p;
}

/** The API server treats a rule that mentions oldSelf as a transition rule: it runs only on update. */
export function isTransitionRule(rule: string): boolean {
  return /\boldSelf\b/.test(rule);
}

/** JSON → CEL values the way the API server types them: schema integers become CEL int. */
export function toCel(value: unknown, schema: SchemaNode | undefined): CelInput {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') {
    return schema?.type === 'integer' && Number.isInteger(value) ? BigInt(value) : value;
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  if (isPlainObject(value)) {
    const out: Record<string, CelInput> = {};
    for (const [k, v] of Object.entries(value)) {
      const sub = schema?.properties?.[k] ?? (isPlainObject(schema?.additionalProperties) ? schema.additionalProperties as SchemaNode : undefined);
      out[k] = toCel(v, sub);
    }
    return out as CelInput;
  }
  return null;
}

/** Per schema node: does anything below it (rules, set/map list types) need walking? */
const walkNeeded = new WeakMap<SchemaNode, boolean>();

/**
 * True when `schema` or a node below it carries a CEL rule or a set/map list type. A subtree
 * without any produces no errors, so the walk skips it: rendering 10,000 objects otherwise
 * visited (and built path strings for) every field of every object.
 */
export function needsWalk(schema: SchemaNode): boolean {
  let v = walkNeeded.get(schema);
  if (v === undefined) {
    const lt = schema['x-kubernetes-list-type'];
    v = (schema['x-kubernetes-validations']?.length ?? 0) > 0 || lt === 'set' || lt === 'map' ||
      Object.values(schema.properties ?? {}).some(needsWalk) || (schema.items !== undefined && needsWalk(schema.items));
    walkNeeded.set(schema, v);
  }
  return v;
}

export interface WalkOptions {
  /** JSON pointers (ajv instancePath) that already failed schema validation: CEL below them is skipped. */
  failedPointers: string[];
}

/** Formats a path for people: `spec.entries[0].ip`. */
export function joinPath(base: string, seg: string | number): string {
  if (typeof seg === 'number') return `${base}[${seg}]`;
  return base ? `${base}.${seg}` : seg;
}

function listKey(item: unknown, keys: string[]): string {
  if (!isPlainObject(item)) return JSON.stringify(item);
  return JSON.stringify(keys.map((k) => item[k]));
}

/**
 * Walks `value` along `schema`, returning list-uniqueness and CEL errors. `oldValue` is the
 * same node in the previous version of the object (updates only); transition rules run only
 * where it exists, and list-type=map items are correlated by key as the API server does.
 */
export function walkRules(
  schema: SchemaNode,
  value: unknown,
  oldValue: unknown,
  path: string,
  pointer: string,
  opts: WalkOptions,
  out: FieldError[],
): void {
  if (value === undefined || !needsWalk(schema)) return;
  // A rule over a subtree that already failed schema validation would only report noise
  // (or trip over a wrong type); its children are still checked on their own.
  const malformed = opts.failedPointers.some((f) => f === pointer || f.startsWith(pointer + '/'));
  if (Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    const mapKeys = schema['x-kubernetes-list-map-keys'] ?? [];
    if (listType === 'set' || listType === 'map') {
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const k = listType === 'map' ? listKey(item, mapKeys) : JSON.stringify(item);
        if (seen.has(k)) {
          const shown = listType === 'map' && isPlainObject(item)
            ? JSON.stringify(Object.fromEntries(mapKeys.map((mk) => [mk, item[mk]])))
            : JSON.stringify(item);
          out.push({ path: joinPath(path, i), message: `Duplicate value: ${shown}`, keyword: 'x-kubernetes-list-type', schemaPath: listType });
        }
        seen.add(k);
      });
    }
  }
  const rules = schema['x-kubernetes-validations'] ?? [];
  if (rules.length > 0 && !malformed) {
    for (const r of rules) evalRule(r, schema, value, oldValue, path, out);
  }
  if (isPlainObject(value) && schema.properties) {
    const old = isPlainObject(oldValue) ? oldValue : undefined;
    for (const [k, sub] of Object.entries(schema.properties)) {
      if (value[k] === undefined || !needsWalk(sub)) continue;
      walkRules(sub, value[k], old?.[k], joinPath(path, k), `${pointer}/${k}`, opts, out);
    }
  } else if (Array.isArray(value) && schema.items && needsWalk(schema.items)) {
    const itemSchema = schema.items;
    const mapKeys = schema['x-kubernetes-list-type'] === 'map' ? schema['x-kubernetes-list-map-keys'] ?? [] : undefined;
    const oldByKey = new Map<string, unknown>();
    if (mapKeys && Array.isArray(oldValue)) for (const o of oldValue) oldByKey.set(listKey(o, mapKeys), o);
    value.forEach((item, i) => {
      const oldItem = mapKeys ? oldByKey.get(listKey(item, mapKeys)) : undefined;
      walkRules(itemSchema, item, oldItem, joinPath(path, i), `${pointer}/${i}`, opts, out);
    });
  }
}

function evalRule(r: CelRule, schema: SchemaNode, value: unknown, oldValue: unknown, path: string, out: FieldError[]): void {
  const transition = isTransitionRule(r.rule);
  if (transition && oldValue === undefined) return;
  const at = r.fieldPath ? (path ? path + r.fieldPath : r.fieldPath.replace(/^\./, '')) : path;
  const bindings: Record<string, CelInput> = { self: toCel(value, schema) };
  if (transition) bindings.oldSelf = toCel(oldValue, schema);
  let result: CelResult;
  try {
    result = compileRule(r.rule)(bindings);
  } catch (e) {
    result = e as CelResult;
  }
  if (result === true) return;
  const base = { path: at, keyword: 'x-kubernetes-validations', schemaPath: r.rule, rule: r.rule };
  if (result === false) {
    out.push({ ...base, message: r.message ?? `failed rule: ${r.rule}` });
  } else if (isCelError(result)) {
    out.push({ ...base, message: `rule evaluation error: ${result.message} (rule: ${r.rule})` });
  } else {
    out.push({ ...base, message: `rule did not return a boolean (rule: ${r.rule})` });
  }
}

/** Every rule in a schema with the path of the node that carries it, for coverage tests. */
export function collectRules(schema: SchemaNode, path = ''): { path: string; rule: CelRule }[] {
  const out: { path: string; rule: CelRule }[] = [];
  for (const r of schema['x-kubernetes-validations'] ?? []) out.push({ path, rule: r });
  for (const [k, sub] of Object.entries(schema.properties ?? {})) out.push(...collectRules(sub, joinPath(path, k)));
  if (schema.items) out.push(...collectRules(schema.items, `${path}[]`));
  return out;
}

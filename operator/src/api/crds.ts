/**
 * Loads the CustomResourceDefinitions from the repository's `crds/` folder — the single
 * source of truth for the user API — so offline validation uses exactly what the API server
 * gets.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { isPlainObject } from './types.js';

/** An OpenAPI v3 schema node as it appears in a CRD (structural; x-kubernetes-* extensions allowed). */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  format?: string;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [key: string]: unknown;
}

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface CrdVersion { name: string; served: boolean; storage: boolean; schema: SchemaNode }

export interface CrdInfo {
  /** File the CRD was read from. */
  file: string;
  group: string;
  kind: string;
  plural: string;
  /** The raw CRD object, for tests that compare it with other copies. */
  crd: Record<string, unknown>;
  versions: CrdVersion[];
}

export class CrdLoadError extends Error {
  constructor(message: string, readonly file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'CrdLoadError';
  }
}

/**
 * The repository root: the nearest ancestor of this module that holds `crds/`. Works from
 * `src/` (tsx) and from `dist/` (compiled). `SIPFLOW_CRDS_DIR` overrides the crds folder for
 * images that ship it elsewhere.
 */
export function findCrdsDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  const fromEnv = process.env.SIPFLOW_CRDS_DIR;
  if (fromEnv) return resolve(fromEnv);
  let dir = resolve(start);
  for (let i = 0; i < 64; i++) {
    const candidate = join(dir, 'crds');
    if (existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new CrdLoadError(`no crds/ folder found above ${start}; set SIPFLOW_CRDS_DIR`);
}

/** Parses every CRD file in `dir` (default: the repository's `crds/`), keyed by kind. */
export function loadCrds(dir: string = findCrdsDir()): Map<string, CrdInfo> {
  const out = new Map<string, CrdInfo>();
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  for (const f of files) {
    const file = join(dir, f);
    const crd: unknown = parseYaml(readFileSync(file, 'utf8'));
    if (!isPlainObject(crd) || crd.kind !== 'CustomResourceDefinition') continue;
    const spec = crd.spec;
    if (!isPlainObject(spec) || !isPlainObject(spec.names) || !Array.isArray(spec.versions)) {
      throw new CrdLoadError('not a CustomResourceDefinition with spec.names and spec.versions', file);
    }
    const kind = String(spec.names.kind);
    const versions: CrdVersion[] = spec.versions.map((v: unknown) => {
      if (!isPlainObject(v) || !isPlainObject(v.schema) || !isPlainObject(v.schema.openAPIV3Schema)) {
        throw new CrdLoadError(`version without schema.openAPIV3Schema`, file);
      }
      return { name: String(v.name), served: v.served === true, storage: v.storage === true, schema: v.schema.openAPIV3Schema as SchemaNode };
    });
    if (out.has(kind)) throw new CrdLoadError(`kind ${kind} is defined twice`, file);
    out.set(kind, { file, group: String(spec.group), kind, plural: String(spec.names.plural), crd, versions });
  }
  return out;
}

let cached: Map<string, CrdInfo> | undefined;
/** loadCrds() once per process. */
export function defaultCrds(): Map<string, CrdInfo> {
  cached ??= loadCrds();
  return cached;
}

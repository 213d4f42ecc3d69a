/**
 * Offline admission for manifests: the same checks the API server applies to sipflow's custom
 * resources (structural schema with defaults, unknown-field rejection, list uniqueness, CEL
 * rules from the CRDs in `crds/`) plus the envelope of core Secrets. Used by the CLI, by the
 * render and by the media pod's local mode, so all of them reject the same objects.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { CrdInfo, SchemaNode } from './crds.js';
import { defaultCrds } from './crds.js';
import { joinPath, walkRules } from './cel.js';
import { API_VERSION, isPlainObject, type KubeObject } from './types.js';

export interface FieldError {
  /** Field path as people write it: `spec.sipAuth.ipAclRefs[0].name`. */
  path: string;
  message: string;
  /** Which check failed: a JSON Schema keyword, `x-kubernetes-validations` or `x-kubernetes-list-type`. */
  keyword?: string;
  /** Where in the CRD schema (JSON pointer), or the CEL rule text. */
  schemaPath?: string;
  rule?: string;
}

export type ValidationResult =
  | { ok: true; object: KubeObject }
  | { ok: false; errors: FieldError[] };

export interface ValidateOptions {
  /** The stored version of the object: enables transition rules (oldSelf), as on update. */
  oldObject?: unknown;
  /** CRDs to validate against (default: the repository's `crds/`). */
  crds?: Map<string, CrdInfo>;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The CRD schema rewritten for ajv: Kubernetes extensions dropped, unknown fields rejected. */
export function toAjvSchema(node: SchemaNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'format' || k === 'nullable') continue;
    if (k === 'properties' && isPlainObject(v)) {
      out.properties = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, toAjvSchema(pv as SchemaNode)]));
    } else if ((k === 'items' || k === 'additionalProperties') && isPlainObject(v)) {
      out[k] = toAjvSchema(v as SchemaNode);
    } else {
      out[k] = v;
    }
  }
  // kubectl's default field validation is Strict: an unknown field is an error, not silently pruned.
  if (node.type === 'object' && node.properties && node.additionalProperties === undefined && !node['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, verbose: true });
const compiled = new WeakMap<SchemaNode, ValidateFunction>();
function validatorFor(schema: SchemaNode): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(toAjvSchema(schema));
    compiled.set(schema, v);
  }
  return v;
}

function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = /^\d+$/.test(seg) ? joinPath(path, Number(seg)) : joinPath(path, seg);
  }
  return path;
}

/** ajv errors in the wording the API server uses, so the same substrings match kubectl's output. */
function fromAjv(e: ErrorObject): FieldError {
  const path = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const base = { keyword: e.keyword, schemaPath: e.schemaPath };
  const data = e.data;
  switch (e.keyword) {
    case 'required':
      return { ...base, path: joinPath(path, String(p.missingProperty)), message: 'Required value' };
    case 'additionalProperties':
      return { ...base, path: joinPath(path, String(p.additionalProperty)), message: 'unknown field' };
    case 'enum':
      return { ...base, path, message: `Unsupported value: ${JSON.stringify(data)}: supported values: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'type':
      return { ...base, path, message: `Invalid value: ${JSON.stringify(data)}: must be of type ${String(p.type)}` };
    case 'minItems':
      return { ...base, path, message: `Invalid value: ${Array.isArray(data) ? data.length : '?'}: should have at least ${String(p.limit)} items` };
    case 'maxItems':
      return { ...base, path, message: `Too many: ${Array.isArray(data) ? data.length : '?'}: must have at most ${String(p.limit)} items` };
    case 'minLength':
      return { ...base, path, message: `Invalid value: should be at least ${String(p.limit)} chars long` };
    case 'maxLength':
      return { ...base, path, message: `Too long: may not be longer than ${String(p.limit)} characters` };
    case 'pattern':
      return { ...base, path, message: `Invalid value: ${JSON.stringify(data)}: should match '${String(p.pattern)}'` };
    case 'minimum':
      return { ...base, path, message: `Invalid value: ${JSON.stringify(data)}: should be greater than or equal to ${String(p.limit)}` };
    case 'maximum':
      return { ...base, path, message: `Invalid value: ${JSON.stringify(data)}: should be less than or equal to ${String(p.limit)}` };
    default:
      return { ...base, path, message: e.message ?? e.keyword };
  }
}

function validateMetadata(meta: unknown, errors: FieldError[]): void {
  if (!isPlainObject(meta)) {
    errors.push({ path: 'metadata', message: 'Required value', keyword: 'required' });
    return;
  }
  if (typeof meta.name !== 'string' || meta.name === '') {
    errors.push({ path: 'metadata.name', message: 'Required value', keyword: 'required' });
  } else if (meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
    errors.push({ path: 'metadata.name', message: `Invalid value: ${JSON.stringify(meta.name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, keyword: 'pattern' });
  }
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || meta.namespace.length > 63 || !DNS_LABEL.test(meta.namespace))) {
    errors.push({ path: 'metadata.namespace', message: `Invalid value: ${JSON.stringify(meta.namespace)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'`, keyword: 'pattern' });
  }
}

function validateStringMap(v: unknown, field: string, errors: FieldError[], checkValue?: (s: string) => string | undefined): void {
  if (v === undefined) return;
  if (!isPlainObject(v)) {
    errors.push({ path: field, message: `Invalid value: must be of type object`, keyword: 'type' });
    return;
  }
  for (const [k, val] of Object.entries(v)) {
    const path = `${field}[${JSON.stringify(k)}]`;
    if (k.length > 253 || !SECRET_KEY.test(k)) {
      errors.push({ path, message: `Invalid value: ${JSON.stringify(k)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, keyword: 'pattern' });
    }
    if (typeof val !== 'string') {
      errors.push({ path, message: 'Invalid value: must be of type string', keyword: 'type' });
      continue;
    }
    const problem = checkValue?.(val);
    // The value itself is never echoed: it is secret material.
    if (problem) errors.push({ path, message: problem, keyword: 'format' });
  }
}

const SECRET_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'data', 'stringData', 'type', 'immutable']);

function validateSecret(obj: Record<string, unknown>, errors: FieldError[]): void {
  for (const k of Object.keys(obj)) if (!SECRET_FIELDS.has(k)) errors.push({ path: k, message: 'unknown field', keyword: 'additionalProperties' });
  validateStringMap(obj.data, 'data', errors, (s) => (BASE64.test(s.replace(/\s+/g, '')) ? undefined : 'Invalid value: illegal base64 data'));
  validateStringMap(obj.stringData, 'stringData', errors);
  if (obj.type !== undefined && typeof obj.type !== 'string') errors.push({ path: 'type', message: 'Invalid value: must be of type string', keyword: 'type' });
}

/**
 * Checks one manifest. On success returns a defaulted copy (schema defaults applied,
 * namespace defaulted to `default`, status dropped as the API server does on create).
 */
export function validateObject(input: unknown, options: ValidateOptions = {}): ValidationResult {
  const errors: FieldError[] = [];
  if (!isPlainObject(input)) return { ok: false, errors: [{ path: '', message: 'Invalid value: a manifest must be a YAML/JSON object', keyword: 'type' }] };
  // Only spec gets schema defaults written into it, and metadata a defaulted namespace: copy those
  // (spec deeply) and share the rest read-only. The status is dropped before anything is copied —
  // the render validates every object of the cluster on every pass.
  const obj: Record<string, unknown> = { ...input };
  if (obj.kind !== 'Secret') delete obj.status;
  if (isPlainObject(obj.metadata)) obj.metadata = { ...obj.metadata };
  if (obj.spec !== undefined) obj.spec = structuredClone(obj.spec);
  const { kind, apiVersion } = obj;
  if (typeof kind !== 'string' || kind === '') errors.push({ path: 'kind', message: 'Required value', keyword: 'required' });
  if (typeof apiVersion !== 'string' || apiVersion === '') errors.push({ path: 'apiVersion', message: 'Required value', keyword: 'required' });
  if (errors.length) return { ok: false, errors };
  validateMetadata(obj.metadata, errors);

  if (kind === 'Secret') {
    if (apiVersion !== 'v1') errors.push({ path: 'apiVersion', message: `Unsupported value: ${JSON.stringify(apiVersion)}: supported values: "v1"`, keyword: 'enum' });
    validateSecret(obj, errors);
  } else {
    const crds = options.crds ?? defaultCrds();
    const crd = crds.get(String(kind));
    if (!crd) {
      const known = [...crds.keys()].sort().join(', ');
      return { ok: false, errors: [{ path: 'kind', message: `unknown kind ${JSON.stringify(kind)} (apiVersion ${JSON.stringify(apiVersion)}): expected one of ${known} (${API_VERSION}) or Secret (v1)`, keyword: 'kind' }] };
    }
    const version = crd.versions.find((v) => `${crd.group}/${v.name}` === apiVersion && v.served);
    if (!version) {
      const served = crd.versions.filter((v) => v.served).map((v) => JSON.stringify(`${crd.group}/${v.name}`)).join(', ');
      return { ok: false, errors: [{ path: 'apiVersion', message: `Unsupported value: ${JSON.stringify(apiVersion)}: supported values: ${served}`, keyword: 'enum' }] };
    }
    // The status subresource is written by the operator only; on create it is dropped.
    delete obj.status;
    const validate = validatorFor(version.schema);
    const failedPointers: string[] = [];
    if (!validate(obj)) {
      for (const e of validate.errors ?? []) {
        // metadata is checked above; its schema here is only `type: object`.
        errors.push(fromAjv(e));
        failedPointers.push(e.instancePath);
      }
    }
    const old = isPlainObject(options.oldObject) ? options.oldObject : undefined;
    walkRules(version.schema, obj, old, '', '', { failedPointers }, errors);
  }
  if (errors.length) return { ok: false, errors };
  const meta = obj.metadata as Record<string, unknown>;
  meta.namespace ??= 'default';
  return { ok: true, object: obj as KubeObject };
}

/** `spec.x: message; spec.y: message` — for one-line summaries. */
export function formatFieldErrors(errors: FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}

/**
 * Reads Kubernetes manifests from files and folders (multi-document YAML and JSON) and names
 * every document by file and position, so each message points at the exact place to fix.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isPlainObject, type KubeObject } from './types.js';
import type { FieldError } from './validate.js';

export interface ManifestSource {
  file: string;
  /** 1-based position of the document in its file. */
  index: number;
}

export interface ManifestDoc {
  source: ManifestSource;
  /** The parsed document; not yet validated, so possibly not a well-formed object. */
  object: unknown;
}

export interface ManifestProblem {
  source: ManifestSource;
  message: string;
}

export interface ManifestSet {
  files: string[];
  docs: ManifestDoc[];
  /** Documents that could not be parsed (broken YAML/JSON, not an object). */
  problems: ManifestProblem[];
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Splits one file's text into documents; empty documents (`---` with nothing) are skipped. */
export function parseManifestText(text: string, file: string): ManifestSet {
  const docs: ManifestDoc[] = [];
  const problems: ManifestProblem[] = [];
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  list.forEach((doc, i) => {
    const source = { file, index: i + 1 };
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      const where = first?.linePos?.[0] ? ` (line ${first.linePos[0].line}, column ${first.linePos[0].col})` : '';
      const msg = (first?.message.split('\n')[0] ?? 'parse error').replace(/ at line \d+, column \d+:?$/, '');
      problems.push({ source, message: `invalid YAML${where}: ${msg}` });
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (!isPlainObject(value)) {
      problems.push({ source, message: 'document is not an object (expected a Kubernetes manifest with apiVersion, kind, metadata)' });
      return;
    }
    docs.push({ source, object: value });
  });
  return { files: [file], docs, problems };
}

export function loadManifestFile(file: string): ManifestSet {
  return parseManifestText(readFileSync(file, 'utf8'), file);
}

/** Every `*.yaml`, `*.yml` and `*.json` directly in `dir`, in name order. */
export function loadManifestDir(dir: string): ManifestSet {
  const names = readdirSync(dir).filter((n) => MANIFEST_FILE.test(n)).sort();
  return mergeSets(names.map((n) => join(dir, n)).filter((f) => statSync(f).isFile()).map(loadManifestFile));
}

/** Files and folders as a CLI receives them. */
export function loadManifestPaths(paths: string[]): ManifestSet {
  return mergeSets(paths.map((p) => (statSync(p).isDirectory() ? loadManifestDir(p) : loadManifestFile(p))));
}

function mergeSets(sets: ManifestSet[]): ManifestSet {
  return {
    files: sets.flatMap((s) => s.files),
    docs: sets.flatMap((s) => s.docs),
    problems: sets.flatMap((s) => s.problems),
  };
}

/** `examples/x.yaml#2 SipApplication default/foo` (as much as the document says). */
export function describeDoc(source: ManifestSource, object?: unknown): string {
  let s = `${source.file}#${source.index}`;
  if (isPlainObject(object)) {
    const o = object as Partial<KubeObject>;
    if (typeof o.kind === 'string') s += ` ${o.kind}`;
    const meta = isPlainObject(o.metadata) ? o.metadata : undefined;
    if (meta && typeof meta.name === 'string') s += ` ${typeof meta.namespace === 'string' ? meta.namespace : 'default'}/${meta.name}`;
  }
  return s;
}

/** `examples/x.yaml#2 SipApplication default/foo: spec.sipAuth.ipAclRefs: must have at least 1 item` */
export function formatDocError(source: ManifestSource, object: unknown, e: FieldError): string {
  return `${describeDoc(source, object)}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

/**
 * Shared helpers for the XML layer's tests: assert a parse result's shape and locate the checked-in
 * corpus from either the TS sources or the compiled dist/ tree.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePlivoXml } from './parser.js';
import type { PlivoDocument, PlivoXmlError, PlivoXmlParseOptions } from './types.js';

export function parseOk(xml: string | Uint8Array, opts?: PlivoXmlParseOptions): PlivoDocument {
  const r = parsePlivoXml(xml, opts);
  if (!r.ok) assert.fail(`expected the document to parse, got: ${r.error.message}`);
  return r.document;
}

export function parseErr(xml: string | Uint8Array, opts?: PlivoXmlParseOptions): PlivoXmlError {
  const r = parsePlivoXml(xml, opts);
  if (r.ok) assert.fail(`expected a parse error, got ${JSON.stringify(r.document)}`);
  return r.error;
}

/** The media-pod package root: the nearest ancestor of this module that holds a package.json. */
export function mediaPodRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('media-pod package.json not found above the test module');
}

export function corpusDir(): string {
  return join(mediaPodRoot(), 'testdata', 'xml-corpus');
}

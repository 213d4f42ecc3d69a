/**
 * Reads one element's attributes into typed, defaulted values, failing with a message that names
 * the element, the attribute, what was expected and what was written.
 */

import { PlivoXmlFailure, quoteValue } from './failure.js';
import { SECRET_ATTRIBUTES } from './schema.js';
import type { HttpMethod } from './types.js';

export interface SourceAttribute {
  readonly value: string;
  readonly line: number;
  readonly column: number;
}

/** An element as the SAX layer saw it: name, position of its `<`, and attributes with positions. */
export interface ElementSource {
  readonly name: string;
  readonly line: number;
  readonly column: number;
  readonly attributes: ReadonlyMap<string, SourceAttribute>;
}

export type UrlKind = 'http' | 'ws';

const URL_PROTOCOLS: Readonly<Record<UrlKind, readonly string[]>> = {
  http: ['http:', 'https:'],
  ws: ['ws:', 'wss:'],
};

export const URL_KIND_LABEL: Readonly<Record<UrlKind, string>> = {
  http: 'an absolute http(s) URL',
  ws: 'an absolute ws(s) URL',
};

/** Plivo's documented URL length limit for stream URLs, applied to every URL. */
const MAX_URL_LENGTH = 2048;

export function isAbsoluteUrl(value: string, kind: UrlKind): boolean {
  if (value.length === 0 || value.length > MAX_URL_LENGTH) return false;
  // The WHATWG parser silently strips or encodes these; an answer server that sends them has a bug.
  if (/[\s\u0000-\u001f\u007f<>"]/.test(value)) return false;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return false;
  }
  return URL_PROTOCOLS[kind].includes(parsed.protocol) && parsed.hostname.length > 0;
}

const INTEGER = /^\+?\d{1,9}$/;

function describeRange(min: number, max: number | undefined): string {
  if (max !== undefined) return `an integer from ${min} to ${max}`;
  if (min === 0) return 'a non-negative integer';
  if (min === 1) return 'a positive integer';
  return `an integer of at least ${min}`;
}

export class AttributeReader {
  constructor(private readonly element: ElementSource) {}

  /** Raw value as written, or undefined when the attribute is absent. */
  raw(name: string): string | undefined {
    return this.element.attributes.get(name)?.value;
  }

  has(name: string): boolean {
    return this.element.attributes.has(name);
  }

  /** All attributes as written, minus secrets, for verbs the executor only reports on. */
  rawBag(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, attr] of this.element.attributes) {
      if (!SECRET_ATTRIBUTES.has(name)) out[name] = attr.value;
    }
    return out;
  }

  fail(name: string, expectation: string): never {
    const attr = this.element.attributes.get(name);
    const shown = attr === undefined ? '' : SECRET_ATTRIBUTES.has(name) ? ', got a value (not shown)' : `, got ${quoteValue(attr.value)}`;
    throw new PlivoXmlFailure('invalid-attribute', `<${this.element.name}> attribute ${name} must be ${expectation}${shown}`, {
      line: attr?.line ?? this.element.line,
      column: attr?.column ?? this.element.column,
      element: this.element.name,
    });
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const t = v.trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
    return this.fail(name, 'true or false');
  }

  int(name: string, fallback: number, min: number, max?: number): number {
    return this.optInt(name, min, max) ?? fallback;
  }

  optInt(name: string, min: number, max?: number): number | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const t = v.trim();
    if (!INTEGER.test(t)) return this.fail(name, describeRange(min, max));
    const n = Number(t);
    if (n < min || (max !== undefined && n > max)) return this.fail(name, describeRange(min, max));
    return n;
  }

  /** An integer in range, or the keyword `auto`. */
  intOrAuto(name: string, fallback: number | 'auto', min: number, max: number): number | 'auto' {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (v.trim().toLowerCase() === 'auto') return 'auto';
    const t = v.trim();
    const n = INTEGER.test(t) ? Number(t) : NaN;
    if (!(n >= min && n <= max)) return this.fail(name, `auto or ${describeRange(min, max)}`);
    return n;
  }

  /** One of `values`, compared case-insensitively and returned in its canonical spelling. */
  optChoice<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const t = v.trim().toLowerCase();
    const hit = values.find((c) => c.toLowerCase() === t);
    if (hit === undefined) return this.fail(name, `one of ${values.join(', ')}`);
    return hit;
  }

  choice<T extends string>(name: string, values: readonly T[], fallback: T): T {
    return this.optChoice(name, values) ?? fallback;
  }

  method(name: string): HttpMethod {
    return this.choice<HttpMethod>(name, ['GET', 'POST'], 'POST');
  }

  optUrl(name: string, kind: UrlKind = 'http'): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const t = v.trim();
    if (!isAbsoluteUrl(t, kind)) return this.fail(name, URL_KIND_LABEL[kind]);
    return t;
  }

  /** A free-form string, checked by `valid`; empty values count as absent. */
  optString(name: string, expectation: string, valid: (value: string) => boolean = () => true): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    const t = v.trim();
    if (t === '') return undefined;
    if (!valid(t)) return this.fail(name, expectation);
    return t;
  }

  /** DTMF terminator: one of `0-9*#`; `none` or `""` disables it and reads as `''`. */
  finishOnKey(name: string, fallback: string): string {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const t = v.trim();
    if (t === '' || t.toLowerCase() === 'none') return '';
    if (/^[0-9*#]$/.test(t)) return t;
    return this.fail(name, 'one of 0-9, *, #, "" or none');
  }
}

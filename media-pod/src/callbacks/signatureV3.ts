/**
 * Plivo request signing, version 3 (`X-Plivo-Signature-V3` + `-Nonce`), computed exactly as
 * Plivo's SDK validators recompute it so that answer servers built on those SDKs accept our
 * callbacks. The signed string uses decoded parameter values, sorted by key in code-unit order.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type SignatureParams = Readonly<Record<string, string | readonly string[]>>;

export interface SignatureV3Input {
  /** The URL as requested (fragment ignored). For GET, its query plus `params` are signed. */
  url: string;
  method: 'GET' | 'POST';
  /** GET: parameters added to the query string; POST: the form body parameters. */
  params?: SignatureParams;
}

const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:[^@/?#]*@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?/;

function decodeComponent(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try { return decodeURIComponent(plus); } catch { return plus; }
}

/** Splits a URL into the signed base (`scheme://host[:port]/path`, as written) and its decoded query. */
export function splitSigningUrl(url: string): { base: string; query: Map<string, string[]> } {
  const m = URL_RE.exec(url);
  if (!m) throw new Error(`cannot sign a non-absolute URL (${url.slice(0, 80)})`);
  const base = `${m[1]}://${m[2]}${m[3]}`;
  const query = new Map<string, string[]>();
  for (const part of (m[4] ?? '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
    const list = query.get(k);
    if (list) list.push(v); else query.set(k, [v]);
  }
  return { base, query };
}

function addAll(into: Map<string, string[]>, params: SignatureParams | undefined): void {
  for (const [k, v] of Object.entries(params ?? {})) {
    const vals = typeof v === 'string' ? [v] : [...v];
    const list = into.get(k);
    if (list) list.push(...vals); else into.set(k, vals);
  }
}

function sortedPairs(m: Map<string, string[]>, join: (k: string, v: string) => string): string[] {
  const out: string[] = [];
  for (const k of [...m.keys()].sort()) for (const v of [...(m.get(k) ?? [])].sort()) out.push(join(k, v));
  return out;
}

/** The exact string that gets HMAC'd (before `"." + nonce` is appended). */
export function signatureBaseV3(input: SignatureV3Input): string {
  const { base, query } = splitSigningUrl(input.url);
  if (input.method === 'GET') {
    addAll(query, input.params);
    const q = sortedPairs(query, (k, v) => `${k}=${v}`).join('&');
    return q ? `${base}?${q}` : base;
  }
  const q = sortedPairs(query, (k, v) => `${k}=${v}`).join('&');
  const body = new Map<string, string[]>();
  addAll(body, input.params);
  if (body.size === 0) return q ? `${base}?${q}` : base;
  const p = sortedPairs(body, (k, v) => `${k}${v}`).join('');
  return `${base}?${q ? `${q}.` : ''}${p}`;
}

export function computeSignatureV3(input: SignatureV3Input & { nonce: string; authToken: string }): string {
  return createHmac('sha256', input.authToken).update(`${signatureBaseV3(input)}.${input.nonce}`, 'utf8').digest('base64');
}

/** A fresh nonce: 20 random decimal digits, the shape Plivo sends. */
export function newSignatureNonce(): string {
  const b = randomBytes(20);
  let s = '';
  for (const x of b) s += String(x % 10);
  return s;
}

export interface SignatureV3Headers {
  'X-Plivo-Signature-V3': string;
  'X-Plivo-Signature-V3-Nonce': string;
}

export function signedHeaders(input: SignatureV3Input & { authToken: string; nonce?: string }): SignatureV3Headers {
  const nonce = input.nonce ?? newSignatureNonce();
  return { 'X-Plivo-Signature-V3': computeSignatureV3({ ...input, nonce }), 'X-Plivo-Signature-V3-Nonce': nonce };
}

/** True if any comma-separated signature in `signature` matches (constant-time per candidate). */
export function validateSignatureV3(input: SignatureV3Input & { nonce: string; authToken: string; signature: string }): boolean {
  const expected = Buffer.from(computeSignatureV3(input));
  let ok = false;
  for (const cand of input.signature.split(',')) {
    const c = Buffer.from(cand.trim());
    if (c.length === expected.length && timingSafeEqual(c, expected)) ok = true;
  }
  return ok;
}

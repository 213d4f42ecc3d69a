/**
 * Lexical pieces of the RFC 3261 §25 grammar shared by the URI and header parsers: tokens,
 * quoted strings, parameter lists, percent-escapes and comma splitting that respects quotes.
 * Every function here is total: bad input yields undefined, never an exception.
 */

const TOKEN_EXTRA = new Set(['-', '.', '!', '%', '*', '_', '+', '`', "'", '~']);

export function isAlphaNum(c: string): boolean {
  const code = c.charCodeAt(0);
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

export function isTokenChar(c: string): boolean {
  return c.length === 1 && (isAlphaNum(c) || TOKEN_EXTRA.has(c));
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (const c of s) if (!isTokenChar(c)) return false;
  return true;
}

export function isWs(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s[i])) i++;
  return i;
}

/** Reads a token starting at i; returns [token, nextIndex] or undefined when there is none. */
export function readToken(s: string, i: number): [string, number] | undefined {
  let j = i;
  while (j < s.length && isTokenChar(s[j]!)) j++;
  return j > i ? [s.slice(i, j), j] : undefined;
}

/**
 * Reads a quoted-string whose opening quote is at s[i]. Returns the unescaped content and the
 * index after the closing quote, or undefined when unterminated or containing CR/LF.
 */
export function readQuoted(s: string, i: number): [string, number] | undefined {
  if (s[i] !== '"') return undefined;
  let out = '';
  let j = i + 1;
  while (j < s.length) {
    const c = s[j]!;
    if (c === '"') return [out, j + 1];
    if (c === '\r' || c === '\n') return undefined;
    if (c === '\\') {
      const n = s[j + 1];
      if (n === undefined || n === '\r' || n === '\n') return undefined;
      out += n;
      j += 2;
      continue;
    }
    out += c;
    j++;
  }
  return undefined;
}

/** Quotes a value for a header parameter, escaping `"` and `\`. */
export function quote(value: string): string {
  return '"' + value.replace(/["\\]/g, (m) => '\\' + m) + '"';
}

function hexVal(c: string | undefined): number {
  if (c === undefined) return -1;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 70) return code - 55;
  if (code >= 97 && code <= 102) return code - 87;
  return -1;
}

/** Decodes %HH escapes as UTF-8 bytes; undefined on a malformed escape. */
export function percentDecode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') {
      const hi = hexVal(s[i + 1]); const lo = hexVal(s[i + 2]);
      if (hi < 0 || lo < 0) return undefined;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else {
      for (const b of Buffer.from(c, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Percent-encodes every character outside `allowed` (which must be a predicate on one char). */
export function percentEncode(s: string, allowed: (c: string) => boolean): string {
  let out = '';
  for (const c of s) {
    if (c.length === 1 && allowed(c)) out += c;
    else for (const b of Buffer.from(c, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/**
 * Characters allowed in a bare (unquoted) header parameter value: token characters plus the
 * ones that appear in hosts and IPv6 addresses.
 */
function isParamValueChar(c: string): boolean {
  return isTokenChar(c) || c === ':' || c === '[' || c === ']' || c === '/';
}

/**
 * Parses `*( SEMI name [ EQUAL value ] )` from s[i..] to the end of s. Values may be quoted
 * (returned unquoted). Names are lower-cased; the first occurrence of a repeated name wins.
 */
export function parseParamList(s: string, i: number): Map<string, string | null> | undefined {
  const params = new Map<string, string | null>();
  i = skipWs(s, i);
  while (i < s.length) {
    if (s[i] !== ';') return undefined;
    i = skipWs(s, i + 1);
    const name = readToken(s, i);
    if (!name) return undefined;
    i = skipWs(s, name[1]);
    let value: string | null = null;
    if (s[i] === '=') {
      i = skipWs(s, i + 1);
      if (s[i] === '"') {
        const q = readQuoted(s, i);
        if (!q) return undefined;
        value = q[0]; i = q[1];
      } else {
        let j = i;
        while (j < s.length && isParamValueChar(s[j]!)) j++;
        if (j === i) return undefined;
        value = s.slice(i, j); i = j;
      }
      i = skipWs(s, i);
    }
    const key = name[0].toLowerCase();
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

/** Formats a parameter map back to `;a=b;c`, quoting values that are not bare-safe. */
export function formatParamList(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [k, v] of params) {
    if (v === null) out += ';' + k;
    else if (v.length > 0 && [...v].every(isParamValueChar)) out += ';' + k + '=' + v;
    else out += ';' + k + '=' + quote(v);
  }
  return out;
}

/**
 * Splits a comma-separated header value into elements, ignoring commas inside quoted strings
 * and angle brackets. Empty elements are dropped. Undefined on an unterminated quote.
 */
export function splitCommaList(value: string): string[] | undefined {
  const out: string[] = [];
  let start = 0; let inQuote = false; let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') inQuote = true;
    else if (c === '<') inAngle = true;
    else if (c === '>') inAngle = false;
    else if (c === ',' && !inAngle) {
      const part = value.slice(start, i).trim();
      if (part) out.push(part);
      start = i + 1;
    }
  }
  if (inQuote) return undefined;
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out;
}

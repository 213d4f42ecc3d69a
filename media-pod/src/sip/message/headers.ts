/**
 * Header names (canonical and compact forms, RFC 3261 §7.3.3) and the parsers for the
 * structured headers the stack relies on: name-addr, Via, CSeq and digest credentials.
 */
import type { AuthHeader, CSeq, NameAddr, ReadonlyNameAddr, ReadonlyVia, SipHeader, SipMessage, Via } from './types.js';
import { formatParamList, isToken, parseParamList, readQuoted, readToken, skipWs, quote } from './grammar.js';
import { formatHost, parseHostPort, parseSipUri } from './uri.js';

const COMPACT = new Map<string, string>(Object.entries({
  a: 'Accept-Contact', b: 'Referred-By', c: 'Content-Type', d: 'Request-Disposition', e: 'Content-Encoding',
  f: 'From', i: 'Call-ID', j: 'Reject-Contact', k: 'Supported', l: 'Content-Length', m: 'Contact',
  n: 'Identity-Info', o: 'Event', r: 'Refer-To', s: 'Subject', t: 'To', u: 'Allow-Events', v: 'Via',
  x: 'Session-Expires', y: 'Identity',
}));

const KNOWN = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Diversion',
  'Error-Info', 'Event', 'Expires', 'From', 'Identity', 'Identity-Info', 'In-Reply-To', 'Max-Forwards',
  'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity',
  'Path', 'Priority', 'Privacy', 'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck',
  'Reason', 'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Remote-Party-ID', 'Replaces',
  'Reply-To', 'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route',
  'Session-Expires', 'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To', 'Unsupported',
  'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
];
const CANONICAL = new Map<string, string>(KNOWN.map((n) => [n.toLowerCase(), n]));

/**
 * Headers whose grammar is `#element`, so a comma separates values. Authenticate/Authorization
 * headers and Date contain commas inside a single value and are deliberately absent.
 */
const LIST_HEADERS = new Set([
  'via', 'contact', 'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require', 'unsupported',
  'accept', 'accept-encoding', 'accept-language', 'allow-events', 'content-encoding', 'content-language',
  'in-reply-to', 'alert-info', 'call-info', 'error-info', 'path', 'service-route', 'p-asserted-identity',
  'p-preferred-identity', 'reason', 'warning',
]);

/*
 * Every header lookup compares names case-insensitively with compact forms expanded. Lower-casing
 * and looking a name up on each comparison dominated message handling, so both answers are
 * memoised per spelling. The caches are seeded with the usual spellings and stop growing at
 * NAME_CACHE_LIMIT, so a peer inventing header names cannot grow them; past the limit names are
 * simply computed each time.
 */
const NAME_CACHE_LIMIT = 1024;
const canonicalBySpelling = new Map<string, string>();
const keyBySpelling = new Map<string, string>();

function computeCanonical(name: string): string {
  const lower = name.toLowerCase();
  if (lower.length === 1) {
    const compact = COMPACT.get(lower);
    if (compact !== undefined) return compact;
  }
  return CANONICAL.get(lower) ?? name;
}

/** Canonical spelling of a header name: compact forms expanded, known names in RFC case. */
export function canonicalHeaderName(name: string): string {
  let c = canonicalBySpelling.get(name);
  if (c === undefined) {
    c = computeCanonical(name);
    if (canonicalBySpelling.size < NAME_CACHE_LIMIT) canonicalBySpelling.set(name, c);
  }
  return c;
}

/** The case-insensitive identity of a header name: its canonical spelling, lower-cased. */
export function headerKey(name: string): string {
  let k = keyBySpelling.get(name);
  if (k === undefined) {
    k = canonicalHeaderName(name).toLowerCase();
    if (keyBySpelling.size < NAME_CACHE_LIMIT) keyBySpelling.set(name, k);
  }
  return k;
}

for (const n of [...KNOWN, ...KNOWN.map((k) => k.toLowerCase()), ...COMPACT.keys(), ...[...COMPACT.keys()].map((k) => k.toUpperCase())]) headerKey(n);

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}

/** True when header `h` is the one named by `canon`/`key` (canonical spelling and its key). */
function isNamed(h: SipHeader, canon: string, key: string): boolean {
  // Parsed and built messages store canonical names, so the first test usually decides.
  return h.name === canon || headerKey(h.name) === key;
}

/** First value of a header (compact names and case accepted), or undefined. */
export function getHeader(msg: Pick<SipMessage, 'headers'>, name: string): string | undefined {
  const canon = canonicalHeaderName(name);
  const key = headerKey(name);
  const headers = msg.headers;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (isNamed(h, canon, key)) return h.value;
  }
  return undefined;
}

/** All values of a header in message order (comma lists were split by the parser). */
export function getHeaders(msg: Pick<SipMessage, 'headers'>, name: string): string[] {
  const canon = canonicalHeaderName(name);
  const key = headerKey(name);
  const out: string[] = [];
  for (const h of msg.headers) if (isNamed(h, canon, key)) out.push(h.value);
  return out;
}

/** Replaces every occurrence of a header with one value (appended where the first one was). */
export function setHeader(msg: Pick<SipMessage, 'headers'>, name: string, value: string): void {
  const canon = canonicalHeaderName(name);
  const key = headerKey(name);
  const idx = msg.headers.findIndex((h) => isNamed(h, canon, key));
  const next: SipHeader = { name: canonicalHeaderName(name), value };
  removeHeaders(msg, name);
  if (idx < 0) msg.headers.push(next); else msg.headers.splice(Math.min(idx, msg.headers.length), 0, next);
}

export function addHeader(msg: Pick<SipMessage, 'headers'>, name: string, value: string, atTop = false): void {
  const h: SipHeader = { name: canonicalHeaderName(name), value };
  if (atTop) {
    const canon = canonicalHeaderName(name);
    const key = headerKey(name);
    const idx = msg.headers.findIndex((x) => isNamed(x, canon, key));
    msg.headers.splice(idx < 0 ? 0 : idx, 0, h);
  } else {
    msg.headers.push(h);
  }
}

export function removeHeaders(msg: Pick<SipMessage, 'headers'>, name: string): void {
  const canon = canonicalHeaderName(name);
  const key = headerKey(name);
  for (let i = msg.headers.length - 1; i >= 0; i--) if (isNamed(msg.headers[i]!, canon, key)) msg.headers.splice(i, 1);
}

/**
 * Parses one name-addr / addr-spec element with its header parameters:
 * `"Display" <sip:u@h;p>;tag=x`, `Bob <sip:b@h>`, `sip:u@h;tag=x`, or `*` (Contact).
 */
export function parseNameAddr(text: string): NameAddr | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.trim();
  if (s === '*') return { uriText: '*', params: new Map(), wildcard: true };
  let i = 0;
  let displayName: string | undefined;
  if (s[0] === '"') {
    const q = readQuoted(s, 0);
    if (!q) return undefined;
    displayName = q[0];
    i = skipWs(s, q[1]);
    if (s[i] !== '<') return undefined;
  } else {
    const lt = s.indexOf('<');
    if (lt >= 0) {
      const dn = s.slice(0, lt).trim();
      // Unquoted display names are tokens separated by LWS; tolerate UTF-8 but not quote/angle/control chars.
      if (/["<>\x00-\x1f\x7f]/.test(dn)) return undefined;
      if (dn) displayName = dn;
      i = lt;
    }
  }
  let uriText: string; let paramStart: number;
  if (s[i] === '<') {
    const gt = s.indexOf('>', i);
    if (gt < 0) return undefined;
    uriText = s.slice(i + 1, gt).trim();
    paramStart = gt + 1;
  } else {
    // addr-spec: the URI cannot contain ';' here (RFC 3261 §20.10), so parameters belong to the header.
    let j = i;
    while (j < s.length && s[j] !== ';' && s[j] !== ' ' && s[j] !== '\t') j++;
    uriText = s.slice(i, j);
    paramStart = j;
  }
  const uri = parseSipUri(uriText);
  if (!uri) return undefined;
  const params = parseParamList(s, paramStart);
  if (!params) return undefined;
  const out: NameAddr = { uriText, uri, params };
  if (displayName !== undefined) out.displayName = displayName;
  return out;
}

/** Formats a name-addr, always with angle brackets. */
export function formatNameAddr(na: NameAddr): string {
  if (na.wildcard) return '*';
  const dn = na.displayName !== undefined ? quote(na.displayName) + ' ' : '';
  return `${dn}<${na.uriText}>${formatParamList(na.params)}`;
}

/** Parses one Via element: `SIP/2.0/UDP host:port;branch=z9hG4bK..;rport;received=1.2.3.4`. */
export function parseVia(text: string): Via | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.trim();
  let i = 0;
  const parts: string[] = [];
  for (let k = 0; k < 3; k++) {
    i = skipWs(s, i);
    const t = readToken(s, i);
    if (!t) return undefined;
    parts.push(t[0]);
    i = skipWs(s, t[1]);
    if (k < 2) {
      if (s[i] !== '/') return undefined;
      i++;
    }
  }
  if (i === 0 || !/[ \t]/.test(s[i - 1] ?? '')) return undefined;
  let j = i;
  while (j < s.length && s[j] !== ';' && s[j] !== ' ' && s[j] !== '\t') j++;
  const hp = parseHostPort(s.slice(i, j));
  if (!hp) return undefined;
  const params = parseParamList(s, j);
  if (!params) return undefined;
  const [protocolName, protocolVersion, transport] = parts as [string, string, string];
  const via: Via = {
    protocolName: protocolName.toUpperCase(), protocolVersion, transport: transport.toUpperCase(),
    host: hp.host, hostType: hp.hostType, params, hasRport: params.has('rport'),
  };
  if (hp.port !== undefined) via.port = hp.port;
  const branch = params.get('branch');
  if (branch !== undefined) {
    if (branch === null || !isToken(branch)) return undefined;
    via.branch = branch;
  }
  const received = params.get('received');
  if (received !== undefined) {
    if (received === null || !parseHostPort(received.includes(':') ? `[${received}]` : received)) return undefined;
    via.received = received;
  }
  const rport = params.get('rport');
  if (rport !== undefined && rport !== null) {
    if (!/^[0-9]{1,5}$/.test(rport) || Number(rport) < 1 || Number(rport) > 65535) return undefined;
    via.rport = Number(rport);
  }
  const ttl = params.get('ttl');
  if (ttl !== undefined && (ttl === null || !/^[0-9]{1,3}$/.test(ttl) || Number(ttl) > 255)) return undefined;
  return via;
}

/**
 * Memoised parses for readers. A message's top Via is read by validation, Via stamping, the
 * transaction key and the routing of every response sent, and From/To by validation, dialog
 * matching and every response; parsing each time made the parser the largest allocator in the
 * pod. Results are shared, hence read-only (parseVia/parseNameAddr give a fresh, mutable one).
 * Keyed by the header text, which fully determines the result; bounded in entries and text length.
 */
class ParseMemo<T> {
  private readonly entries = new Map<string, T | null>();
  constructor(private readonly parse: (text: string) => T | undefined, private readonly maxEntries = 2048, private readonly maxTextLength = 1024) {}

  get(text: string): T | undefined {
    if (typeof text !== 'string' || text.length > this.maxTextLength) return this.parse(text);
    const hit = this.entries.get(text);
    if (hit !== undefined) return hit ?? undefined;
    const parsed = this.parse(text);
    // Dropping everything at the bound keeps this cheap; a live message re-parses at most once.
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(text, parsed ?? null);
    return parsed;
  }
}

const viaMemo = new ParseMemo<ReadonlyVia>(parseVia);
const nameAddrMemo = new ParseMemo<ReadonlyNameAddr>(parseNameAddr);

/** `parseVia`, memoised; the result is shared and must not be changed. */
export function parseViaCached(text: string): ReadonlyVia | undefined { return viaMemo.get(text); }

/** `parseNameAddr`, memoised; the result is shared and must not be changed. */
export function parseNameAddrCached(text: string): ReadonlyNameAddr | undefined { return nameAddrMemo.get(text); }

/** Formats a Via from its fields; `params` is the source of truth for parameters. */
export function formatVia(via: Via | ReadonlyVia): string {
  return `${via.protocolName}/${via.protocolVersion}/${via.transport} ${formatHost(via.host, via.hostType, via.port)}${formatParamList(via.params)}`;
}

/** Parses `CSeq: 4711 INVITE`; the number must be below 2^31 (RFC 3261 §8.1.1.5). */
export function parseCSeq(text: string): CSeq | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^[ \t]*([0-9]{1,10})[ \t]+([^ \t]+)[ \t]*$/.exec(text);
  if (!m || !isToken(m[2]!)) return undefined;
  const seq = Number(m[1]);
  if (seq > 0x7fffffff) return undefined;
  return { seq, method: m[2]! };
}

/**
 * Parses WWW-/Proxy-Authenticate and Authorization/Proxy-Authorization values:
 * `Digest username="a", realm="b", qop=auth, nc=00000001`. Duplicate parameters are rejected
 * because two readings of the same credential must never be possible.
 */
export function parseAuthHeader(text: string): AuthHeader | undefined {
  if (typeof text !== 'string' || text.length > 8192) return undefined;
  const s = text.trim();
  const scheme = readToken(s, 0);
  if (!scheme) return undefined;
  const params = new Map<string, string>();
  let i = skipWs(s, scheme[1]);
  if (i === scheme[1] && i < s.length) return undefined;
  let first = true;
  while (i < s.length) {
    if (!first) {
      if (s[i] !== ',') return undefined;
      i = skipWs(s, i + 1);
      if (i >= s.length) break; // tolerate a trailing comma
    }
    first = false;
    const name = readToken(s, i);
    if (!name) return undefined;
    i = skipWs(s, name[1]);
    if (s[i] !== '=') return undefined;
    i = skipWs(s, i + 1);
    let value: string;
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      if (!q) return undefined;
      value = q[0]; i = q[1];
    } else {
      let j = i;
      while (j < s.length && s[j] !== ',' && s[j] !== ' ' && s[j] !== '\t' && s[j] !== '"') j++;
      if (j === i) return undefined;
      value = s.slice(i, j); i = j;
    }
    const key = name[0].toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, value);
    i = skipWs(s, i);
  }
  return { scheme: scheme[0], params };
}

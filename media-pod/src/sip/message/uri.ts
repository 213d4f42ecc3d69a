/**
 * SIP/SIPS/tel URI parsing and formatting (RFC 3261 §19.1, RFC 3966 for tel). Escapes are
 * decoded so `sip:%61pp@host` and `sip:app@host` compare equal on `user`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostType, SipUri } from './types.js';
import { isAlphaNum, percentDecode, percentEncode } from './grammar.js';

const MARK = new Set(['-', '_', '.', '!', '~', '*', "'", '(', ')']);
const isUnreserved = (c: string): boolean => isAlphaNum(c) || MARK.has(c);
// '#' is outside the RFC grammar but carriers put it in dialled strings; accepting it costs nothing.
const USER_EXTRA = new Set(['&', '=', '+', '$', ',', ';', '?', '/', '#']);
const PASSWORD_EXTRA = new Set(['&', '=', '+', '$', ',']);
const PARAM_EXTRA = new Set(['[', ']', '/', ':', '&', '+', '$']);
const HNV_EXTRA = new Set(['[', ']', '/', '?', ':', '+', '$']);

const isUserChar = (c: string): boolean => isUnreserved(c) || USER_EXTRA.has(c);
const isPasswordChar = (c: string): boolean => isUnreserved(c) || PASSWORD_EXTRA.has(c);
const isParamChar = (c: string): boolean => isUnreserved(c) || PARAM_EXTRA.has(c);
const isHnvChar = (c: string): boolean => isUnreserved(c) || HNV_EXTRA.has(c);

function allChars(s: string, pred: (c: string) => boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '%') continue; // validated by percentDecode
    if (!pred(c)) return false;
  }
  return true;
}

/** Parses `host[:port]` where host may be an IPv6 reference. */
export function parseHostPort(s: string): { host: string; hostType: HostType; port?: number } | undefined {
  let host: string; let rest: string; let hostType: HostType;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    host = s.slice(1, close);
    if (!isIPv6(host)) return undefined;
    hostType = 'ipv6';
    rest = s.slice(close + 1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? '' : s.slice(colon);
    if (!/^[A-Za-z0-9._-]+$/.test(host) || host.length > 255) return undefined;
    if (/^[0-9.]+$/.test(host)) {
      if (!isIPv4(host)) return undefined;
      hostType = 'ipv4';
    } else {
      hostType = 'name';
    }
  }
  host = host.toLowerCase();
  if (rest === '') return { host, hostType };
  if (!/^:[0-9]{1,5}$/.test(rest)) return undefined;
  const port = Number(rest.slice(1));
  if (port < 1 || port > 65535) return undefined;
  return { host, hostType, port };
}

export function formatHost(host: string, hostType: HostType, port?: number): string {
  const h = hostType === 'ipv6' ? `[${host}]` : host;
  return port === undefined ? h : `${h}:${port}`;
}

function parseUriParams(s: string): Map<string, string | null> | undefined {
  const params = new Map<string, string | null>();
  if (s === '') return params;
  for (const part of s.split(';')) {
    if (part === '') return undefined;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? null : part.slice(eq + 1);
    if (!rawName || !allChars(rawName, isParamChar)) return undefined;
    if (rawValue !== null && !allChars(rawValue, isParamChar)) return undefined;
    const name = percentDecode(rawName);
    const value = rawValue === null ? null : percentDecode(rawValue);
    if (name === undefined || value === undefined) return undefined;
    const key = name.toLowerCase();
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

function parseUriHeaders(s: string): Map<string, string> | undefined {
  const headers = new Map<string, string>();
  for (const part of s.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const n = part.slice(0, eq); const v = part.slice(eq + 1);
    if (!allChars(n, isHnvChar) || !allChars(v, isHnvChar)) return undefined;
    const dn = percentDecode(n); const dv = percentDecode(v);
    if (dn === undefined || dv === undefined) return undefined;
    if (!headers.has(dn)) headers.set(dn, dv);
  }
  return headers;
}

/** Parses an absolute URI. Returns undefined for anything malformed; never throws. */
export function parseSipUri(text: string): SipUri | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 8192) return undefined;
  if (/[\s<>"\\\x00-\x1f\x7f]/.test(text)) return undefined;
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = text.slice(0, colon).toLowerCase();
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return undefined;
  const rest = text.slice(colon + 1);
  if (rest === '') return undefined;

  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const num = semi < 0 ? rest : rest.slice(0, semi);
    if (!/^\+?[0-9A-Fa-f*#().\-]+$/.test(num)) return undefined;
    const params = parseUriParams(semi < 0 ? '' : rest.slice(semi + 1));
    if (!params) return undefined;
    return { scheme, user: num, host: '', hostType: 'name', params, headers: new Map() };
  }
  if (scheme !== 'sip' && scheme !== 'sips') {
    return { scheme, host: '', hostType: 'name', params: new Map(), headers: new Map(), opaque: rest };
  }

  let userinfo: string | undefined; let hostpart = rest;
  const at = rest.indexOf('@');
  if (at >= 0) { userinfo = rest.slice(0, at); hostpart = rest.slice(at + 1); }

  let user: string | undefined; let password: string | undefined;
  if (userinfo !== undefined) {
    const pc = userinfo.indexOf(':');
    const rawUser = pc < 0 ? userinfo : userinfo.slice(0, pc);
    const rawPass = pc < 0 ? undefined : userinfo.slice(pc + 1);
    if (rawUser === '' || !allChars(rawUser, isUserChar)) return undefined;
    if (rawPass !== undefined && !allChars(rawPass, isPasswordChar)) return undefined;
    user = percentDecode(rawUser);
    if (user === undefined) return undefined;
    if (rawPass !== undefined) {
      password = percentDecode(rawPass);
      if (password === undefined) return undefined;
    }
  }

  let headersText: string | undefined;
  const q = hostpart.indexOf('?');
  if (q >= 0) { headersText = hostpart.slice(q + 1); hostpart = hostpart.slice(0, q); }
  // The host part ends at the first ';' that is not inside an IPv6 reference.
  const bracketEnd = hostpart.startsWith('[') ? hostpart.indexOf(']') : -1;
  const semi = hostpart.indexOf(';', Math.max(0, bracketEnd));
  const hp = semi < 0 ? hostpart : hostpart.slice(0, semi);
  const paramText = semi < 0 ? '' : hostpart.slice(semi + 1);
  const hostPort = parseHostPort(hp);
  if (!hostPort) return undefined;
  const params = parseUriParams(paramText);
  if (!params) return undefined;
  const headers = headersText === undefined ? new Map<string, string>() : parseUriHeaders(headersText);
  if (!headers) return undefined;

  const uri: SipUri = { scheme, host: hostPort.host, hostType: hostPort.hostType, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hostPort.port !== undefined) uri.port = hostPort.port;
  return uri;
}

/** Formats a URI, escaping what must be escaped. `parseSipUri(formatSipUri(u))` equals `u`. */
export function formatSipUri(uri: SipUri): string {
  if (uri.opaque !== undefined) return `${uri.scheme}:${uri.opaque}`;
  let out = uri.scheme + ':';
  const params = [...uri.params].map(([k, v]) =>
    ';' + percentEncode(k, isParamChar) + (v === null ? '' : '=' + percentEncode(v, isParamChar))).join('');
  if (uri.scheme === 'tel') return out + (uri.user ?? '') + params;
  if (uri.user !== undefined) {
    out += percentEncode(uri.user, (c) => isUserChar(c) && c !== '#');
    if (uri.password !== undefined) out += ':' + percentEncode(uri.password, isPasswordChar);
    out += '@';
  }
  out += formatHost(uri.host, uri.hostType, uri.port) + params;
  if (uri.headers.size > 0) {
    out += '?' + [...uri.headers].map(([k, v]) =>
      percentEncode(k, (c) => isHnvChar(c) && c !== '?') + '=' + percentEncode(v, (c) => isHnvChar(c) && c !== '?')).join('&');
  }
  return out;
}

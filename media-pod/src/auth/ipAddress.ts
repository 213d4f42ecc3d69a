/**
 * Strict IPv4/IPv6 address parsing into bigints, so ACL matching and per-IP tables compare
 * addresses by value (IPv4-mapped IPv6 `::ffff:a.b.c.d` is folded to IPv4, as a dual-stack
 * socket reports IPv4 peers that way).
 */

export interface ParsedIp {
  family: 4 | 6;
  /** 32-bit (IPv4) or 128-bit (IPv6) value. */
  value: bigint;
}

const V4_PART = /^(0|[1-9][0-9]{0,2})$/;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are refused: "010" is octal to some parsers and decimal to others.
    if (!V4_PART.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(input: string): bigint | undefined {
  let s = input;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.includes('.', lastColon)) {
    // An embedded IPv4 tail ("::ffff:1.2.3.4") is rewritten as two hextets.
    const tail = parseV4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return undefined;
  const splitGroups = (x: string): string[] | undefined => {
    if (x === '') return [];
    const g = x.split(':');
    return g.every((h) => HEXTET.test(h)) ? g : undefined;
  };
  let groups: string[];
  if (dbl >= 0) {
    const head = splitGroups(s.slice(0, dbl));
    const rest = splitGroups(s.slice(dbl + 2));
    if (!head || !rest) return undefined;
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return undefined;
    groups = [...head, ...new Array<string>(fill).fill('0'), ...rest];
  } else {
    const g = splitGroups(s);
    if (!g || g.length !== 8) return undefined;
    groups = g;
  }
  let v = 0n;
  for (const h of groups) v = (v << 16n) | BigInt(parseInt(h, 16));
  return v;
}

/**
 * Parse an address literal. Accepts an IPv6 zone suffix (`fe80::1%eth0`, dropped) and
 * brackets (`[::1]`). Returns undefined for anything that is not an address.
 */
export function parseIp(input: string): ParsedIp | undefined {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (s.includes(':')) {
    const pct = s.indexOf('%');
    if (pct >= 0) s = s.slice(0, pct);
    const v = parseV6(s);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v4 = parseV4(s);
  return v4 === undefined ? undefined : { family: 4, value: v4 };
}

/** Canonical text form (lowercase, zero-compressed IPv6; mapped IPv4 as dotted quad). */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Longest run of zero groups (length ≥ 2) becomes "::" (RFC 5952).
  let best = -1; let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i; while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** Canonical form of an address string, or undefined if it is not one. */
export function canonicalIp(input: string): string | undefined {
  const p = parseIp(input);
  return p ? formatIp(p) : undefined;
}

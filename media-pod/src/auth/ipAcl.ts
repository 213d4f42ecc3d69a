/**
 * Source-address allow-list for SipApplications with IpAcl auth: entries are compiled once
 * (per config generation) into per-prefix-length hash tables, so a lookup costs one masked
 * probe per distinct prefix length instead of a scan of every entry.
 */
import type { AclEntry } from '@sipflow/operator/contract/types';
import { parseIp, formatIp, type ParsedIp } from './ipAddress.js';

/** Thrown at construction when an ACL entry is not an address/prefix pair. */
export class InvalidAclEntryError extends Error {
  constructor(readonly entry: AclEntry, readonly reason: string) {
    super(`invalid IP ACL entry ${JSON.stringify(`${entry.ip}/${entry.prefix}`)} from ${entry.source || 'unknown source'}: ${reason}`);
    this.name = 'InvalidAclEntryError';
  }
}

function mask(bits: number, prefix: number): bigint {
  if (prefix === 0) return 0n;
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

interface Table { prefix: number; mask: bigint; nets: Map<bigint, AclEntry> }

export class IpAclMatcher {
  /** Longest prefix first, so `match` reports the most specific entry. */
  private readonly v4: Table[] = [];
  private readonly v6: Table[] = [];
  readonly size: number;

  constructor(entries: readonly AclEntry[]) {
    for (const e of entries) {
      const ip = parseIp(e.ip);
      if (!ip) throw new InvalidAclEntryError(e, 'not an IPv4 or IPv6 address');
      if (!Number.isInteger(e.prefix)) throw new InvalidAclEntryError(e, 'prefix length must be an integer');
      let prefix = e.prefix;
      // "::ffff:10.0.0.0/104" names IPv4 space; parseIp already folded the address.
      const writtenAsV6 = e.ip.includes(':');
      if (ip.family === 4 && writtenAsV6) {
        if (prefix < 96 || prefix > 128) throw new InvalidAclEntryError(e, 'prefix length for an IPv4-mapped address must be 96..128');
        prefix -= 96;
      }
      const bits = ip.family === 4 ? 32 : 128;
      if (prefix < 0 || prefix > bits) throw new InvalidAclEntryError(e, `prefix length must be 0..${bits}`);
      const tables = ip.family === 4 ? this.v4 : this.v6;
      let t = tables.find((x) => x.prefix === prefix);
      if (!t) { t = { prefix, mask: mask(bits, prefix), nets: new Map() }; tables.push(t); }
      // Host bits set ("10.0.0.1/8") are tolerated and masked off, like most routers do.
      const net = ip.value & t.mask;
      if (!t.nets.has(net)) t.nets.set(net, e);
    }
    this.v4.sort((a, b) => b.prefix - a.prefix);
    this.v6.sort((a, b) => b.prefix - a.prefix);
    this.size = entries.length;
  }

  /** The most specific entry containing `ip`, or undefined (also for unparseable input). */
  match(ip: string | ParsedIp): AclEntry | undefined {
    const p = typeof ip === 'string' ? parseIp(ip) : ip;
    if (!p) return undefined;
    for (const t of p.family === 4 ? this.v4 : this.v6) {
      const hit = t.nets.get(p.value & t.mask);
      if (hit) return hit;
    }
    return undefined;
  }

  matches(ip: string | ParsedIp): boolean {
    return this.match(ip) !== undefined;
  }

  /** Normalized `network/prefix` list, for logs and debugging. */
  describe(): string[] {
    const out: string[] = [];
    for (const [family, tables] of [[4, this.v4], [6, this.v6]] as const) {
      for (const t of tables) for (const net of t.nets.keys()) out.push(`${formatIp({ family, value: net })}/${t.prefix}`);
    }
    return out;
  }
}

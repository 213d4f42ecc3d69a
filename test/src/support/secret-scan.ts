/**
 * Looks for secrets where none may be: log lines, /metrics, rendered ConfigMaps, condition and
 * Event text, callback requests. A test registers what it knows to be secret (passwords, with
 * the HA1 digests derived from them; auth tokens; digest responses seen on the wire) and feeds
 * any number of named texts; findings name the secret by label and never print its value.
 */
import { createHash } from 'node:crypto';

export interface SecretFinding {
  /** The label the secret was registered under, e.g. "password of carol (HA1 MD5)". */
  secret: string;
  /** Which encoding of it matched (raw, url, base64, json). */
  form: string;
  /** Where: the source name given to scan(), e.g. "log line 312". */
  source: string;
  /** Offset of the match in that text. */
  offset: number;
}

interface Needle { label: string; form: string; value: string; caseInsensitive: boolean }

/** Values shorter than this are too likely to occur by chance (and are no real secret). */
const MIN_SECRET_LENGTH = 6;

function md5(s: string): string { return createHash('md5').update(s, 'utf8').digest('hex'); }
function sha256(s: string): string { return createHash('sha256').update(s, 'utf8').digest('hex'); }

export class SecretScanner {
  private readonly needles: Needle[] = [];
  private readonly seen = new Set<string>();

  /** Number of distinct secret values registered (every form counted once). */
  get size(): number { return this.seen.size; }

  /**
   * A value that must never appear, in the forms it could leak in: as is, URL-encoded (query
   * strings, form bodies), base64 (Secret data, Basic auth) and JSON-escaped (log lines).
   */
  add(label: string, value: string): this {
    if (value.length < MIN_SECRET_LENGTH) throw new Error(`secret "${label}" is shorter than ${MIN_SECRET_LENGTH} characters; pick a longer test value`);
    if (this.seen.has(value)) return this;
    this.seen.add(value);
    const hex = /^[0-9a-fA-F]+$/.test(value);
    const forms: Array<[string, string]> = [
      ['raw', value],
      ['url', encodeURIComponent(value)],
      ['url-form', new URLSearchParams({ v: value }).toString().slice(2)],
      ['base64', Buffer.from(value, 'utf8').toString('base64').replace(/=+$/, '')],
      ['base64url', Buffer.from(value, 'utf8').toString('base64url')],
      ['json', JSON.stringify(value).slice(1, -1)],
    ];
    const uniq = new Map<string, string>();
    for (const [form, v] of forms) if (!uniq.has(v)) uniq.set(v, form);
    for (const [v, form] of uniq) this.needles.push({ label, form, value: hex ? v.toLowerCase() : v, caseInsensitive: hex });
    return this;
  }

  /** A SIP password and the HA1 digests (MD5 and SHA-256) the operator derives from it. */
  addPassword(a: { username: string; realm: string; password: string }): this {
    const who = `${a.username}@${a.realm}`;
    this.add(`password of ${who}`, a.password);
    this.add(`HA1 MD5 of ${who}`, md5(`${a.username}:${a.realm}:${a.password}`));
    this.add(`HA1 SHA-256 of ${who}`, sha256(`${a.username}:${a.realm}:${a.password}`));
    return this;
  }

  /** An application's auth token (it signs callbacks; only signatures may leave the pod). */
  addToken(label: string, token: string): this { return this.add(`auth token ${label}`, token); }

  /**
   * Registers every digest `response=` value in `text` (a SIP trace, raw requests): a response
   * proves knowledge of the password for one nonce and must not be logged either.
   */
  addDigestResponsesFrom(text: string, label = 'digest response'): number {
    let n = 0;
    for (const m of text.matchAll(/\bresponse\s*=\s*"?([0-9a-fA-F]{32}|[0-9a-fA-F]{64})"?/g)) {
      const before = this.seen.size;
      this.add(`${label} #${n + 1}`, m[1]!);
      if (this.seen.size > before) n++;
    }
    return n;
  }

  /** Every occurrence of every registered secret in `text`. */
  scan(source: string, text: string): SecretFinding[] {
    const out: SecretFinding[] = [];
    let lower: string | undefined;
    for (const n of this.needles) {
      const hay = n.caseInsensitive ? (lower ??= text.toLowerCase()) : text;
      let from = 0;
      for (;;) {
        const i = hay.indexOf(n.value, from);
        if (i < 0) break;
        out.push({ secret: n.label, form: n.form, source, offset: i });
        from = i + 1;
      }
    }
    return out;
  }

  /** Scans many named texts (e.g. `capturedLogs().map((l, i) => [`log line ${i}`, l])`). */
  scanAll(texts: Iterable<readonly [string, string]>): SecretFinding[] {
    const out: SecretFinding[] = [];
    for (const [source, text] of texts) out.push(...this.scan(source, text));
    return out;
  }
}

/** A report for an assertion message: which secret, in which form, where, never the value. */
export function describeFindings(findings: readonly SecretFinding[], max = 20): string {
  const lines = findings.slice(0, max).map((f) => `${f.secret} (${f.form}) in ${f.source} at offset ${f.offset}`);
  if (findings.length > max) lines.push(`... and ${findings.length - max} more`);
  return lines.join('\n');
}

/** Names each line, for scanAll: `[${prefix} ${i}, line]`. */
export function numbered(prefix: string, lines: readonly string[]): Array<[string, string]> {
  return lines.map((l, i): [string, string] => [`${prefix} ${i + 1}`, l]);
}

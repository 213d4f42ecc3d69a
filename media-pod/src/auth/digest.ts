/**
 * SIP digest proxy authentication (RFC 7616 / RFC 2617 as used by RFC 3261 §22): builds
 * `Proxy-Authenticate` challenges with self-contained signed nonces and verifies the
 * `Proxy-Authorization` answers against HA1 digests from the credential shards.
 *
 * Nonces need no server-side state until first use: each one carries its issue time and a
 * random part and is HMAC-signed over those and the source IP, so any pod sharing the key can
 * check it. State is kept only for replay protection (last `nc` per nonce), bounded in size.
 *
 * Choices: `qop=auth` is required (RFC 2069 answers without qop carry no nc/cnonce, so replays
 * could not be detected; every SIP UA in service supports qop). MD5, SHA-256 and their `-sess`
 * variants are accepted; `userhash` is not offered and is refused.
 */
import crypto, { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { CredentialHash } from '@sipflow/operator/contract/types';
import { systemClock, type Clock } from '../clock.js';
import { canonicalIp } from './ipAddress.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export type DigestFailureCause =
  | 'missing' | 'malformed' | 'stale' | 'bad_nonce' | 'replay'
  | 'unknown_user' | 'bad_password' | 'wrong_realm' | 'not_allowed';

export type DigestVerifyResult =
  | { ok: true; username: string; identity: string; algorithm: DigestAlgorithm }
  | {
      ok: false;
      cause: DigestFailureCause;
      /** True when the caller should re-challenge with `stale=true` (the password may be right). */
      stale?: boolean;
      /** Human-readable reason, safe to log and to put in a SIP reason phrase (no secrets). */
      detail: string;
      /** Username the client claimed, when present (for logs; not proof of anything). */
      username?: string;
    };

export interface DigestVerifyInput {
  /** Parsed `Proxy-Authorization: Digest ...` parameters (names case-insensitive, values unquoted). */
  params: Readonly<Record<string, string>> | undefined;
  method: string;
  sourceIp: string;
  realm: string;
  lookup: (identity: string) => CredentialHash | undefined;
  /** Identities (`username@realm`) this application accepts. */
  allowedIdentities: ReadonlySet<string>;
  /** The request's Request-URI; when given, the digest `uri` must name the same user@host. */
  requestUri?: string;
}

export interface DigestAuthenticatorOptions {
  clock?: Clock;
  /** HMAC key for nonces; share it between pods behind one load balancer. ≥ 16 bytes. */
  nonceKey?: Buffer;
  /** How long a nonce stays valid (default 60 s). */
  nonceLifetimeMs?: number;
  /** Hard cap on nonces tracked for replay protection (default 100 000). */
  maxTrackedNonces?: number;
  /** Tolerated clock skew between pods sharing a key, for nonces "from the future" (default 5 s). */
  maxClockSkewMs?: number;
}

const NONCE_VERSION = 1;
const RANDOM_LEN = 12;
const MAC_LEN = 16;
const NONCE_BYTES = 1 + 8 + RANDOM_LEN + MAC_LEN;
const NC_RE = /^[0-9a-fA-F]{8}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;
const ALGORITHMS: Record<string, DigestAlgorithm> = {
  'md5': 'MD5', 'md5-sess': 'MD5-sess', 'sha-256': 'SHA-256', 'sha-256-sess': 'SHA-256-sess',
};

function hashName(alg: DigestAlgorithm): 'md5' | 'sha256' {
  return alg.startsWith('MD5') ? 'md5' : 'sha256';
}

/** One-shot `crypto.hash` (Node >= 20.12): a quarter of the cost of a Hash object for these short inputs. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

function h(alg: DigestAlgorithm, s: string): string {
  return oneShotHash ? oneShotHash(hashName(alg), s, 'hex') : createHash(hashName(alg)).update(s, 'utf8').digest('hex');
}

/*
 * The random part of each nonce is cut from a pooled CSPRNG block (each byte used once): a
 * randomBytes() call per challenge cost more than the 12 bytes.
 */
const RANDOM_POOL_BYTES = 4096;
let randomPool = Buffer.alloc(0);
let randomPoolPos = 0;

function copyRandom(target: Buffer, offset: number, length: number): void {
  if (randomPoolPos + length > randomPool.length) {
    randomPool = randomBytes(RANDOM_POOL_BYTES);
    randomPoolPos = 0;
  }
  randomPool.copy(target, offset, randomPoolPos, randomPoolPos + length);
  randomPoolPos += length;
}

/**
 * The RFC 7616 §3.4.1 response for `qop=auth`, from a stored HA1 (H(username:realm:password)).
 * Exported for tests and for client-side use (e.g. a test UA); never log its result.
 */
export function computeDigestResponse(a: {
  algorithm: DigestAlgorithm; ha1: string; nonce: string; nc: string; cnonce: string;
  qop: 'auth'; method: string; uri: string;
}): string {
  let ha1 = a.ha1.toLowerCase();
  if (a.algorithm.endsWith('-sess')) ha1 = h(a.algorithm, `${ha1}:${a.nonce}:${a.cnonce}`);
  const ha2 = h(a.algorithm, `${a.method}:${a.uri}`);
  return h(a.algorithm, `${ha1}:${a.nonce}:${a.nc}:${a.cnonce}:${a.qop}:${ha2}`);
}

/** HA1 = H(username:realm:password), as the operator derives it. */
export function computeHa1(algorithm: 'MD5' | 'SHA-256', username: string, realm: string, password: string): string {
  return h(algorithm, `${username}:${realm}:${password}`);
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** user@host of a SIP URI, lowercased host, without scheme, port, params or headers. */
function uriTarget(uri: string): string | undefined {
  let s = uri.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  const m = /^(sips?|tel):(.*)$/i.exec(s);
  if (!m) return undefined;
  let rest = m[2] ?? '';
  const cut = rest.search(/[;?]/);
  if (cut >= 0) rest = rest.slice(0, cut);
  const at = rest.lastIndexOf('@');
  const user = at >= 0 ? rest.slice(0, at) : '';
  let host = at >= 0 ? rest.slice(at + 1) : rest;
  host = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return `${user}@${host.toLowerCase()}`;
}

interface NonceUse { lastNc: number; issuedAt: number }

export class DigestAuthenticator {
  private readonly clock: Clock;
  private readonly key: Buffer;
  private readonly lifetimeMs: number;
  private readonly maxTracked: number;
  private readonly skewMs: number;
  /** nonce → last accepted nc; Map order is first-use order, so the head is the oldest. */
  private readonly uses = new Map<string, NonceUse>();
  /** Nonces issued at or before this time and not in `uses` may have been evicted: treat as stale. */
  private evictedWatermark = -Infinity;

  constructor(opts: DigestAuthenticatorOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    if (opts.nonceKey && opts.nonceKey.length < 16) throw new Error('DigestAuthenticator: nonceKey must be at least 16 bytes');
    this.key = opts.nonceKey ? Buffer.from(opts.nonceKey) : randomBytes(32);
    this.lifetimeMs = opts.nonceLifetimeMs ?? 60_000;
    this.maxTracked = opts.maxTrackedNonces ?? 100_000;
    this.skewMs = opts.maxClockSkewMs ?? 5_000;
    if (!(this.lifetimeMs > 0) || !(this.maxTracked > 0)) throw new Error('DigestAuthenticator: nonceLifetimeMs and maxTrackedNonces must be positive');
  }

  /**
   * `Proxy-Authenticate` header values: MD5 first, then SHA-256. MD5 leads because many UAs in
   * service (sipp 3.6, older phones and PBXs) read only the first challenge and give up when it
   * names an algorithm they lack; RFC 8760 clients that support SHA-256 still find it offered.
   */
  challenge(a: { realm: string; sourceIp: string; stale?: boolean }): string[] {
    const nonce = this.issueNonce(a.sourceIp);
    const tail = `, qop="auth"${a.stale ? ', stale=true' : ''}`;
    return ['MD5', 'SHA-256'].map((alg) => `Digest realm=${quote(a.realm)}, nonce="${nonce}", algorithm=${alg}${tail}`);
  }

  /** A fresh nonce bound to `sourceIp`. */
  issueNonce(sourceIp: string): string {
    const buf = Buffer.alloc(NONCE_BYTES);
    buf.writeUInt8(NONCE_VERSION, 0);
    buf.writeBigUInt64BE(BigInt(Math.floor(this.clock.wallNow())), 1);
    copyRandom(buf, 9, RANDOM_LEN);
    this.mac(buf.subarray(0, 9 + RANDOM_LEN), sourceIp).copy(buf, 9 + RANDOM_LEN);
    return buf.toString('base64url');
  }

  /** Number of nonces currently tracked for replay protection. */
  trackedNonces(): number { return this.uses.size; }

  private mac(head: Buffer, sourceIp: string): Buffer {
    const ip = canonicalIp(sourceIp) ?? sourceIp;
    return createHmac('sha256', this.key).update(head).update('\0').update(ip).digest().subarray(0, MAC_LEN);
  }

  private checkNonce(nonce: string, sourceIp: string): { ok: true; issuedAt: number } | { ok: false; cause: 'bad_nonce' | 'stale'; detail: string } {
    if (!/^[A-Za-z0-9_-]+$/.test(nonce)) return { ok: false, cause: 'bad_nonce', detail: 'nonce was not issued by this server' };
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES || buf.readUInt8(0) !== NONCE_VERSION) return { ok: false, cause: 'bad_nonce', detail: 'nonce was not issued by this server' };
    const expect = this.mac(buf.subarray(0, 9 + RANDOM_LEN), sourceIp);
    if (!timingSafeEqual(expect, buf.subarray(9 + RANDOM_LEN))) {
      return { ok: false, cause: 'bad_nonce', detail: 'nonce signature invalid or issued to another source IP' };
    }
    const issuedAt = Number(buf.readBigUInt64BE(1));
    const now = this.clock.wallNow();
    if (issuedAt > now + this.skewMs) return { ok: false, cause: 'bad_nonce', detail: 'nonce issued in the future' };
    if (now - issuedAt >= this.lifetimeMs) return { ok: false, cause: 'stale', detail: 'nonce expired' };
    return { ok: true, issuedAt };
  }

  private prune(): void {
    const oldest = this.clock.wallNow() - this.lifetimeMs;
    // Entries are in first-use order, which is close to issue order; stop at the first live one.
    for (const [n, u] of this.uses) {
      if (u.issuedAt > oldest) break;
      this.uses.delete(n);
    }
  }

  private record(nonce: string, nc: number, issuedAt: number): void {
    const u = this.uses.get(nonce);
    if (u) { u.lastNc = nc; return; }
    this.prune();
    while (this.uses.size >= this.maxTracked) {
      const first = this.uses.entries().next();
      if (first.done) break;
      const [n, evicted] = first.value;
      this.uses.delete(n);
      this.evictedWatermark = Math.max(this.evictedWatermark, evicted.issuedAt);
    }
    this.uses.set(nonce, { lastNc: nc, issuedAt });
  }

  verify(input: DigestVerifyInput): DigestVerifyResult {
    const raw = input.params;
    if (!raw || Object.keys(raw).length === 0) return { ok: false, cause: 'missing', detail: 'no Proxy-Authorization credentials' };
    const p: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) p[k.toLowerCase()] = v;
    const username = p.username;
    const fail = (cause: DigestFailureCause, detail: string, stale?: boolean): DigestVerifyResult =>
      ({ ok: false, cause, detail, ...(stale ? { stale: true } : {}), ...(username !== undefined ? { username } : {}) });

    for (const f of ['username', 'realm', 'nonce', 'uri', 'response'] as const) {
      if (!p[f]) return fail('malformed', `digest parameter "${f}" missing`);
    }
    if (p.userhash !== undefined && p.userhash.toLowerCase() !== 'false') return fail('malformed', 'userhash is not supported');
    const algorithm = ALGORITHMS[(p.algorithm ?? 'MD5').toLowerCase()];
    if (!algorithm) return fail('malformed', 'unsupported digest algorithm');
    if (p.qop === undefined) return fail('malformed', 'qop=auth required (RFC 2069 digest is not accepted)');
    if (p.qop.toLowerCase() !== 'auth') return fail('malformed', 'only qop=auth is supported');
    const ncText = p.nc ?? '';
    const cnonce = p.cnonce ?? '';
    if (!NC_RE.test(ncText)) return fail('malformed', 'nc must be 8 hex digits');
    if (!cnonce) return fail('malformed', 'cnonce missing');
    const response = p.response ?? '';
    const hexLen = hashName(algorithm) === 'md5' ? 32 : 64;
    if (response.length !== hexLen || !HEX_RE.test(response)) return fail('malformed', 'response has the wrong length for the algorithm');
    const nc = parseInt(ncText, 16);
    if (nc < 1) return fail('malformed', 'nc must be at least 1');

    if (p.realm !== input.realm) return fail('wrong_realm', 'realm does not match the challenge');
    const uri = p.uri ?? '';
    if (input.requestUri !== undefined) {
      const a = uriTarget(uri); const b = uriTarget(input.requestUri);
      if (a === undefined || b === undefined || a !== b) return fail('malformed', 'digest uri does not match the Request-URI');
    }

    const nonce = p.nonce ?? '';
    const n = this.checkNonce(nonce, input.sourceIp);
    if (!n.ok) return fail(n.cause, n.detail, n.cause === 'stale');
    const prior = this.uses.get(nonce);
    if (!prior && n.issuedAt <= this.evictedWatermark) {
      // Its replay state may have been evicted under load; make the client fetch a new nonce.
      return fail('stale', 'nonce no longer tracked', true);
    }
    // A repeated nc is refused, but with stale=true: a sloppy client re-challenged gets a fresh nonce
    // and succeeds without the user being prompted, while a replayed message gains nothing.
    if (prior && nc <= prior.lastNc) return fail('replay', 'nonce count did not increase', true);

    const identity = `${username}@${input.realm}`;
    const cred = input.lookup(identity);
    if (!input.allowedIdentities.has(identity)) {
      return fail(cred ? 'not_allowed' : 'unknown_user', cred ? 'credential not assigned to this application' : 'unknown user');
    }
    if (!cred) return fail('unknown_user', 'unknown user');
    const ha1 = hashName(algorithm) === 'md5' ? cred.ha1Md5 : cred.ha1Sha256;
    const expected = computeDigestResponse({ algorithm, ha1, nonce, nc: ncText, cnonce, qop: 'auth', method: input.method, uri });
    const ok = timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(response.toLowerCase(), 'latin1'));
    if (!ok) return fail('bad_password', 'digest response does not match');
    this.record(nonce, nc, n.issuedAt);
    return { ok: true, username: username ?? '', identity, algorithm };
  }
}

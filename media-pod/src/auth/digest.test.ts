import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { CredentialHash } from '@sipflow/operator/contract/types';
import { FakeClock } from '../clock.js';
import { DigestAuthenticator, computeDigestResponse, computeHa1, type DigestAlgorithm } from './digest.js';

const REALM = 'sip.example.com';
const PASSWORD = 'Correct-Horse-9';
const cred = (username: string, realm = REALM, password = PASSWORD): CredentialHash => ({
  username, realm, ha1Md5: computeHa1('MD5', username, realm, password), ha1Sha256: computeHa1('SHA-256', username, realm, password),
});
const store = new Map<string, CredentialHash>([['alice@' + REALM, cred('alice')], ['bob@' + REALM, cred('bob')]]);
const lookup = (id: string): CredentialHash | undefined => store.get(id);
const allowed = new Set(['alice@' + REALM]);
const RURI = 'sip:app1@sip.example.com';

/** Parses a challenge header value the way a UA would (quoted and token params). */
function parseChallenge(v: string): Record<string, string> {
  assert.match(v, /^Digest /);
  const out: Record<string, string> = {};
  for (const m of v.slice(7).matchAll(/([a-zA-Z]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g)) out[m[1]!] = m[2] ?? m[3]!;
  return out;
}

/** Computes an Authorization answer from scratch like a real client would (from the password). */
function clientAnswer(challenge: string, o: { username?: string; password?: string; method?: string; uri?: string; nc?: number; cnonce?: string } = {}): Record<string, string> {
  const c = parseChallenge(challenge);
  const alg = (c.algorithm ?? 'MD5') as DigestAlgorithm;
  const H = (s: string): string => createHash(alg.startsWith('SHA-256') ? 'sha256' : 'md5').update(s).digest('hex');
  const username = o.username ?? 'alice';
  const uri = o.uri ?? RURI;
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? randomBytes(8).toString('hex');
  const ha1 = H(`${username}:${c.realm}:${o.password ?? PASSWORD}`);
  const ha2 = H(`${o.method ?? 'INVITE'}:${uri}`);
  const response = H(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return { username, realm: c.realm!, nonce: c.nonce!, uri, response, algorithm: alg, qop: 'auth', nc, cnonce };
}

function setup(opts: ConstructorParameters<typeof DigestAuthenticator>[0] = {}) {
  const clock = new FakeClock();
  const auth = new DigestAuthenticator({ clock, ...opts });
  const verify = (params: Record<string, string> | undefined, sourceIp = '192.0.2.10', method = 'INVITE') =>
    auth.verify({ params, method, sourceIp, realm: REALM, lookup, allowedIdentities: allowed, requestUri: RURI });
  return { clock, auth, verify };
}

test('RFC 7616 §3.9.1 example vectors (MD5 and SHA-256)', () => {
  const base = {
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', nc: '00000001',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', qop: 'auth' as const, method: 'GET', uri: '/dir/index.html',
  };
  const md5 = computeDigestResponse({ ...base, algorithm: 'MD5', ha1: computeHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life') });
  assert.equal(md5, '8ca523f5e9506fed4657c9700eebdbec');
  const sha = computeDigestResponse({ ...base, algorithm: 'SHA-256', ha1: computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life') });
  assert.equal(sha, '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('challenge: MD5 first (UAs that read only the first one), then SHA-256, qop="auth", stale flag', () => {
  const { auth } = setup();
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' });
  assert.equal(ch.length, 2);
  assert.match(ch[0]!, /^Digest realm="sip\.example\.com", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth"$/);
  assert.match(ch[1]!, /algorithm=SHA-256, qop="auth"$/);
  assert.notEqual(parseChallenge(ch[0]!).nonce, auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' }).map(parseChallenge)[0]!.nonce);
  assert.match(auth.challenge({ realm: REALM, sourceIp: '192.0.2.10', stale: true })[0]!, /, stale=true$/);
  assert.match(auth.challenge({ realm: 'a"b', sourceIp: '192.0.2.10' })[0]!, /realm="a\\"b"/);
});

test('end-to-end exchange with SHA-256 and MD5, nc increments on reuse', () => {
  const { auth, verify } = setup();
  // Both header values of one challenge share a nonce, so each algorithm gets its own challenge here.
  for (const i of [0, 1]) {
    const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[i]!;
    const r1 = verify(clientAnswer(ch, { nc: 1 }));
    assert.deepEqual(r1, { ok: true, username: 'alice', identity: 'alice@' + REALM, algorithm: parseChallenge(ch).algorithm });
    assert.equal(verify(clientAnswer(ch, { nc: 2 })).ok, true, 'same nonce, higher nc');
    assert.equal(verify(clientAnswer(ch, { nc: 5, method: 'BYE' }), '192.0.2.10', 'BYE').ok, true);
  }
  assert.equal(auth.trackedNonces(), 2);
});

test('replayed or non-increasing nc is refused (stale so the UA re-challenges)', () => {
  const { auth, verify } = setup();
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!;
  const a = clientAnswer(ch, { nc: 3 });
  assert.equal(verify(a).ok, true);
  const replay = verify(a);
  assert.equal(replay.ok, false);
  assert.equal(!replay.ok && replay.cause, 'replay');
  assert.equal(!replay.ok && replay.stale, true);
  const lower = verify(clientAnswer(ch, { nc: 2 }));
  assert.equal(!lower.ok && lower.cause, 'replay');
  assert.equal(verify(clientAnswer(ch, { nc: 4 })).ok, true);
});

test('a failed attempt does not consume the nc', () => {
  const { auth, verify } = setup();
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!;
  const bad = verify(clientAnswer(ch, { nc: 1, password: 'wrong-Password1' }));
  assert.equal(!bad.ok && bad.cause, 'bad_password');
  assert.equal(verify(clientAnswer(ch, { nc: 1 })).ok, true);
});

test('expired nonce → stale; nonce from another IP or tampered → bad_nonce', () => {
  const { auth, clock, verify } = setup({ nonceLifetimeMs: 60_000 });
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!;
  const other = verify(clientAnswer(ch), '192.0.2.11');
  assert.equal(!other.ok && other.cause, 'bad_nonce');
  assert.equal(verify(clientAnswer(ch), '::ffff:192.0.2.10').ok, true, 'mapped form of the same IP is the same source');
  const n = parseChallenge(ch).nonce!;
  const flipped = n.slice(0, 20) + (n[20] === 'A' ? 'B' : 'A') + n.slice(21);
  const t = verify({ ...clientAnswer(ch, { nc: 7 }), nonce: flipped });
  assert.equal(!t.ok && t.cause, 'bad_nonce');
  assert.equal(!verify({ ...clientAnswer(ch, { nc: 7 }), nonce: 'abc' }).ok, true);
  clock.advance(59_999);
  assert.equal(verify(clientAnswer(ch, { nc: 8 })).ok, true);
  clock.advance(1);
  const stale = verify(clientAnswer(ch, { nc: 9 }));
  assert.deepEqual(stale.ok ? null : [stale.cause, stale.stale], ['stale', true]);
});

test('a nonce signed with another key is refused; a shared key works across instances', () => {
  const key = randomBytes(32);
  const clock = new FakeClock();
  const podA = new DigestAuthenticator({ clock, nonceKey: key });
  const podB = new DigestAuthenticator({ clock, nonceKey: key });
  const podC = new DigestAuthenticator({ clock });
  const ch = podA.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!;
  const input = { method: 'INVITE', sourceIp: '192.0.2.10', realm: REALM, lookup, allowedIdentities: allowed };
  assert.equal(podB.verify({ ...input, params: clientAnswer(ch) }).ok, true);
  const c = podC.verify({ ...input, params: clientAnswer(ch) });
  assert.equal(!c.ok && c.cause, 'bad_nonce');
  assert.throws(() => new DigestAuthenticator({ nonceKey: Buffer.alloc(8) }), /at least 16 bytes/);
});

test('failure causes: missing, malformed, wrong realm, unknown user, not allowed, bad password', () => {
  const { auth, verify } = setup();
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!;
  const cause = (p: Record<string, string> | undefined): string => { const r = verify(p); return r.ok ? 'ok' : r.cause; };
  assert.equal(cause(undefined), 'missing');
  assert.equal(cause({}), 'missing');
  const good = clientAnswer(ch);
  for (const drop of ['username', 'nonce', 'uri', 'response', 'realm', 'nc', 'cnonce', 'qop']) {
    const p = { ...good }; delete p[drop];
    assert.equal(cause(p), 'malformed', `without ${drop}`);
  }
  assert.equal(cause({ ...good, qop: 'auth-int' }), 'malformed');
  assert.equal(cause({ ...good, algorithm: 'SHA-512-256' }), 'malformed');
  assert.equal(cause({ ...good, nc: '1' }), 'malformed');
  assert.equal(cause({ ...good, nc: '00000000' }), 'malformed');
  assert.equal(cause({ ...good, response: good.response!.slice(2) }), 'malformed');
  assert.equal(cause({ ...good, userhash: 'true' }), 'malformed');
  assert.equal(cause(clientAnswer(ch, { uri: 'sip:otherapp@sip.example.com' })), 'malformed');
  assert.equal(cause({ ...clientAnswer(ch), realm: 'other.example' }), 'wrong_realm');
  assert.equal(cause(clientAnswer(ch, { username: 'mallory' })), 'unknown_user');
  assert.equal(cause(clientAnswer(ch, { username: 'bob' })), 'not_allowed');
  assert.equal(cause(clientAnswer(ch, { password: 'Nope-nope-123' })), 'bad_password');
  const r = verify(clientAnswer(ch, { password: 'Nope-nope-123' }));
  assert.ok(!r.ok && r.username === 'alice' && !JSON.stringify(r).includes(good.response!));
  // Loose uri comparison: port, params and host case do not matter; uppercase hex and param names are fine.
  assert.equal(cause(clientAnswer(ch, { uri: 'sip:app1@SIP.example.com:5060;transport=udp', nc: 2 })), 'ok');
  const upper = clientAnswer(ch, { nc: 3 });
  assert.equal(cause({ Username: upper.username!, Realm: upper.realm!, Nonce: upper.nonce!, URI: upper.uri!, Response: upper.response!.toUpperCase(), Algorithm: upper.algorithm!, QOP: 'auth', NC: upper.nc!, CNonce: upper.cnonce! }), 'ok');
});

test('MD5-sess is accepted; absent algorithm means MD5', () => {
  const { auth, verify } = setup();
  const ch = auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' }).find((c) => /algorithm=MD5,/.test(c))!;
  const a = clientAnswer(ch);
  const noAlg = { ...a }; delete noAlg.algorithm;
  assert.equal(verify(noAlg).ok, true);
  const nonce = parseChallenge(ch).nonce!;
  const ha1 = store.get('alice@' + REALM)!.ha1Md5;
  const cnonce = 'c0ffee';
  const response = computeDigestResponse({ algorithm: 'MD5-sess', ha1, nonce, nc: '00000002', cnonce, qop: 'auth', method: 'INVITE', uri: RURI });
  // Check against an independent -sess computation from the password.
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const sessHa1 = md5(`${md5(`alice:${REALM}:${PASSWORD}`)}:${nonce}:${cnonce}`);
  assert.equal(response, md5(`${sessHa1}:${nonce}:00000002:${cnonce}:auth:${md5(`INVITE:${RURI}`)}`));
  assert.equal(verify({ ...a, algorithm: 'MD5-sess', nc: '00000002', cnonce, response }).ok, true);
});

test('replay table is bounded; evicted nonces are refused as stale, not accepted', () => {
  const { auth, clock, verify } = setup({ maxTrackedNonces: 50 });
  const chs = Array.from({ length: 200 }, () => { clock.advance(1); return auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!; });
  const first = clientAnswer(chs[0]!, { nc: 1 });
  assert.equal(verify(first).ok, true);
  for (const ch of chs.slice(1)) assert.equal(verify(clientAnswer(ch)).ok, true);
  assert.ok(auth.trackedNonces() <= 50);
  const again = verify(first);
  assert.equal(!again.ok && again.cause, 'stale', 'replay of an evicted nonce is not accepted');
});

test('expired nonces leave the replay table', () => {
  const { auth, clock, verify } = setup();
  for (let i = 0; i < 20; i++) verify(clientAnswer(auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!));
  assert.equal(auth.trackedNonces(), 20);
  clock.advance(61_000);
  verify(clientAnswer(auth.challenge({ realm: REALM, sourceIp: '192.0.2.10' })[0]!));
  assert.equal(auth.trackedNonces(), 1);
});

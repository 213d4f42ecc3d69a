/**
 * The secret scanner itself: every encoding a secret can leak in is found, findings never carry
 * the value, and derived values (HA1, digest responses) are registered from what tests know.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describeFindings, SecretScanner } from '../support/secret-scan.js';

const PASSWORD = 'p@ss word/+"x"';

test('a password is found raw, URL-encoded, form-encoded, base64 and JSON-escaped; its HA1 in any case', () => {
  const s = new SecretScanner().addPassword({ username: 'amy', realm: 'sip.test', password: PASSWORD });
  const ha1 = createHash('md5').update(`amy:sip.test:${PASSWORD}`).digest('hex');
  const sha = createHash('sha256').update(`amy:sip.test:${PASSWORD}`).digest('hex');
  const texts: Array<[string, string]> = [
    ['raw', `x ${PASSWORD} y`],
    ['url', `?p=${encodeURIComponent(PASSWORD)}`],
    ['form', new URLSearchParams({ p: PASSWORD }).toString()],
    ['base64', Buffer.from(PASSWORD).toString('base64')],
    ['json', JSON.stringify({ p: PASSWORD })],
    ['ha1 upper', ha1.toUpperCase()],
    ['sha', `"${sha}"`],
  ];
  for (const [name, text] of texts) assert.ok(s.scan(name, text).length > 0, `${name} not found`);
  assert.deepEqual(s.scan('clean', 'nothing to see: amy sip.test p@ss'), []);
});

test('digest responses are collected from a trace; findings describe where, never what', () => {
  const s = new SecretScanner();
  const resp = 'a'.repeat(16) + '0123456789abcdef';
  assert.equal(s.addDigestResponsesFrom(`Proxy-Authorization: Digest username="u", response="${resp}", nc=00000001`), 1);
  const f = s.scan('log line 7', `leaked ${resp.toUpperCase()}`);
  assert.equal(f.length, 1);
  assert.equal(f[0]!.source, 'log line 7');
  const report = describeFindings(f);
  assert.match(report, /digest response #1 \(raw\) in log line 7/);
  assert.ok(!report.toLowerCase().includes(resp));
  assert.throws(() => s.add('too short', 'abc'), /shorter than/);
});

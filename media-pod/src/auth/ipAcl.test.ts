import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AclEntry } from '@sipflow/operator/contract/types';
import { IpAclMatcher, InvalidAclEntryError } from './ipAcl.js';
import { parseIp, canonicalIp } from './ipAddress.js';

const e = (ip: string, prefix: number, source = 'ns/acl'): AclEntry => ({ ip, prefix, source });

test('parseIp: IPv4, IPv6 forms, mapped IPv4 folding, rejects junk', () => {
  assert.deepEqual(parseIp('10.1.2.3'), { family: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp('::ffff:10.1.2.3'), { family: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp('::FFFF:0a01:0203'), { family: 4, value: 0x0a010203n });
  assert.deepEqual(parseIp('::1'), { family: 6, value: 1n });
  assert.deepEqual(parseIp('[2001:db8::1]'), { family: 6, value: (0x20010db8n << 96n) | 1n });
  assert.deepEqual(parseIp('fe80::1%eth0'), { family: 6, value: (0xfe80n << 112n) | 1n });
  assert.equal(parseIp('64:ff9b::192.0.2.33')?.value, (0x64ff9bn << 96n) | 0xc0000221n);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', 'example.com', '1.2.3.4/8', ':::']) {
    assert.equal(parseIp(bad), undefined, bad);
  }
  assert.equal(canonicalIp('2001:0DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canonicalIp('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(canonicalIp('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
});

test('IpAclMatcher: IPv4 and IPv6 prefixes, most specific entry reported', () => {
  const m = new IpAclMatcher([e('10.0.0.0', 8, 'ns/wide'), e('10.1.2.0', 24, 'ns/narrow'), e('2001:db8::', 32), e('192.0.2.7', 32)]);
  assert.equal(m.match('10.1.2.99')?.source, 'ns/narrow');
  assert.equal(m.match('10.200.0.1')?.source, 'ns/wide');
  assert.ok(m.matches('192.0.2.7'));
  assert.ok(!m.matches('192.0.2.8'));
  assert.ok(!m.matches('11.0.0.1'));
  assert.ok(m.matches('2001:db8:ffff::1'));
  assert.ok(!m.matches('2001:db9::1'));
  assert.ok(m.matches('::ffff:10.9.9.9'), 'IPv4-mapped source matches an IPv4 entry');
  assert.ok(!m.matches('not-an-ip'));
  assert.ok(!m.matches('::a00:1'), 'IPv4-compatible (not mapped) IPv6 is not IPv4');
  assert.deepEqual(m.describe().sort(), ['10.0.0.0/8', '10.1.2.0/24', '192.0.2.7/32', '2001:db8::/32'].sort());
});

test('IpAclMatcher: mapped-IPv6 entries, /0, host bits masked', () => {
  const m = new IpAclMatcher([e('::ffff:172.16.0.0', 108), e('198.51.100.77', 24)]);
  assert.ok(m.matches('172.16.5.5'));
  assert.ok(m.matches('::ffff:172.31.255.255'));
  assert.ok(!m.matches('172.32.0.0'));
  assert.ok(m.matches('198.51.100.1'));
  const any4 = new IpAclMatcher([e('0.0.0.0', 0)]);
  assert.ok(any4.matches('203.0.113.1'));
  assert.ok(!any4.matches('::1'), 'an IPv4 /0 does not admit IPv6');
  assert.ok(new IpAclMatcher([e('::', 0)]).matches('2001:db8::5'));
  assert.ok(!new IpAclMatcher([]).matches('127.0.0.1'));
});

test('IpAclMatcher: invalid entries are rejected with context', () => {
  const cases: Array<[AclEntry, RegExp]> = [
    [e('10.0.0.300', 8, 'prod/carriers'), /10\.0\.0\.300\/8.*prod\/carriers.*not an IPv4 or IPv6/],
    [e('10.0.0.0', 33), /prefix length must be 0\.\.32/],
    [e('2001:db8::', 129), /0\.\.128/],
    [e('10.0.0.0', 8.5), /integer/],
    [e('::ffff:1.2.3.4', 64), /96\.\.128/],
    [e('host.example', 32), /not an IPv4/],
  ];
  for (const [entry, re] of cases) {
    assert.throws(() => new IpAclMatcher([entry]), (err: unknown) => err instanceof InvalidAclEntryError && re.test(err.message));
  }
});

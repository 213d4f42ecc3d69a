import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import { LockoutTable } from './lockout.js';

test('locks out after exactly 10 failures within 60 s, recovers after 60 s', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock });
  for (let i = 1; i <= 9; i++) {
    assert.equal(t.recordFailure('203.0.113.5'), false);
    clock.advance(1000);
  }
  assert.equal(t.isLockedOut('203.0.113.5'), false, 'not locked after 9');
  assert.equal(t.recordFailure('203.0.113.5'), true, '10th failure locks');
  assert.equal(t.isLockedOut('203.0.113.5'), true);
  assert.equal(t.isLockedOut('::ffff:203.0.113.5'), true, 'mapped form is the same source');
  assert.equal(t.isLockedOut('203.0.113.6'), false, 'other sources unaffected');
  assert.equal(t.remainingMs('203.0.113.5'), 60_000);
  assert.equal(t.stats().locked, 1);
  clock.advance(59_999);
  assert.equal(t.isLockedOut('203.0.113.5'), true);
  clock.advance(1);
  assert.equal(t.isLockedOut('203.0.113.5'), false, 'lockout ends after 60 s');
  assert.equal(t.stats().locked, 0);
  assert.equal(t.recordFailure('203.0.113.5'), false, 'history was cleared by the lockout');
});

test('sliding window: 10 failures spread over more than 60 s do not lock', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock });
  for (let i = 0; i < 30; i++) {
    assert.equal(t.recordFailure('198.51.100.1'), false, `failure ${i}`);
    clock.advance(6_700); // 10 failures span 60.3 s
  }
  // Exactly at the boundary: the 10th at 59.999 s after the 1st locks.
  const t2 = new LockoutTable({ clock, windowMs: 60_000 });
  for (let i = 0; i < 9; i++) { t2.recordFailure('198.51.100.2'); clock.advance(6_666); }
  clock.advance(59_999 - 9 * 6_666);
  assert.equal(t2.recordFailure('198.51.100.2'), true);
});

test('failures during a lockout neither count nor extend it', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock, threshold: 3, windowMs: 1000, lockoutMs: 5000 });
  t.recordFailure('192.0.2.1'); t.recordFailure('192.0.2.1');
  assert.equal(t.recordFailure('192.0.2.1'), true);
  clock.advance(4000);
  assert.equal(t.recordFailure('192.0.2.1'), false);
  clock.advance(1000);
  assert.equal(t.isLockedOut('192.0.2.1'), false);
  assert.equal(t.stats().lockoutsTotal, 1);
});

test('IPv6 sources are grouped by /64 (configurable)', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock, threshold: 2 });
  t.recordFailure('2001:db8:1:2::a');
  assert.equal(t.recordFailure('2001:db8:1:2:ffff::b'), true);
  assert.equal(t.isLockedOut('2001:db8:1:2::1234'), true);
  assert.equal(t.isLockedOut('2001:db8:1:3::1'), false);
  const per = new LockoutTable({ clock, threshold: 2, ipv6PrefixLength: 128 });
  per.recordFailure('2001:db8::a');
  assert.equal(per.recordFailure('2001:db8::b'), false);
});

test('a flood of 1e5 distinct sources keeps the table within its cap and keeps locked sources', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock, threshold: 2, maxTracked: 1000 });
  t.recordFailure('192.0.2.200');
  t.recordFailure('192.0.2.200');
  assert.ok(t.isLockedOut('192.0.2.200'));
  let max = 0;
  for (let i = 0; i < 100_000; i++) {
    t.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    if (t.size() > max) max = t.size();
  }
  assert.ok(max <= 1000, `size peaked at ${max}`);
  assert.equal(t.size(), 1000);
  assert.ok(t.isLockedOut('192.0.2.200'), 'locked source survived the flood');
  assert.ok(t.stats().evictedTotal >= 99_000);
});

test('flood of sources that all lock: still bounded, oldest locks evicted first', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock, threshold: 1, maxTracked: 100 });
  for (let i = 0; i < 1000; i++) { t.recordFailure(`10.0.${i >> 8}.${i & 255}`); clock.advance(1); }
  assert.equal(t.size(), 100);
  assert.equal(t.isLockedOut('10.0.0.0'), false);
  assert.equal(t.isLockedOut('10.0.3.231'), true); // i = 999
});

test('idle sources are swept after the window', () => {
  const clock = new FakeClock();
  const t = new LockoutTable({ clock });
  for (let i = 0; i < 50; i++) t.recordFailure(`10.0.0.${i}`);
  assert.equal(t.size(), 50);
  clock.advance(60_000);
  assert.equal(t.stats().tracked, 0);
});

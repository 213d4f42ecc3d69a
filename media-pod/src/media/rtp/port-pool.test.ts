import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock.js';
import { RtpPortPool, RtpPortPoolError } from './port-pool.js';

test('allocates even ports only, with RTCP reserved as +1, until exhausted', () => {
  const pool = new RtpPortPool(10001, 10010, { clock: new FakeClock() });
  assert.equal(pool.capacity, 4); // 10002, 10004, 10006, 10008 (10010 has no 10011)
  const got = [];
  for (;;) { const a = pool.allocate(); if (!a) break; got.push(a); }
  assert.deepEqual(got.map((a) => a.rtpPort), [10002, 10004, 10006, 10008]);
  assert.ok(got.every((a) => a.rtcpPort === a.rtpPort + 1));
  assert.equal(pool.inUse, 4);
});

test('released ports stay in quarantine for quarantineMs and then come back LRU-first', () => {
  const clock = new FakeClock();
  const pool = new RtpPortPool(20000, 20005, { quarantineMs: 5000, clock });
  const a = pool.allocate()!; const b = pool.allocate()!; const c = pool.allocate()!;
  assert.equal(pool.allocate(), null);
  pool.release(b.rtpPort);
  clock.advance(1000);
  pool.release(a.rtpPort);
  assert.equal(pool.quarantined, 2);
  assert.equal(pool.allocate(), null, 'nothing is free during quarantine');
  clock.advance(3999); // b quarantined for 4999 ms
  assert.equal(pool.allocate(), null);
  clock.advance(1);
  assert.equal(pool.allocate()?.rtpPort, b.rtpPort);
  assert.equal(pool.allocate(), null, 'a is still in quarantine');
  clock.advance(1000);
  assert.equal(pool.allocate()?.rtpPort, a.rtpPort);
  assert.ok(pool.isAllocated(c.rtpPort));
});

test('misuse is an error with context', () => {
  assert.throws(() => new RtpPortPool(500, 600), RtpPortPoolError);
  assert.throws(() => new RtpPortPool(30000, 30000), RtpPortPoolError);
  const pool = new RtpPortPool(30000, 30010, { clock: new FakeClock() });
  assert.throws(() => pool.release(30000), /not allocated/);
  assert.throws(() => pool.release(30001), /not an RTP port/);
  const a = pool.allocate()!;
  pool.release(a.rtpPort);
  assert.throws(() => pool.release(a.rtpPort), /not allocated/);
});

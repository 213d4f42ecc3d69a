import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import { PcmCache } from './pcm-cache.js';

const pcm = (n: number): Int16Array => new Int16Array(n);

test('evicts least recently used entries to stay within the sample budget', () => {
  const c = new PcmCache({ maxTotalSamples: 1000 });
  c.set('a', pcm(400));
  c.set('b', pcm(400));
  assert.ok(c.get('a')); // a is now most recent
  c.set('c', pcm(400)); // 1200 > 1000: evict b
  assert.equal(c.get('b'), undefined);
  assert.ok(c.get('a'));
  assert.ok(c.get('c'));
  assert.equal(c.totalSamples, 800);
  assert.equal(c.set('huge', pcm(1001)), false);
  assert.equal(c.totalSamples, 800);
  c.set('a', pcm(100)); // replacing re-accounts
  assert.equal(c.totalSamples, 500);
  assert.equal(c.hits, 3);
  assert.equal(c.misses, 1);
});

test('entries expire after maxAgeMs on the injected clock', () => {
  const clock = new FakeClock();
  const c = new PcmCache({ maxTotalSamples: 1000, maxAgeMs: 60_000, clock });
  c.set('a', pcm(10));
  clock.advance(60_000);
  assert.ok(c.get('a'));
  clock.advance(1);
  assert.equal(c.get('a'), undefined);
  assert.equal(c.size, 0);
  assert.equal(c.totalSamples, 0);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { GC_PAUSE_BUCKETS_SECONDS, MediaMetrics } from './metrics.js';

test('garbage-collector pauses are exported in buckets fine enough to tell a 1 ms scavenge from a 4 ms one', async () => {
  const metrics = new MediaMetrics();
  let keep: unknown[] = [];
  let text = '';
  // Enough short-lived garbage for several scavenges; prom-client's observer reports them a little later.
  for (let round = 0; round < 40 && !/kind="minor"/.test(text); round++) {
    for (let i = 0; i < 200_000; i++) keep.push({ i, s: `x${i}` });
    keep = [];
    await sleep(25);
    text = await metrics.registry.metrics();
  }
  const minor = text.split('\n').filter((l) => l.startsWith('sipflow_media_nodejs_gc_duration_seconds_bucket{') && l.includes('kind="minor"'));
  const les = minor.map((l) => /le="([^"]+)"/.exec(l)![1]).filter((le) => le !== '+Inf').map(Number);
  assert.deepEqual(les, GC_PAUSE_BUCKETS_SECONDS, text.slice(0, 2000));
  const count = Number(/sipflow_media_nodejs_gc_duration_seconds_count\{kind="minor"\} (\d+)/.exec(text)?.[1]);
  assert.ok(count > 0, 'the scavenges were counted');
});

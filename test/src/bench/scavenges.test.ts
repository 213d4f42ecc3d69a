/**
 * The media benchmark's scavenge columns: parsed from a real MediaMetrics registry, and the
 * difference between two snapshots.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { GC_PAUSE_BUCKETS_SECONDS, MediaMetrics } from '@sipflow/media-pod/observability/metrics';
import { repoRoot } from '../support/repo.js';

interface Snapshot { buckets: { le: number; count: number }[]; sum: number; count: number }
interface Between { perSec: number; meanMs: number; maxLeMs: number }
interface MediaBench {
  parseScavenges(text: string): Snapshot;
  scavengesBetween(a: Snapshot, b: Snapshot, seconds: number): Between;
}

const load = async (): Promise<MediaBench> => await import(pathToFileURL(path.join(repoRoot(), 'bench', 'media.mjs')).href) as MediaBench;

test('two snapshots of the histogram give the rate, the mean pause and the bucket the longest fits under', async () => {
  const { parseScavenges, scavengesBetween } = await load();
  const text = (c: number[], sum: number, count: number, major = 0): string => [
    '# HELP sipflow_media_nodejs_gc_duration_seconds Garbage collection duration by kind.',
    ...['0.001', '0.002', '0.004'].map((le, i) => `sipflow_media_nodejs_gc_duration_seconds_bucket{le="${le}",kind="minor"} ${c[i]}`),
    `sipflow_media_nodejs_gc_duration_seconds_bucket{le="+Inf",kind="minor"} ${count}`,
    `sipflow_media_nodejs_gc_duration_seconds_sum{kind="minor"} ${sum}`,
    `sipflow_media_nodejs_gc_duration_seconds_count{kind="minor"} ${count}`,
    `sipflow_media_nodejs_gc_duration_seconds_bucket{le="0.001",kind="major"} ${major}`,
    `sipflow_media_nodejs_gc_duration_seconds_count{kind="major"} ${major}`,
  ].join('\n');
  const a = parseScavenges(text([2, 5, 5], 0.006, 5, 1));
  assert.deepEqual(a, { buckets: [{ le: 0.001, count: 2 }, { le: 0.002, count: 5 }, { le: 0.004, count: 5 }], sum: 0.006, count: 5 }, 'major collections are not scavenges');
  // Four more in 2 s: one under 1 ms, two under 2 ms, one between 2 and 4 ms; 7.2 ms in all.
  const b = parseScavenges(text([3, 7, 9], 0.0132, 9, 3));
  const d = scavengesBetween(a, b, 2);
  assert.equal(d.perSec, 2);
  assert.ok(Math.abs(d.meanMs - 1.8) < 1e-9, String(d.meanMs));
  assert.equal(d.maxLeMs, 4);
  assert.deepEqual(scavengesBetween(b, b, 2), { perSec: 0, meanMs: 0, maxLeMs: 0 });
  const past = parseScavenges(text([3, 7, 9], 0.1, 10));
  assert.equal(scavengesBetween(b, past, 1).maxLeMs, Infinity, 'one longer than the last bucket');
});

test('a real pod registry parses, with the pod\'s buckets, and counts the scavenges it saw', async () => {
  const { parseScavenges, scavengesBetween } = await load();
  const metrics = new MediaMetrics();
  const churn = async (): Promise<void> => {
    let keep: unknown[] = [];
    for (let i = 0; i < 300_000; i++) keep.push({ i, s: `y${i}` });
    keep = [];
    await sleep(50);
  };
  let first = parseScavenges(await metrics.registry.metrics());
  for (let i = 0; i < 40 && first.count === 0; i++) { await churn(); first = parseScavenges(await metrics.registry.metrics()); }
  assert.ok(first.count > 0);
  assert.deepEqual(first.buckets.map((x) => x.le), GC_PAUSE_BUCKETS_SECONDS);
  let second = first;
  for (let i = 0; i < 40 && second.count === first.count; i++) { await churn(); second = parseScavenges(await metrics.registry.metrics()); }
  const d = scavengesBetween(first, second, 1);
  assert.equal(d.perSec, second.count - first.count);
  assert.ok(d.meanMs > 0);
  assert.ok(d.maxLeMs === Infinity || GC_PAUSE_BUCKETS_SECONDS.includes(d.maxLeMs / 1000), String(d.maxLeMs));
  assert.ok(d.maxLeMs >= d.meanMs, `the longest (≤ ${d.maxLeMs}) is at least the mean (${d.meanMs})`);
});

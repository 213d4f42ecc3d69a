import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './clock.js';
import { ExponentialBackoff, TokenBucket, WorkQueue, type WorkQueueMetrics } from './workqueue.js';

function recorder(): WorkQueueMetrics & { adds: number; retries: number; depths: number[] } {
  const m = {
    adds: 0, retries: 0, depths: [] as number[],
    depth(_n: string, d: number) { m.depths.push(d); },
    add() { m.adds++; },
    retry() { m.retries++; },
    queueDuration() {},
  };
  return m;
}

describe('WorkQueue', () => {
  it('deduplicates keys that are waiting', async () => {
    const metrics = recorder();
    const q = new WorkQueue<string>({ name: 't', clock: new FakeClock(), metrics });
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    assert.equal(metrics.adds, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
  });

  it('never hands out a key that is being processed; a re-add comes back after done', async () => {
    const q = new WorkQueue<string>({ name: 't', clock: new FakeClock() });
    q.add('a');
    const k = await q.get();
    assert.equal(k, 'a');
    q.add('a');
    assert.equal(q.length, 0, 'a dirty key being processed is not queued twice');
    let second: string | undefined;
    const waiting = q.get().then((x) => { second = x; });
    await new Promise((r) => setImmediate(r));
    assert.equal(second, undefined, 'no worker may take a while it is processed');
    q.done('a');
    await waiting;
    assert.equal(second, 'a', 'the dirty key is re-queued on done');
    q.done('a');
    assert.equal(q.length, 0);
  });

  it('a key added twice while processing comes back once', async () => {
    const q = new WorkQueue<string>({ name: 't', clock: new FakeClock() });
    q.add('a');
    await q.get();
    q.add('a');
    q.add('a');
    q.done('a');
    assert.equal(q.length, 1);
  });

  it('backs off per key exponentially from 5 ms to the 1000 s cap, and forget resets', () => {
    const b = new ExponentialBackoff<string>(5, 1_000_000);
    const seen = Array.from({ length: 20 }, () => b.when('k'));
    assert.deepEqual(seen.slice(0, 5), [5, 10, 20, 40, 80]);
    assert.equal(seen[18], 1_000_000);
    assert.equal(b.when('other'), 5, 'keys back off independently');
    b.forget('k');
    assert.equal(b.when('k'), 5);
  });

  it('addRateLimited delays by the per-key backoff on a fake clock', async () => {
    const clock = new FakeClock();
    const metrics = recorder();
    const q = new WorkQueue<string>({ name: 't', clock, metrics });
    q.addRateLimited('a');
    q.addRateLimited('a'); // second failure: 10 ms; the earlier 5 ms deadline wins
    assert.equal(q.length, 0);
    clock.advance(4);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1);
    assert.equal(metrics.retries, 2);
    assert.equal(q.numRequeues('a'), 2);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
  });

  it('addAfter keeps the earliest deadline for a key', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ name: 't', clock });
    q.addAfter('a', 100);
    q.addAfter('a', 50);
    q.addAfter('a', 500);
    assert.equal(q.delayedCount, 1);
    clock.advance(50);
    assert.equal(q.length, 1);
    clock.advance(1000);
    assert.equal(q.length, 1, 'the later deadlines were dropped, not queued again');
  });

  it('the token bucket admits a burst, then paces at qps', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, 3, clock);
    assert.deepEqual([bucket.reserve(), bucket.reserve(), bucket.reserve()], [0, 0, 0]);
    assert.equal(bucket.reserve(), 100);
    assert.equal(bucket.reserve(), 200);
    clock.advance(1000);
    // 10 tokens refilled, capped at the burst of 3, minus the 2 borrowed.
    assert.equal(bucket.reserve(), 0);
  });

  it('rate-limited adds across keys are paced by the overall bucket', () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ name: 't', clock, qps: 10, burst: 2, baseDelayMs: 1 });
    for (const k of ['a', 'b', 'c', 'd']) q.addRateLimited(k);
    clock.advance(1);
    assert.equal(q.length, 2, 'the burst passes after the 1 ms per-key delay');
    clock.advance(99);
    assert.equal(q.length, 3);
    clock.advance(100);
    assert.equal(q.length, 4);
  });

  it('shutDown drains queued keys, then releases workers with undefined', async () => {
    const q = new WorkQueue<string>({ name: 't', clock: new FakeClock() });
    q.add('a');
    const idle = q.get();
    assert.equal(await idle, 'a');
    const waiter = q.get();
    q.add('b');
    assert.equal(await waiter, 'b');
    q.add('c');
    q.shutDown();
    q.add('d');
    assert.equal(await q.get(), 'c', 'keys queued before shutdown are still handed out');
    assert.equal(await q.get(), undefined);
  });

  it('shutDownWithDrain waits for in-flight keys, bounded by its timeout', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ name: 't', clock });
    q.add('a');
    await q.get();
    let drained: boolean | undefined;
    const p = q.shutDownWithDrain(1000).then((d) => { drained = d; });
    await new Promise((r) => setImmediate(r));
    assert.equal(drained, undefined);
    q.done('a');
    await p;
    assert.equal(drained, true);

    const q2 = new WorkQueue<string>({ name: 't2', clock });
    q2.add('x');
    await q2.get();
    const p2 = q2.shutDownWithDrain(1000);
    clock.advance(1000);
    assert.equal(await p2, false, 'a stuck key does not block shutdown forever');
  });
});

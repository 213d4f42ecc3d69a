import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, setLogSink } from '../log.js';
import { FakeClock } from './clock.js';
import { EventRecorder, type EventOutcome, type EventSink, type EventTarget } from './events.js';

const lines: string[] = [];
setLogSink((l) => lines.push(l));
const logger = createLogger('test');

/** A sink whose creates stay pending until the test settles them. */
class HeldSink implements EventSink {
  readonly calls: { namespace: string; body: Record<string, unknown>; settle: (err?: Error) => void }[] = [];
  create(namespace: string, body: Record<string, unknown>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({ namespace, body, settle: (err) => (err ? reject(err) : resolve()) });
    });
  }
}

function target(i: number): EventTarget {
  return { apiVersion: 'sipflow.io/v1alpha1', kind: 'SipApplication', namespace: 'team', name: `app-${i}`, uid: `u-${i}` };
}
const READY = { type: 'Normal' as const, reason: 'Ready', action: 'Reconcile', note: 'serving' };
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function counter(): { counts: Record<string, number>; event(o: EventOutcome, n?: number): void } {
  const counts: Record<string, number> = {};
  return { counts, event(o, n = 1) { counts[o] = (counts[o] ?? 0) + n; } };
}

describe('EventRecorder', () => {
  it('returns at once, sends in the background, at most `concurrency` at a time', async () => {
    const sink = new HeldSink();
    const clock = new FakeClock();
    const rec = new EventRecorder({ sink, reportingInstance: 'pod-1', logger, clock, concurrency: 2, qps: 1000, burst: 1000 });
    for (let i = 0; i < 5; i++) rec.record(target(i), READY);
    assert.equal(sink.calls.length, 2, 'two in flight, the rest queued');
    assert.equal(rec.queued, 3);
    const first = sink.calls[0];
    assert.equal(first?.namespace, 'team');
    assert.equal((first?.body.regarding as { name: string }).name, 'app-0');
    assert.equal(first?.body.reportingInstance, 'pod-1');
    assert.equal(first?.body.reason, 'Ready');
    first?.settle();
    await flush();
    assert.equal(sink.calls.length, 3, 'a finished send makes room for the next');
    for (const c of sink.calls.slice(1)) c.settle();
    await flush();
    for (const c of sink.calls.slice(3)) c.settle();
    await rec.whenIdle();
    assert.equal(sink.calls.length, 5);
    assert.deepEqual(sink.calls.map((c) => (c.body.regarding as { name: string }).name), ['app-0', 'app-1', 'app-2', 'app-3', 'app-4'], 'in order');
  });

  it('drops new events beyond maxQueued, counts them and warns once per interval', async () => {
    lines.length = 0;
    const sink = new HeldSink();
    const clock = new FakeClock();
    const metrics = counter();
    const rec = new EventRecorder({ sink, reportingInstance: 'p', logger, clock, metrics, concurrency: 1, maxQueued: 3, qps: 1000, burst: 1000, dropLogIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) rec.record(target(i), READY);
    // One taken by the sender, three queued, six dropped.
    assert.equal(sink.calls.length, 1);
    assert.equal(rec.queued, 3);
    assert.equal(metrics.counts.dropped, 6);
    const warnings = lines.filter((l) => l.includes('events dropped'));
    assert.equal(warnings.length, 1, 'one warning, not one per event');
    assert.match(warnings[0] ?? '', /"dropped":1\b/);
    clock.advance(60_000);
    rec.record(target(99), READY);
    const later = lines.filter((l) => l.includes('events dropped'));
    assert.equal(later.length, 2);
    assert.match(later[1] ?? '', /"dropped":6\b/, 'the next warning reports what was dropped since the last one');
    assert.equal(rec.clear(), 3);
    sink.calls[0]?.settle();
    await rec.whenIdle();
    assert.equal(sink.calls.length, 1, 'cleared events are never sent');
  });

  it('folds an identical pending event about the same object into the queued one', async () => {
    const sink = new HeldSink();
    const metrics = counter();
    const rec = new EventRecorder({ sink, reportingInstance: 'p', logger, clock: new FakeClock(), metrics, concurrency: 1, qps: 1000, burst: 1000 });
    rec.record(target(1), READY);
    rec.record(target(2), READY);
    rec.record(target(2), { ...READY, note: 'serving again' });
    rec.record(target(2), { ...READY, type: 'Warning', reason: 'IpAclNotFound', note: 'not ready' });
    assert.equal(rec.queued, 2);
    assert.equal(metrics.counts.folded, 1);
    sink.calls[0]?.settle();
    await flush();
    assert.equal(sink.calls[1]?.body.note, 'serving again');
    sink.calls[1]?.settle();
    await flush();
    sink.calls[2]?.settle();
    await rec.whenIdle();
    assert.deepEqual(sink.calls.map((c) => c.body.reason), ['Ready', 'Ready', 'IpAclNotFound']);
  });

  it('spends a token bucket: a burst at once, then qps, driven by the clock', async () => {
    const sink = new HeldSink();
    const clock = new FakeClock();
    const rec = new EventRecorder({ sink, reportingInstance: 'p', logger, clock, concurrency: 10, qps: 2, burst: 3 });
    for (let i = 0; i < 6; i++) rec.record(target(i), READY);
    assert.equal(sink.calls.length, 3, 'the burst goes out at once');
    for (const c of sink.calls) c.settle();
    await flush();
    assert.equal(sink.calls.length, 3, 'then it waits for tokens');
    clock.advance(499);
    assert.equal(sink.calls.length, 3);
    clock.advance(1);
    assert.equal(sink.calls.length, 4, 'one every 500 ms at 2/s');
    clock.advance(1000);
    assert.equal(sink.calls.length, 6);
    for (const c of sink.calls) c.settle();
    await rec.whenIdle();
  });

  it('logs a failed send and carries on; record never throws', async () => {
    lines.length = 0;
    const sink = new HeldSink();
    const metrics = counter();
    const rec = new EventRecorder({ sink, reportingInstance: 'p', logger, clock: new FakeClock(), metrics, concurrency: 1, qps: 1000, burst: 1000 });
    rec.record(target(1), READY);
    rec.record(target(2), READY);
    sink.calls[0]?.settle(new Error('HTTP 429 too many requests'));
    await flush();
    sink.calls[1]?.settle();
    await rec.whenIdle();
    assert.equal(metrics.counts.failed, 1);
    assert.equal(metrics.counts.sent, 1);
    assert.ok(lines.some((l) => l.includes('could not record event') && l.includes('app-1')));
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, setLogSink } from '../log.js';
import { FakeClock } from './clock.js';
import { LeaderElector, LeaseConflictError, type LeaseClient, type LeaseRecord } from './leader.js';

setLogSink(() => {});
const logger = createLogger('test');

/** An in-memory Lease with the API server's optimistic concurrency, plus scripted faults. */
class FakeLeaseApi {
  lease: LeaseRecord | undefined;
  private rv = 0;
  calls: string[] = [];
  /** Next calls fail with these (consumed in order); 'conflict' = 409. */
  faults: ('ok' | 'conflict' | 'down')[] = [];

  client(): LeaseClient {
    const fault = (): void => {
      const f = this.faults.shift();
      if (f === 'conflict') throw new LeaseConflictError('scripted');
      if (f === 'down') throw new Error('connect ECONNREFUSED');
    };
    return {
      get: async () => {
        this.calls.push('get');
        fault();
        return this.lease ? { ...this.lease } : undefined;
      },
      create: async (rec) => {
        this.calls.push(`create ${rec.holderIdentity}`);
        fault();
        if (this.lease) throw new LeaseConflictError('create');
        this.lease = { ...rec, resourceVersion: String(++this.rv) };
        return { ...this.lease };
      },
      replace: async (rec) => {
        this.calls.push(`replace ${rec.holderIdentity || '<empty>'}`);
        fault();
        if (!this.lease || rec.resourceVersion !== this.lease.resourceVersion) throw new LeaseConflictError('replace');
        this.lease = { ...rec, resourceVersion: String(++this.rv) };
        return { ...this.lease };
      },
    };
  }

  /** Another process writes the Lease (renews or takes it). */
  writeAs(holder: string): void {
    this.lease = { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: this.lease?.leaseTransitions ?? 0, resourceVersion: String(++this.rv) };
  }
}

function elector(api: FakeLeaseApi, clock: FakeClock, identity: string, log: string[]): LeaderElector {
  return new LeaderElector({
    client: api.client(), identity, logger, clock,
    onStartedLeading: () => log.push(`${identity} started`),
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
}

describe('LeaderElector', () => {
  it('creates the Lease when there is none and leads', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    const a = elector(api, clock, 'a', log);
    await a.tick();
    assert.equal(a.isLeader(), true);
    assert.deepEqual(log, ['a started']);
    assert.equal(api.lease?.holderIdentity, 'a');
    assert.equal(api.lease?.leaseDurationSeconds, 15);
    assert.match(api.lease?.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime with six digits');
  });

  it('renews by replacing at the resourceVersion it read', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const a = elector(api, clock, 'a', []);
    await a.tick();
    const rv = api.lease?.resourceVersion;
    clock.advance(2000);
    await a.tick();
    assert.deepEqual(api.calls, ['get', 'create a', 'get', 'replace a']);
    assert.notEqual(api.lease?.resourceVersion, rv);
    assert.equal(api.lease?.leaseTransitions, 0, 'renewing is not a transition');
    assert.equal(a.isLeader(), true);
  });

  it('loses leadership at once on a 409', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    const a = elector(api, clock, 'a', log);
    await a.tick();
    clock.advance(2000);
    api.faults = ['ok', 'conflict']; // the GET succeeds, the replace finds a newer resourceVersion
    await a.tick();
    assert.equal(a.isLeader(), false);
    assert.deepEqual(log, ['a started', 'a stopped']);
    assert.deepEqual(api.calls.slice(-2), ['get', 'replace a']);
  });

  it('does not take a Lease another holder keeps renewing, and judges expiry by local observation', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    api.writeAs('other');
    // The other holder's renewTime says "long ago" on its own clock; that must not matter.
    if (api.lease) api.lease.renewTime = '2000-01-01T00:00:00.000000Z';
    const b = elector(api, clock, 'b', log);
    await b.tick();
    assert.equal(b.isLeader(), false, 'first observation starts the local expiry clock');
    clock.advance(14_000);
    await b.tick();
    assert.equal(b.isLeader(), false, '14 s after first seeing it, the lease is still valid');
    api.writeAs('other'); // the holder renews
    clock.advance(2_000);
    await b.tick();
    clock.advance(14_000);
    await b.tick();
    assert.equal(b.isLeader(), false, 'the renewal restarted the local clock');
    clock.advance(1_001);
    await b.tick();
    assert.equal(b.isLeader(), true, 'no change seen for more than 15 s: expired, taken');
    assert.equal(api.lease?.holderIdentity, 'b');
    assert.equal(api.lease?.leaseTransitions, 1);
    assert.deepEqual(log, ['b started']);
  });

  it('steps down when another holder took the Lease', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    const a = elector(api, clock, 'a', log);
    await a.tick();
    api.writeAs('intruder');
    clock.advance(2000);
    await a.tick();
    assert.equal(a.isLeader(), false);
    assert.deepEqual(log, ['a started', 'a stopped']);
  });

  it('steps down when renewals fail past the renew deadline, not before', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    const a = elector(api, clock, 'a', log);
    await a.tick();
    api.faults = Array(10).fill('down') as 'down'[];
    for (let i = 0; i < 5; i++) {
      clock.advance(2000);
      await a.tick();
    }
    assert.equal(a.isLeader(), true, 'exactly 10 s without renewal is still within the deadline');
    assert.equal(a.healthy(), true);
    clock.advance(1);
    await a.tick();
    assert.equal(a.isLeader(), false);
    assert.deepEqual(log, ['a started', 'a stopped']);
  });

  it('releases the Lease on stop so a standby takes over without waiting for expiry', async () => {
    const api = new FakeLeaseApi();
    const clock = new FakeClock();
    const log: string[] = [];
    const a = elector(api, clock, 'a', log);
    const b = elector(api, clock, 'b', log);
    await a.tick();
    await b.tick();
    assert.equal(b.isLeader(), false);
    await a.stop();
    assert.equal(api.lease?.holderIdentity, '');
    assert.equal(api.lease?.leaseDurationSeconds, 1);
    clock.advance(2000);
    await b.tick();
    assert.equal(b.isLeader(), true, 'an empty holder is free at once');
    assert.deepEqual(log, ['a started', 'a stopped', 'b started']);
    await b.stop({ release: false });
    assert.equal(api.lease?.holderIdentity, 'b', 'release: false leaves the lease to expire');
  });

  it('rejects timings where the deadline is not below the lease duration', () => {
    const api = new FakeLeaseApi();
    assert.throws(() => new LeaderElector({ client: api.client(), identity: 'x', logger, leaseDurationMs: 10_000, renewDeadlineMs: 10_000, onStartedLeading() {}, onStoppedLeading() {} }), RangeError);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../clock.js';
import { MediaClock, type PacedStream } from './media-clock.js';

function counter(): PacedStream & { ticks: number[] } {
  const s = { ticks: [] as number[], onTick(now: number) { s.ticks.push(now); } };
  return s;
}

test('one timer drives all streams every 20 ms, starting with the first stream', () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const a = counter(); const b = counter();
  assert.equal(clock.pending(), 0);
  mc.add(a); mc.add(b);
  assert.equal(clock.pending(), 1, 'a single timer, not one per stream');
  clock.advance(1000);
  assert.equal(a.ticks.length, 50);
  assert.equal(b.ticks.length, 50);
  assert.deepEqual(a.ticks.slice(0, 3), [20, 40, 60]);
  mc.remove(a);
  clock.advance(100);
  assert.equal(a.ticks.length, 50);
  assert.equal(b.ticks.length, 55);
  mc.remove(b);
  assert.equal(clock.pending(), 0);
  assert.equal(mc.running, false);
});

/** A clock whose timers fire late by a fixed amount, like a busy event loop. */
class LateClock extends FakeClock {
  constructor(private readonly lateMs: number) { super(); }
  override setTimeout(fn: () => void, ms: number) { return super.setTimeout(fn, ms + this.lateMs); }
}

test('late timers do not accumulate drift: ticks stay on the start + n × 20 grid', () => {
  const clock = new LateClock(3);
  const mc = new MediaClock({ clock });
  const s = counter();
  mc.add(s);
  clock.advance(10_003);
  // With drift each tick would come 3 ms later than the last (only ~434 in 10 s).
  assert.equal(s.ticks.length, 500);
  assert.ok(s.ticks.every((t, i) => t === 20 * (i + 1) + 3), 'each tick is 3 ms late, not 3·n');
});

class StallingClock extends FakeClock {
  stallMs = 0;
  override setTimeout(fn: () => void, ms: number) {
    const extra = this.stallMs; this.stallMs = 0;
    return super.setTimeout(fn, ms + extra);
  }
}

test('a long stall skips frames instead of bursting them', () => {
  const clock = new StallingClock();
  const mc = new MediaClock({ clock, maxCatchUpTicks: 5 });
  const s = counter();
  mc.add(s);
  // The event loop is blocked for 1 s: the timer set by the first tick fires a second late.
  clock.stallMs = 1000;
  clock.advance(20);
  assert.equal(s.ticks.length, 1);
  clock.advance(1020);
  assert.equal(s.ticks.length, 2, 'one tick after the stall, not fifty');
  assert.ok(mc.stats.skippedTicks >= 45);
  clock.advance(40);
  assert.equal(s.ticks.length, 4);
});

test('a throwing stream does not stop the others; add/remove inside a tick is safe', () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const good = counter();
  const late = counter();
  const bad: PacedStream = { onTick() { mc.add(late); throw new Error('boom'); } };
  mc.add(bad); mc.add(good);
  clock.advance(20);
  assert.equal(good.ticks.length, 1);
  assert.equal(mc.stats.streamErrors, 1);
  mc.remove(bad); mc.remove(good);
  clock.advance(40);
  // Added during the first tick, it was also visited in that tick (Set iteration order).
  assert.equal(late.ticks.length, 3);
  assert.equal(clock.pending(), 1);
  const selfRemoving: PacedStream = { onTick() { mc.remove(selfRemoving); mc.remove(late); } };
  mc.add(selfRemoving);
  clock.advance(20);
  assert.equal(clock.pending(), 0);
});

test('after a stall every stream is told how many ticks were skipped, once, before its next tick', () => {
  const clock = new StallingClock();
  const mc = new MediaClock({ clock, maxCatchUpTicks: 5 });
  const events: string[] = [];
  const s: PacedStream = { onTick: () => events.push('tick'), onSkippedTicks: (n) => events.push(`skip ${n}`) };
  const plain = counter(); // a stream without onSkippedTicks still ticks
  mc.add(s); mc.add(plain);
  clock.advance(20);
  clock.stallMs = 1000;
  clock.advance(20);
  assert.deepEqual(events, ['tick', 'tick']);
  clock.advance(1020); // the timer set at 40 ms fires a second late, at 1060

  assert.equal(events.length, 4);
  assert.match(events[2]!, /^skip (\d+)$/);
  assert.equal(Number(events[2]!.slice(5)), mc.stats.skippedTicks);
  assert.equal(events[3], 'tick');
  clock.advance(100);
  assert.ok(events.slice(4).every((e) => e === 'tick'), 'no further skips once caught up');
  assert.equal(plain.ticks.length, events.filter((e) => e === 'tick').length);
});

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
  const skips: Array<[number, number]> = [];
  const mc = new MediaClock({ clock, maxCatchUpTicks: 5, onSkip: (ticks, streams) => skips.push([ticks, streams]) });
  const s = counter();
  mc.add(s);
  // The event loop is blocked for 1 s: the timer set by the first tick fires a second late.
  clock.stallMs = 1000;
  clock.advance(20);
  assert.equal(s.ticks.length, 1);
  clock.advance(1020);
  assert.equal(s.ticks.length, 2, 'one tick after the stall, not fifty');
  assert.ok(mc.stats.skippedTicks >= 45);
  assert.equal(skips.length, 1, 'one stall reported once');
  assert.equal(skips[0]![0], mc.stats.skippedTicks);
  assert.equal(skips[0]![1], 1, 'with the number of streams that lost those frames');
  clock.advance(40);
  assert.equal(s.ticks.length, 4);
});

test('a throwing stream does not stop the others; add/remove inside a tick is safe', () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock, phases: 1 });
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

test('after a stall every stream is told how many ticks were skipped, once, before its next tick; the frames they dropped are summed', () => {
  const clock = new StallingClock();
  const drops: number[] = [];
  const mc = new MediaClock({ clock, maxCatchUpTicks: 5, onDrop: (n) => drops.push(n) });
  const events: string[] = [];
  // a drops 7 frames of the missed ticks, c holds them all back.
  const stream = (name: string): PacedStream => ({
    onTick: () => events.push(`${name} tick`), onSkippedTicks: (n) => { events.push(`${name} skip ${n}`); return name === 'a' ? 7 : 0; },
  });
  const plain = counter(); // a stream without onSkippedTicks still ticks
  mc.add(stream('a')); mc.add(plain); mc.add(stream('c')); // phases 0, 1 and 2: at 20, 2 and 4 ms
  clock.advance(20);
  assert.deepEqual(events, ['c tick', 'a tick']);
  clock.advance(2);
  assert.equal(plain.ticks.length, 2);
  // The timer set after c's next tick (at 24 ms, for a's at 40) fires a second late.
  clock.stallMs = 1000;
  clock.advance(1018);
  const skipped = mc.stats.skippedTicks;
  assert.ok(skipped >= 45, `skipped ${skipped}`);
  assert.deepEqual(events.slice(2), ['c tick', `a skip ${skipped}`, 'a tick'], 'the stalled phase at once');
  clock.advance(4);
  // The other phases lost as many frames; each hears of it once, before its own next tick.
  assert.deepEqual(events.slice(5), [`c skip ${skipped}`, 'c tick']);
  assert.equal(plain.ticks.length, 3);
  clock.advance(200);
  assert.ok(events.slice(7).every((e) => e.endsWith(' tick')), 'no further skips once caught up');
  assert.equal(mc.stats.skippedTicks, skipped);
  assert.equal(plain.ticks.length, events.filter((e) => e === 'c tick').length);
  assert.deepEqual(drops, [7], 'only the stream that dropped frames is counted, once');
  assert.equal(mc.stats.droppedFrames, 7);
});

test('streams are spread over the phases: each ticks once per 20 ms, a tenth of them at a time', () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const streams = Array.from({ length: 30 }, () => counter());
  for (const s of streams) mc.add(s);
  clock.advance(1000);
  const at = new Map<number, number>();
  for (const s of streams) {
    assert.equal(s.ticks.length, 50);
    assert.ok(s.ticks.every((t, i) => i === 0 || t - s.ticks[i - 1]! === 20), 'every 20 ms on its phase');
    for (const t of s.ticks) at.set(t, (at.get(t) ?? 0) + 1);
  }
  // Ten distinct moments per interval, 2 ms apart, with three streams each.
  assert.deepEqual([...at.keys()].filter((t) => t > 980 && t <= 1000).sort((x, y) => x - y),
    [982, 984, 986, 988, 990, 992, 994, 996, 998, 1000]);
  assert.ok([...at.values()].every((n) => n === 3));
  assert.equal(mc.stats.ticks, 500);
});

test('phases without streams do not wake the timer; a stream added later is ticked in its own phase', () => {
  const clock = new FakeClock();
  const mc = new MediaClock({ clock });
  const a = counter();
  mc.add(a);
  clock.advance(1000);
  assert.equal(mc.stats.ticks, 50, 'one wake-up per interval for one stream');
  clock.advance(5);
  const b = counter();
  mc.add(b); // phase 1 (due 2 ms after each of a's ticks): its slot this interval has passed
  assert.equal(clock.pending(), 1);
  clock.advance(100);
  assert.equal(b.ticks[0], 1005, 'the overdue slot fires at once');
  assert.deepEqual(b.ticks.slice(1), [1022, 1042, 1062, 1082, 1102]);
  assert.deepEqual(a.ticks.slice(-5), [1020, 1040, 1060, 1080, 1100]);
  mc.remove(a);
  clock.advance(100);
  assert.equal(a.ticks.length, 55);
  assert.equal(b.ticks.length, 11);
  assert.throws(() => new MediaClock({ phases: 0 }), /phases/);
});

test('a busy loop that wakes every timer late does not make the phases fall behind', () => {
  // Each wake-up costs 5 ms of lateness, more than the 2 ms between phases: the phases already
  // due are run in the same wake-up instead of one per turn of the loop.
  const clock = new LateClock(5);
  const mc = new MediaClock({ clock });
  const streams = Array.from({ length: 10 }, () => counter());
  for (const s of streams) mc.add(s);
  clock.advance(10_000);
  assert.equal(mc.stats.skippedTicks, 0);
  for (const s of streams) assert.ok(s.ticks.length >= 499, `${s.ticks.length} ticks in 10 s`);
  assert.ok(mc.stats.maxLagMs <= 7, `max lag ${mc.stats.maxLagMs} ms`);
});

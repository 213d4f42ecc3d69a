import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_SAMPLES, PcmPlayback, silenceFrames, type PcmSource } from './playback.js';

function drain(src: PcmSource, limit = 10_000): Int16Array[] {
  const frames: Int16Array[] = [];
  for (let i = 0; i < limit; i++) {
    const f = src.pullFrame();
    if (!f) return frames;
    frames.push(f.slice());
  }
  throw new Error('source did not end');
}

const ramp = (n: number): Int16Array => Int16Array.from({ length: n }, (_, i) => i + 1);

test('plays once: whole frames, then a zero-padded last frame, then null', async () => {
  const p = new PcmPlayback(ramp(400), 1);
  const frames = drain(p);
  assert.equal(frames.length, 3);
  assert.ok(frames.every((f) => f.length === FRAME_SAMPLES));
  assert.equal(frames[0]![0], 1);
  assert.equal(frames[2]![79], 400);
  assert.ok(frames[2]!.subarray(80).every((s) => s === 0));
  assert.equal(p.state, 'finished');
  assert.equal(p.pullFrame(), null);
  await p.done;
});

test('done resolves as the last frame is handed out, not one pull later', async () => {
  const p = new PcmPlayback(ramp(320), 1);
  let resolved = false;
  void p.done.then(() => { resolved = true; });
  p.pullFrame();
  await Promise.resolve();
  assert.equal(resolved, false);
  p.pullFrame();
  await p.done;
  assert.equal(p.state, 'finished');
});

test('loop=3 repeats seamlessly across frame boundaries', () => {
  const frames = drain(new PcmPlayback(ramp(100), 3));
  assert.equal(frames.length, 2); // 300 samples → 2 frames
  const flat = Int16Array.from(frames.flatMap((f) => [...f]));
  const expected = [...ramp(100), ...ramp(100), ...ramp(100)];
  assert.deepEqual([...flat.subarray(0, 300)], expected);
  assert.ok(flat.subarray(300).every((s) => s === 0));
});

test('loop=0 plays until stopped; stop() ends it and resolves done', async () => {
  const p = new PcmPlayback(ramp(170), 0);
  for (let i = 0; i < 1000; i++) assert.ok(p.pullFrame());
  assert.equal(p.framesPlayed, 1000);
  assert.equal(p.state, 'playing');
  p.stop();
  p.stop();
  assert.equal(p.pullFrame(), null);
  assert.equal(p.state, 'stopped');
  await p.done;
});

test('empty audio finishes immediately even with loop=0; bad loop values are refused', async () => {
  const p = new PcmPlayback(new Int16Array(0), 0);
  assert.equal(p.pullFrame(), null);
  await p.done;
  assert.throws(() => new PcmPlayback(ramp(10), -1), RangeError);
  assert.throws(() => new PcmPlayback(ramp(10), 1.5), RangeError);
});

test('silenceFrames rounds up to 20 ms frames of zeros', async () => {
  assert.equal(drain(silenceFrames(1000)).length, 50);
  assert.equal(drain(silenceFrames(30)).length, 2);
  const s = silenceFrames(0);
  assert.equal(s.pullFrame(), null);
  await s.done;
  const long = silenceFrames(3_600_000);
  const f = long.pullFrame();
  assert.ok(f && f.length === FRAME_SAMPLES && f.every((x) => x === 0));
  long.stop();
  assert.equal(long.pullFrame(), null);
  assert.throws(() => silenceFrames(-1), RangeError);
});

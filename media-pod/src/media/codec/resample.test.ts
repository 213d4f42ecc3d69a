import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDownsampleState, createUpsampleState, downsample16kTo8k, resample, upsample8kTo16k } from './resample.js';

function sine(freq: number, rate: number, n: number, amp = 10000, start = 0): Int16Array {
  const a = new Int16Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * (start + i)) / rate));
  return a;
}

/** Amplitude of the component at `freq` (a single-bin DFT over the slice). */
function toneAmplitude(x: Int16Array, freq: number, rate: number, from = 0): number {
  let re = 0; let im = 0; const n = x.length - from;
  for (let i = from; i < x.length; i++) {
    const ph = (2 * Math.PI * freq * i) / rate;
    re += x[i]! * Math.cos(ph); im += x[i]! * Math.sin(ph);
  }
  return (2 * Math.hypot(re, im)) / n;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

test('upsampling a sine in 100 frames of 20 ms equals upsampling it in one piece (no seams)', () => {
  const frames = 100;
  const whole = sine(1000, 8000, 160 * frames);
  const st = createUpsampleState();
  const out = new Int16Array(320);
  const parts: Int16Array[] = [];
  for (let f = 0; f < frames; f++) parts.push(upsample8kTo16k(whole.subarray(f * 160, (f + 1) * 160), st, out).slice());
  const streamed = concat(parts);
  assert.deepEqual(streamed, upsample8kTo16k(whole));
  // After the filter's delay (23 samples at 16 k) the output is the same sine at 16 k.
  const ideal = sine(1000, 16000, streamed.length + 23);
  let maxErr = 0; let maxStep = 0;
  for (let i = 100; i < streamed.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(streamed[i]! - ideal[i - 23]!));
    maxStep = Math.max(maxStep, Math.abs(streamed[i]! - streamed[i - 1]!));
  }
  assert.ok(maxErr < 150, `max error ${maxErr}`);
  // A click at a frame edge would show up as a jump far larger than the sine's own slope.
  assert.ok(maxStep <= Math.ceil((10000 * 2 * Math.PI * 1000) / 16000) + 150, `max step ${maxStep}`);
  // Images of the 1 kHz tone (at 7 kHz) are suppressed by the half-band filter.
  assert.ok(toneAmplitude(streamed, 7000, 16000, 100) < 10000 / 300);
  assert.ok(Math.abs(toneAmplitude(streamed, 1000, 16000, 100) - 10000) < 200);
});

test('downsampling in frames equals one piece, keeps the passband and rejects what would alias', () => {
  const frames = 100;
  const whole = sine(1000, 16000, 320 * frames);
  const st = createDownsampleState();
  const parts: Int16Array[] = [];
  for (let f = 0; f < frames; f++) parts.push(downsample16kTo8k(whole.subarray(f * 320, (f + 1) * 320), st));
  const streamed = concat(parts);
  assert.equal(streamed.length, 160 * frames);
  assert.deepEqual(streamed, downsample16kTo8k(whole));
  assert.ok(Math.abs(toneAmplitude(streamed, 1000, 8000, 50) - 10000) < 200);
  let maxStep = 0;
  for (let i = 50; i < streamed.length; i++) maxStep = Math.max(maxStep, Math.abs(streamed[i]! - streamed[i - 1]!));
  assert.ok(maxStep <= Math.ceil((10000 * 2 * Math.PI * 1000) / 8000) + 150, `max step ${maxStep}`);
  // 6 kHz at 16 k would fold to 2 kHz at 8 k without the filter.
  const high = downsample16kTo8k(sine(6000, 16000, 16000));
  assert.ok(toneAmplitude(high, 2000, 8000, 50) < 10000 / 300, `alias ${toneAmplitude(high, 2000, 8000, 50)}`);
});

test('odd-length frames keep the decimation phase', () => {
  const whole = sine(500, 16000, 3000);
  const st = createDownsampleState();
  const parts: Int16Array[] = [];
  for (let o = 0; o < whole.length; o += 97) parts.push(downsample16kTo8k(whole.subarray(o, Math.min(whole.length, o + 97)), st));
  assert.deepEqual(concat(parts), downsample16kTo8k(whole));
});

test('state objects are direction-specific and clip instead of wrapping', () => {
  assert.throws(() => upsample8kTo16k(new Int16Array(160), createDownsampleState()), TypeError);
  const square = new Int16Array(800);
  for (let i = 0; i < square.length; i++) square[i] = (i >> 4) & 1 ? 32767 : -32768;
  const up = upsample8kTo16k(square);
  // Gibbs overshoot would wrap to the opposite sign if not clamped.
  for (let i = 60; i < up.length; i++) if (square[(i - 23) >> 1]! > 0 && i % 32 === 15) assert.ok(up[i]! > 0);
});

test('general resample: any rate to 8 k keeps a tone and its length', () => {
  for (const from of [16000, 22050, 24000, 44100, 48000, 11025]) {
    const x = sine(440, from, from); // one second
    const y = resample(x, from, 8000);
    assert.equal(y.length, 8000, `from ${from}`);
    const amp = toneAmplitude(y, 440, 8000, 200);
    assert.ok(Math.abs(amp - 10000) < 250, `from ${from}: amplitude ${amp}`);
  }
  // 5 kHz cannot exist at 8 k; it must be filtered rather than folded to 3 kHz.
  const y = resample(sine(5000, 16000, 16000), 16000, 8000);
  assert.ok(toneAmplitude(y, 3000, 8000, 200) < 100);
  // Same rate copies; upsampling works too.
  const same = sine(100, 8000, 10);
  const copy = resample(same, 8000, 8000);
  assert.deepEqual(copy, same);
  assert.notEqual(copy, same);
  assert.equal(resample(sine(440, 8000, 8000), 8000, 16000).length, 16000);
  assert.throws(() => resample(same, 0, 8000), RangeError);
  assert.equal(resample(new Int16Array(0), 16000, 8000).length, 0);
});

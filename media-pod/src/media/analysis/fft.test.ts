/**
 * The FFT against a direct DFT on seeded random data, its round trip, and its size checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Fft, RealFft } from './fft.js';

/** A deterministic pseudo-random source in [-0.5, 0.5). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 - 0.5; };
}

function randomArrays(n: number, seed: number): [Float64Array, Float64Array] {
  const rnd = lcg(seed);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) { re[i] = rnd() * 2000; im[i] = rnd() * 2000; }
  return [re, im];
}

test('forward matches a direct DFT for sizes 2 to 512', () => {
  for (const n of [2, 4, 8, 64, 256, 512]) {
    const [re, im] = randomArrays(n, n);
    const xr = Float64Array.from(re);
    const xi = Float64Array.from(im);
    new Fft(n).forward(re, im);
    let maxErr = 0;
    for (let k = 0; k < n; k++) {
      let sr = 0;
      let si = 0;
      for (let t = 0; t < n; t++) {
        const a = (-2 * Math.PI * k * t) / n;
        sr += xr[t]! * Math.cos(a) - xi[t]! * Math.sin(a);
        si += xr[t]! * Math.sin(a) + xi[t]! * Math.cos(a);
      }
      maxErr = Math.max(maxErr, Math.abs(sr - re[k]!), Math.abs(si - im[k]!));
    }
    assert.ok(maxErr < 1e-9 * n * 1000, `size ${n}: max error ${maxErr}`);
  }
});

test('inverse undoes forward, and a unit impulse has a flat spectrum', () => {
  const fft = new Fft(256);
  const [re, im] = randomArrays(256, 99);
  const xr = Float64Array.from(re);
  const xi = Float64Array.from(im);
  fft.forward(re, im);
  fft.inverse(re, im);
  for (let i = 0; i < 256; i++) {
    assert.ok(Math.abs(re[i]! - xr[i]!) < 1e-9 && Math.abs(im[i]! - xi[i]!) < 1e-9, `sample ${i}`);
  }
  const ir = new Float64Array(256);
  const ii = new Float64Array(256);
  ir[0] = 1;
  fft.forward(ir, ii);
  for (let k = 0; k < 256; k++) assert.ok(Math.abs(ir[k]! - 1) < 1e-12 && Math.abs(ii[k]!) < 1e-12);
});

test('a cosine lands in its two bins', () => {
  const n = 128;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = Math.cos((2 * Math.PI * 5 * i) / n);
  new Fft(n).forward(re, im);
  for (let k = 0; k < n; k++) {
    const mag = Math.hypot(re[k]!, im[k]!);
    assert.ok(Math.abs(mag - (k === 5 || k === n - 5 ? n / 2 : 0)) < 1e-9, `bin ${k}: ${mag}`);
  }
});

test('sizes that are not powers of two, and arrays of the wrong length, are refused', () => {
  for (const n of [0, 1, 3, 100, 2.5, -4]) assert.throws(() => new Fft(n), RangeError);
  assert.throws(() => new Fft(8).forward(new Float64Array(8), new Float64Array(4)), /size 8/);
});

test('RealFft: the N/2 + 1 bins match the complex FFT of the same real signal, and inverse gives the signal back', () => {
  for (const n of [4, 8, 64, 256]) {
    const x = new Float64Array(n);
    let seed = n;
    for (let i = 0; i < n; i++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; x[i] = seed / 2 ** 31 - 1; }
    const re = new Float64Array(n); const im = new Float64Array(n);
    re.set(x);
    new Fft(n).forward(re, im);
    const real = new RealFft(n);
    const rr = new Float64Array(n / 2 + 1); const ri = new Float64Array(n / 2 + 1);
    real.forward(x, rr, ri);
    for (let k = 0; k <= n / 2; k++) {
      assert.ok(Math.abs(rr[k]! - re[k]!) < 1e-9 && Math.abs(ri[k]! - im[k]!) < 1e-9, `N=${n} bin ${k}: ${rr[k]},${ri[k]} vs ${re[k]},${im[k]}`);
    }
    const back = new Float64Array(n);
    real.inverse(rr, ri, back);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(back[i]! - x[i]!) < 1e-12, `N=${n} sample ${i}`);
  }
  assert.throws(() => new RealFft(6), /power of two/);
  assert.throws(() => new RealFft(8).forward(new Float64Array(4), new Float64Array(5), new Float64Array(5)), RangeError);
});

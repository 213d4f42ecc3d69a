/**
 * The noise suppressor on synthetic 8 kHz audio with seeded noise: exact reconstruction when
 * nothing is suppressed, attenuation of white and pink noise per level, a voice-like signal in
 * noise, a step in the noise level, and edge inputs (silence, full-scale square waves, aliasing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attenuationFloorDb, NoiseSuppressor } from './noise-suppressor.js';

const RATE = 8000;
const FRAME = 160;
const FULL_SCALE = 32768;

/** A deterministic pseudo-random source in [-0.5, 0.5), so every run hears the same noise. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 - 0.5; };
}

/** Unit-variance Gaussian samples (Box–Muller over the seeded source). */
function gaussian(seed: number): () => number {
  const rnd = lcg(seed);
  return () => {
    const u = Math.max(rnd() + 0.5, 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * (rnd() + 0.5));
  };
}

const rmsOfDbfs = (db: number): number => FULL_SCALE * 10 ** (db / 20);

function whiteNoise(samples: number, dbfs: number, seed: number): Float64Array {
  const g = gaussian(seed);
  const out = new Float64Array(samples);
  for (let i = 0; i < samples; i++) out[i] = g();
  return scaleTo(out, dbfs);
}

/** Pink (−3 dB/octave) noise: white noise through a sum of three one-pole filters. */
function pinkNoise(samples: number, dbfs: number, seed: number): Float64Array {
  const g = gaussian(seed);
  const out = new Float64Array(samples);
  let b0 = 0, b1 = 0, b2 = 0;
  for (let i = 0; i < samples; i++) {
    const w = g();
    b0 = 0.99765 * b0 + w * 0.099046;
    b1 = 0.963 * b1 + w * 0.2965164;
    b2 = 0.57 * b2 + w * 1.0526913;
    out[i] = b0 + b1 + b2 + w * 0.1848;
  }
  return scaleTo(out, dbfs);
}

function scaleTo(x: Float64Array, dbfs: number): Float64Array {
  const k = rmsOfDbfs(dbfs) / Math.sqrt(energy(x, 0, x.length) / x.length);
  for (let i = 0; i < x.length; i++) x[i]! *= k;
  return x;
}

/**
 * Voice-like audio: a harmonic series (1/h amplitudes, the −6 dB/octave tilt of voiced speech, up
 * to 3.6 kHz) whose pitch glides between 90 and 190 Hz at up to 300 Hz/s like intonation, in
 * 250 ms syllables with a 500 ms pause after every sixth. Returns the signal
 * scaled to `dbfs` RMS over its syllables, and per sample whether a syllable is sounding.
 */
function voiceLike(samples: number, dbfs: number): { clean: Float64Array; voiced: Uint8Array } {
  const clean = new Float64Array(samples);
  const voiced = new Uint8Array(samples);
  let phase = 0;
  for (let i = 0; i < samples; i++) {
    const t = i / RATE;
    const f0 = 140 + 40 * Math.sin(2 * Math.PI * 0.7 * t) + 10 * Math.sin(2 * Math.PI * 2.3 * t);
    phase += (2 * Math.PI * f0) / RATE;
    const inGroup = t % 2;
    if (inGroup >= 1.5) continue;
    const env = Math.sin((Math.PI * (inGroup % 0.25)) / 0.25) ** 2;
    let v = 0;
    for (let h = 1; h * f0 < 3600; h++) v += Math.sin(h * phase + h * h * 0.3) / h;
    clean[i] = env * v;
    voiced[i] = env > 0.25 ? 1 : 0;
  }
  let e = 0;
  let n = 0;
  for (let i = 0; i < samples; i++) if (voiced[i]) { e += clean[i]! ** 2; n++; }
  const k = rmsOfDbfs(dbfs) / Math.sqrt(e / n);
  for (let i = 0; i < samples; i++) clean[i]! *= k;
  return { clean, voiced };
}

function energy(x: ArrayLike<number>, from: number, to: number): number {
  let e = 0;
  for (let i = from; i < to; i++) e += x[i]! ** 2;
  return e;
}

const db = (ratio: number): number => 10 * Math.log10(ratio);

/** Runs float audio through a suppressor in 160-sample frames; returns the int16 input and output. */
function run(ns: NoiseSuppressor, audio: Float64Array): { input: Int16Array; output: Int16Array } {
  const frames = Math.floor(audio.length / FRAME);
  const input = new Int16Array(frames * FRAME);
  for (let i = 0; i < input.length; i++) input[i] = Math.max(-32768, Math.min(32767, Math.round(audio[i]!)));
  const output = new Int16Array(input.length);
  for (let f = 0; f < frames; f++) {
    ns.process(input.subarray(f * FRAME, (f + 1) * FRAME), output.subarray(f * FRAME, (f + 1) * FRAME));
  }
  return { input, output };
}

/** Output energy relative to input energy, in dB, over input samples [from, to) aligned by latency. */
function gainDb(ns: NoiseSuppressor, input: Int16Array, output: Int16Array, from: number, to: number): number {
  const d = ns.latencySamples;
  return db(energy(output, from + d, to + d) / energy(input, from, to));
}

test('latency is constant and within 40 ms', () => {
  const ns = new NoiseSuppressor();
  assert.ok(Number.isInteger(ns.latencySamples) && ns.latencySamples > 0 && ns.latencySamples <= 320);
  assert.equal(ns.latencySamples, new NoiseSuppressor({ level: 60 }).latencySamples);
});

test('far above the noise floor the output is the input delayed by latencySamples (perfect reconstruction)', (t) => {
  const ns = new NoiseSuppressor();
  // 1 s of dither-level hiss sets the floor, then 1 s of loud noise plus a tone and a chirp. The
  // noise is differenced four times (+24 dB/octave) so that nothing sits below 50 Hz, where the
  // suppressor always attenuates.
  const quiet = whiteNoise(RATE, -85, 11);
  const loud = whiteNoise(RATE + 4, -18, 12);
  for (let pass = 0; pass < 4; pass++) for (let i = 0; i < loud.length - 1; i++) loud[i] = loud[i + 1]! - loud[i]!;
  scaleTo(loud, -18);
  for (let i = 0; i < RATE; i++) {
    const s = i / RATE;
    loud[i]! += 3000 * Math.sin(2 * Math.PI * 700 * s) + 2000 * Math.sin(2 * Math.PI * (400 * s + 800 * s * s));
  }
  const audio = new Float64Array(2 * RATE);
  audio.set(quiet);
  audio.set(loud.subarray(0, RATE), RATE);
  const { input, output } = run(ns, audio);
  const d = ns.latencySamples;
  // The first 100 ms of loud audio may still carry the quiet part's gains through the DD memory.
  let maxErr = 0;
  let errEnergy = 0;
  for (let i = RATE + 800; i < input.length - d; i++) {
    const e = output[i + d]! - input[i]!;
    maxErr = Math.max(maxErr, Math.abs(e));
    errEnergy += e * e;
  }
  const snr = db(energy(input, RATE + 800, input.length - d) / errEnergy);
  t.diagnostic(`max |error| ${maxErr} LSB, reconstruction SNR ${snr.toFixed(1)} dB`);
  assert.ok(maxErr <= 3, `max error ${maxErr}`);
  assert.ok(snr > 60, `reconstruction SNR ${snr.toFixed(1)} dB`);
  // One sample off in the alignment would be a large error on white noise: the latency is exact.
  let shifted = 0;
  for (let i = RATE + 800; i < input.length - d - 1; i++) shifted += (output[i + d + 1]! - input[i]!) ** 2;
  assert.ok(db(energy(input, RATE + 800, input.length - d) / shifted) < 10);
});

test('the level maps to a maximum attenuation: 60 → −10 dB, 85 → −22.5 dB, 100 → −30 dB, clamped', () => {
  assert.equal(attenuationFloorDb(60), -10);
  assert.equal(attenuationFloorDb(85), -22.5);
  assert.equal(attenuationFloorDb(), -22.5);
  assert.equal(attenuationFloorDb(100), -30);
  assert.equal(attenuationFloorDb(20), -10);
  assert.equal(attenuationFloorDb(150), -30);
  assert.equal(attenuationFloorDb(Number.NaN), -22.5);
});

test('white and pink noise at −40 dBFS are attenuated after 2 s, more at higher levels', (t) => {
  for (const [name, make] of [['white', whiteNoise], ['pink', pinkNoise]] as const) {
    const results: number[] = [];
    for (const level of [60, 85, 100]) {
      const ns = new NoiseSuppressor({ level });
      const { input, output } = run(ns, make(6 * RATE, -40, 21));
      const g = gainDb(ns, input, output, 2 * RATE, input.length - ns.latencySamples);
      results.push(g);
      t.diagnostic(`${name} noise, level ${level}: output ${g.toFixed(1)} dB vs input (floor ${attenuationFloorDb(level)} dB)`);
      // Near the floor: a few dB above it (noise peaks next to each other pass), never below.
      assert.ok(g <= attenuationFloorDb(level) + 7, `${name} level ${level}: ${g.toFixed(1)} dB`);
      assert.ok(g >= attenuationFloorDb(level) - 1, `${name} level ${level}: ${g.toFixed(1)} dB`);
    }
    const [g60, g85, g100] = results as [number, number, number];
    assert.ok(g85 <= -10, `${name}: level 85 attenuates ${-g85} dB`);
    assert.ok(g100 < g85 - 2 && g85 < g60 - 5, `${name}: ${results.map((g) => g.toFixed(1)).join(', ')}`);
  }
});

test('a voice-like signal in white noise at 10 dB SNR: SNR vs the clean voice improves by > 4.5 dB and the voice keeps its level', (t) => {
  const samples = 10 * RATE;
  // SNR as ITU-T P.56 counts it: the voice's level while it sounds (−20 dBFS) over the noise's.
  const { clean, voiced } = voiceLike(samples, -20);
  const noise = whiteNoise(samples, -30, 31);
  const noisy = new Float64Array(samples);
  for (let i = 0; i < samples; i++) noisy[i] = clean[i]! + noise[i]!;
  const ns = new NoiseSuppressor();
  const { input, output } = run(ns, noisy);
  const d = ns.latencySamples;
  const from = 2 * RATE;
  const to = input.length - d;

  let sig = 0, noiseIn = 0, noiseOut = 0, voicedClean = 0, voicedOut = 0;
  let segIn = 0, segOut = 0, segs = 0;
  for (let f = from; f + FRAME <= to; f += FRAME) {
    let s = 0, ni = 0, no = 0;
    for (let i = f; i < f + FRAME; i++) {
      s += clean[i]! ** 2;
      ni += (input[i]! - clean[i]!) ** 2;
      no += (output[i + d]! - clean[i]!) ** 2;
      if (voiced[i]) { voicedClean += clean[i]! ** 2; voicedOut += output[i + d]! ** 2; }
    }
    sig += s; noiseIn += ni; noiseOut += no;
    // Segmental SNR over frames where the voice is sounding, each frame clamped to [−10, 35] dB.
    if (s > FRAME * rmsOfDbfs(-35) ** 2) {
      const clamp = (x: number): number => Math.max(-10, Math.min(35, x));
      segIn += clamp(db(s / ni));
      segOut += clamp(db(s / Math.max(no, 1e-9)));
      segs++;
    }
  }
  const snrIn = db(sig / noiseIn);
  const snrOut = db(sig / noiseOut);
  const voicedChange = db(voicedOut / voicedClean);
  t.diagnostic(`SNR ${snrIn.toFixed(1)} → ${snrOut.toFixed(1)} dB; segmental SNR ${(segIn / segs).toFixed(1)} → ${(segOut / segs).toFixed(1)} dB over ${segs} frames; voiced energy ${voicedChange.toFixed(2)} dB`);
  assert.ok(snrIn > 6 && snrIn < 8, `input SNR over the whole signal, pauses included: ${snrIn}`);
  // For scale: an oracle Wiener filter that knows the clean spectrum gets about +8 dB here.
  assert.ok(snrOut - snrIn > 4.5, `SNR ${snrIn.toFixed(1)} → ${snrOut.toFixed(1)} dB`);
  assert.ok(segOut / segs - segIn / segs > 3, `segmental SNR ${(segIn / segs).toFixed(1)} → ${(segOut / segs).toFixed(1)} dB`);
  assert.ok(Math.abs(voicedChange) <= 3, `voiced energy changed by ${voicedChange.toFixed(2)} dB`);
});

test('when the noise gets 20 dB louder the floor follows: attenuated again about 2 s later', (t) => {
  const step = 4 * RATE;
  const audio = new Float64Array(9 * RATE);
  audio.set(whiteNoise(step, -50, 41));
  audio.set(whiteNoise(audio.length - step, -30, 42), step);
  const ns = new NoiseSuppressor();
  const { input, output } = run(ns, audio);
  const end = input.length - ns.latencySamples;
  const before = gainDb(ns, input, output, 2 * RATE, step);
  const justAfter = gainDb(ns, input, output, step, step + RATE / 2);
  const settled = gainDb(ns, input, output, step + 2 * RATE, end);
  t.diagnostic(`output vs input: quiet noise ${before.toFixed(1)} dB, first 0.5 s of loud noise ${justAfter.toFixed(1)} dB, from 2 s after the step ${settled.toFixed(1)} dB`);
  assert.ok(before <= -10, `before the step: ${before.toFixed(1)} dB`);
  // Right after the step the louder noise is taken for signal, which is why adaptation matters.
  assert.ok(justAfter > -5, `just after the step: ${justAfter.toFixed(1)} dB`);
  assert.ok(settled <= -10, `2 s after the step: ${settled.toFixed(1)} dB`);

  // Quieter again: the floor follows downwards at once (a minimum drops immediately).
  const down = new NoiseSuppressor();
  audio.set(whiteNoise(audio.length - step, -50, 43), step);
  audio.set(whiteNoise(step, -30, 44));
  const r = run(down, audio);
  const afterDrop = gainDb(down, r.input, r.output, step + RATE / 2, end);
  t.diagnostic(`loud → quiet: from 0.5 s after the drop ${afterDrop.toFixed(1)} dB`);
  assert.ok(afterDrop <= -10, `after the drop: ${afterDrop.toFixed(1)} dB`);
});

test('digital silence gives digital silence', () => {
  const ns = new NoiseSuppressor();
  const out = new Int16Array(FRAME).fill(123);
  for (let f = 0; f < 200; f++) {
    ns.process(new Int16Array(FRAME), out);
    assert.ok(out.every((v) => v === 0), `frame ${f}`);
  }
});

test('full-scale square waves, alternating ±32768 and silence after them stay finite and in range', () => {
  const ns = new NoiseSuppressor({ level: 100 });
  const frame = new Int16Array(FRAME);
  const out = new Int16Array(FRAME);
  let peak = 0;
  for (let f = 0; f < 400; f++) {
    for (let i = 0; i < FRAME; i++) {
      const n = f * FRAME + i;
      frame[i] = f < 150 ? ((n >> 4) & 1 ? 32767 : -32768) : f < 250 ? (n & 1 ? 32767 : -32768) : f < 300 ? 0 : ((n >> 6) & 1 ? 32767 : -32768);
    }
    ns.process(frame, out);
    for (const v of out) {
      assert.ok(Number.isInteger(v) && v >= -32768 && v <= 32767);
      peak = Math.max(peak, Math.abs(v));
    }
  }
  assert.ok(peak > 20000, `the loud input is not muted (peak ${peak})`);
  // After the loud part a silent stretch must come out silent (no NaN or stuck state).
  const fresh = new NoiseSuppressor();
  for (let f = 0; f < 50; f++) fresh.process(frame.fill(f % 2 ? 32767 : -32768), out);
  for (let f = 0; f < 50; f++) fresh.process(frame.fill(0), out);
  assert.ok(out.every((v) => v === 0));
});

test('out may be the same array as input, and any frame length gives the same output', () => {
  const audio = pinkNoise(3 * RATE, -30, 51);
  const { output: reference } = run(new NoiseSuppressor(), audio);
  const ns = new NoiseSuppressor();
  const inPlace = new Int16Array(reference.length);
  for (let i = 0; i < inPlace.length; i++) inPlace[i] = Math.round(audio[i]!);
  for (let f = 0; f < inPlace.length / FRAME; f++) {
    const frame = inPlace.subarray(f * FRAME, (f + 1) * FRAME);
    ns.process(frame, frame);
  }
  assert.deepEqual(inPlace, reference);

  // 10 ms and 30 ms packets, and odd lengths, give the very same samples.
  for (const size of [80, 240, 37]) {
    const ns2 = new NoiseSuppressor();
    const out = new Int16Array(reference.length);
    for (let i = 0; i < out.length; i += size) {
      const n = Math.min(size, out.length - i);
      const src = new Int16Array(n);
      for (let j = 0; j < n; j++) src[j] = Math.round(audio[i + j]!);
      ns2.process(src, out.subarray(i, i + n));
    }
    assert.deepEqual(out, reference, `frame length ${size}`);
  }
  assert.throws(() => ns.process(new Int16Array(FRAME), new Int16Array(FRAME - 1)), RangeError);
});

test('cost per 20 ms frame (diagnostic only)', (t) => {
  const audio = pinkNoise(10_000 * FRAME, -30, 61);
  const input = new Int16Array(audio.length);
  for (let i = 0; i < input.length; i++) input[i] = Math.round(audio[i]!);
  const ns = new NoiseSuppressor();
  const out = new Int16Array(FRAME);
  for (let f = 0; f < 500; f++) ns.process(input.subarray(f * FRAME, (f + 1) * FRAME), out);
  const start = process.hrtime.bigint();
  for (let f = 0; f < 10_000; f++) ns.process(input.subarray(f * FRAME, (f + 1) * FRAME), out);
  const us = Number(process.hrtime.bigint() - start) / 1000 / 10_000;
  t.diagnostic(`${us.toFixed(1)} µs per 160-sample frame over 10 000 frames`);
  assert.ok(Number.isFinite(us));
});

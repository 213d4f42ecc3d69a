/**
 * The sound and beep detectors on synthetic 8 kHz audio: beeps at and between search
 * frequencies, short blips, key tones, voice-like harmonics with moving pitch, noise and quiet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BeepDetector, isSound, SOUND_RMS } from './detectors.js';

/** `ms` of samples from `fn(t)` (t in seconds), cut into 20 ms frames. */
function frames(ms: number, fn: (t: number) => number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < ms / 20; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(fn((f * 160 + i) / 8000))));
    out.push(pcm);
  }
  return out;
}
const sine = (hz: number, amp: number) => (t: number): number => amp * Math.sin(2 * Math.PI * hz * t);

/** Index of the frame at which the detector first reports a beep, or -1. */
function firstBeep(audio: Int16Array[], d = new BeepDetector()): number {
  return audio.findIndex((f) => d.push(f));
}

/** A deterministic pseudo-random source, so the noise is the same on every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 - 0.5; };
}

test('isSound: speech-level audio is sound; digital silence, line noise at -50 dBFS and a tone just under -40 dBFS are not', () => {
  assert.ok(isSound(frames(20, sine(300, 3000))[0]!));
  assert.ok(!isSound(new Int16Array(160)));
  const rnd = lcg(1);
  assert.ok(!isSound(frames(20, () => rnd() * 2 * 32768 * 10 ** (-50 / 20) * Math.sqrt(3))[0]!));
  // A sine's RMS is amplitude / √2.
  assert.ok(!isSound(frames(20, sine(500, SOUND_RMS * Math.SQRT2 * 0.9))[0]!));
  assert.ok(isSound(frames(20, sine(500, SOUND_RMS * Math.SQRT2 * 1.1))[0]!));
});

test('a 1 kHz beep is found after 160 ms; beeps between search frequencies (437, 1412.3, 1987 Hz) too', () => {
  assert.equal(firstBeep(frames(500, sine(1000, 8000))), 7, 'the 8th frame completes 160 ms');
  for (const hz of [437, 1412.3, 1987]) assert.equal(firstBeep(frames(400, sine(hz, 6000))), 7, `${hz} Hz`);
});

test('a beep after speech-like sound is found once it has lasted 160 ms', () => {
  const rnd = lcg(7);
  const noise = frames(600, () => rnd() * 12000);
  const beep = frames(400, sine(850, 9000));
  assert.equal(firstBeep([...noise, ...beep]), noise.length + 7);
});

test('no beep: a 100 ms blip, quiet tones, key tones (two frequencies), noise, voice-like harmonics with moving pitch', () => {
  assert.equal(firstBeep(frames(100, sine(1000, 8000))), -1, 'too short');
  assert.equal(firstBeep(frames(1000, sine(1000, 400))), -1, 'below -35 dBFS');
  assert.equal(firstBeep(frames(1000, (t) => sine(770, 6000)(t) + sine(1336, 6000)(t))), -1, 'DTMF 5');
  const rnd = lcg(3);
  assert.equal(firstBeep(frames(2000, () => rnd() * 20000)), -1, 'white noise');
  // A vowel: 120-180 Hz pitch gliding, ten harmonics with a formant-like emphasis near 700 Hz.
  const voice = (t: number): number => {
    const f0 = 150 + 30 * Math.sin(2 * Math.PI * 3 * t);
    const phase = 2 * Math.PI * (150 * t - (30 / (2 * Math.PI * 3)) * Math.cos(2 * Math.PI * 3 * t));
    let v = 0;
    for (let h = 1; h <= 10; h++) v += (3000 / (1 + Math.abs(h * f0 - 700) / 200)) * Math.sin(h * phase);
    return v;
  };
  assert.equal(firstBeep(frames(3000, voice)), -1, 'a voiced vowel');
});

test('a tone that jumps between frequencies is not one beep; the run restarts on the new tone', () => {
  const audio = [...frames(100, sine(600, 8000)), ...frames(100, sine(1200, 8000)), ...frames(200, sine(1800, 8000))];
  assert.equal(firstBeep(audio), 10 + 7, 'only the last 1800 Hz tone lasts 160 ms');
});

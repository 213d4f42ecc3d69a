// In-band DTMF detection: every key from our own in-band sender (through G.711, as on the wire),
// press timing rules, and audio that must not be taken for a key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ulawDecode, ulawEncode } from '../codec/g711.js';
import { InbandDtmfDetector } from './inband-detector.js';
import { DtmfSender } from './sender.js';
import { FliteSpeechEngine } from '../../speech/flite-engine.js';
import { speechToPcm8k } from '../../speech/engine.js';
import { recordingLogger } from '../../speech/test-logger.js';

const ROW = [697, 770, 852, 941];
const COL = [1209, 1336, 1477, 1633];
const KEYPAD = '123A456B789C*0#D';

/** 20 ms frames of `fn(sampleIndex)`, through μ-law and back (what the detector sees on a call). */
function frames(count: number, fn: (n: number) => number, start = 0): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < count; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(fn(start + f * 160 + i))));
    out.push(ulawDecode(ulawEncode(pcm)));
  }
  return out;
}

const dual = (f1: number, f2: number, a1 = 7000, a2 = 7000) => (n: number): number =>
  a1 * Math.sin((2 * Math.PI * f1 * n) / 8000) + a2 * Math.sin((2 * Math.PI * f2 * n) / 8000);
const silence = (count: number): Int16Array[] => frames(count, () => 0);

function run(det: InbandDtmfDetector, input: Int16Array[]): string {
  let out = '';
  for (const f of input) out += det.process(f) ?? '';
  return out;
}

function keyTone(key: string, count: number, opts: { a1?: number; a2?: number; detune?: number } = {}): Int16Array[] {
  const i = KEYPAD.indexOf(key);
  const d = opts.detune ?? 1;
  return frames(count, dual(ROW[Math.floor(i / 4)]! * d, COL[i % 4]! * d, opts.a1, opts.a2));
}

test('every key our in-band sender produces is detected once, in order, after G.711', () => {
  const sender = new DtmfSender('inband');
  sender.enqueue('0123456789*#ABCD');
  const det = new InbandDtmfDetector();
  let heard = '';
  for (let i = 0; i < 200 && (sender.active || i < 5); i++) {
    const step = sender.next(i * 160);
    const pcm = step.kind === 'tone' ? ulawDecode(ulawEncode(step.pcm)) : new Int16Array(160);
    heard += det.process(pcm) ?? '';
  }
  assert.equal(heard, '0123456789*#ABCD');
});

test('a press is reported once however long it lasts; a dropout of one frame does not split it; a new press after a gap counts', () => {
  const det = new InbandDtmfDetector();
  assert.equal(run(det, [...keyTone('5', 50)]), '5', 'one second of 5 is one press');
  const withDropout = [...keyTone('7', 4), ...silence(1), ...keyTone('7', 4)];
  assert.equal(run(det, [...silence(3), ...withDropout]), '7');
  assert.equal(run(det, [...silence(3), ...keyTone('7', 3), ...silence(2), ...keyTone('7', 3)]), '77', 'two presses with 40 ms between them');
  assert.equal(run(det, [...silence(3), ...keyTone('1', 3), ...keyTone('2', 3)]), '12', 'one key straight after another');
});

test('a 20 ms blip is not a press; 40 ms is', () => {
  const det = new InbandDtmfDetector();
  assert.equal(run(det, [...silence(2), ...keyTone('9', 1), ...silence(3)]), '');
  assert.equal(run(det, [...silence(2), ...keyTone('9', 2), ...silence(3)]), '9');
});

test('within the tolerances: ±1.5 % off frequency, 8 dB normal and 4 dB reverse twist, −30 dBFS per tone', () => {
  for (const detune of [0.985, 1.015]) assert.equal(run(new InbandDtmfDetector(), keyTone('#', 5, { detune })), '#', `detune ${detune}`);
  assert.equal(run(new InbandDtmfDetector(), keyTone('3', 5, { a1: 10000, a2: 10000 / 2.4 })), '3', 'column 7.6 dB below row');
  assert.equal(run(new InbandDtmfDetector(), keyTone('3', 5, { a1: 6000, a2: 6000 * 1.5 })), '3', 'column 3.5 dB above row');
  assert.equal(run(new InbandDtmfDetector(), keyTone('8', 5, { a1: 1040, a2: 1040 })), '8');
});

test('not keys: one tone alone, two tones from the same group, too quiet, too much twist, noise, speech-like and chord-like audio', () => {
  const none = (what: string, input: Int16Array[]): void => assert.equal(run(new InbandDtmfDetector(), input), '', what);
  none('1 kHz tone', frames(25, (n) => 9000 * Math.sin((2 * Math.PI * 1000 * n) / 8000)));
  none('row tone only', frames(25, (n) => 9000 * Math.sin((2 * Math.PI * 770 * n) / 8000)));
  none('two row tones', frames(25, dual(697, 852)));
  none('−45 dBFS', keyTone('5', 25, { a1: 180, a2: 180 }));
  none('column 14 dB below row', keyTone('5', 25, { a1: 10000, a2: 2000 }));
  let x = 12345;
  none('white noise', frames(50, () => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return ((x >>> 16) - 32768) / 3; }));
  // A voiced vowel: 120 Hz fundamental with falling harmonics, which pass near every keypad row and column.
  none('vowel', frames(50, (n) => {
    let s = 0;
    for (let h = 1; h <= 30; h++) s += (6000 / h) * Math.sin((2 * Math.PI * 120 * h * n) / 8000 + h);
    return s;
  }));
  none('three-note chord', frames(50, (n) => [440, 554, 659].reduce((s, f) => s + 5000 * Math.sin((2 * Math.PI * f * n) / 8000), 0)));
  none('a key under loud noise', keyTone('4', 25).map((f) => {
    const g = new Int16Array(f.length);
    for (let i = 0; i < f.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; g[i] = Math.max(-32768, Math.min(32767, f[i]! + ((x >>> 16) - 32768) / 1.5)); }
    return g;
  }));
});

test('talk-off: a minute of synthesized speech, both voices, after G.711, is never taken for a key', async () => {
  const engine = new FliteSpeechEngine({ logger: recordingLogger() });
  try {
    const text = 'Thank you for calling. Please say or enter your account number, followed by the pound key. '
      + 'For billing, press one. For technical support, press two. To hear these options again, press nine. '
      + 'Your call is important to us, and an agent will be with you shortly. Seven hundred and seventy seven.';
    let frames8k = 0;
    for (const voice of ['WOMAN', 'MAN']) {
      const s = await engine.synthesize(text, { voice, language: 'en-US' });
      const pcm = speechToPcm8k(s);
      const det = new InbandDtmfDetector();
      let heard = '';
      for (let off = 0; off + 160 <= pcm.length; off += 160) {
        heard += det.process(ulawDecode(ulawEncode(pcm.subarray(off, off + 160)))) ?? '';
        frames8k++;
      }
      assert.equal(heard, '', `${voice}: speech detected as keys ${heard}`);
    }
    assert.ok(frames8k * 20 > 20_000, `${frames8k * 20} ms of speech tested`);
  } finally {
    await engine.close();
  }
});

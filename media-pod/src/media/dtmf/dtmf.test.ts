import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeTelephoneEvent, DtmfDigitError, DtmfReceiver, DtmfSender, dtmfDigit, dtmfEventCode, encodeTelephoneEvent,
} from './index.js';

interface Sent { kind: string; marker: boolean; ts: number; event: number; end: boolean; duration: number }

/** Runs the sender frame by frame, as the session's pacer would, until it is idle. */
function run(sender: DtmfSender, maxFrames = 2000): { frames: Sent[] } {
  const frames: Sent[] = [];
  let ts = 1000;
  for (let i = 0; i < maxFrames && sender.active; i++) {
    const step = sender.next(ts);
    const ev = decodeTelephoneEvent(step.payload)!;
    frames.push({ kind: step.kind, marker: step.marker, ts: step.timestamp, event: ev.event, end: ev.end, duration: ev.duration });
    ts += 160;
  }
  return { frames };
}

test('event codes map to 0-9 * # A-D', () => {
  assert.equal(dtmfEventCode('5'), 5);
  assert.equal(dtmfEventCode('*'), 10);
  assert.equal(dtmfEventCode('#'), 11);
  assert.equal(dtmfEventCode('d'), 15);
  assert.equal(dtmfEventCode('E'), undefined);
  assert.equal(dtmfDigit(11), '#');
  assert.equal(dtmfDigit(16), undefined);
  const p = encodeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 });
  assert.deepEqual([...p], [11, 0x8a, 0x03, 0x20]);
  assert.deepEqual(decodeTelephoneEvent(p), { event: 11, end: true, volume: 10, duration: 800 });
  assert.equal(decodeTelephoneEvent(new Uint8Array(3)), null);
});

test('sender: marker start, 20 ms continuations, three end packets, one timestamp per digit', () => {
  const sender = new DtmfSender('rfc4733', { toneMs: 100, gapMs: 40 });
  let done = 0;
  sender.enqueue('1#', () => done++);
  const { frames } = run(sender);
  const events = frames.filter((f) => f.kind === 'event');
  const one = events.filter((f) => f.event === 1);
  assert.equal(one.length, 5 + 3);
  assert.deepEqual(one.map((f) => f.marker), [true, false, false, false, false, false, false, false]);
  assert.deepEqual(one.map((f) => f.duration), [160, 320, 480, 640, 800, 800, 800, 800]);
  assert.deepEqual(one.map((f) => f.end), [false, false, false, false, false, true, true, true]);
  assert.ok(one.every((f) => f.ts === one[0]!.ts));
  const hash = events.filter((f) => f.event === 11);
  assert.equal(hash.length, 8);
  assert.notEqual(hash[0]!.ts, one[0]!.ts);
  // 40 ms gap (2 idle frames) between the last end packet of '1' and the start of '#'.
  const iLastOne = frames.findIndex((f) => f === one[7]);
  const iFirstHash = frames.findIndex((f) => f === hash[0]);
  assert.equal(iFirstHash - iLastOne - 1, 2);
  assert.ok(frames.slice(iLastOne + 1, iFirstHash).every((f) => f.kind === 'idle'));
  assert.equal(done, 1);
});

test("'w' and 'W' pause 0.5 s and 1 s; completion waits for them only when trailing", () => {
  const sender = new DtmfSender('rfc4733', { toneMs: 100, gapMs: 40 });
  let doneFrame = -1; let frame = 0;
  sender.enqueue('1w2W', () => { doneFrame = frame; });
  let ts = 0; const kinds: string[] = [];
  for (; frame < 500 && sender.active; frame++) { kinds.push(sender.next(ts).kind); ts += 160; }
  // digit 8 + gap 2 + w 25 + digit 8 + gap 2 + W 50 = 95 frames
  assert.equal(kinds.length, 95);
  assert.equal(kinds.filter((k) => k === 'event').length, 16);
  assert.equal(doneFrame, 94, 'resolved after the trailing W pause');
});

test('receiver reports each press once despite continuations, end packets and retransmits', () => {
  const sender = new DtmfSender('rfc4733', { toneMs: 100, gapMs: 40 });
  sender.enqueue('159#');
  const { frames } = run(sender);
  const rx = new DtmfReceiver();
  const got: string[] = [];
  const feed = (f: Sent): void => {
    const d = rx.receive(f.ts, encodeTelephoneEvent({ event: f.event, end: f.end, volume: 10, duration: f.duration }));
    if (d) got.push(d);
  };
  const evs = frames.filter((f) => f.kind === 'event');
  for (const f of evs) { feed(f); if (f.end) feed(f); } // every end packet duplicated
  feed(evs[0]!); // a straggler from the first press after the others
  assert.deepEqual(got, ['1', '5', '9', '#']);
});

test('receiver: a press seen only through its end packets is still reported once; same digit twice is two presses', () => {
  const rx = new DtmfReceiver();
  const end = encodeTelephoneEvent({ event: 7, end: true, volume: 10, duration: 800 });
  assert.equal(rx.receive(5000, end), '7');
  assert.equal(rx.receive(5000, end), null);
  assert.equal(rx.receive(6600, encodeTelephoneEvent({ event: 7, end: false, volume: 10, duration: 160 })), '7');
  assert.equal(rx.receive(9000, encodeTelephoneEvent({ event: 16, end: false, volume: 10, duration: 160 })), null, 'flash is not a digit');
});

test('bad characters reject the whole string; in-band mode produces dual-tone frames', () => {
  const sender = new DtmfSender('inband', { toneMs: 100, gapMs: 40 });
  assert.throws(() => sender.enqueue('12x'), DtmfDigitError);
  assert.equal(sender.active, false);
  sender.enqueue('1');
  const step = sender.next(0);
  assert.equal(step.kind, 'tone');
  // Energy at 697 and 1209 Hz, none at 941 Hz.
  const amp = (f: number): number => {
    let re = 0; let im = 0;
    for (let i = 0; i < 160; i++) { re += step.pcm[i]! * Math.cos((2 * Math.PI * f * i) / 8000); im += step.pcm[i]! * Math.sin((2 * Math.PI * f * i) / 8000); }
    return (2 * Math.hypot(re, im)) / 160;
  };
  assert.ok(amp(697) > 5000 && amp(1209) > 5000, `${amp(697)} ${amp(1209)}`);
  assert.ok(amp(941) < 1500, `${amp(941)}`);
  let tones = 1;
  while (sender.active) if (sender.next(0).kind === 'tone') tones++;
  assert.equal(tones, 5);
});

test('cancel runs pending completions', () => {
  const sender = new DtmfSender();
  let done = 0;
  sender.enqueue('123', () => done++);
  sender.next(0);
  sender.cancel();
  assert.equal(done, 1);
  assert.equal(sender.active, false);
});

// PlaybackQueue on its own: framing, the one-tick hold of a partial frame, ring wrap and growth,
// the cap, and checkpoint positions across pulls and clears.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FRAME_SAMPLES, MAX_PENDING_CHECKPOINTS, PlaybackQueue } from './playback-queue.js';

function ramp(n: number, start = 0): Int16Array {
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 30000;
  return out;
}

function queue(maxQueuedMs = 60000): { q: PlaybackQueue; played: string[] } {
  const played: string[] = [];
  return { q: new PlaybackQueue({ maxQueuedMs, onPlayed: (n) => played.push(n) }), played };
}

test('full frames come out in order; empty queue gives null', () => {
  const { q } = queue();
  assert.equal(q.pull(), null);
  q.append(ramp(480));
  assert.equal(q.queuedMs, 60);
  for (let k = 0; k < 3; k++) assert.deepEqual(q.pull(), ramp(160, 160 * k));
  assert.equal(q.pull(), null);
});

test('a partial frame waits one tick for the rest, then is padded with silence', () => {
  const { q } = queue();
  q.append(ramp(100));
  assert.equal(q.pull(), null, 'held for one tick');
  q.append(ramp(60, 100));
  assert.deepEqual(q.pull(), ramp(160), 'completed by the next message');
  q.append(ramp(40, 7));
  assert.equal(q.pull(), null);
  const padded = q.pull();
  assert.ok(padded);
  assert.deepEqual(padded.subarray(0, 40), ramp(40, 7));
  assert.ok(padded.subarray(40).every((s) => s === 0));
  assert.equal(q.queuedSamples, 0);
});

test('the ring grows past its initial second and wraps without corrupting audio', () => {
  const { q } = queue();
  const src = ramp(8000 * 3 + 80);
  let fed = 0; let out = 0;
  // Interleave appends and pulls so that head and tail wrap around repeatedly.
  while (out + FRAME_SAMPLES <= src.length) {
    if (fed < src.length) { const n = Math.min(1234, src.length - fed); q.append(src, fed, n); fed += n; }
    const f = q.pull();
    if (f) { assert.deepEqual(f, src.subarray(out, out + FRAME_SAMPLES), `frame at ${out}`); out += FRAME_SAMPLES; }
  }
  assert.equal(out, 8000 * 3);
});

test('append beyond the cap accepts only what fits', () => {
  const { q } = queue(100);
  assert.equal(q.append(ramp(500)), 500);
  assert.equal(q.append(ramp(500)), 300);
  assert.equal(q.queuedMs, 100);
  q.pull();
  assert.equal(q.append(ramp(500)), 160);
});

test('checkpoints fire in order once their position has been played, including on an empty queue', () => {
  const { q, played } = queue();
  q.mark('empty');
  assert.deepEqual(played, []);
  assert.equal(q.pull(), null);
  assert.deepEqual(played, ['empty']);
  q.append(ramp(320)); q.mark('a'); q.append(ramp(160)); q.mark('b'); q.mark('c');
  q.pull(); assert.deepEqual(played, ['empty']);
  q.pull(); assert.deepEqual(played, ['empty', 'a']);
  q.pull(); assert.deepEqual(played, ['empty', 'a', 'b', 'c']);
  assert.equal(q.pendingCheckpoints, 0);
});

test('a checkpoint after a partial frame fires when the padded frame is played', () => {
  const { q, played } = queue();
  q.append(ramp(50)); q.mark('tail');
  q.pull(); assert.deepEqual(played, []);
  q.pull(); assert.deepEqual(played, ['tail']);
});

test('clear drops audio and checkpoints without acknowledging them; later ones still work', () => {
  const { q, played } = queue();
  q.append(ramp(800)); q.mark('gone');
  assert.deepEqual(q.clear(), { droppedSamples: 800, droppedCheckpoints: 1 });
  assert.equal(q.pull(), null);
  q.append(ramp(160)); q.mark('kept');
  q.pull(); q.pull();
  assert.deepEqual(played, ['kept']);
});

test('pending checkpoints are bounded', () => {
  const { q } = queue();
  q.append(ramp(160));
  for (let i = 0; i < MAX_PENDING_CHECKPOINTS; i++) assert.equal(q.mark(`c${i}`), true);
  assert.equal(q.mark('one too many'), false);
});

test('a μ-law queue holds bytes: frames come out as they went in, a partial frame is padded with μ-law silence, checkpoints and clear work the same', () => {
  const played: string[] = [];
  const q = new PlaybackQueue({ maxQueuedMs: 1000, onPlayed: (n) => played.push(n), ulaw: true });
  const bytes = Uint8Array.from({ length: 400 }, (_, i) => (i * 7) & 0xff);
  assert.equal(q.append(bytes), 400);
  q.mark('end');
  assert.equal(q.queuedMs, 50);
  const f1 = q.pull();
  assert.ok(f1 instanceof Uint8Array);
  assert.deepEqual(Array.from(f1), Array.from(bytes.subarray(0, 160)));
  assert.deepEqual(Array.from(q.pull()!), Array.from(bytes.subarray(160, 320)));
  assert.equal(q.pull(), null, 'the last 80 bytes wait a tick for the rest of their frame');
  const last = q.pull()!;
  assert.deepEqual(Array.from(last.subarray(0, 80)), Array.from(bytes.subarray(320)));
  assert.ok(last.subarray(80).every((b) => b === 0xff), 'μ-law silence, not 0x00 (its loudest code)');
  assert.deepEqual(played, ['end']);
  // Growing past the first ring and clearing keep the byte storage.
  const big = new Uint8Array(20000).fill(0x55);
  assert.equal(q.append(big), 8000, 'capped at 1 s');
  assert.equal(q.clear().droppedSamples, 8000);
  q.append(Uint8Array.from({ length: 160 }, () => 0x12));
  assert.ok(q.pull()!.every((b) => b === 0x12));
});

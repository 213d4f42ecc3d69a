import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplayWindow } from './replay-window.js';

test('new indices pass, repeats and indices behind the window do not', () => {
  const w = new ReplayWindow(64);
  assert.equal(w.check(0), 'ok');
  w.record(0);
  assert.equal(w.check(0), 'seen');
  w.record(100);
  assert.equal(w.check(36), 'old');
  assert.equal(w.check(37), 'ok');
  assert.equal(w.check(100), 'seen');
  w.record(37);
  assert.equal(w.check(37), 'seen');
  assert.equal(w.highestIndex, 100);
});

test('bits from a previous lap of the ring are cleared when the window slides', () => {
  const w = new ReplayWindow(64);
  for (let i = 0; i < 64; i++) w.record(i);
  w.record(70); // slides by 7: the slots of 64..69 must read as unseen now
  for (let i = 64; i < 70; i++) assert.equal(w.check(i), 'ok', `index ${i}`);
  assert.equal(w.check(10), 'seen');
  assert.equal(w.check(6), 'old');
  w.record(1000); // a jump past the whole window clears everything
  for (let i = 937; i < 1000; i++) assert.equal(w.check(i), 'ok', `index ${i}`);
});

test('sizes are validated', () => {
  assert.throws(() => new ReplayWindow(32), RangeError);
  assert.throws(() => new ReplayWindow(100), RangeError);
  assert.doesNotThrow(() => new ReplayWindow(1024));
});

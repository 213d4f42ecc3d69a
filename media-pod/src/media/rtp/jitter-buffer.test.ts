import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer } from './jitter-buffer.js';

function harness(opts?: { depth?: number; maxWaitMs?: number }) {
  const out: number[] = [];
  const jb = new JitterBuffer((seq) => out.push(seq), opts);
  const push = (seq: number, at = 0): void => jb.push(seq, seq * 160, new Uint8Array(1), at);
  return { jb, out, push };
}

test('in-order packets pass straight through', () => {
  const { out, push, jb } = harness();
  for (const s of [10, 11, 12]) push(s);
  assert.deepEqual(out, [10, 11, 12]);
  assert.equal(jb.size, 0);
});

test('reordered packets are delivered in sequence order', () => {
  const { out, push, jb } = harness();
  for (const s of [1, 3, 4, 2, 5]) push(s);
  assert.deepEqual(out, [1, 2, 3, 4, 5]);
  assert.equal(jb.stats.reordered, 2);
  assert.equal(jb.stats.lost, 0);
});

test('a gap is given up once depth packets are waiting, and counted lost', () => {
  const { out, push, jb } = harness({ depth: 3 });
  for (const s of [1, 3, 4, 5]) push(s);
  assert.deepEqual(out, [1]);
  push(6);
  assert.deepEqual(out, [1, 3, 4, 5, 6]);
  assert.equal(jb.stats.lost, 1);
  push(2); // too late now
  assert.equal(jb.stats.late, 1);
  push(5);
  assert.equal(jb.stats.duplicate, 1);
  assert.deepEqual(out, [1, 3, 4, 5, 6]);
});

test('flush gives up a gap after maxWaitMs without any timer', () => {
  const { out, push, jb } = harness({ depth: 4, maxWaitMs: 60 });
  push(1, 0); push(3, 20);
  jb.flush(70);
  assert.deepEqual(out, [1]);
  jb.flush(80);
  assert.deepEqual(out, [1, 3]);
  assert.equal(jb.stats.lost, 1);
});

test('sequence wrap-around with reordering across it', () => {
  const { out, push, jb } = harness();
  for (const s of [65533, 65534, 0, 65535, 1, 2]) push(s);
  assert.deepEqual(out, [65533, 65534, 65535, 0, 1, 2]);
  assert.equal(jb.stats.lost, 0);
  assert.equal(jb.stats.late, 0);
});

test('duplicates of held packets are dropped; big jumps resync instead of counting loss', () => {
  const { out, push, jb } = harness();
  push(100); push(102); push(102);
  assert.equal(jb.stats.duplicate, 1);
  push(101);
  assert.deepEqual(out, [100, 101, 102]);
  push(40000); // sender restarted its sequence
  push(40001);
  assert.deepEqual(out.slice(3), [40000, 40001]);
  assert.equal(jb.stats.resyncs, 1);
  assert.equal(jb.stats.lost, 0);
  push(40030); // a burst loss longer than the buffer: holes are lost, delivery continues
  assert.equal(jb.stats.lost, 28);
  assert.deepEqual(out.slice(5), [40030]);
});

test('drain delivers held packets in order; reset forgets position', () => {
  const { out, push, jb } = harness();
  push(1); push(4); push(3);
  jb.drain();
  assert.deepEqual(out, [1, 3, 4]);
  jb.reset();
  push(900);
  assert.deepEqual(out, [1, 3, 4, 900]);
});

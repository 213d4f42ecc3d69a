// Our builders' output against a mirror of plivo-stream-sdk-node's zod schemas, and the mirror
// itself against the mistakes that schema rejects (numbers as strings, non-UUIDs, missing fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { platformMessageProblems } from './sdk-shape.js';
import { ControlMessages, MediaMessageEncoder, buildStartMessage } from './wire-messages.js';
import { streamFormatOf } from './protocol.js';

const CALL = '8a6f3a4e-2b1c-4d5e-9f00-1234567890ab';
const SID = '0f5b7d1e-4c3a-4b2a-8e1f-aabbccddeeff';

test('every message the bridge builds passes the Node SDK checks', () => {
  for (const ct of ['audio/x-mulaw;rate=8000', 'audio/x-l16;rate=8000', 'audio/x-l16;rate=16000']) {
    const format = streamFormatOf(ct)!;
    const start = JSON.parse(buildStartMessage({ callId: CALL, streamId: SID, accountId: '', tracks: ['inbound'], format, extraHeaders: 'a=1;b=2' }));
    assert.deepEqual(platformMessageProblems(start), []);
    for (const track of ['inbound', 'outbound'] as const) {
      const enc = new MediaMessageEncoder(track, format, SID, '{"X-PH-k":"v \\"q\\""}');
      const text = enc.encode({ pcm: new Int16Array(160).fill(1000) }, 7, 3, 1_705_312_200_000)!.toString('utf8');
      const m = JSON.parse(text);
      assert.deepEqual(platformMessageProblems(m), [], text.slice(0, 120));
      assert.equal(m.extra_headers, '{"X-PH-k":"v \\"q\\""}', 'extra_headers is echoed verbatim, escaped as JSON');
      assert.equal(Buffer.from(m.media.payload, 'base64').length, format.encoding === 'audio/x-mulaw' ? 160 : format.sampleRate === 8000 ? 320 : 640);
    }
  }
  const c = new ControlMessages(SID, '');
  for (const text of [c.dtmf(2, '*', 5), c.playedStream(3, 'n "1"'), c.clearedAudio(4), c.stop(5, 'call_hangup')]) {
    assert.deepEqual(platformMessageProblems(JSON.parse(text)), [], text);
  }
});

test('the validator rejects what the SDK rejects', () => {
  const good = { event: 'media', sequenceNumber: 2, streamId: SID, media: { track: 'inbound', timestamp: '1705312200000', chunk: 1, payload: 'AAAA' }, extra_headers: '' };
  assert.deepEqual(platformMessageProblems(good), []);
  const cases: [string, unknown, RegExp][] = [
    ['sequenceNumber as a string (old 3P captures)', { ...good, sequenceNumber: '2' }, /sequenceNumber: expected JSON number/],
    ['chunk as a string', { ...good, media: { ...good.media, chunk: '1' } }, /chunk: expected JSON number/],
    ['timestamp as a number', { ...good, media: { ...good.media, timestamp: 1705312200000 } }, /timestamp: expected string/],
    ['streamId not a UUID', { ...good, streamId: 'MZ123' }, /streamId: not a UUID/],
    ['extra_headers missing', { ...good, extra_headers: undefined }, /extra_headers: expected string, got nothing/],
    ['extra_headers as an object', { ...good, extra_headers: {} }, /extra_headers: expected string/],
    ['unknown event', { event: 'mark' }, /not a platform event/],
  ];
  for (const [what, msg, re] of cases) assert.match(platformMessageProblems(msg).join('; '), re, what);
  const start = { event: 'start', sequenceNumber: 1, start: { callId: 'abc', streamId: SID, tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-l16', sampleRate: '8000' } }, extra_headers: '' };
  const problems = platformMessageProblems(start).join('; ');
  assert.match(problems, /callId: not a UUID/);
  assert.match(problems, /accountId: expected string/);
  assert.match(problems, /sampleRate: expected JSON number/);
});

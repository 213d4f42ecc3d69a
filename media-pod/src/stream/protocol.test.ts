// The agent-message parser: what Plivo's documented clients send, and what must be tolerated.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUuid, parseAgentMessage, streamFormatOf, tracksOf } from './protocol.js';

test('stream contentType maps to the start.mediaFormat values', () => {
  assert.deepEqual(streamFormatOf('audio/x-mulaw;rate=8000'), { encoding: 'audio/x-mulaw', sampleRate: 8000 });
  assert.deepEqual(streamFormatOf('audio/x-l16; rate=16000'), { encoding: 'audio/x-l16', sampleRate: 16000 });
  assert.deepEqual(streamFormatOf('audio/x-l16;rate=8000'), { encoding: 'audio/x-l16', sampleRate: 8000 });
  assert.equal(streamFormatOf('audio/x-mulaw;rate=16000'), undefined);
  assert.deepEqual(tracksOf('both'), ['inbound', 'outbound']);
  assert.deepEqual(tracksOf('outbound'), ['outbound']);
});

test('playAudio as pipecat, agent-transport and the DOC send it', () => {
  assert.deepEqual(parseAgentMessage('{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"//8="},"streamId":"s"}'),
    { kind: 'playAudio', encoding: 'audio/x-mulaw', sampleRate: 8000, payload: '//8=', streamId: 's' });
  assert.deepEqual(parseAgentMessage('{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":"16000","payload":""}}'),
    { kind: 'playAudio', encoding: 'audio/x-l16', sampleRate: 16000, payload: '' });
  assert.equal(parseAgentMessage('{"event":"playAudio","media":{"contentType":"audio/x-l16;rate=8000","sampleRate":8000,"payload":""}}').kind, 'playAudio');
});

test('playAudio with unusable fields is invalid, not fatal', () => {
  for (const bad of [
    '{"event":"playAudio"}',
    '{"event":"playAudio","media":{"contentType":"audio/wav","sampleRate":8000,"payload":""}}',
    '{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":44100,"payload":""}}',
    '{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":"8k","payload":""}}',
    '{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":16000,"payload":""}}',
    '{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":5}}',
  ]) assert.equal(parseAgentMessage(bad).kind, 'invalid', bad);
});

test('checkpoint, clearAudio (with or without streamId) and sendDTMF', () => {
  assert.deepEqual(parseAgentMessage('{"event":"checkpoint","streamId":"x","name":"turn-1"}'), { kind: 'checkpoint', name: 'turn-1', streamId: 'x' });
  assert.equal(parseAgentMessage('{"event":"checkpoint","streamId":"x"}').kind, 'invalid');
  assert.deepEqual(parseAgentMessage('{"event":"clearAudio"}'), { kind: 'clearAudio' });
  assert.deepEqual(parseAgentMessage('{"event":"clearAudio","streamId":"x"}'), { kind: 'clearAudio', streamId: 'x' });
  assert.deepEqual(parseAgentMessage('{"event":"sendDTMF","dtmf":"1234#"}'), { kind: 'sendDTMF', digits: '1234#' });
  assert.equal(parseAgentMessage('{"event":"sendDTMF","dtmf":""}').kind, 'invalid');
});

test('unknown events and non-objects', () => {
  assert.deepEqual(parseAgentMessage('{"event":"muteStream"}'), { kind: 'unknown', event: 'muteStream' });
  assert.equal(parseAgentMessage('not json').kind, 'invalid');
  assert.equal(parseAgentMessage('null').kind, 'invalid');
  assert.equal(parseAgentMessage('{"name":"x"}').kind, 'invalid');
});

test('isUuid follows zod z.uuid(): versions 1–8, RFC variant, nil and max', () => {
  assert.equal(isUuid('8a6f3a4e-2b1c-4d5e-9f00-1234567890ab'), true);
  assert.equal(isUuid('8A6F3A4E-2B1C-7D5E-AF00-1234567890AB'), true);
  assert.equal(isUuid('00000000-0000-0000-0000-000000000000'), true);
  assert.equal(isUuid('8a6f3a4e-2b1c-0d5e-9f00-1234567890ab'), false, 'version 0');
  assert.equal(isUuid('8a6f3a4e-2b1c-4d5e-cf00-1234567890ab'), false, 'variant');
  assert.equal(isUuid('8a6f3a4e2b1c4d5e9f001234567890ab'), false);
});

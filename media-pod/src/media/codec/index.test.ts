import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeFrame, isCodec, silenceByte, STATIC_PAYLOAD_TYPE } from './index.js';

test('encodeFrame/decodeFrame pick the codec by name', () => {
  const pcm = new Int16Array([0, 1000, -1000, 32767]);
  assert.deepEqual([...encodeFrame('PCMU', pcm)], [0xff, 0xce, 0x4e, 0x80]);
  assert.deepEqual([...encodeFrame('PCMA', pcm)], [0xd5, 0xfa, 0x7a, 0xaa]);
  assert.deepEqual([...decodeFrame('PCMU', new Uint8Array([silenceByte('PCMU')]))], [0]);
  assert.deepEqual([...decodeFrame('PCMA', new Uint8Array([silenceByte('PCMA')]))], [8]);
  assert.equal(STATIC_PAYLOAD_TYPE.PCMA, 8);
  assert.ok(isCodec('PCMU') && !isCodec('G722'));
});

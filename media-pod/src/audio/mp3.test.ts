import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAudioFile, sniffAudioContainer } from './decode.js';
import { AudioFileError } from './errors.js';
import { decodeMp3, id3v2Length, isMpegFrameHeader } from './mp3.js';
import { silentMp3 } from './test-fixtures.js';

test('hand-assembled silent MPEG-1 Layer III frames decode to silence of the right length', async () => {
  const d = await decodeMp3(silentMp3(25));
  assert.equal(d.sampleRate, 48000);
  assert.equal(d.pcm.length, 25 * 1152);
  assert.ok(d.pcm.every((s) => s === 0));
  const pcm8k = await decodeAudioFile(silentMp3(25));
  assert.equal(pcm8k.length, (25 * 1152) / 6); // 48 kHz → 8 kHz
  assert.ok(pcm8k.every((s) => s === 0));
});

test('MP3 is recognised by an ID3v2 tag or a frame header, not by name', async () => {
  const tagged = silentMp3(10, true);
  assert.equal(id3v2Length(tagged), 20);
  assert.equal(sniffAudioContainer(tagged), 'mp3');
  assert.equal(sniffAudioContainer(silentMp3(1)), 'mp3');
  assert.equal((await decodeAudioFile(tagged)).length, 10 * 192);
  assert.equal(isMpegFrameHeader(Uint8Array.from([0xff, 0xfb, 0xf4, 0xc0]), 0), false, 'bitrate index 15 is invalid');
  assert.equal(isMpegFrameHeader(Uint8Array.from([0xff, 0xfb, 0x5c, 0xc0]), 0), false, 'sample-rate index 3 is reserved');
  assert.equal(isMpegFrameHeader(Uint8Array.from([0xff, 0xf9, 0x54, 0xc0]), 0), false, 'layer 0 is reserved');
  assert.equal(sniffAudioContainer(Uint8Array.from([0xff, 0xff, 0xff, 0xff])), null);
});

test('an ID3 tag followed by no decodable frames is corrupt', async () => {
  const junk = new Uint8Array(4000).fill(0x07);
  junk.set([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 10], 0);
  await assert.rejects(decodeAudioFile(junk), (e: unknown) => e instanceof AudioFileError && e.cause === 'corrupt' && /no decodable MPEG audio frame/.test(e.message));
});

test('maxSeconds bounds how much MP3 audio is decoded', async () => {
  // 100 frames = 2.4 s at 48 kHz.
  await assert.rejects(decodeMp3(silentMp3(100), { maxSeconds: 1 }), (e: unknown) => e instanceof AudioFileError && e.cause === 'too_large');
  assert.equal((await decodeMp3(silentMp3(100), { maxSeconds: 3 })).pcm.length, 115200);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alawEncode, ulawDecode, ulawEncode } from '../media/codec/g711.js';
import { decodeAudioFile, sniffAudioContainer } from './decode.js';
import { AudioFileError } from './errors.js';
import { decodeWav, encodeWavPcm16, WAVE_FORMAT_ALAW, WAVE_FORMAT_IEEE_FLOAT, WAVE_FORMAT_MULAW, WAVE_FORMAT_PCM } from './wav.js';
import { buildWav, rms, sine } from './test-fixtures.js';

function pcm16(x: Float64Array): Int16Array { return Int16Array.from(x, (v) => Math.round(v * 32767)); }
function le16(samples: Int16Array): Uint8Array { return new Uint8Array(samples.buffer.slice(0)); }

function rejects(bytes: Uint8Array, cause: AudioFileError['cause'], detail: RegExp): void {
  assert.throws(() => decodeWav(bytes), (e: unknown) => {
    assert.ok(e instanceof AudioFileError, `expected AudioFileError, got ${String(e)}`);
    assert.equal(e.cause, cause);
    assert.match(e.detail, detail);
    return true;
  });
}

test('8 kHz mu-law WAV decodes to exactly the G.711 expansion, no resampling', async () => {
  const src = pcm16(sine(8000, 440, 0.5));
  const ulaw = ulawEncode(src);
  const wav = buildWav({ formatTag: WAVE_FORMAT_MULAW, channels: 1, sampleRate: 8000, bitsPerSample: 8, data: ulaw });
  assert.equal(sniffAudioContainer(wav), 'wav');
  const pcm8k = await decodeAudioFile(wav);
  assert.equal(pcm8k.length, 4000);
  assert.deepEqual(pcm8k, ulawDecode(ulaw));
});

test('8 kHz A-law WAV decodes close to the source', async () => {
  const src = pcm16(sine(8000, 300, 0.25));
  const wav = buildWav({ formatTag: WAVE_FORMAT_ALAW, channels: 1, sampleRate: 8000, bitsPerSample: 8, data: alawEncode(src) });
  const out = await decodeAudioFile(wav);
  assert.equal(out.length, src.length);
  for (let i = 0; i < src.length; i++) assert.ok(Math.abs(out[i]! - src[i]!) <= Math.abs(src[i]!) / 16 + 16, `sample ${i}`);
});

test('16 kHz PCM16 stereo is downmixed and resampled to 8 kHz', async () => {
  const left = pcm16(sine(16000, 400, 1, 0.6));
  const inter = new Int16Array(left.length * 2);
  for (let i = 0; i < left.length; i++) { inter[2 * i] = left[i]!; inter[2 * i + 1] = 0; } // right channel silent
  const wav = buildWav({ formatTag: WAVE_FORMAT_PCM, channels: 2, sampleRate: 16000, bitsPerSample: 16, data: le16(inter) });
  const native = decodeWav(wav);
  assert.equal(native.format.channels, 2);
  assert.equal(native.pcm.length, 16000);
  assert.equal(native.pcm[100], Math.round(left[100]! / 2));
  const out = await decodeAudioFile(wav);
  assert.equal(out.length, 8000);
  // Half amplitude after the downmix: 0.3 full scale → RMS 0.3/√2 of 32767.
  const expected = (0.3 * 32767) / Math.SQRT2;
  assert.ok(Math.abs(rms(out, 200, 7800) - expected) < expected * 0.05, `rms ${rms(out, 200, 7800)} vs ${expected}`);
});

test('44.1 kHz IEEE float WAV is converted, clamped and resampled to 8 kHz', async () => {
  const x = sine(44100, 1000, 2, 0.5);
  const f = new Float32Array(x);
  f[10] = 3; f[11] = -3; f[12] = Number.NaN; // out of range / invalid samples must not wrap around
  const wav = buildWav({ formatTag: WAVE_FORMAT_IEEE_FLOAT, channels: 1, sampleRate: 44100, bitsPerSample: 32, data: new Uint8Array(f.buffer) });
  const native = decodeWav(wav);
  assert.equal(native.pcm[10], 32767);
  assert.equal(native.pcm[11], -32768);
  assert.equal(native.pcm[12], 0);
  assert.equal(native.pcm[1000], Math.round(x[1000]! * 32767));
  const out = await decodeAudioFile(wav);
  assert.equal(out.length, 16000);
  const expected = (0.5 * 32767) / Math.SQRT2;
  assert.ok(Math.abs(rms(out, 400, 15600) - expected) < expected * 0.05);
});

test('8-, 24- and 32-bit PCM, 64-bit float and WAVE_FORMAT_EXTENSIBLE all decode to the same int16 values', () => {
  const src = Int16Array.from([0, 1000, -1000, 32767, -32768, 12345]);
  const b8 = Uint8Array.from(src, (s) => (s >> 8) + 128);
  const b24 = new Uint8Array(src.length * 3);
  const b32 = new Uint8Array(src.length * 4);
  const f64 = new Float64Array(src.length);
  src.forEach((s, i) => {
    new DataView(b24.buffer).setInt16(i * 3 + 1, s, true); b24[i * 3] = 0x7f;
    new DataView(b32.buffer).setInt32(i * 4, s * 65536 + 0x7fff, true);
    f64[i] = s / 32767;
  });
  assert.deepEqual(decodeWav(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 8, data: b8 })).pcm, Int16Array.from(src, (s) => (s >> 8) << 8));
  assert.deepEqual(decodeWav(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 24, data: b24 })).pcm, src);
  assert.deepEqual(decodeWav(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 32, data: b32 })).pcm, src);
  assert.deepEqual(decodeWav(buildWav({ formatTag: 3, channels: 1, sampleRate: 8000, bitsPerSample: 64, data: new Uint8Array(f64.buffer) })).pcm,
    Int16Array.from(src, (s) => Math.max(-32768, s)));
  const ext = decodeWav(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: le16(src), extensible: true }));
  assert.equal(ext.format.formatTag, WAVE_FORMAT_PCM);
  assert.deepEqual(ext.pcm, src);
});

test('unknown chunks before fmt (odd-sized, padded) are skipped; a 0xFFFFFFFF data size means "to the end"', () => {
  const src = Int16Array.from([1, 2, 3, 4]);
  const withList = buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: le16(src), leadingChunks: [{ id: 'LIST', body: new Uint8Array(5) }] });
  assert.deepEqual(decodeWav(withList).pcm, src);
  const streamed = buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: le16(src), dataSizeField: 0xffffffff });
  assert.deepEqual(decodeWav(streamed).pcm, src);
});

test('encodeWavPcm16 round-trips', () => {
  const src = Int16Array.from([5, -5, 32767, -32768]);
  const d = decodeWav(encodeWavPcm16(src, 22050));
  assert.equal(d.sampleRate, 22050);
  assert.deepEqual(d.pcm, src);
});

test('corrupt and unsupported WAV headers are rejected with a clear cause', () => {
  const good = buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: new Uint8Array(320) });
  rejects(good.subarray(0, 30), 'corrupt', /fmt ' declares 16 bytes but only 10 remain/);
  rejects(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: new Uint8Array(320), dataSizeField: 1_000_000 }), 'corrupt', /'data' declares 1000000 bytes but only 320 remain/);
  rejects(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 16, data: new Uint8Array(0) }), 'corrupt', /no complete sample frame/);
  rejects(buildWav({ formatTag: 1, channels: 0, sampleRate: 8000, bitsPerSample: 16, data: new Uint8Array(4), blockAlign: 2 }), 'corrupt', /0 channels/);
  rejects(buildWav({ formatTag: 1, channels: 2, sampleRate: 8000, bitsPerSample: 16, data: new Uint8Array(4), blockAlign: 2 }), 'corrupt', /block align 2/);
  rejects(buildWav({ formatTag: 1, channels: 1, sampleRate: 0, bitsPerSample: 16, data: new Uint8Array(4) }), 'unsupported_format', /sample rate 0 Hz/);
  rejects(buildWav({ formatTag: 2, channels: 1, sampleRate: 8000, bitsPerSample: 4, data: new Uint8Array(4), blockAlign: 1 }), 'unsupported_format', /0x0002 \(MS ADPCM\)/);
  rejects(buildWav({ formatTag: 1, channels: 1, sampleRate: 8000, bitsPerSample: 12, data: new Uint8Array(4), blockAlign: 2 }), 'unsupported_format', /12 bits/);
  // A header whose fmt chunk is missing entirely.
  const noFmt = Uint8Array.from([...Buffer.from('RIFF'), 12, 0, 0, 0, ...Buffer.from('WAVEdata'), 0, 0, 0, 0]);
  rejects(noFmt, 'corrupt', /no fmt chunk/);
  // A huge declared size in the first chunk must not be trusted to index memory.
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(16, 0xfffffff0, true);
  rejects(huge, 'corrupt', /declares 4294967280 bytes/);
  assert.equal(decodeWav(good, { maxSeconds: 1 }).pcm.length, 160);
  assert.throws(() => decodeWav(good, { maxSeconds: 0.01 }), (e: unknown) => e instanceof AudioFileError && e.cause === 'too_large');
});

test('random bytes, HTML and Ogg are unsupported_format, named in the message', async () => {
  for (const [bytes, re] of [
    [Buffer.from('<!DOCTYPE html><html>Not found</html>'), /HTML/],
    [Buffer.from('OggS\0\x02rest-of-file'), /Ogg/],
    [Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), /0102030405060708/],
    [new Uint8Array(0), /empty/],
  ] as const) {
    await assert.rejects(decodeAudioFile(bytes), (e: unknown) => {
      assert.ok(e instanceof AudioFileError);
      assert.equal(e.cause, 'unsupported_format');
      assert.match(e.message, re);
      return true;
    });
  }
});

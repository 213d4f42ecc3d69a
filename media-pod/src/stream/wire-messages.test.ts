// The byte-level media message encoder against the plain string construction it replaces:
// same JSON text, byte for byte, for every stream format, odd payload sizes and non-ASCII headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaMessageEncoder, writeBase64, writeDecimal } from './wire-messages.js';
import { streamFormatOf } from './protocol.js';
import { ulawEncode } from '../media/codec/g711.js';

const SID = '0f5b7d1e-4c3a-4b2a-8e1f-aabbccddeeff';

/** What the encoder used to build: string pieces around a base64 string. */
function reference(track: string, streamId: string, extra: string, seq: number, chunk: number, wallMs: number, payload: Buffer): string {
  return `{"event":"media","sequenceNumber":${seq},"streamId":${JSON.stringify(streamId)},"media":{"track":${JSON.stringify(track)},"timestamp":"${Math.trunc(wallMs)}","chunk":${chunk},"payload":"${payload.toString('base64')}"},"extra_headers":${JSON.stringify(extra)}}`;
}

/** Deterministic bytes (a small LCG), so a failure reproduces. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; b[i] = x >>> 24; }
  return b;
}

test('writeBase64 matches Buffer base64 for every length up to 700, at an offset', () => {
  const out = Buffer.alloc(1000);
  for (let n = 0; n <= 700; n++) {
    const src = bytes(n, n + 1);
    out.fill(0x21);
    const end = writeBase64(src, n, out, 3);
    const want = src.toString('base64');
    assert.equal(out.toString('latin1', 3, end), want, `length ${n}`);
    assert.equal(out[2], 0x21, 'nothing written before the offset');
  }
});

test('writeDecimal writes integers like String(), truncating fractions', () => {
  const out = Buffer.alloc(32);
  for (const v of [0, 1, 9, 10, 99, 100, 12345, 2 ** 31, 2 ** 32 + 7, 1_705_312_200_000, 1_705_312_200_000.9, Number.MAX_SAFE_INTEGER]) {
    const end = writeDecimal(v, out, 2);
    assert.equal(out.toString('latin1', 2, end), String(Math.trunc(v)));
  }
});

test('media messages are byte-identical to the string construction, all formats', () => {
  const extras = ['', 'a=1;b=2', '{"X-PH-k":"v \\"q\\""}', 'café=ü;emoji=🎉', 'ctl=\u0001\n'];
  for (const ct of ['audio/x-mulaw;rate=8000', 'audio/x-l16;rate=8000', 'audio/x-l16;rate=16000']) {
    const format = streamFormatOf(ct)!;
    for (const extra of extras) {
      for (const track of ['inbound', 'outbound'] as const) {
        const enc = new MediaMessageEncoder(track, format, SID, extra);
        // A second encoder fed the same frames computes the expected payload bytes: the μ-law
        // passthrough is the frame itself; for L16 the payload is taken from our own message.
        for (let k = 0; k < 6; k++) {
          const n = [160, 160, 80, 1, 2, 480][k]!;
          const ulaw = bytes(n, 100 * k + extra.length);
          const seq = 1 + k * 1000; const chunk = k + 1; const wall = 1_705_312_200_000 + k * 20.5;
          const got = enc.encode({ ulaw }, seq, chunk, wall)!;
          const text = got.toString('utf8');
          const payload = Buffer.from((JSON.parse(text) as { media: { payload: string } }).media.payload, 'base64');
          if (format.encoding === 'audio/x-mulaw') assert.deepEqual(payload, ulaw);
          else assert.equal(payload.length, format.sampleRate === 8000 ? 2 * n : 4 * n);
          assert.deepEqual(got, Buffer.from(reference(track, SID, extra, seq, chunk, wall, payload), 'utf8'), `${ct} ${track} ${JSON.stringify(extra)} frame ${k}`);
        }
      }
    }
  }
});

test('a PCM frame on a μ-law stream is encoded to μ-law; an empty frame gives no message', () => {
  const enc = new MediaMessageEncoder('inbound', streamFormatOf('audio/x-mulaw;rate=8000')!, SID, '');
  const pcm = new Int16Array(160).map((_, i) => (i * 397) % 30000 - 15000);
  const text = enc.encode({ pcm }, 2, 1, 5)!.toString('utf8');
  const payload = Buffer.from((JSON.parse(text) as { media: { payload: string } }).media.payload, 'base64');
  assert.deepEqual(payload, Buffer.from(ulawEncode(pcm)));
  assert.equal(enc.encode({}, 3, 2, 6), undefined);
  assert.equal(enc.encode({ ulaw: new Uint8Array(0) }, 3, 2, 6), undefined);
});

test('consecutive frames reuse the message layout and stay identical across digit-count changes', () => {
  for (const ct of ['audio/x-mulaw;rate=8000', 'audio/x-l16;rate=8000']) {
    const enc = new MediaMessageEncoder('inbound', streamFormatOf(ct)!, SID, 'k=v');
    let prev = '';
    for (let k = 0; k < 120; k++) {
      const seq = 2 + k; const chunk = 1 + k; // crosses 9→10 and 99→100 in both
      const wall = k < 60 ? 999_999_999_990 + k : 1_705_312_200_000 + k; // 12 then 13 digits
      const ulaw = bytes(k === 70 ? 80 : 160, k); // one short frame in the middle
      const text = enc.encode({ ulaw }, seq, chunk, wall)!.toString('utf8');
      const payload = Buffer.from((JSON.parse(text) as { media: { payload: string } }).media.payload, 'base64');
      if (ct.startsWith('audio/x-mulaw')) assert.deepEqual(payload, ulaw, `frame ${k}`);
      assert.equal(text, reference('inbound', SID, 'k=v', seq, chunk, wall, payload), `${ct} frame ${k}`);
      assert.notEqual(text, prev);
      prev = text;
    }
  }
});

test('a silence frame is exact silence in every format, and a 16 kHz stream restarts its resampler after it', () => {
  const payloadOf = (b: Buffer | undefined): Buffer => Buffer.from((JSON.parse(b!.toString('utf8')) as { media: { payload: string } }).media.payload, 'base64');
  const mulaw = new MediaMessageEncoder('inbound', streamFormatOf('audio/x-mulaw;rate=8000')!, SID, '');
  assert.deepEqual(payloadOf(mulaw.encode({ silence: 160 }, 2, 1, 5)), Buffer.alloc(160, 0xff));
  const l8 = new MediaMessageEncoder('inbound', streamFormatOf('audio/x-l16;rate=8000')!, SID, '');
  assert.deepEqual(payloadOf(l8.encode({ silence: 160 }, 2, 1, 5)), Buffer.alloc(320));

  // 16 kHz: loud audio leaves history in the upsampler; the silence frame is still all zeros, and
  // the first frame after it comes out as if the stream had started from silence.
  const loud = new Int16Array(160).map((_, i) => (i % 2 ? 20000 : -20000));
  const quiet = new Int16Array(160).map((_, i) => Math.round(3000 * Math.sin(i / 5)));
  const l16 = new MediaMessageEncoder('inbound', streamFormatOf('audio/x-l16;rate=16000')!, SID, '');
  l16.encode({ pcm: loud }, 2, 1, 5);
  assert.deepEqual(payloadOf(l16.encode({ silence: 160 }, 3, 2, 25)), Buffer.alloc(640));
  const afterSilence = payloadOf(l16.encode({ pcm: quiet }, 4, 3, 45));
  const fresh = new MediaMessageEncoder('inbound', streamFormatOf('audio/x-l16;rate=16000')!, SID, '');
  assert.deepEqual(afterSilence, payloadOf(fresh.encode({ pcm: quiet }, 2, 1, 5)));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseAgentMessage } from './protocol.js';
import { decodeBase64Into, PlayAudioReader, scanPlayAudio } from './play-audio-scan.js';

/** What the fast road makes of a frame: the decoded audio, or undefined when it defers. */
function fast(text: string): { encoding: string; sampleRate: number; bytes: Buffer } | undefined {
  const b = Buffer.from(text, 'utf8');
  const s = scanPlayAudio(b);
  if (!s) return undefined;
  const dst = Buffer.alloc(Math.ceil((s.payloadEnd - s.payloadStart) * 3 / 4) + 1);
  const n = decodeBase64Into(b, s.payloadStart, s.payloadEnd, dst);
  if (n < 0) return undefined;
  return { encoding: s.encoding, sampleRate: s.sampleRate, bytes: dst.subarray(0, n) };
}

/** The full parser's reading, decoded the way the bridge decodes it. */
function slow(text: string): { encoding: string; sampleRate: number; bytes: Buffer } | undefined {
  const m = parseAgentMessage(text);
  if (m.kind !== 'playAudio') return undefined;
  return { encoding: m.encoding, sampleRate: m.sampleRate, bytes: Buffer.from(m.payload, 'base64') };
}

/** The fast road either defers or agrees with the full parser exactly. */
function agrees(text: string): 'fast' | 'deferred' {
  const f = fast(text);
  if (f === undefined) return 'deferred';
  assert.deepEqual(f, slow(text), `fast and full readings differ for ${text.slice(0, 120)}`);
  return 'fast';
}

const audio = randomBytes(160);
const b64 = audio.toString('base64');

test('the shapes real agents send are read on the fast road, with the same audio as the full parser', () => {
  const shapes = [
    // JSON.stringify (Node agents, the benchmark's echo agent)
    JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: b64 } }),
    // Python json.dumps defaults (Pipecat, Plivo's SDK): ", " and ": " separators
    `{"event": "playAudio", "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": "${b64}"}}`,
    // other key orders, a streamId, a string rate, L16 at 16 kHz, newlines
    `{"media":{"payload":"${b64}","sampleRate":"8000","contentType":"audio/x-l16"},"streamId":"abc","event":"playAudio"}`,
    `{\n  "event": "playAudio",\n  "media": {\n    "contentType": "audio/x-l16",\n    "sampleRate": 16000,\n    "payload": "${b64}"\n  }\n}\n`,
  ];
  for (const s of shapes) {
    assert.equal(agrees(s), 'fast', s.slice(0, 80));
    assert.deepEqual(fast(s)!.bytes, audio);
  }
});

test('everything outside the plain shape is left to the full parser (which may accept or refuse it)', () => {
  const deferred = [
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw;rate=8000","sampleRate":8000,"payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"Audio/X-Mulaw","sampleRate":8000,"payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":" 8000 ","payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000.0,"payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":16000,"payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}","extra":1}}`,
    `{"event":"playAudio","extra":true,"media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}"}}`,
    `{"event":"play\\u0041udio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}"}}`,
    `{"event":"playAudio","event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64.replace(/\+/g, '-').replace(/\//g, '_')}x"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64} "}}`,
    // An escaped quote in the payload: the scan's payload ends at it, and the decode refuses the backslash.
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}\\"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64.slice(0, 8)}\\"${b64.slice(8)}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64.slice(0, 8)}\n${b64.slice(8)}"}}`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"${b64}"}} trailing`,
    `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000}}`,
    `{"event":"checkpoint","name":"x"}`,
    `{"event":"clearAudio"}`,
    `[1,2]`, `not json`, ``, `{`, `{"event":"playAudio","media":{`,
  ];
  for (const s of deferred) assert.equal(agrees(s), 'deferred', s.slice(0, 100));
  // A refusal by the full parser stays a refusal: the fast road never accepts what it would reject.
  assert.equal(parseAgentMessage(deferred[4]!).kind, 'invalid');
});

test('strict base64: every length, with and without padding, decodes as Buffer does; bad text is refused', () => {
  for (let len = 0; len < 40; len++) {
    const raw = randomBytes(len);
    const padded = raw.toString('base64');
    for (const text of [padded, padded.replace(/=+$/, '')]) {
      const src = Buffer.from(text, 'latin1');
      const dst = Buffer.alloc(len + 3);
      const n = decodeBase64Into(src, 0, src.length, dst);
      assert.equal(n, len, `length ${len} (${text})`);
      assert.deepEqual(dst.subarray(0, n), raw);
    }
  }
  const dst = Buffer.alloc(16);
  for (const bad of ['A', 'AB=C', 'AB==C', 'A-_B', 'AB C', 'ABC=D===', '====']) {
    assert.equal(decodeBase64Into(Buffer.from(bad), 0, bad.length, dst), -1, bad);
  }
});

test('random mutations of a playAudio never make the two roads disagree', () => {
  const base = Buffer.from(`{"event": "playAudio", "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": "${b64}"}}`);
  const alphabet = Buffer.from(' {}[]:,"\\=+/0123456789aeAZ\n\t.-');
  let fastCount = 0;
  for (let i = 0; i < 5000; i++) {
    const m = Buffer.from(base);
    const edits = 1 + (i % 3);
    for (let e = 0; e < edits; e++) m[(i * 7919 + e * 104729) % m.length] = alphabet[(i + e * 31) % alphabet.length]!;
    if (agrees(m.toString('latin1')) === 'fast') fastCount++;
  }
  assert.ok(fastCount > 0, 'some mutations (inside the payload, say) still take the fast road');
});

/** What a reader makes of a frame, decoded as the bridge decodes it. */
function viaReader(reader: PlayAudioReader, text: string): { encoding: string; sampleRate: number; bytes: Buffer } | undefined {
  const b = Buffer.from(text, 'latin1');
  const s = reader.read(b);
  if (!s) return undefined;
  const dst = Buffer.alloc(Math.ceil((s.payloadEnd - s.payloadStart) * 3 / 4) + 1);
  const n = decodeBase64Into(b, s.payloadStart, s.payloadEnd, dst);
  if (n < 0) return undefined;
  return { encoding: s.encoding, sampleRate: s.sampleRate, bytes: dst.subarray(0, n) };
}

test('a reader reads a repeated shape by its two ends, with the same result as a full scan', () => {
  const reader = new PlayAudioReader();
  const pipecat = (p: string, rate = 8000): string => `{"event": "playAudio", "media": {"contentType": "audio/x-mulaw", "sampleRate": ${rate}, "payload": "${p}"}}`;
  for (let i = 0; i < 20; i++) {
    const raw = randomBytes(i === 7 ? 0 : 80 + i * 13); // payloads of varying length, one empty
    const r = viaReader(reader, pipecat(raw.toString('base64')));
    assert.deepEqual(r, { encoding: 'audio/x-mulaw', sampleRate: 8000, bytes: raw });
  }
  assert.equal(reader.shapeHits, 19, 'every message after the first was read by its shape');
  // Another shape (L16, a string rate) is scanned, then remembered in its place.
  const l16 = (p: string): string => `{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":"16000","payload":"${p}"}}`;
  assert.deepEqual(viaReader(reader, l16(b64)), { encoding: 'audio/x-l16', sampleRate: 16000, bytes: audio });
  assert.deepEqual(viaReader(reader, l16(b64)), { encoding: 'audio/x-l16', sampleRate: 16000, bytes: audio });
  assert.equal(reader.shapeHits, 20);
  // Messages that match both ends but carry something other than base64 between them never decode here.
  for (const middle of [`${b64}", "x": "`, `${b64}\\`, `A"}}{"event":"playAudio","media":{"contentType":"audio/x-l16","sampleRate":"16000","payload":"A`, ' ', `${b64}\n`]) {
    assert.equal(viaReader(reader, l16(middle)), undefined, middle.slice(0, 40));
  }
  // Shorter than the remembered ends, or a changed byte in them: a full scan, which agrees with the parser.
  assert.equal(viaReader(reader, '{}'), undefined);
  const other = `{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":"8000","payload":"${b64}"}}`;
  assert.deepEqual(viaReader(reader, other), slow(other));
});

test('random mutations never make a reader that has seen the shape disagree with the full parser', () => {
  const base = `{"event": "playAudio", "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": "${b64}"}}`;
  const alphabet = Buffer.from(' {}[]:,"\\=+/0123456789aeAZ\n\t.-');
  let fastCount = 0;
  for (let i = 0; i < 5000; i++) {
    const reader = new PlayAudioReader();
    viaReader(reader, base); // the shape is remembered
    const m = Buffer.from(base, 'latin1');
    const edits = 1 + (i % 3);
    for (let e = 0; e < edits; e++) m[(i * 7919 + e * 104729) % m.length] = alphabet[(i + e * 31) % alphabet.length]!;
    const text = m.toString('latin1');
    const r = viaReader(reader, text);
    if (r === undefined) continue;
    fastCount++;
    assert.deepEqual(r, slow(text), `reader and parser differ for ${text.slice(0, 120)}`);
  }
  assert.ok(fastCount > 0);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alawDecode, alawEncode, alawToLinear, linearToAlaw, linearToUlaw, ulawDecode, ulawEncode, ulawToLinear,
} from './g711.js';

test('μ-law known values from G.711', () => {
  assert.equal(linearToUlaw(0), 0xff);
  assert.equal(linearToUlaw(-1), 0x7f);
  assert.equal(linearToUlaw(1000), 0xce);
  assert.equal(linearToUlaw(-1000), 0x4e);
  assert.equal(linearToUlaw(32767), 0x80);
  assert.equal(linearToUlaw(-32768), 0x00);
  assert.equal(ulawToLinear(0xff), 0);
  assert.equal(ulawToLinear(0x7f), 0);
  assert.equal(ulawToLinear(0x80), 32124);
  assert.equal(ulawToLinear(0x00), -32124);
  assert.equal(ulawToLinear(0xce), 988);
  // Out-of-range numbers clamp instead of wrapping around.
  assert.equal(linearToUlaw(100000), 0x80);
});

test('A-law known values from G.711', () => {
  assert.equal(linearToAlaw(0), 0xd5);
  assert.equal(linearToAlaw(-1), 0x55);
  assert.equal(linearToAlaw(1000), 0xfa);
  assert.equal(linearToAlaw(32767), 0xaa);
  assert.equal(linearToAlaw(-32768), 0x2a);
  assert.equal(alawToLinear(0xd5), 8);
  assert.equal(alawToLinear(0x55), -8);
  assert.equal(alawToLinear(0xaa), 32256);
  assert.equal(alawToLinear(0x2a), -32256);
  assert.equal(alawToLinear(0xfa), 1008);
});

test('every code survives decode → encode (μ-law 0x7F is negative zero and comes back as 0xFF)', () => {
  for (let c = 0; c < 256; c++) {
    assert.equal(linearToAlaw(alawToLinear(c)), c, `A-law ${c}`);
    assert.equal(linearToUlaw(ulawToLinear(c)), c === 0x7f ? 0xff : c, `μ-law ${c}`);
  }
});

test('encode → decode error stays within half a quantisation step for all 16-bit inputs', () => {
  for (let x = -32768; x <= 32767; x++) {
    const eu = Math.abs(ulawToLinear(linearToUlaw(x)) - x);
    const ea = Math.abs(alawToLinear(linearToAlaw(x)) - x);
    const ax = Math.abs(x);
    if (ax > 32124) {
      assert.equal(Math.abs(ulawToLinear(linearToUlaw(x))), 32124);
      continue;
    }
    const bound = ax < 256 ? 8 : ax / 16;
    assert.ok(eu <= bound, `μ-law x=${x} err=${eu}`);
    assert.ok(ea <= bound, `A-law x=${x} err=${ea}`);
  }
});

test('codes are monotonic in the input (a wrong segment table would break this)', () => {
  let prevU = -Infinity; let prevA = -Infinity;
  for (let x = -32768; x <= 32767; x += 7) {
    const u = ulawToLinear(linearToUlaw(x)); const a = alawToLinear(linearToAlaw(x));
    assert.ok(u >= prevU && a >= prevA, `x=${x}`);
    prevU = u; prevA = a;
  }
});

test('frame functions match the single-sample ones and reuse the output buffer', () => {
  const pcm = new Int16Array(160);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(12000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
  const out = new Uint8Array(160);
  const u = ulawEncode(pcm, out);
  assert.equal(u, out);
  for (let i = 0; i < 160; i++) assert.equal(u[i], linearToUlaw(pcm[i]!));
  const a = alawEncode(pcm);
  for (let i = 0; i < 160; i++) assert.equal(a[i], linearToAlaw(pcm[i]!));
  const pcmOut = new Int16Array(320);
  const du = ulawDecode(u, pcmOut);
  assert.equal(du.length, 160);
  assert.equal(du.buffer, pcmOut.buffer);
  for (let i = 0; i < 160; i++) assert.equal(du[i], ulawToLinear(u[i]!));
  const da = alawDecode(a);
  for (let i = 0; i < 160; i++) assert.equal(da[i], alawToLinear(a[i]!));
  assert.throws(() => ulawEncode(pcm, new Uint8Array(10)), RangeError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRtpHeader, looksLikeRtcp, parseRtp, readCsrc, seqDelta, serializeRtp, writeRtpHeader } from './packet.js';

test('serialize → parse round trip with marker and 32-bit fields', () => {
  const payload = new Uint8Array(160).fill(0xff);
  const pkt = serializeRtp({ marker: true, payloadType: 8, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef }, payload);
  assert.equal(pkt.length, 172);
  assert.equal(pkt[0], 0x80);
  assert.equal(pkt[1], 0x88);
  const h = parseRtp(pkt);
  assert.ok(typeof h !== 'string');
  assert.equal(h.marker, true);
  assert.equal(h.payloadType, 8);
  assert.equal(h.sequenceNumber, 65535);
  assert.equal(h.timestamp, 0xfffffff0);
  assert.equal(h.ssrc, 0xdeadbeef);
  assert.equal(h.payloadOffset, 12);
  assert.equal(h.payloadLength, 160);
});

test('CSRCs, header extension and padding are skipped to find the payload', () => {
  const buf = new Uint8Array(12 + 8 + 4 + 8 + 3 + 4);
  buf[0] = 0x80 | 0x20 | 0x10 | 2; // V=2, P, X, CC=2
  buf[1] = 0;
  buf.set([0, 0, 0, 1, 0, 0, 0, 2], 12); // CSRCs 1, 2
  buf.set([0xbe, 0xde, 0, 2], 20); // RFC 8285 one-byte profile, 2 words
  buf.set([1, 2, 3], 32); // payload
  buf.set([0, 0, 0, 4], 35); // 3 padding bytes + count 4
  const h = parseRtp(buf, createRtpHeader());
  assert.ok(typeof h !== 'string');
  assert.equal(h.csrcCount, 2);
  assert.equal(readCsrc(buf, 1), 2);
  assert.equal(h.extensionProfile, 0xbede);
  assert.equal(h.payloadOffset, 32);
  assert.equal(h.payloadLength, 3);
  assert.deepEqual([...buf.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength)], [1, 2, 3]);
});

test('invalid datagrams are reported, not thrown', () => {
  assert.equal(parseRtp(new Uint8Array(11)), 'short');
  const v1 = new Uint8Array(12); v1[0] = 0x40;
  assert.equal(parseRtp(v1), 'version');
  const cc = new Uint8Array(12); cc[0] = 0x8f;
  assert.equal(parseRtp(cc), 'csrc');
  const ext = new Uint8Array(16); ext[0] = 0x90; ext[15] = 9;
  ext[14] = 0; ext[15] = 9; // 9 words claimed, none present
  assert.equal(parseRtp(ext), 'extension');
  const pad = new Uint8Array(14); pad[0] = 0xa0; pad[13] = 9;
  assert.equal(parseRtp(pad), 'padding');
  const zeroPad = new Uint8Array(14); zeroPad[0] = 0xa0; zeroPad[13] = 0;
  assert.equal(parseRtp(zeroPad), 'padding');
});

test('writeRtpHeader writes at an offset and checks room; RTCP is recognised', () => {
  const out = new Uint8Array(20);
  assert.equal(writeRtpHeader(out, { payloadType: 0, sequenceNumber: 0x1234, timestamp: 1, ssrc: 2 }, 4), 12);
  assert.equal(out[6], 0x12);
  assert.equal(out[7], 0x34);
  assert.throws(() => writeRtpHeader(new Uint8Array(8), { payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0 }), RangeError);
  assert.equal(looksLikeRtcp(new Uint8Array([0x80, 200])), true);
  assert.equal(looksLikeRtcp(new Uint8Array([0x80, 0x80])), false);
});

test('seqDelta handles wrap-around', () => {
  assert.equal(seqDelta(65535, 0), 1);
  assert.equal(seqDelta(0, 65535), -1);
  assert.equal(seqDelta(100, 90), -10);
  assert.equal(seqDelta(65530, 5), 11);
});

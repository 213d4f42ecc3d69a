import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  buildRtcpBye, buildRtcpReport, clampLost, dlsrFromMs, ntpFromUnixMs, ntpMiddle32, ntpMiddle32FromUnixMs, parseRtcp,
  roundTripMs, RtcpBuildError, RtpReceptionStats, type RtcpCompound, type RtcpReportBlock,
} from './rtcp.js';

/** Bytes from a hex string with spaces (one RFC 3550 field per group). */
const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function ok(r: RtcpCompound | string): RtcpCompound {
  assert.notEqual(typeof r, 'string', `parse failed: ${String(r)}`);
  return r as RtcpCompound;
}

// SR with one report block, then SDES with CNAME "ab@c" (4 octets), laid out per RFC 3550 §6.4.1/§6.5.
const SR_SDES = hex(
  '81 c8 000c' + // V=2 P=0 RC=1, PT=200, length 12 words (52 bytes)
  '11223344' + // SSRC of sender
  'e8a1b2c3 80000000' + // NTP: seconds, fraction 0.5
  '00012345' + // RTP timestamp
  '00000064' + // packet count 100
  '00003e80' + // octet count 16000
  'aabbccdd' + // block: SSRC
  '40 fffffe' + // fraction 64/256, cumulative lost -2
  '0001000a' + // extended highest seq: 1 cycle, seq 10
  '00000050' + // jitter 80
  'b7052000' + // LSR
  '00054000' + // DLSR 5.25 s
  '81 ca 0003' + // SDES, SC=1, length 3 words (16 bytes)
  '11223344' + // chunk SSRC
  '01 04 61624063' + // CNAME "ab@c"
  '00 00', // the null item, then padding to the word
);

test('parses a hand-assembled SR + SDES compound', () => {
  assert.equal(SR_SDES.length, 52 + 16);
  const c = ok(parseRtcp(SR_SDES));
  assert.equal(c.skipped, 0);
  assert.deepEqual(c.packets, [
    {
      type: 'sr', ssrc: 0x11223344,
      sender: { ntpSec: 0xe8a1b2c3, ntpFrac: 0x80000000, rtpTimestamp: 0x12345, packetCount: 100, octetCount: 16000 },
      reports: [{ ssrc: 0xaabbccdd, fractionLost: 64, cumulativeLost: -2, extendedHighestSeq: 0x1000a, jitter: 80, lsr: 0xb7052000, dlsr: 0x54000 }],
    },
    { type: 'sdes', chunks: [{ ssrc: 0x11223344, cname: 'ab@c' }] },
  ]);
});

test('parses RR without blocks, skips APP, reads BYE with a reason and several SDES items', () => {
  const buf = hex(
    '80 c9 0001 01020304' + // RR, RC=0
    '82 cc 0003 01020304 6e616d65 deadbeef' + // APP (subtype 2) "name" + 4 bytes of data
    '81 ca 0004 01020304 02 02 6869 01 03 782d79 000000' + // NAME "hi", CNAME "x-y", null item + padding
    '81 cb 0003 01020304 05 62796520 21 0000', // BYE with reason "bye !"
  );
  const c = ok(parseRtcp(buf));
  assert.equal(c.skipped, 1);
  assert.deepEqual(c.packets, [
    { type: 'rr', ssrc: 0x01020304, reports: [] },
    { type: 'sdes', chunks: [{ ssrc: 0x01020304, cname: 'x-y' }] },
    { type: 'bye', ssrcs: [0x01020304], reason: 'bye !' },
  ]);
});

test('SR/RR + SDES (+ BYE) round-trip through build and parse', () => {
  const block: RtcpReportBlock = { ssrc: 0xfedcba98, fractionLost: 13, cumulativeLost: -5, extendedHighestSeq: 0x2ffff, jitter: 123, lsr: 0x12345678, dlsr: 65536 };
  const sender = { ntpSec: 0xe9000001, ntpFrac: 0x40000000, rtpTimestamp: 0xffffff00, packetCount: 2 ** 32 - 1, octetCount: 160 };
  const sr = buildRtcpReport({ ssrc: 0x0badf00d, sender, reports: [block], cname: 'sipflow-Zm9v@pod' });
  assert.equal(sr[0], 0x81);
  assert.equal(sr[1], 200);
  assert.equal(sr.readUInt16BE(2), (28 + 24) / 4 - 1);
  assert.equal(sr.length % 4, 0);
  assert.deepEqual(ok(parseRtcp(sr)).packets, [
    { type: 'sr', ssrc: 0x0badf00d, sender, reports: [block] },
    { type: 'sdes', chunks: [{ ssrc: 0x0badf00d, cname: 'sipflow-Zm9v@pod' }] },
  ]);

  const rr = buildRtcpReport({ ssrc: 7, reports: [], cname: 'c', bye: { reason: 'session ended' } });
  assert.equal(rr[1], 201);
  assert.equal(rr[0], 0x80);
  assert.equal(rr.length % 4, 0);
  assert.deepEqual(ok(parseRtcp(rr)).packets, [
    { type: 'rr', ssrc: 7, reports: [] },
    { type: 'sdes', chunks: [{ ssrc: 7, cname: 'c' }] },
    { type: 'bye', ssrcs: [7], reason: 'session ended' },
  ]);
  // CNAMEs whose item ends exactly on a word boundary still get their null octet (a whole word).
  for (let n = 1; n <= 12; n++) {
    const cname = 'x'.repeat(n);
    const p = buildRtcpReport({ ssrc: 1, reports: [], cname });
    assert.deepEqual(ok(parseRtcp(p)).packets[1], { type: 'sdes', chunks: [{ ssrc: 1, cname }] });
  }
});

test('the cumulative-lost field clamps to 24-bit signed instead of wrapping', () => {
  assert.equal(clampLost(0x1000000), 0x7fffff);
  assert.equal(clampLost(-0x1000000), -0x800000);
  assert.equal(clampLost(-3), -3);
  const base: RtcpReportBlock = { ssrc: 1, fractionLost: 0, cumulativeLost: 10_000_000, extendedHighestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 };
  const back = (lost: number): number => {
    const c = ok(parseRtcp(buildRtcpReport({ ssrc: 2, reports: [{ ...base, cumulativeLost: lost }], cname: 'c' })));
    const rr = c.packets[0]!;
    assert.equal(rr.type, 'rr');
    return rr.type === 'rr' ? rr.reports[0]!.cumulativeLost : NaN;
  };
  assert.equal(back(10_000_000), 0x7fffff);
  assert.equal(back(-10_000_000), -0x800000);
  assert.equal(back(-1), -1);
});

test('a lone BYE, with and without a reason', () => {
  assert.deepEqual([...buildRtcpBye(0x01020304)], [...hex('81 cb 0001 01020304')]);
  const withReason = buildRtcpBye(0x01020304, 'done');
  assert.deepEqual([...withReason], [...hex('81 cb 0003 01020304 04 646f6e65 000000')]);
});

test('writers refuse what cannot be encoded', () => {
  const block: RtcpReportBlock = { ssrc: 1, fractionLost: 0, cumulativeLost: 0, extendedHighestSeq: 0, jitter: 0, lsr: 0, dlsr: 0 };
  assert.throws(() => buildRtcpReport({ ssrc: 1, reports: new Array<RtcpReportBlock>(32).fill(block), cname: 'c' }), RtcpBuildError);
  assert.throws(() => buildRtcpReport({ ssrc: 1, reports: [], cname: 'x'.repeat(256) }), /CNAME is 256 bytes/);
});

test('malformed datagrams give a reason, not an exception', () => {
  const rr = hex('80 c9 0001 01020304');
  assert.equal(parseRtcp(new Uint8Array(0)), 'short');
  assert.equal(parseRtcp(rr.subarray(0, 3)), 'short');
  assert.equal(parseRtcp(hex('40 c9 0001 01020304')), 'version', 'version 1');
  assert.equal(parseRtcp(hex('80 c9 0002 01020304')), 'length', 'length field past the end');
  assert.equal(parseRtcp(rr.subarray(0, 6)), 'length', 'truncated');
  assert.equal(parseRtcp(hex('80 c9 0001 01020304 80c9')), 'length', 'a trailing fragment');
  assert.equal(parseRtcp(hex('81 c9 0001 01020304')), 'short', 'RC=1 but no block');
  assert.equal(parseRtcp(hex('81 c8 0006 01020304 00000000 00000000 00000000 00000000 00000000')), 'short', 'SR with a missing block');
  assert.equal(parseRtcp(hex('a0 c9 0001 01020304 80 c9 0001 01020304')), 'padding', 'padding on a packet that is not last');
  assert.equal(parseRtcp(hex('a0 c9 0001 01020305')), 'padding', 'padding count larger than the packet');
  assert.equal(parseRtcp(hex('a0 c9 0001 01020300')), 'padding', 'zero padding count');
  assert.equal(parseRtcp(hex('81 ca 0002 01020304 01 09 6162')), 'sdes', 'item length past the packet');
  assert.equal(parseRtcp(hex('82 ca 0002 01020304 01 01 61 00')), 'sdes', 'second chunk missing');
  assert.equal(parseRtcp(hex('81 cb 0002 01020304 09 616200')), 'bye', 'reason past the packet');
  assert.equal(parseRtcp(hex('82 cb 0001 01020304')), 'bye', 'SSRC count past the packet');
  // Padding on the last packet is removed before the body is read.
  const padded = ok(parseRtcp(hex('80 c9 0001 01020304 a0 c9 0002 05060708 00000004')));
  assert.deepEqual(padded.packets.map((p) => p.type), ['rr', 'rr']);
});

test('no input throws: every truncation of a valid compound and random bytes', () => {
  const valid = buildRtcpReport({
    ssrc: 9, sender: { ntpSec: 1, ntpFrac: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5 },
    reports: [{ ssrc: 1, fractionLost: 1, cumulativeLost: 1, extendedHighestSeq: 1, jitter: 1, lsr: 1, dlsr: 1 }], cname: 'abc', bye: { reason: 'r' },
  });
  // Cut at a packet boundary it is a shorter valid compound; anywhere else it is refused.
  const boundaries = new Set([28 + 24, 28 + 24 + 16]); // after the SR, after the SDES (CNAME "abc")
  for (let n = 0; n < valid.length; n++) {
    const r = parseRtcp(valid.subarray(0, n));
    assert.equal(typeof r === 'string', !boundaries.has(n), `truncated to ${n}: ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < 2000; i++) {
    const b = randomBytes(1 + (i % 80));
    if (i % 2 === 0) b[0] = 0x80 | (b[0]! & 0x3f); // mostly version 2, so the length checks get exercised
    assert.doesNotThrow(() => parseRtcp(b));
  }
});

test('NTP conversion and the middle 32 bits', () => {
  assert.deepEqual(ntpFromUnixMs(0), { sec: 2_208_988_800, frac: 0 });
  assert.deepEqual(ntpFromUnixMs(1500), { sec: 2_208_988_801, frac: 2 ** 31 });
  assert.deepEqual(ntpFromUnixMs(250.5), { sec: 2_208_988_800, frac: Math.round(0.2505 * 2 ** 32) });
  // 2036: the seconds field wraps (era 1), which the 32-bit arithmetic tolerates.
  assert.equal(ntpFromUnixMs((2 ** 32 - 2_208_988_800) * 1000).sec, 0);
  assert.equal(ntpMiddle32(0xe8a1b2c3, 0x80000000), 0xb2c38000);
  assert.equal(ntpMiddle32FromUnixMs(1500), ((2_208_988_801 & 0xffff) << 16 | 0x8000) >>> 0);
  assert.equal(dlsrFromMs(5250), 0x54000);
  assert.equal(dlsrFromMs(-1), 0);
});

test('round-trip time: the RFC 3550 §6.4.1 example and edge cases', () => {
  // A = 46864.500 s, LSR = 46853.125 s, DLSR = 5.250 s → 6.125 s.
  assert.equal(roundTripMs(0xb7108000, 0xb7052000, 0x00054000), 6125);
  // Across the 16-bit seconds wrap of the middle word.
  assert.equal(roundTripMs(0x00011000, 0xffff0000, 0x00010000), (0x11000 * 1000) / 65536);
  assert.equal(roundTripMs(0xb7108000, 0, 0), null, 'no SR seen by the far end yet');
  assert.equal(roundTripMs(0xb7050000, 0xb7052000, 0), null, 'negative: a bogus DLSR');
});

test('reception figures: a gap, reordering, a duplicate, fraction lost per interval', () => {
  const r = new RtpReceptionStats();
  assert.equal(r.hasData, false);
  for (const s of [100, 101, 102, 105, 104, 104, 106]) r.update(s);
  // expected 100..106 = 7, received 7 (the duplicate counts): lost 0, as RFC 3550 A.3 says.
  assert.equal(r.extendedHighestSeq, 106);
  assert.equal(r.cumulativeLost, 0);
  const b1 = r.reportBlock(0xabc, 12.7, 0, 0);
  assert.deepEqual(b1, { ssrc: 0xabc, fractionLost: 0, cumulativeLost: 0, extendedHighestSeq: 106, jitter: 12, lsr: 0, dlsr: 0 });
  // Next interval: 107..116 expected, 6 of them arrive.
  for (const s of [107, 108, 111, 112, 115, 116]) r.update(s);
  const b2 = r.reportBlock(0xabc, 0, 1, 2);
  assert.equal(b2.cumulativeLost, 4);
  assert.equal(b2.fractionLost, Math.floor((4 * 256) / 10));
  assert.equal(b2.lsr, 1);
  // An interval with nothing received reports no fraction (and no division by zero).
  assert.equal(r.reportBlock(0xabc, 0, 0, 0).fractionLost, 0);
});

test('reception figures: sequence wrap, restart after two packets in a row, reset on SSRC change', () => {
  const r = new RtpReceptionStats();
  for (const s of [65534, 65535, 0, 1]) r.update(s);
  assert.equal(r.extendedHighestSeq, 65536 + 1);
  assert.equal(r.cumulativeLost, 0);
  // One packet far away is set aside; a second that follows it restarts the count there.
  assert.equal(r.update(30000), false);
  assert.equal(r.extendedHighestSeq, 65537);
  assert.equal(r.update(30001), true);
  assert.equal(r.extendedHighestSeq, 30001);
  assert.equal(r.packetsReceived, 1);
  r.reset();
  r.update(7);
  assert.equal(r.extendedHighestSeq, 7);
  assert.equal(r.expected, 1);
});

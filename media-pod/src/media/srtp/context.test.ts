import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateIndex, generateKeyParams, SrtpProtectError, SrtpSession, type SrtpKeyParams } from './context.js';
import type { SrtpSuite } from './suite.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** The RFC 3711 B.3 master key and salt, which is also libsrtp's own test key. */
function fixtureKey(suite: SrtpSuite = 'AES_CM_128_HMAC_SHA1_80'): SrtpKeyParams {
  return { suite, masterKey: hex('E1F97A0D3E018BE0D64FA32C06DE4139'), masterSalt: hex('0EC675AD498AFEEBB6960B3AABE6') };
}

function rtp(seq: number, opts: { ssrc?: number; payload?: Buffer; ts?: number } = {}): Buffer {
  const payload = opts.payload ?? Buffer.alloc(160, seq & 0xff);
  const p = Buffer.alloc(12 + payload.length);
  p[0] = 0x80;
  p[1] = 0;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((opts.ts ?? seq * 160) >>> 0, 4);
  p.writeUInt32BE(opts.ssrc ?? 0x1234abcd, 8);
  payload.copy(p, 12);
  return p;
}

/** A receiver report with one block, as RtpSession would send it. */
function rtcpRr(ssrc = 0x1234abcd): Buffer {
  const p = Buffer.alloc(32);
  p[0] = 0x81;
  p[1] = 201;
  p.writeUInt16BE(7, 2);
  p.writeUInt32BE(ssrc, 4);
  p.writeUInt32BE(0x55667788, 8);
  p.writeUInt32BE(0x0100ffff, 12);
  return p;
}

const SUITES: SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AES_256_CM_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_32'];

// Produced once by hand with libsrtp through pylibsrtp 0.12.0 (Policy key = the RFC 3711 B.3 master
// key || master salt, SSRC_ANY_OUTBOUND), so these packets come from a second implementation.
const LIBSRTP = {
  plain: '800f1234decafbadcafebabeabababababababababababababababab',
  srtp80: '800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb',
  srtp32: '800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc',
  // X=1, CC=1, a one-word RFC 8285 extension, payload 00..27.
  plainExt: '910f0007decafbadcafebabe11111111bede000110420000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627',
  srtp80Ext: '910f0007decafbadcafebabe11111111bede0001104200006c95ddaf617d082951f1f648e79b47136b99eb53ba780551ad787db32fad99c1bcdfd587c95ee0df6788285ff58fc1bd901a',
  // SSRC 01020304, PT 0, seq 65534, 65535, 0, 1 (timestamp seq*160, payload 160 x (seq & 0xff)):
  // the last two are protected with ROC 1.
  wrap: [
    '8000fffe009ffec00102030410a34c250b85a467ab0a99176f546714ff7653d0134166c8230cb775c33689f2f72b9181ac7f509667fb27c4590ce24417c0b2ed460588209f6e8d2036798a1ea0cfbc4b51b1cbbfee576aead7362b88ad12533f4f285c06a6ad7ae50bb9470f2c3eedce61d4799fe8a5c4f2c6119c367a8e0efee40ff5d5061ec81f63d8e30f45d6459e99fe3f6630054a5a49f4d7512b2e4231067a1514fddf9dbf70e1fa90d31d905c4bf3ea563ca6',
    '8000ffff009fff6001020304408b8cea38c7907e475b2d5afbd17889437eb7409d63170c720b5a7b262024ef269000d20d842a2f606809f2b904f4aa903e906a30f04d9dd30917e6287fae5e1bd44dd290be4954e56895e4a6bd194bfa4afb4c05b440724c241d8ccf76e14d8bb65b71ca7487e52790672a3ab9daffab62b4dea5f53e9aeea5c34ac3a901bfc6433b476501514b6747c9e78f7c38c858af3ac70d430ea81efa39042d52dc79dace70429e6aee3de75c',
    '80000000000000000102030460570d59e84516db9aa41de3707faef439391c3d630c250fe63f2947c81d1ca86880227b3a4fe846f81e7d961f8312d7534ec2928836e64c4be4e4d27fea9e97b4093bfc07b975bc7b037123b51c8b53cc55ee92fc311289440c396097012a8f05b90a7aad489417e1952ff991b3b64c0b2ccb4f9391fcc218c4d53c4ae2bddca765699d1760b1f1721ee8b6fe9c6a9f6c134f40f5373df1a8f8a285161abbd57a1c5eac8a7b25c58993',
    '80000001000000a001020304293a824616f4a38b70287a8830e3cfa0088593b686ebb8b265eaeda197f981ee215ca937c00f6f7e5615539256b5bdb7b69c4ab7811233d8cc8f2aebb7b0b5f93b6ab2d64e675a7e918796379aa337e50c05c5c9bf64b42c59a6e956a183b7b7e4e24769b468852ea708787d9f5b93ab5914bca18bc0dfc6c46f089226c8cd0c22c2ef6e100c25718a03f9074f4e74858fe1ce1035bbc003a6669b71bc5d89e478654c5b74f3e05b03cd',
  ],
  plainRr: '81c90007cafebabe01020304050000100000ffff000000111122334400010000',
  // libsrtp numbers its first SRTCP packet 1, its second 2.
  srtcp1: '81c90007cafebabedb81abf44a2c12061553c41552dc0e126f66206ec1152d27800000016249eea861864964c718',
  srtcp2: '81c90007cafebabec8b09c4531d32761793ee7f1b97317e585d2a5f3142f999b80000002656fccb82ffd550aef75',
};

test('libsrtp: our SRTP output is byte-identical and we unprotect theirs (80- and 32-bit tags)', () => {
  for (const [suite, expected] of [['AES_CM_128_HMAC_SHA1_80', LIBSRTP.srtp80], ['AES_CM_128_HMAC_SHA1_32', LIBSRTP.srtp32]] as const) {
    const sender = new SrtpSession(fixtureKey(suite));
    assert.equal(sender.protectRtp(hex(LIBSRTP.plain)).toString('hex'), expected, suite);
    const receiver = new SrtpSession(fixtureKey(suite));
    assert.equal(receiver.unprotectRtp(hex(expected))?.toString('hex'), LIBSRTP.plain, suite);
  }
});

test('libsrtp: CSRCs and a header extension stay in clear and authenticated', () => {
  assert.equal(new SrtpSession(fixtureKey()).protectRtp(hex(LIBSRTP.plainExt)).toString('hex'), LIBSRTP.srtp80Ext);
  assert.equal(new SrtpSession(fixtureKey()).unprotectRtp(hex(LIBSRTP.srtp80Ext))?.toString('hex'), LIBSRTP.plainExt);
});

test('libsrtp: packets across the sequence-number wrap decrypt with the rollover counter it used', () => {
  const receiver = new SrtpSession(fixtureKey());
  const seqs = [65534, 65535, 0, 1];
  for (const [i, packet] of LIBSRTP.wrap.entries()) {
    const seq = seqs[i] as number;
    const plain = receiver.unprotectRtp(hex(packet));
    assert.ok(plain, `seq ${seq}: ${receiver.lastFailure}`);
    assert.deepEqual(plain, rtp(seq, { ssrc: 0x01020304 }));
  }
  const sender = new SrtpSession(fixtureKey());
  assert.deepEqual(seqs.map((seq) => sender.protectRtp(rtp(seq, { ssrc: 0x01020304 })).toString('hex')), LIBSRTP.wrap);
});

test('libsrtp: SRTCP, both ways (our index starts at 0 as RFC 3711 §3.4 says, libsrtp at 1)', () => {
  const receiver = new SrtpSession(fixtureKey());
  assert.equal(receiver.unprotectRtcp(hex(LIBSRTP.srtcp1))?.toString('hex'), LIBSRTP.plainRr);
  assert.equal(receiver.unprotectRtcp(hex(LIBSRTP.srtcp2))?.toString('hex'), LIBSRTP.plainRr);
  const sender = new SrtpSession(fixtureKey());
  const first = sender.protectRtcp(hex(LIBSRTP.plainRr));
  assert.equal(first.readUInt32BE(first.length - 14), 0x8000_0000, 'E flag set, index 0');
  assert.equal(sender.protectRtcp(hex(LIBSRTP.plainRr)).toString('hex'), LIBSRTP.srtcp1);
  assert.equal(sender.protectRtcp(hex(LIBSRTP.plainRr)).toString('hex'), LIBSRTP.srtcp2);
});

test('round trip RTP and RTCP for every suite, with the documented overheads', () => {
  for (const suite of SUITES) {
    const key = generateKeyParams(suite);
    const tx = new SrtpSession(key);
    const rx = new SrtpSession(key);
    const tag = suite.endsWith('_80') ? 10 : 4;
    assert.equal(tx.rtpTagLength, tag);
    assert.equal(tx.rtpOverhead, tag);
    assert.equal(tx.rtcpOverhead, 14, 'SRTCP keeps the 80-bit tag even for _32 suites');
    for (let seq = 100; seq < 110; seq++) {
      const plain = rtp(seq);
      const protectedPacket = tx.protectRtp(plain);
      assert.equal(protectedPacket.length, plain.length + tag);
      assert.notDeepEqual(protectedPacket.subarray(12, plain.length), plain.subarray(12), 'payload is encrypted');
      assert.deepEqual(protectedPacket.subarray(0, 12), plain.subarray(0, 12), 'header stays in clear');
      assert.deepEqual(rx.unprotectRtp(protectedPacket), plain, `${suite} seq ${seq}`);
    }
    const rr = rtcpRr();
    const srtcp = tx.protectRtcp(rr);
    assert.equal(srtcp.length, rr.length + 14);
    assert.deepEqual(srtcp.subarray(0, 8), rr.subarray(0, 8));
    assert.notDeepEqual(srtcp.subarray(8, rr.length), rr.subarray(8));
    assert.deepEqual(rx.unprotectRtcp(srtcp), rr, suite);
  }
});

test('protect does not modify its input and returns a fresh buffer each time', () => {
  const tx = new SrtpSession(fixtureKey());
  const plain = rtp(1);
  const copy = Buffer.from(plain);
  const a = tx.protectRtp(plain);
  const b = tx.protectRtp(rtp(2));
  assert.deepEqual(plain, copy);
  assert.notEqual(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true);
});

test('tampering with any byte of SRTP or SRTCP is refused as an auth failure', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_32');
  const tx = new SrtpSession(key);
  const packet = tx.protectRtp(rtp(5, { payload: Buffer.alloc(20, 7) }));
  const srtcp = tx.protectRtcp(rtcpRr());
  for (let i = 0; i < packet.length; i++) {
    const rx = new SrtpSession(key);
    const bad = Buffer.from(packet);
    bad[i] = (bad[i] as number) ^ 0x01;
    assert.equal(rx.unprotectRtp(bad), null, `byte ${i}`);
    assert.equal(rx.lastFailure, 'auth', `byte ${i}`);
  }
  for (let i = 0; i < srtcp.length; i++) {
    const rx = new SrtpSession(key);
    const bad = Buffer.from(srtcp);
    bad[i] = (bad[i] as number) ^ 0x80;
    assert.equal(rx.unprotectRtcp(bad), null, `SRTCP byte ${i}`);
  }
  const rx = new SrtpSession(key);
  assert.ok(rx.unprotectRtp(packet), 'the untouched packet still passes');
});

test('a packet under another key fails authentication', () => {
  const tx = new SrtpSession(generateKeyParams('AES_CM_128_HMAC_SHA1_80'));
  const rx = new SrtpSession(generateKeyParams('AES_CM_128_HMAC_SHA1_80'));
  assert.equal(rx.unprotectRtp(tx.protectRtp(rtp(1))), null);
  assert.equal(rx.unprotectRtcp(tx.protectRtcp(rtcpRr())), null);
  assert.equal(rx.failures.auth, 2);
});

test('replays are refused; reordering within the window is accepted once; too old is refused', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const tx = new SrtpSession(key);
  const rx = new SrtpSession(key, { replayWindow: 64 });
  const packets = new Map<number, Buffer>();
  for (let seq = 1000; seq < 1200; seq++) packets.set(seq, tx.protectRtp(rtp(seq)));
  const get = (seq: number): Buffer => packets.get(seq) as Buffer;

  assert.ok(rx.unprotectRtp(get(1000)));
  assert.equal(rx.unprotectRtp(get(1000)), null);
  assert.equal(rx.lastFailure, 'replay');
  assert.ok(rx.unprotectRtp(get(1010)));
  assert.deepEqual(rx.unprotectRtp(get(1005)), rtp(1005), 'late but inside the window');
  assert.equal(rx.unprotectRtp(get(1005)), null, 'only once');
  assert.ok(rx.unprotectRtp(get(1100)));
  assert.equal(rx.unprotectRtp(get(1036)), null, '64 behind the highest is out of the window');
  assert.equal(rx.lastFailure, 'replay');
  assert.ok(rx.unprotectRtp(get(1037)), '63 behind is still in');
  assert.equal(rx.failures.replay, 3);

  const srtcp = tx.protectRtcp(rtcpRr());
  assert.ok(rx.unprotectRtcp(srtcp));
  assert.equal(rx.unprotectRtcp(srtcp), null);
  assert.equal(rx.lastFailure, 'replay');
});

test('a forged packet does not move the replay window or the rollover counter', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const tx = new SrtpSession(key);
  const rx = new SrtpSession(key);
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(10))));
  const forged = new SrtpSession(key).protectRtp(rtp(30000));
  forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
  assert.equal(rx.unprotectRtp(forged), null);
  assert.equal(rx.lastFailure, 'auth');
  // Had the forgery been recorded, seq 11 would now be far behind the window.
  assert.deepEqual(rx.unprotectRtp(tx.protectRtp(rtp(11))), rtp(11));
  // Same for a forged seq that would have bumped the ROC (5 after 40000 reads as the next ROC):
  // recorded, it would put seq 40001 far behind the window.
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(20000))));
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(40000))));
  const bump = new SrtpSession(key).protectRtp(rtp(5));
  bump[20] = (bump[20] as number) ^ 1;
  assert.equal(rx.unprotectRtp(bump), null);
  assert.equal(rx.lastFailure, 'auth');
  assert.deepEqual(rx.unprotectRtp(tx.protectRtp(rtp(40001))), rtp(40001));
});

test('rollover: seq 65535 -> 0 bumps the ROC on both sides, and a late pre-wrap packet still decrypts', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const tx = new SrtpSession(key);
  const rx = new SrtpSession(key);
  const seqs = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2];
  const sent = seqs.map((s) => tx.protectRtp(rtp(s)));
  // Deliver 65533 after the wrap.
  const order = [0, 1, 2, 4, 5, 6, 7, 3, 8];
  for (const i of order) assert.deepEqual(rx.unprotectRtp(sent[i] as Buffer), rtp(seqs[i] as number), `seq ${seqs[i]}`);
  // A receiver that guessed ROC 0 for the post-wrap packets would fail their tags; prove it.
  const stale = new SrtpSession(key);
  assert.ok(stale.unprotectRtp(sent[0] as Buffer));
  assert.ok(stale.unprotectRtp(sent[6] as Buffer), 'seq 0 right after 65530 is read as the next ROC');
});

test('index estimation follows RFC 3711 Appendix A', () => {
  assert.equal(estimateIndex(-1, 500), 500);
  assert.equal(estimateIndex(100, 101), 101);
  assert.equal(estimateIndex(65535, 0), 65536);
  assert.equal(estimateIndex(65536 + 2, 65533), 65533, 'late packet from before the wrap');
  assert.equal(estimateIndex(3 * 65536 + 40000, 10), 4 * 65536 + 10);
  assert.equal(estimateIndex(5, 60000), 60000 - 65536, 'negative: before the stream began');
});

test('SSRCs beyond maxSsrcs are refused on unprotect (after no state change) and on protect', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const tx = new SrtpSession(key, { maxSsrcs: 8 });
  const rx = new SrtpSession(key, { maxSsrcs: 2 });
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(1, { ssrc: 1 }))));
  // A forged packet from a new SSRC must not take a slot.
  const forged = tx.protectRtp(rtp(1, { ssrc: 2 }));
  forged[20] = (forged[20] as number) ^ 1;
  assert.equal(rx.unprotectRtp(forged), null);
  assert.equal(rx.lastFailure, 'auth');
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(1, { ssrc: 3 }))));
  assert.equal(rx.unprotectRtp(tx.protectRtp(rtp(1, { ssrc: 4 }))), null);
  assert.equal(rx.lastFailure, 'ssrc-limit');
  assert.ok(rx.unprotectRtp(tx.protectRtp(rtp(2, { ssrc: 1 }))), 'known SSRCs keep working');

  const small = new SrtpSession(key, { maxSsrcs: 1 });
  small.protectRtp(rtp(1, { ssrc: 1 }));
  assert.throws(() => small.protectRtp(rtp(1, { ssrc: 2 })), (e: unknown) => e instanceof SrtpProtectError && e.code === 'ssrc-limit');
});

test('protect refuses to reuse an index (which would reuse keystream) and malformed input', () => {
  const tx = new SrtpSession(generateKeyParams('AES_CM_128_HMAC_SHA1_80'));
  tx.protectRtp(rtp(7));
  assert.throws(() => tx.protectRtp(rtp(7)), (e: unknown) => e instanceof SrtpProtectError && e.code === 'replay');
  assert.throws(() => tx.protectRtp(Buffer.alloc(8)), (e: unknown) => e instanceof SrtpProtectError && e.code === 'malformed');
  assert.throws(() => tx.protectRtcp(Buffer.from([0x40, 200, 0, 0, 0, 0, 0, 0])), (e: unknown) => e instanceof SrtpProtectError && e.code === 'malformed');
});

test('the packet limit is enforced: protect refuses past it (here lowered from 2^48 / 2^31)', () => {
  const tx = new SrtpSession(generateKeyParams('AES_CM_128_HMAC_SHA1_80'), { packetLimit: { rtp: 3, rtcp: 2 } });
  for (let seq = 0; seq < 3; seq++) tx.protectRtp(rtp(seq));
  assert.throws(() => tx.protectRtp(rtp(3)), (e: unknown) => e instanceof SrtpProtectError && e.code === 'exhausted');
  tx.protectRtcp(rtcpRr());
  tx.protectRtcp(rtcpRr(99));
  assert.throws(() => tx.protectRtcp(rtcpRr()), (e: unknown) => e instanceof SrtpProtectError && e.code === 'exhausted');
  const capped = new SrtpSession(generateKeyParams('AES_CM_128_HMAC_SHA1_80'), { packetLimit: { rtp: 2 ** 60 } });
  assert.ok(capped.protectRtp(rtp(1)), 'a limit above 2^48 is clamped, not refused');
});

test('an MKI is carried between payload and tag, and a packet with another MKI is refused', () => {
  const key = { ...generateKeyParams('AES_CM_128_HMAC_SHA1_80'), mki: Buffer.from([0x00, 0x01]) };
  const tx = new SrtpSession(key);
  const rx = new SrtpSession(key);
  const plain = rtp(3);
  const packet = tx.protectRtp(plain);
  assert.equal(packet.length, plain.length + 2 + 10);
  assert.deepEqual(packet.subarray(plain.length, plain.length + 2), Buffer.from([0, 1]));
  assert.deepEqual(rx.unprotectRtp(packet), plain);
  const srtcp = tx.protectRtcp(rtcpRr());
  assert.equal(srtcp.length, 32 + 4 + 2 + 10);
  assert.deepEqual(rx.unprotectRtcp(srtcp), rtcpRr());
  const other = tx.protectRtp(rtp(4));
  other[plain.length + 1] = 2;
  assert.equal(rx.unprotectRtp(other), null);
  assert.equal(rx.lastFailure, 'auth');
});

test('hostile input: short, wrong version, truncated, CSRC/extension past the end -> null, never throws', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  const tx = new SrtpSession(key);
  const rx = new SrtpSession(key);
  const good = tx.protectRtp(rtp(1));
  const cases: Buffer[] = [
    Buffer.alloc(0),
    Buffer.alloc(11),
    Buffer.alloc(21, 0x80), // a header and less than a tag
    Buffer.concat([Buffer.from([0x40]), good.subarray(1)]), // version 1
    good.subarray(0, 12 + 9),
    (() => { const b = Buffer.from(good); b[0] = 0x8f; return b.subarray(0, 12 + 10 + 20); })(), // 15 CSRCs, 42 bytes
    (() => { const b = Buffer.alloc(12 + 4 + 10); b[0] = 0x90; b.writeUInt16BE(0xffff, 14); return b; })(), // extension length 65535 words
    (() => { const b = Buffer.alloc(12 + 2 + 10); b[0] = 0x90; return b.subarray(0, 12 + 2); })(), // extension header cut
  ];
  for (const [i, c] of cases.entries()) {
    assert.equal(rx.unprotectRtp(c), null, `case ${i}`);
    assert.equal(rx.lastFailure, 'malformed', `case ${i}`);
  }
  // A truncated tag looks like a shorter payload with a wrong tag.
  assert.equal(rx.unprotectRtp(good.subarray(0, good.length - 1)), null);
  assert.equal(rx.lastFailure, 'auth');
  for (const c of [Buffer.alloc(0), Buffer.alloc(21, 0x80), Buffer.alloc(40, 0x40)]) {
    assert.equal(rx.unprotectRtcp(c), null);
    assert.equal(rx.lastFailure, 'malformed');
  }
  // Random bytes, bounded: every outcome is null, never an exception.
  let seed = 12345;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let n = 0; n < 2000; n++) {
    const b = Buffer.alloc(rand() % 200);
    for (let i = 0; i < b.length; i++) b[i] = rand() & 0xff;
    if (b.length > 0 && n % 2 === 0) b[0] = 0x80 | ((b[0] as number) & 0x3f);
    assert.equal(rx.unprotectRtp(b), null);
    assert.equal(rx.unprotectRtcp(b), null);
  }
  assert.ok(rx.unprotectRtp(good), 'none of that disturbed the real stream');
});

test('constructor validates options and key sizes without echoing key material', () => {
  const key = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  assert.throws(() => new SrtpSession(key, { replayWindow: 16 }), RangeError);
  assert.throws(() => new SrtpSession(key, { maxSsrcs: 0 }), RangeError);
  assert.throws(() => new SrtpSession({ ...key, masterSalt: key.masterSalt.subarray(0, 12) }), RangeError);
  assert.throws(
    () => new SrtpSession({ ...key, masterKey: Buffer.concat([key.masterKey, key.masterKey]) }),
    (e: Error) => !e.message.includes(key.masterKey.toString('hex')) && !e.message.includes(key.masterKey.toString('base64')),
  );
  const g = generateKeyParams('AES_256_CM_HMAC_SHA1_32');
  assert.equal(g.masterKey.length, 32);
  assert.equal(g.masterSalt.length, 14);
  assert.notDeepEqual(generateKeyParams('AES_CM_128_HMAC_SHA1_80').masterKey, generateKeyParams('AES_CM_128_HMAC_SHA1_80').masterKey);
});

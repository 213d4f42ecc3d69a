import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildOffer, createSdpSessionState, negotiateAnswer, parseSdp, readAnswer, SdpParseError } from './index.js';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';

const LINPHONE = crlf([
  'v=0', 'o=linphone 2340 1470 IN IP4 192.168.1.10', 's=Talk', 'c=IN IP4 192.168.1.10', 't=0 0',
  'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
  'm=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100',
  'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 useinbandfec=1', 'a=rtpmap:97 speex/16000', 'a=fmtp:97 vbr=on',
  'a=rtpmap:98 speex/8000', 'a=fmtp:98 vbr=on', 'a=fmtp:18 annexb=yes',
  'a=rtpmap:101 telephone-event/48000', 'a=rtpmap:99 telephone-event/16000', 'a=rtpmap:100 telephone-event/8000',
  'a=rtcp-fb:* trr-int 1000', 'a=rtcp-fb:* ccm tmmbr',
]);

const ASTERISK = crlf([
  'v=0', 'o=- 1234567 1234567 IN IP4 10.0.0.5', 's=Asterisk', 'c=IN IP4 10.0.0.5', 't=0 0',
  'm=audio 18234 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=maxptime:150', 'a=sendrecv',
]);

const FREESWITCH = crlf([
  'v=0', 'o=FreeSWITCH 1700000000 1700000001 IN IP4 203.0.113.7', 's=FreeSWITCH', 'c=IN IP4 203.0.113.7', 't=0 0',
  'm=audio 24680 RTP/AVP 9 102 8 0 101 13', 'a=rtpmap:9 G722/8000', 'a=rtpmap:102 opus/48000/2',
  'a=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; minptime=10; maxptime=40',
  'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16',
  'a=rtpmap:13 CN/8000', 'a=ptime:30', 'a=sendrecv', 'a=rtcp:24681 IN IP4 203.0.113.7',
]);

// sipp's built-in uac scenario with [media_ip]/[media_port] filled in; LF line ends as sipp sends them.
const SIPP = [
  'v=0', 'o=user1 53655765 2353687637 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  'm=audio 6000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', '',
].join('\n');

const OPTS = { localAddress: '198.51.100.20', localPort: 40000 };

function ok<T extends { ok: boolean }>(r: T): Extract<T, { ok: true }> {
  assert.equal(r.ok, true, JSON.stringify(r));
  return r as Extract<T, { ok: true }>;
}

test('parseSdp reads sessions, media, rtpmap/fmtp/ptime and tolerates LF and junk lines', () => {
  const s = parseSdp(FREESWITCH);
  assert.equal(s.origin?.sessionId, '1700000000');
  assert.equal(s.connection?.address, '203.0.113.7');
  assert.equal(s.media.length, 1);
  const m = s.media[0]!;
  assert.deepEqual(m.formats, ['9', '102', '8', '0', '101', '13']);
  assert.equal(m.rtpmap.get(102)?.channels, 2);
  assert.equal(m.fmtp.get(101), '0-16');
  assert.equal(m.ptime, 30);
  assert.equal(m.direction, 'sendrecv');
  const junk = parseSdp('garbage\nv=0\n\n  \nm=audio 5004/2 RTP/AVP 0\nc=IN IP4 224.2.1.1/127\n');
  assert.equal(junk.media[0]!.portCount, 2);
  assert.equal(junk.media[0]!.connection?.address, '224.2.1.1');
});

test('parseSdp is bounded', () => {
  assert.throws(() => parseSdp('v=0\r\n' + 'a=x\r\n'.repeat(7000)), SdpParseError);
  assert.throws(() => parseSdp('v=0\r\n' + 'm=audio 1 RTP/AVP 0\r\n'.repeat(20)), /too many m= lines/);
  assert.throws(() => parseSdp('m=audio 99999 RTP/AVP 0'), /bad port/);
  assert.throws(() => parseSdp(`m=audio 1 RTP/AVP ${'0 '.repeat(100)}`), /too many formats/);
});

test('Linphone: picks PCMU and the 8 kHz telephone-event among three', () => {
  const r = ok(negotiateAnswer(LINPHONE, OPTS));
  assert.equal(r.codec, 'PCMU');
  assert.equal(r.payloadType, 0);
  assert.deepEqual(r.telephoneEvent, { payloadType: 100, rate: 8000 });
  assert.deepEqual(r.remote, { address: '192.168.1.10', port: 7078 });
  assert.equal(r.direction, 'sendrecv');
  assert.match(r.answerSdp, /^m=audio 40000 RTP\/AVP 0 100\r$/m);
  assert.match(r.answerSdp, /^a=rtpmap:100 telephone-event\/8000\r$/m);
  assert.match(r.answerSdp, /^c=IN IP4 198\.51\.100\.20\r$/m);
  assert.doesNotMatch(r.answerSdp, /opus|speex/);
});

test('Asterisk: local preference wins over the offer order; PCMA when PCMU is not wanted', () => {
  const r = ok(negotiateAnswer(ASTERISK, OPTS));
  assert.equal(r.codec, 'PCMU');
  assert.equal(r.telephoneEvent?.payloadType, 101);
  const a = ok(negotiateAnswer(ASTERISK, { ...OPTS, preferred: ['PCMA', 'PCMU'] }));
  assert.equal(a.codec, 'PCMA');
  assert.equal(a.payloadType, 8);
  assert.match(a.answerSdp, /^m=audio 40000 RTP\/AVP 8 101\r$/m);
});

test('FreeSWITCH: skips G722/opus, reports the remote ptime, answers with ours', () => {
  const r = ok(negotiateAnswer(FREESWITCH, { ...OPTS, preferred: ['PCMA'] }));
  assert.equal(r.codec, 'PCMA');
  assert.equal(r.remotePtime, 30);
  assert.equal(r.ptime, 20);
  assert.match(r.answerSdp, /^a=ptime:20\r$/m);
});

test('sipp default offer (PCMU only, LF endings)', () => {
  const r = ok(negotiateAnswer(SIPP, OPTS));
  assert.equal(r.codec, 'PCMU');
  assert.equal(r.telephoneEvent, undefined);
  assert.deepEqual(r.remote, { address: '127.0.0.1', port: 6000 });
  assert.doesNotMatch(r.answerSdp, /telephone-event/);
  const lines = r.answerSdp.split('\r\n');
  assert.equal(lines[0], 'v=0');
  assert.match(lines[1]!, /^o=sipflow \d+ \d+ IN IP4 198\.51\.100\.20$/);
  assert.equal(lines.at(-1), '');
});

test('static payload types without rtpmap, media-level c= overriding session c=', () => {
  const offer = crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 5000 RTP/AVP 18 8', 'c=IN IP4 10.2.2.2']);
  const r = ok(negotiateAnswer(offer, OPTS));
  assert.equal(r.codec, 'PCMA');
  assert.equal(r.remote.address, '10.2.2.2');
  // A dynamic payload type mapped to PCMU is honoured; a static number remapped to something else is not PCMU.
  const dyn = ok(negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=audio 5000 RTP/AVP 0 96', 'a=rtpmap:0 G729/8000', 'a=rtpmap:96 pcmu/8000']), OPTS));
  assert.equal(dyn.payloadType, 96);
});

test('hold: sendonly, inactive and c=0.0.0.0 get the mirrored direction', () => {
  const base = ['v=0', 'o=- 1 2 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 5000 RTP/AVP 0 101', 'a=rtpmap:101 telephone-event/8000'];
  const so = ok(negotiateAnswer(crlf([...base, 'a=sendonly']), OPTS));
  assert.equal(so.direction, 'recvonly'); assert.equal(so.hold, true);
  assert.match(so.answerSdp, /^a=recvonly\r$/m);
  const ina = ok(negotiateAnswer(crlf([...base, 'a=inactive']), OPTS));
  assert.equal(ina.direction, 'inactive'); assert.equal(ina.hold, true);
  const ro = ok(negotiateAnswer(crlf([...base, 'a=recvonly']), OPTS));
  assert.equal(ro.direction, 'sendonly'); assert.equal(ro.hold, false);
  const old = ok(negotiateAnswer(crlf(base).replace('c=IN IP4 10.1.1.1', 'c=IN IP4 0.0.0.0'), OPTS));
  assert.equal(old.direction, 'recvonly'); assert.equal(old.hold, true);
  assert.equal(old.remote.address, '0.0.0.0');
  // Session-level direction applies when the media section has none.
  const sess = ok(negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'a=sendonly', 'm=audio 5000 RTP/AVP 0']), OPTS));
  assert.equal(sess.direction, 'recvonly');
});

test('IPv6 offer and IPv6 advertised address', () => {
  const offer = crlf(['v=0', 'o=- 1 1 IN IP6 2001:db8::1', 's=-', 'c=IN IP6 2001:db8::1', 't=0 0', 'm=audio 5000 RTP/AVP 0']);
  const r = ok(negotiateAnswer(offer, { localAddress: '2001:db8::20', localPort: 40002 }));
  assert.deepEqual(r.remote, { address: '2001:db8::1', port: 5000 });
  assert.match(r.answerSdp, /^c=IN IP6 2001:db8::20\r$/m);
  assert.match(r.answerSdp, /^o=sipflow \d+ \d+ IN IP6 2001:db8::20\r$/m);
});

test('several m= lines: video declined with port 0, order kept', () => {
  const offer = crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=video 6000 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'm=audio 5000 RTP/AVP 0']);
  const r = ok(negotiateAnswer(offer, OPTS));
  assert.equal(r.mediaIndex, 1);
  const ms = r.answerSdp.split('\r\n').filter((l) => l.startsWith('m='));
  assert.deepEqual(ms, ['m=video 0 RTP/AVP 96', 'm=audio 40000 RTP/AVP 0']);
});

test('failures carry a code and a reason for a 488', () => {
  const g729 = negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=audio 5000 RTP/AVP 18', 'a=rtpmap:18 G729/8000']), OPTS);
  assert.deepEqual(g729.ok ? undefined : g729.code, 'NoCommonCodec');
  const srtp = negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=audio 5000 RTP/SAVP 0']), OPTS);
  assert.equal(srtp.ok ? undefined : srtp.code, 'NoCommonCrypto');
  const tcp = negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=audio 5000 TCP/RTP/AVP 0']), OPTS);
  assert.equal(tcp.ok ? undefined : tcp.code, 'UnsupportedTransport');
  const video = negotiateAnswer(crlf(['v=0', 'c=IN IP4 10.1.1.1', 'm=video 5000 RTP/AVP 96']), OPTS);
  assert.equal(video.ok ? undefined : video.code, 'NoAudio');
  const noC = negotiateAnswer(crlf(['v=0', 'm=audio 5000 RTP/AVP 0']), OPTS);
  assert.equal(noC.ok ? undefined : noC.code, 'NoConnectionAddress');
  const bad = negotiateAnswer('m=audio x RTP/AVP 0', OPTS);
  assert.equal(bad.ok ? undefined : bad.code, 'BadSdp');
  assert.ok(!bad.ok && bad.reason.length > 0);
});

test('session state: stable id, version moves only when the answer changes (re-INVITE for hold)', () => {
  const state = createSdpSessionState();
  const first = ok(negotiateAnswer(ASTERISK, { ...OPTS, session: state }));
  const o1 = /^o=(\S+) (\d+) (\d+)/m.exec(first.answerSdp)!;
  const same = ok(negotiateAnswer(ASTERISK, { ...OPTS, session: state }));
  const o2 = /^o=(\S+) (\d+) (\d+)/m.exec(same.answerSdp)!;
  assert.equal(o2[2], o1[2]);
  assert.equal(o2[3], o1[3]);
  const hold = ok(negotiateAnswer(ASTERISK.replace('a=sendrecv', 'a=sendonly'), { ...OPTS, session: state }));
  const o3 = /^o=(\S+) (\d+) (\d+)/m.exec(hold.answerSdp)!;
  assert.equal(o3[2], o1[2]);
  assert.equal(Number(o3[3]), Number(o1[3]) + 1);
  const resume = ok(negotiateAnswer(ASTERISK, { ...OPTS, session: state }));
  assert.equal(Number(/^o=\S+ \d+ (\d+)/m.exec(resume.answerSdp)![1]), Number(o1[3]) + 2);
});

test('buildOffer / readAnswer for INVITEs without SDP', () => {
  const state = createSdpSessionState();
  const offer = buildOffer(state, { localAddress: '198.51.100.20', localPort: 40004 });
  assert.match(offer, /^m=audio 40004 RTP\/AVP 0 8 101\r$/m);
  // Answer it with ourselves: the answer's direction is mirrored back to ours.
  const ans = ok(negotiateAnswer(offer, { localAddress: '10.9.9.9', localPort: 7000, preferred: ['PCMA'] }));
  const read = ok(readAnswer(ans.answerSdp));
  assert.equal(read.codec, 'PCMA');
  assert.deepEqual(read.remote, { address: '10.9.9.9', port: 7000 });
  assert.equal(read.telephoneEvent?.payloadType, 101);
  assert.equal(read.direction, 'sendrecv');
});

test('rtcp-mux: answered only when offered; a=rtcp port read; our offers advertise it', () => {
  const muxOffer = ASTERISK.replace('a=sendrecv\r\n', 'a=sendrecv\r\na=rtcp-mux\r\n');
  const muxed = ok(negotiateAnswer(muxOffer, OPTS));
  assert.equal(muxed.rtcpMux, true);
  assert.match(muxed.answerSdp, /^a=sendrecv\r\na=rtcp-mux\r$/m);
  // Without it in the offer the answer is exactly what it was before RTCP support.
  const plain = ok(negotiateAnswer(ASTERISK, OPTS));
  assert.equal(plain.rtcpMux, false);
  assert.equal(plain.answerSdp, muxed.answerSdp.replace('a=rtcp-mux\r\n', '').replace(/^o=.*$/m, /^o=.*$/m.exec(plain.answerSdp)![0]));
  assert.doesNotMatch(plain.answerSdp, /rtcp/);
  // Refusing mux by option.
  const refused = ok(negotiateAnswer(muxOffer, { ...OPTS, rtcpMux: false }));
  assert.equal(refused.rtcpMux, false);
  assert.doesNotMatch(refused.answerSdp, /rtcp-mux/);
  // a=rtcp:<port> [IN IP4 addr] gives the RTCP port; junk is ignored.
  assert.equal(ok(negotiateAnswer(FREESWITCH, OPTS)).rtcpPort, 24681);
  assert.equal(ok(negotiateAnswer(ASTERISK, OPTS)).rtcpPort, undefined);
  assert.equal(parseSdp(crlf(['v=0', 'm=audio 5000 RTP/AVP 0', 'a=rtcp:99999'])).media[0]!.rtcpPort, undefined);
  assert.equal(parseSdp(crlf(['v=0', 'm=audio 5000 RTP/AVP 0', 'a=rtcp:abc'])).media[0]!.rtcpPort, undefined);
  assert.equal(parseSdp(crlf(['v=0', 'm=audio 5000 RTP/AVP 0', 'a=rtcp:5001'])).media[0]!.rtcpPort, 5001);
  // Our offer carries a=rtcp-mux; mux is used only if the answer has it too (RFC 5761 §5.1.1).
  const offer = buildOffer(createSdpSessionState(), { localAddress: '198.51.100.20', localPort: 40004 });
  assert.match(offer, /^a=sendrecv\r\na=rtcp-mux\r$/m);
  assert.doesNotMatch(buildOffer(createSdpSessionState(), { localAddress: '198.51.100.20', localPort: 40004, rtcpMux: false }), /rtcp-mux/);
  const withMux = ok(negotiateAnswer(offer, { localAddress: '10.9.9.9', localPort: 7000 }));
  assert.equal(ok(readAnswer(withMux.answerSdp)).rtcpMux, true);
  const withoutMux = ok(negotiateAnswer(offer, { localAddress: '10.9.9.9', localPort: 7000, rtcpMux: false }));
  assert.equal(ok(readAnswer(withoutMux.answerSdp)).rtcpMux, false);
});

// ---- SRTP (SDES, RFC 4568) ----------------------------------------------------------------------

const KEY_A = Buffer.alloc(30, 7).toString('base64');
const KEY_B = Buffer.from(Array.from({ length: 30 }, (_, i) => i + 1)).toString('base64');

function savpOffer(cryptoLines: string[], proto = 'RTP/SAVP'): string {
  return crlf(['v=0', 'o=sbc 1 1 IN IP4 198.51.100.9', 's=-', 'c=IN IP4 198.51.100.9', 't=0 0',
    `m=audio 31000 ${proto} 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ...cryptoLines.map((c) => `a=crypto:${c}`)]);
}

function cryptoLinesOf(sdp: string): string[] {
  return sdp.split('\r\n').filter((l) => l.startsWith('a=crypto:'));
}

test('an RTP/SAVP offer is answered with SRTP: the first usable crypto line, our own fresh key', () => {
  const offer = savpOffer([`1 AEAD_AES_256_GCM inline:${KEY_A}`, `2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}|2^31`, `3 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`]);
  const session = createSdpSessionState();
  const neg = negotiateAnswer(offer, { ...OPTS, session });
  assert.ok(neg.ok, neg.ok ? '' : neg.reason);
  assert.match(neg.answerSdp, /^m=audio 40000 RTP\/SAVP 0 101$/m);
  const lines = cryptoLinesOf(neg.answerSdp);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:[A-Za-z0-9+/]{40}$/);
  assert.ok(neg.srtp);
  assert.equal(neg.srtp.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.equal(neg.srtp.tag, 2);
  // The peer's key is what it sent; ours is 16 + 14 random bytes, not an echo of it.
  assert.deepEqual(Buffer.concat([neg.srtp.remote.masterKey, neg.srtp.remote.masterSalt]), Buffer.from(KEY_B, 'base64'));
  const ours = Buffer.concat([neg.srtp.local.masterKey, neg.srtp.local.masterSalt]);
  assert.equal(ours.length, 30);
  assert.notDeepEqual(ours, Buffer.from(KEY_B, 'base64'));
  assert.equal(lines[0]!.split('inline:')[1], ours.toString('base64'));

  // A re-INVITE of the same call keeps our key (and with it the outbound rollover counter).
  const again = negotiateAnswer(offer, { ...OPTS, session });
  assert.ok(again.ok && again.srtp);
  assert.deepEqual(again.srtp.local.masterKey, neg.srtp.local.masterKey);
  assert.deepEqual(cryptoLinesOf(again.answerSdp), lines);
  // Another call gets another key.
  const other = negotiateAnswer(offer, OPTS);
  assert.ok(other.ok && other.srtp);
  assert.notDeepEqual(other.srtp.local.masterKey, neg.srtp.local.masterKey);
});

test('RTP/SAVPF is answered as RTP/SAVPF; a plain offer gets no crypto line', () => {
  const f = negotiateAnswer(savpOffer([`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`], 'RTP/SAVPF'), OPTS);
  assert.ok(f.ok);
  assert.match(f.answerSdp, /^m=audio 40000 RTP\/SAVPF 0 101$/m);
  const plain = negotiateAnswer(ASTERISK, OPTS);
  assert.ok(plain.ok);
  assert.equal(plain.srtp, undefined);
  assert.deepEqual(cryptoLinesOf(plain.answerSdp), []);
  assert.match(plain.answerSdp, /^m=audio 40000 RTP\/AVP /m);
});

test('SRTP policy: off refuses SAVP, required refuses AVP, and unusable crypto lines are refused', () => {
  const savp = savpOffer([`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A}`]);
  const off = negotiateAnswer(savp, { ...OPTS, srtp: 'off' });
  assert.equal(off.ok ? undefined : off.code, 'UnsupportedTransport');
  const required = negotiateAnswer(ASTERISK, { ...OPTS, srtp: 'required' });
  assert.equal(required.ok ? undefined : required.code, 'SrtpRequired');
  assert.ok(negotiateAnswer(savp, { ...OPTS, srtp: 'required' }).ok);
  for (const bad of [
    `1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(20, 1).toString('base64')}`, // wrong key length
    `1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!`,
    `1 F8_128_HMAC_SHA1_80 inline:${KEY_A}`, // a suite we do not do
    `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_A} KDR=10`, // a key derivation rate we do not do
  ]) {
    const r = negotiateAnswer(savpOffer([bad]), OPTS);
    assert.equal(r.ok ? undefined : r.code, 'NoCommonCrypto', bad);
  }
  // When the offer has a second audio line in plain RTP, an unusable SRTP line falls back to it.
  const both = crlf(['v=0', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 5000 RTP/SAVP 0', 'a=crypto:1 F8_128_HMAC_SHA1_80 inline:' + KEY_A, 'm=audio 5002 RTP/AVP 0']);
  const fell = negotiateAnswer(both, OPTS);
  assert.ok(fell.ok);
  assert.equal(fell.mediaIndex, 1);
  assert.equal(fell.srtp, undefined);
});

test('our SRTP offer (delayed-offer INVITE) and the answer to it', () => {
  const session = createSdpSessionState();
  const offer = buildOffer(session, { localAddress: '203.0.113.1', localPort: 40000, srtp: 'required' });
  assert.match(offer, /^m=audio 40000 RTP\/SAVP 0 8 101$/m);
  const lines = cryptoLinesOf(offer);
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:/);
  assert.match(lines[1]!, /^a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:/);
  const ourKey32 = Buffer.from(lines[1]!.split('inline:')[1]!, 'base64');

  const answer = (c: string, proto = 'RTP/SAVP'): string => crlf(['v=0', 'c=IN IP4 198.51.100.9', 't=0 0', `m=audio 31000 ${proto} 0`, `a=crypto:${c}`]);
  const ok = readAnswer(answer(`2 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`), { session });
  assert.ok(ok.ok && ok.srtp);
  assert.equal(ok.srtp.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.deepEqual(Buffer.concat([ok.srtp.local.masterKey, ok.srtp.local.masterSalt]), ourKey32);
  assert.deepEqual(Buffer.concat([ok.srtp.remote.masterKey, ok.srtp.remote.masterSalt]), Buffer.from(KEY_B, 'base64'));
  // A tag we did not offer, or our tag with another suite, is no answer to our offer.
  const wrongTag = readAnswer(answer(`7 AES_CM_128_HMAC_SHA1_80 inline:${KEY_B}`), { session });
  assert.equal(wrongTag.ok ? undefined : wrongTag.code, 'NoCommonCrypto');
  const wrongSuite = readAnswer(answer(`1 AES_CM_128_HMAC_SHA1_32 inline:${KEY_B}`), { session });
  assert.equal(wrongSuite.ok ? undefined : wrongSuite.code, 'NoCommonCrypto');
  const plain = readAnswer(crlf(['v=0', 'c=IN IP4 198.51.100.9', 't=0 0', 'm=audio 31000 RTP/AVP 0']), { session });
  assert.equal(plain.ok ? undefined : plain.code, 'SrtpRequired');

  // After a plain offer, an SRTP answer is refused.
  const plainSession = createSdpSessionState();
  buildOffer(plainSession, { localAddress: '203.0.113.1', localPort: 40000 });
  const unasked = readAnswer(answer(`1 AES_CM_128_HMAC_SHA1_80 inline:${KEY_B}`), { session: plainSession });
  assert.equal(unasked.ok ? undefined : unasked.code, 'UnsupportedTransport');
});

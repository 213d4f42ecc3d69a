import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyParams, SrtpSession } from './context.js';
import { formatCryptoAttribute, parseCryptoAttribute, redactCryptoKeys, type CryptoAttribute } from './sdes.js';

/** The RFC 3711 B.3 master key || salt, base64. */
const INLINE = Buffer.from('E1F97A0D3E018BE0D64FA32C06DE4139' + '0EC675AD498AFEEBB6960B3AABE6', 'hex').toString('base64');

function ok(value: string): CryptoAttribute {
  const r = parseCryptoAttribute(value);
  if ('error' in r) assert.fail(`unexpected error: ${r.error}`);
  return r;
}

function refused(value: string, pattern: RegExp): void {
  const r = parseCryptoAttribute(value);
  assert.ok('error' in r, `expected a refusal for ${value}`);
  assert.match(r.error, pattern);
  assert.ok(!r.error.includes(INLINE), 'no key material in the error');
}

test('parses the RFC 4568 shape: tag, suite, inline key and salt', () => {
  const a = ok(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}`);
  assert.equal(a.tag, 1);
  assert.equal(a.suite, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(a.params?.suite, 'AES_CM_128_HMAC_SHA1_80');
  assert.equal(a.params?.masterKey.toString('hex').toUpperCase(), 'E1F97A0D3E018BE0D64FA32C06DE4139');
  assert.equal(a.params?.masterSalt.toString('hex').toUpperCase(), '0EC675AD498AFEEBB6960B3AABE6');
  assert.equal(a.params?.mki, undefined);
  assert.equal(a.lifetime, undefined);
  assert.deepEqual(a.sessionParams, []);
});

test('format -> parse round trip for every suite, and the parsed keys interoperate', () => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AES_256_CM_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_32'] as const) {
    const params = generateKeyParams(suite);
    const text = formatCryptoAttribute(7, params);
    assert.match(text, new RegExp(`^7 ${suite} inline:[A-Za-z0-9+/]+=*$`));
    const back = ok(text);
    assert.equal(back.tag, 7);
    assert.deepEqual(back.params, { suite, masterKey: params.masterKey, masterSalt: params.masterSalt });
    const packet = Buffer.alloc(172);
    packet[0] = 0x80;
    const srtp = new SrtpSession(params).protectRtp(packet);
    assert.deepEqual(new SrtpSession(back.params ?? params).unprotectRtp(srtp), packet);
  }
});

test('lifetime as 2^n or decimal; MKI parsed into bytes and formatted back', () => {
  assert.equal(ok(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^31`).lifetime, 2 ** 31);
  assert.equal(ok(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^48`).lifetime, 2 ** 48);
  assert.equal(ok(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|1048576`).lifetime, 1048576);
  const withMki = ok(`2 AES_CM_128_HMAC_SHA1_32 inline:${INLINE}|2^20|1:4`);
  assert.equal(withMki.lifetime, 2 ** 20);
  assert.deepEqual(withMki.params?.mki, Buffer.from([0, 0, 0, 1]));
  assert.deepEqual(ok(`2 AES_CM_128_HMAC_SHA1_32 inline:${INLINE}|258:2`).params?.mki, Buffer.from([1, 2]));
  assert.equal(formatCryptoAttribute(2, withMki.params ?? assert.fail()), `2 AES_CM_128_HMAC_SHA1_32 inline:${INLINE}|1:4`);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^49`, /lifetime/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|0`, /lifetime/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^x`, /lifetime/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|256:1`, /MKI value/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|1:0`, /MKI length/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|1:4|2^20`, /MKI must come after/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^20|2^20`, /malformed/);
});

test('an unknown suite parses with params null, so the negotiator skips that line', () => {
  const a = ok('3 AEAD_AES_256_GCM inline:whatever|2^31 UNENCRYPTED_SRTP');
  assert.equal(a.tag, 3);
  assert.equal(a.suite, 'AEAD_AES_256_GCM');
  assert.equal(a.params, null);
  assert.equal(ok('4 F8_128_HMAC_SHA1_80 inline:x').params, null);
});

test('malformed lines are refused with an error, never a throw', () => {
  refused('', /needs a tag/);
  refused('1 AES_CM_128_HMAC_SHA1_80', /needs a tag/);
  refused(`x AES_CM_128_HMAC_SHA1_80 inline:${INLINE}`, /tag/);
  refused(`1234567890 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}`, /tag/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 uri:${INLINE}`, /inline/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE.slice(0, -1)}!`, /base64/);
  refused('1 AES_CM_128_HMAC_SHA1_80 inline:not*base64', /base64/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE.slice(0, 36)}`, /40 bytes|30 bytes/);
  refused(`1 AES_256_CM_HMAC_SHA1_80 inline:${INLINE}`, /needs 46 bytes/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^20|1:4;inline:${INLINE}|2^20|2:4`, /2 master keys/);
  refused(`1 AES/CM inline:${INLINE}`, /suite/);
});

test('session parameters: KDR and unencrypted/unauthenticated modes are refused; WSH, FEC and "-" ones kept', () => {
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} KDR=1`, /KDR/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} KDR=0`, /KDR/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} UNENCRYPTED_SRTP`, /UNENCRYPTED_SRTP/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} UNENCRYPTED_SRTCP`, /UNENCRYPTED_SRTCP/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} UNAUTHENTICATED_SRTP`, /UNAUTHENTICATED_SRTP/);
  refused(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE} NEW_THING=3`, /unknown mandatory session parameter NEW_THING/);
  const a = ok(`1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}   WSH=128 FEC_ORDER=FEC_SRTP -VENDOR_HINT=1`);
  assert.deepEqual(a.sessionParams, ['WSH=128', 'FEC_ORDER=FEC_SRTP', '-VENDOR_HINT=1']);
  assert.ok(a.params);
});

test('redactCryptoKeys removes every inline key from an SDP body', () => {
  const sdp = `m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${INLINE}|2^31\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:${INLINE}\r\n`;
  const out = redactCryptoKeys(sdp);
  assert.ok(!out.includes(INLINE));
  assert.match(out, /inline:\[redacted\]\|2\^31\r\n/);
  assert.equal(out.match(/\[redacted\]/g)?.length, 2);
});

test('formatCryptoAttribute refuses bad tags and wrong-length keys', () => {
  const p = generateKeyParams('AES_CM_128_HMAC_SHA1_80');
  assert.throws(() => formatCryptoAttribute(-1, p), RangeError);
  assert.throws(() => formatCryptoAttribute(1e9, p), RangeError);
  assert.throws(() => formatCryptoAttribute(1, { ...p, suite: 'AES_256_CM_HMAC_SHA1_80' }), RangeError);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AesCounterMode } from './aes-cm.js';
import { deriveKeys, deriveSessionKey, KdfLabel } from './kdf.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('AES-CM keystream matches RFC 3711 Appendix B.2', () => {
  const aes = new AesCounterMode(hex('2B7E151628AED2A6ABF7158809CF4F3C'), 'aes-128-ecb');
  // Session salt F0..FD shifted by 16 bits, SSRC 0, index 0: the IV is the salt followed by 0000.
  const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
  const stream = aes.keystream(iv, 0xff02 * 16);
  const block = (j: number): string => stream.subarray(j * 16, (j + 1) * 16).toString('hex').toUpperCase();
  assert.equal(block(0x0000), 'E03EAD0935C95E80E166B16DD92B4EB4');
  assert.equal(block(0x0001), 'D23513162B02D0F72A43A2FE4A5F97AB');
  assert.equal(block(0x0002), '41E95B3BB0A2E8DD477901E4FCA894C0');
  assert.equal(block(0xfeff), 'EC8CDF7398607CB0F2D21675EA9EA1E4');
  assert.equal(block(0xff00), '362B7C3C6773516318A077D7FC5073AE');
  assert.equal(block(0xff01), '6A2CC3787889374FBEB4C81B17BA6C44');
});

test('apply() XORs the same keystream in place over any span, also with a short last block', () => {
  const aes = new AesCounterMode(hex('2B7E151628AED2A6ABF7158809CF4F3C'), 'aes-128-ecb');
  const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
  const data = Buffer.alloc(5 + 37);
  aes.apply(iv, data, 5, data.length);
  assert.deepEqual(data.subarray(0, 5), Buffer.alloc(5));
  assert.equal(data.subarray(5, 21).toString('hex').toUpperCase(), 'E03EAD0935C95E80E166B16DD92B4EB4');
  assert.deepEqual(data.subarray(5), aes.keystream(iv, 37));
  aes.apply(iv, data, 5, data.length);
  assert.deepEqual(data, Buffer.alloc(42), 'applying twice restores the input');
});

test('session keys derive as RFC 3711 Appendix B.3 lists them', () => {
  const masterKey = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const masterSalt = hex('0EC675AD498AFEEBB6960B3AABE6');
  const keys = deriveKeys('AES_CM_128_HMAC_SHA1_80', masterKey, masterSalt);
  assert.equal(keys.rtp.encryptionKey.toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
  assert.equal(keys.rtp.salt.toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
  assert.equal(keys.rtp.authenticationKey.toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  // The appendix lists 94 bytes of the auth-key PRF output, which crosses six counter blocks.
  const prf = new AesCounterMode(masterKey, 'aes-128-ecb');
  assert.equal(
    deriveSessionKey(prf, masterSalt, KdfLabel.rtpAuthentication, 94).toString('hex').toUpperCase(),
    'CEBE321F6FF7716B6FD4AB49AF256A15' + '6D38BAA48F0A0ACF3C34E2359E6CDBCE' + 'E049646C43D9327AD175578EF7227098'
      + '6371C10C9A369AC2F94A8C5FBCDDDC25' + '6D6E919A48B610EF17C2041E47403576' + '6B68642C59BBFC2F34DB60DBDFB2',
  );
});

test('AES-256 session keys derive as RFC 6188 §7.2 lists them', () => {
  const keys = deriveKeys(
    'AES_256_CM_HMAC_SHA1_80',
    hex('f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6'),
    hex('3b04803de51ee7c96423ab5b78d2'),
  );
  assert.equal(keys.rtp.encryptionKey.toString('hex'), '5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4');
  assert.equal(keys.rtp.salt.toString('hex'), 'fa31791685ca444a9e07c6c64e93');
  assert.equal(keys.rtp.authenticationKey.toString('hex'), 'fd9c32d39ed5fbb5a9dc96b30818454d1313dc05');
});

test('SRTCP keys use their own labels: all six session keys differ', () => {
  const keys = deriveKeys('AES_CM_128_HMAC_SHA1_80', hex('E1F97A0D3E018BE0D64FA32C06DE4139'), hex('0EC675AD498AFEEBB6960B3AABE6'));
  const all = [keys.rtp.encryptionKey, keys.rtp.authenticationKey, keys.rtp.salt, keys.rtcp.encryptionKey, keys.rtcp.authenticationKey, keys.rtcp.salt];
  assert.equal(new Set(all.map((k) => k.toString('hex'))).size, 6);
  assert.equal(keys.rtcp.encryptionKey.length, 16);
  assert.equal(keys.rtcp.authenticationKey.length, 20);
  assert.equal(keys.rtcp.salt.length, 14);
});

test('a master key of the wrong length for the suite is refused without echoing it', () => {
  assert.throws(
    () => deriveKeys('AES_256_CM_HMAC_SHA1_80', hex('E1F97A0D3E018BE0D64FA32C06DE4139'), hex('0EC675AD498AFEEBB6960B3AABE6')),
    (e: Error) => e instanceof RangeError && !/e1f97a/i.test(e.message),
  );
});

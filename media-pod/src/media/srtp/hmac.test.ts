import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { HmacSha1 } from './hmac.js';

test('HMAC-SHA1 matches the RFC 2202 test cases', () => {
  const cases: Array<[Buffer, Buffer, string]> = [
    [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [Buffer.alloc(20, 0x0c), Buffer.from('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
  ];
  for (const [key, data, mac] of cases) assert.equal(new HmacSha1(key).mac(data).toString('hex'), mac);
});

test('agrees with node:crypto for every message length across several blocks, with and without a trailer', () => {
  const key = Buffer.from('0123456789abcdefghij');
  const h = new HmacSha1(key);
  const trailer = Buffer.from([0, 0, 1, 2]);
  const data = Buffer.alloc(300);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  for (let n = 0; n <= 300; n++) {
    const m = data.subarray(0, n);
    assert.equal(h.mac(m).toString('hex'), createHmac('sha1', key).update(m).digest('hex'), `length ${n}`);
    assert.equal(h.mac(m, trailer).toString('hex'), createHmac('sha1', key).update(m).update(trailer).digest('hex'), `length ${n} + trailer`);
  }
  const out = Buffer.alloc(14, 0xee);
  h.macInto(data.subarray(0, 100), trailer, out, 2, 10);
  assert.deepEqual(out.subarray(2, 12), createHmac('sha1', key).update(data.subarray(0, 100)).update(trailer).digest().subarray(0, 10));
  assert.deepEqual(out.subarray(12), Buffer.alloc(2, 0xee), 'writes only the bytes asked for');
});

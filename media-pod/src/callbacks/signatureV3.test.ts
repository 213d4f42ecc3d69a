import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
// Plivo's own validator (plivo npm SDK), used only as an oracle in tests.
import { validateV3Signature } from 'plivo/dist/utils/v3Security.js';
import { computeSignatureV3, signatureBaseV3, signedHeaders, validateSignatureV3 } from './signatureV3.js';

const TOKEN = 'MzQ1NjY3ODkwYWJjZGVmZ2hpamtsbW5v';
const PARAMS = {
  CallUUID: '70ec418c-8c80-4c14-ba81-97db81914b11', From: '14155551234', To: '14155550000',
  CallStatus: 'ringing', Direction: 'inbound', Event: 'StartApp', CallerName: '+1 415 555 1234 Zoë', 'X-PH-Test': 'Sample',
};

/** What the answer server sees for a GET: the configured URL plus our params in the query. */
function getUrlAsReceived(url: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return url + (url.includes('?') ? '&' : '?') + q;
}

test('signature base: documented shapes for GET and POST, with and without query', () => {
  assert.equal(signatureBaseV3({ url: 'https://a.example/x?b=2&a=1#ct=100', method: 'GET', params: { c: '3' } }), 'https://a.example/x?a=1&b=2&c=3');
  assert.equal(signatureBaseV3({ url: 'https://a.example/x', method: 'GET' }), 'https://a.example/x');
  assert.equal(signatureBaseV3({ url: 'https://a.example/x?b=2&a=1', method: 'POST', params: { z: '1', y: '2' } }), 'https://a.example/x?a=1&b=2.y2z1');
  assert.equal(signatureBaseV3({ url: 'https://a.example/x', method: 'POST', params: { z: '1', y: '2' } }), 'https://a.example/x?y2z1');
  assert.equal(signatureBaseV3({ url: 'https://a.example/x?q=1', method: 'POST', params: {} }), 'https://a.example/x?q=1');
  assert.equal(signatureBaseV3({ url: 'http://u:p@a.example:8080/p%20q?k=a%2Bb+c', method: 'GET' }), 'http://a.example:8080/p%20q?k=a+b c');
  assert.equal(signatureBaseV3({ url: 'https://a.example/x?k=2&k=1', method: 'GET', params: { k: '0' } }), 'https://a.example/x?k=0&k=1&k=2');
  const sig = computeSignatureV3({ url: 'https://a.example/x', method: 'POST', params: { a: 'b' }, nonce: '123', authToken: TOKEN });
  assert.equal(sig, createHmac('sha256', TOKEN).update('https://a.example/x?ab.123').digest('base64'));
});

for (const url of ['https://answer.example.com/answer', 'https://answer.example.com/answer?app=demo&tenant=a%20b', 'http://127.0.0.1:8080/plivo/answer/', 'http://127.0.0.1:8080/plivo/answer?x=1&x=0']) {
  test(`Plivo's SDK validates our GET signature: ${url}`, () => {
    const h = signedHeaders({ url, method: 'GET', params: PARAMS, authToken: TOKEN });
    assert.match(h['X-Plivo-Signature-V3-Nonce'], /^\d{20}$/);
    const received = getUrlAsReceived(url, PARAMS);
    assert.equal(validateV3Signature('GET', received, h['X-Plivo-Signature-V3-Nonce'], TOKEN, h['X-Plivo-Signature-V3'], {}), true);
    assert.equal(validateV3Signature('GET', received, h['X-Plivo-Signature-V3-Nonce'], TOKEN + 'x', h['X-Plivo-Signature-V3'], {}), false);
    assert.equal(validateSignatureV3({ url: received, method: 'GET', nonce: h['X-Plivo-Signature-V3-Nonce'], authToken: TOKEN, signature: h['X-Plivo-Signature-V3'] }), true);
  });

  test(`Plivo's SDK validates our POST signature: ${url}`, () => {
    const h = signedHeaders({ url, method: 'POST', params: PARAMS, authToken: TOKEN });
    const nonce = h['X-Plivo-Signature-V3-Nonce'];
    assert.equal(validateV3Signature('POST', url, nonce, TOKEN, h['X-Plivo-Signature-V3'], { ...PARAMS }), true);
    assert.equal(validateV3Signature('POST', url, nonce, TOKEN, h['X-Plivo-Signature-V3'], { ...PARAMS, To: '1' }), false);
    const empty = signedHeaders({ url, method: 'POST', params: {}, authToken: TOKEN });
    assert.equal(validateV3Signature('POST', url, empty['X-Plivo-Signature-V3-Nonce'], TOKEN, empty['X-Plivo-Signature-V3'], {}), true);
  });
}

test('validateSignatureV3 accepts any of several comma-separated signatures and rejects tampering', () => {
  const base = { url: 'https://a.example/x', method: 'POST' as const, params: { a: '1' }, nonce: '42', authToken: TOKEN };
  const sig = computeSignatureV3(base);
  assert.equal(validateSignatureV3({ ...base, signature: `bogus,${sig}` }), true);
  assert.equal(validateSignatureV3({ ...base, signature: sig, nonce: '43' }), false);
  assert.equal(validateSignatureV3({ ...base, signature: sig, params: { a: '2' } }), false);
  assert.equal(validateSignatureV3({ ...base, signature: '' }), false);
});

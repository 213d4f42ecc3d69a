import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerParams, hangupParams, plivoAddress, customHeaderParams, plivoTimestamp, authTypeParam } from './params.js';
import { HANGUP_CAUSES, hangupCauseByCode } from './hangupCauses.js';

test('plivoAddress: numbers lose "+" and separators; other users keep a sip URI', () => {
  assert.equal(plivoAddress('sip:+14155551234@carrier.example;user=phone'), '14155551234');
  assert.equal(plivoAddress('"Bob" <sip:+1-415-555-1234@carrier.example:5060>;tag=abc'), '14155551234');
  assert.equal(plivoAddress('tel:+14155551234'), '14155551234');
  assert.equal(plivoAddress('sip:%2B4930123@h'), '4930123');
  assert.equal(plivoAddress('<sip:caller160408140203@Phone.Plivo.com:5080;transport=tcp>'), 'sip:caller160408140203@phone.plivo.com');
  assert.equal(plivoAddress('sips:bot@[2001:db8::1]:5061'), 'sips:bot@[2001:db8::1]');
  assert.equal(plivoAddress('sip:anonymous@anonymous.invalid'), 'sip:anonymous@anonymous.invalid');
  assert.equal(plivoAddress('14155551234'), '14155551234');
});

test('customHeaderParams: X-PH-* kept when Plivo-valid, others listed as rejected', () => {
  const { params, rejected } = customHeaderParams([
    ['X-PH-Tenant', 'acme42'], ['x-ph-Encoded', 'a%20b'], ['X-PH-bad-name', 'x'], ['X-PH-Spaces', 'a b'],
    ['X-Other', 'ignored'], ['From', '<sip:a@b>'], ['X-PH-Long', 'a'.repeat(300)],
  ]);
  assert.deepEqual(params, { 'X-PH-Tenant': 'acme42', 'X-PH-Encoded': 'a%20b' });
  assert.deepEqual(rejected, ['X-PH-bad-name', 'X-PH-Spaces', 'X-PH-Long']);
  const many = customHeaderParams(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`X-PH-H${i}`, 'v'])));
  assert.equal(Object.keys(many.params).length, 32);
});

test('answerParams: the Plivo set plus sipflow auth extensions', () => {
  const p = answerParams({
    callUuid: '70ec418c-8c80-4c14-ba81-97db81914b11', from: '"Ann" <sip:+14155551234@carrier.example>;tag=1', to: 'sip:+14155550000@sip.example.com',
    callerName: 'Ann', sipHeaders: { 'X-PH-Test': 'Sample', 'User-Agent': 'x' }, sipToHeader: '<sip:+14155550000@sip.example.com>',
    authType: authTypeParam('IpAclAndCredential'), authUser: 'alice', sourceIp: '192.0.2.7',
  });
  assert.deepEqual(p, {
    CallUUID: '70ec418c-8c80-4c14-ba81-97db81914b11', From: '14155551234', To: '14155550000', CallStatus: 'ringing', Direction: 'inbound',
    Event: 'StartApp', CallerName: 'Ann', 'X-PH-Test': 'Sample', 'SIP-H-To': '<sip:+14155550000@sip.example.com>',
    SIPAuthType: 'ip_acl_and_credential', SIPAuthUser: 'alice', SIPSourceIP: '192.0.2.7',
  });
  assert.equal(authTypeParam('None'), 'none');
  assert.equal(authTypeParam('IpAcl'), 'ip_acl');
  assert.equal(answerParams({ callUuid: 'u', from: 'sip:a@b', to: 'sip:app@c', authType: 'none', sourceIp: '::1' }).SIPAuthUser, '');
});

test('hangupParams: times, durations, cause names', () => {
  const start = Date.UTC(2024, 9, 25, 14, 13, 37, 779);
  const p = hangupParams({
    callUuid: 'u1', from: 'sip:+14155551234@x', to: 'sip:app@y', startTime: start, answerTime: start + 1500, endTime: new Date(start + 63_600),
    causeCode: 4010, hangupSource: 'Answer XML', extra: { 'X-PH-Test': 'Sample', CallStatus: 'ringing' },
  });
  assert.equal(p.Event, 'Hangup');
  assert.equal(p.CallStatus, 'completed', 'extra params never override the hangup fields');
  assert.equal(p['X-PH-Test'], 'Sample');
  assert.equal(p.StartTime, '2024-10-25 14:13:37');
  assert.equal(p.AnswerTime, '2024-10-25 14:13:39');
  assert.equal(p.EndTime, '2024-10-25 14:14:41');
  assert.equal(p.Duration, '63');
  assert.equal(p.BillDuration, '63');
  assert.deepEqual([p.HangupCause, p.HangupCauseCode, p.HangupCauseName, p.HangupSource], ['NORMAL_CLEARING', '4010', 'End Of XML Instructions', 'Answer XML']);
  const unanswered = hangupParams({ callUuid: 'u2', from: 'sip:a@b', to: 'sip:c@d', startTime: start, endTime: start + 5000, causeCode: 7011, hangupSource: 'Error' });
  assert.deepEqual([unanswered.AnswerTime, unanswered.Duration, unanswered.HangupCauseName], ['', '0', 'Error Reaching Answer URL']);
  assert.equal(plivoTimestamp(Date.UTC(2025, 0, 2, 3, 4, 5)), '2025-01-02 03:04:05');
});

test('HANGUP_CAUSES: Plivo codes present, extension codes unique and marked', () => {
  const expected: Array<[number, string]> = [[4000, 'Normal Hangup'], [4010, 'End Of XML Instructions'], [3000, 'No Answer'], [3010, 'Busy Line'],
    [3020, 'Rejected'], [6000, 'Scheduled Hangup'], [6020, 'Media Timeout'], [7011, 'Error Reaching Answer URL'], [8011, 'Invalid Answer XML'],
    [5010, 'Internal Error'], [1000, 'Canceled']];
  for (const [code, name] of expected) assert.equal(hangupCauseByCode(code)?.name, name);
  const all = Object.values(HANGUP_CAUSES);
  assert.equal(new Set(all.map((c) => c.code)).size, all.length);
  for (const c of all) assert.equal(c.code >= 9000, 'extension' in c, `${c.code}`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../clock.js';
import {
  decideSessionTimer, parseMinSe, parseSessionExpires, SessionTimer, unsupportedRequired, type SessionTimerPolicy,
} from './session-timer.js';

function req(headers: Array<[string, string]>): { headers: Array<{ name: string; value: string }> } {
  return { headers: headers.map(([name, value]) => ({ name, value })) };
}

const policy: SessionTimerPolicy = { minSeSec: 90, maxSeSec: 1800 };

test('Session-Expires parses the delta and refresher, in long and compact form; junk is null, absence undefined', () => {
  assert.deepEqual(parseSessionExpires(req([['Session-Expires', '1800;refresher=uac']])), { seconds: 1800, refresher: 'uac' });
  assert.deepEqual(parseSessionExpires(req([['x', ' 600 ; Refresher = UAS ']])), { seconds: 600, refresher: 'uas' });
  assert.deepEqual(parseSessionExpires(req([['Session-Expires', '900;foo=bar']])), { seconds: 900, refresher: undefined });
  assert.equal(parseSessionExpires(req([['Session-Expires', 'soon']])), null);
  assert.equal(parseSessionExpires(req([['Session-Expires', '-5']])), null);
  assert.equal(parseSessionExpires(req([])), undefined);
  assert.equal(parseMinSe(req([['Min-SE', '120']])), 120);
  assert.equal(parseMinSe(req([['Min-SE', 'x']])), undefined);
});

test('no Session-Expires (or a malformed one) → no timer', () => {
  assert.deepEqual(decideSessionTimer(req([['Supported', 'timer']]), policy), { kind: 'none' });
  assert.deepEqual(decideSessionTimer(req([['Supported', 'timer'], ['Session-Expires', 'abc']]), policy), { kind: 'none' });
});

test('a caller that supports timers and names no refresher refreshes itself; Require: timer is in the answer', () => {
  const d = decideSessionTimer(req([['Supported', 'replaces, timer'], ['Session-Expires', '600']]), policy);
  assert.deepEqual(d, { kind: 'active', intervalSec: 600, refresher: 'uac', headers: [['Session-Expires', '600;refresher=uac'], ['Require', 'timer']] });
});

test('the refresher the request names is kept', () => {
  const d = decideSessionTimer(req([['k', 'timer'], ['x', '600;refresher=uas']]), policy);
  assert.equal(d.kind, 'active');
  if (d.kind === 'active') {
    assert.equal(d.refresher, 'uas');
    assert.deepEqual(d.headers, [['Session-Expires', '600;refresher=uas']], 'no Require: timer when we refresh');
  }
});

test('a caller without timer support (a proxy inserted the header) makes us the refresher, unless its Allow leaves out UPDATE', () => {
  const d = decideSessionTimer(req([['Session-Expires', '600'], ['Allow', 'INVITE, ACK, BYE, UPDATE']]), policy);
  assert.equal(d.kind === 'active' && d.refresher, 'uas');
  const noUpdate = decideSessionTimer(req([['Session-Expires', '600'], ['Allow', 'INVITE, ACK, BYE']]), policy);
  assert.equal(noUpdate.kind, 'none');
  assert.match(noUpdate.kind === 'none' ? noUpdate.reason ?? '' : '', /UPDATE/);
  // No Allow at all: UPDATE is tried (a 405 to it switches the timer off at run time).
  assert.equal(decideSessionTimer(req([['Session-Expires', '600']]), policy).kind, 'active');
});

test('too small: 422 with our Min-SE for a caller that supports timers; raised silently for one that does not', () => {
  assert.deepEqual(decideSessionTimer(req([['Supported', 'timer'], ['Session-Expires', '30']]), policy), { kind: 'too-small', minSeSec: 90, asked: 30 });
  // The request's own Min-SE wins when larger.
  assert.deepEqual(decideSessionTimer(req([['Supported', 'timer'], ['Session-Expires', '30'], ['Min-SE', '120']]), policy), { kind: 'too-small', minSeSec: 120, asked: 30 });
  const raised = decideSessionTimer(req([['Session-Expires', '30']]), policy);
  assert.equal(raised.kind === 'active' && raised.intervalSec, 90);
});

test('too long: reduced to our maximum, but never below the request\'s Min-SE', () => {
  const d = decideSessionTimer(req([['Supported', 'timer'], ['Session-Expires', '7200']]), policy);
  assert.equal(d.kind === 'active' && d.intervalSec, 1800);
  const withMin = decideSessionTimer(req([['Supported', 'timer'], ['Session-Expires', '7200'], ['Min-SE', '3600']]), policy);
  assert.equal(withMin.kind === 'active' && withMin.intervalSec, 3600);
});

test('Require: every tag but timer is unsupported, across headers and case', () => {
  assert.deepEqual(unsupportedRequired(req([['Require', 'timer']])), []);
  assert.deepEqual(unsupportedRequired(req([['Require', 'Timer, 100rel'], ['Require', 'precondition']])), ['100rel', 'precondition']);
  assert.deepEqual(unsupportedRequired(req([])), []);
});

test('as the refresher the timer asks for a refresh at half the interval; a retry past expiry expires instead', () => {
  const clock = new FakeClock();
  const events: string[] = [];
  const t = new SessionTimer(clock, { refresh: () => events.push(`refresh@${clock.now()}`), expired: (s) => events.push(`expired ${s}@${clock.now()}`) });
  t.restart(100, 'uas');
  clock.advance(49_999);
  assert.deepEqual(events, []);
  clock.advance(1);
  assert.deepEqual(events, ['refresh@50000']);
  t.retryRefresh(10_000); // refused with 5xx: try again in 10 s
  clock.advance(10_000);
  assert.deepEqual(events, ['refresh@50000', 'refresh@60000']);
  t.retryRefresh(45_000); // would be after the session lapsed at 100 s
  clock.advance(40_000);
  assert.deepEqual(events.at(-1), 'expired 100@100000');
  t.stop();
  assert.equal(clock.pending(), 0);
});

test('as the other side the timer expires min(32 s, interval/3) before the end; each refresh restarts it', () => {
  const clock = new FakeClock();
  const expired: number[] = [];
  const t = new SessionTimer(clock, { refresh: () => assert.fail('not the refresher'), expired: () => expired.push(clock.now()) });
  t.restart(1800, 'uac');
  clock.advance(1000_000);
  t.restart(1800, 'uac'); // a refresh came
  clock.advance(1767_999);
  assert.deepEqual(expired, []);
  clock.advance(1);
  assert.deepEqual(expired, [2768_000]);
  t.restart(90, 'uac'); // short interval: a third, 30 s, before the end
  clock.advance(60_000);
  assert.deepEqual(expired, [2768_000, 2828_000]);
  t.restart(90, 'uac');
  t.stop();
  clock.advance(100_000);
  assert.equal(expired.length, 2, 'stopped timers never fire');
});


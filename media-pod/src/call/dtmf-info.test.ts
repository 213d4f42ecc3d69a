// Key presses carried in SIP INFO bodies, in the two formats PBXs use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dtmfFromInfo } from './ingress.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

test('application/dtmf-relay: the Signal line, any case and spacing, event codes 10/11 as * and #', () => {
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=5\r\nDuration=160\r\n')), '5');
  assert.equal(dtmfFromInfo('Application/DTMF-Relay; charset=x', b('duration=100\r\nsignal = #\r\n')), '#');
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=10\r\n')), '*');
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=11\r\n')), '#');
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=a\r\n')), 'A');
});

test('application/dtmf: the bare key', () => {
  assert.equal(dtmfFromInfo('application/dtmf', b('9')), '9');
  assert.equal(dtmfFromInfo('application/dtmf', b(' * \r\n')), '*');
});

test('anything else is not a key press', () => {
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Duration=160\r\n')), undefined);
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=12\r\n')), undefined);
  assert.equal(dtmfFromInfo('application/dtmf-relay', b('Signal=55\r\n')), undefined);
  assert.equal(dtmfFromInfo('application/dtmf', b('')), undefined);
  assert.equal(dtmfFromInfo('application/dtmf', b('E')), undefined);
  assert.equal(dtmfFromInfo('application/media_control+xml', b('<media_control/>')), undefined);
  assert.equal(dtmfFromInfo('', b('Signal=5')), undefined);
  assert.equal(dtmfFromInfo('application/dtmf-relay', Buffer.alloc(4096, 0x35)), undefined, 'oversized bodies are not parsed');
});

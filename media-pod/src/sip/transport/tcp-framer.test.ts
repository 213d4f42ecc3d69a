// TCP framing: partial reads, pipelining, keep-alives and the per-connection byte bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpFramer } from './tcp-framer.js';

const msg = (body: string, extra = ''): string =>
  `OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

test('byte-by-byte delivery yields exactly one message at the last byte', () => {
  const f = new TcpFramer(65536);
  const wire = Buffer.from(msg('hello body'));
  for (let i = 0; i < wire.length - 1; i++) assert.equal(f.push(wire.subarray(i, i + 1)).messages.length, 0);
  const r = f.push(wire.subarray(wire.length - 1));
  assert.equal(r.messages.length, 1);
  assert.deepEqual(r.messages[0], wire);
  assert.equal(f.buffered, 0);
});

test('two pipelined messages plus the start of a third in one chunk', () => {
  const f = new TcpFramer(65536);
  const a = msg('one'); const b = msg('', 'X-Second: 1\r\n'); const c = msg('three');
  const r = f.push(Buffer.from(a + b + c.slice(0, 20)));
  assert.deepEqual(r.messages.map((m) => m.toString()), [a, b]);
  assert.equal(f.buffered, 20);
  assert.deepEqual(f.push(Buffer.from(c.slice(20))).messages.map((m) => m.toString()), [c]);
});

test('CRLF keep-alives are skipped and double-CRLF pings counted, even split across reads', () => {
  const f = new TcpFramer(65536);
  assert.equal(f.push(Buffer.from('\r\n')).pings, 0);
  assert.equal(f.push(Buffer.from('\r\n')).pings, 1);
  const r = f.push(Buffer.from('\r\n\r\n' + msg('x')));
  assert.equal(r.pings, 1);
  assert.equal(r.messages.length, 1);
});

test('compact l: header frames too', () => {
  const f = new TcpFramer(65536);
  const wire = 'OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcOPTIONS';
  const r = f.push(Buffer.from(wire));
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0]!.toString().endsWith('abc'), true);
});

test('headers that never end are cut at the message limit; a huge Content-Length is refused up front', () => {
  const f = new TcpFramer(1000);
  let err;
  for (let i = 0; i < 100 && !err; i++) err = f.push(Buffer.from('X-Junk: ' + 'a'.repeat(50) + '\r\n')).error;
  assert.equal(err, 'too_large');
  assert.equal(f.buffered, 0);
  assert.equal(new TcpFramer(1000).push(Buffer.from(msg('').replace('Content-Length: 0', 'Content-Length: 5000'))).error, 'too_large');
});

test('an unparseable Content-Length stops framing but hands back the head for a 400', () => {
  const f = new TcpFramer(65536);
  const r = f.push(Buffer.from(msg('').replace('Content-Length: 0', 'Content-Length: -1')));
  assert.equal(r.error, 'bad_content_length');
  assert.match(r.badFrame!.toString(), /^OPTIONS /);
  assert.equal(f.push(Buffer.from(msg('x'))).messages.length, 0, 'a failed stream yields nothing more');
});

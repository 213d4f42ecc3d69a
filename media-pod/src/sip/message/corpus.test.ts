// Replays the checked-in torture corpus (RFC 4475 in spirit) and checks each file's verdict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSipMessage } from './parser.js';
import { serializeMessage } from './serializer.js';
import { getHeaders } from './headers.js';
import { sipCorpusDir } from './testutil.js';

interface Expectation {
  verdict: 'ok' | 'respond' | 'drop';
  status?: number; code?: string; method?: string; bodyLength?: number; viaCount?: number; ruriUser?: string;
  headerValues?: Record<string, string[]>; headerCounts?: Record<string, number>;
}

const dir = sipCorpusDir();
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Expectation>;
const files = readdirSync(dir).filter((f) => f.endsWith('.sip')).sort();

test('every corpus file has an expectation and vice versa', () => {
  assert.ok(files.length >= 40);
  assert.deepEqual(files, Object.keys(expected).sort());
});

for (const file of files) {
  test(`corpus ${file}`, () => {
    const exp = expected[file]!;
    assert.ok(file.startsWith(exp.verdict + '-'), 'file name prefix matches verdict');
    const buf = readFileSync(join(dir, file));
    const r = parseSipMessage(buf);
    if (exp.verdict === 'ok') {
      assert.ok(r.ok, `expected ok, got ${r.ok ? '' : JSON.stringify(r.error.reason)}`);
      const m = r.message;
      if (exp.method) assert.equal(m.kind === 'request' && m.method, exp.method);
      if (exp.status) assert.equal(m.kind === 'response' && m.status, exp.status);
      if (exp.bodyLength !== undefined) assert.equal(m.body.length, exp.bodyLength);
      if (exp.viaCount !== undefined) assert.equal(getHeaders(m, 'Via').length, exp.viaCount);
      if (exp.ruriUser !== undefined) assert.equal(m.kind === 'request' && m.parsedUri.user, exp.ruriUser);
      for (const [h, vals] of Object.entries(exp.headerValues ?? {})) assert.deepEqual(getHeaders(m, h), vals);
      for (const [h, n] of Object.entries(exp.headerCounts ?? {})) assert.equal(getHeaders(m, h).length, n);
      // Round trip: what we serialise parses again to the same thing.
      const again = parseSipMessage(serializeMessage(m));
      assert.ok(again.ok);
      assert.deepEqual(again.message.headers.filter((h) => h.name !== 'Content-Length'), m.headers.filter((h) => h.name !== 'Content-Length'));
      assert.deepEqual(again.message.body, m.body);
    } else {
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.respondable, exp.verdict === 'respond', `respondable for ${r.error.reason}`);
      if (exp.code) assert.equal(r.error.code, exp.code, r.error.reason);
      if (exp.status) assert.equal(r.error.status, exp.status);
      assert.ok(r.error.reason.length > 0 && !/[\r\n]/.test(r.error.reason));
      if (exp.verdict === 'respond') {
        const p = r.error.partial!;
        assert.ok(p.via.length >= 1 && p.from && p.to && p.callId && p.cseq);
      }
    }
  });
}

// Seeded mutation fuzzing of the parser and the header helpers: no input may throw, and what is
// accepted stays within the configured bounds and survives a serialise/parse round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSipMessageUnguarded } from './parser.js';
import { serializeMessage } from './serializer.js';
import { parseAuthHeader, parseCSeq, parseNameAddr, parseVia } from './headers.js';
import { formatSipUri, parseSipUri } from './uri.js';
import { DEFAULT_PARSE_LIMITS } from './types.js';
import { sipCorpusDir } from './testutil.js';

/** mulberry32: tiny deterministic PRNG so failures reproduce from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['\r\n', '\r\n\r\n', '\n', ':', ';', ',', '"', '\\', '<', '>', '%', '%4', '[', ']', '@', ' ', '\t', '\0', '=',
  'Content-Length: 999999', 'l: 3', 'Via: SIP/2.0/UDP [::1', ';rport', ';branch=', 'sip:', 'SIP/2.0 ', '\xff\xfe'];

function mutate(input: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(input);
  const n = 1 + Math.floor(rnd() * 6);
  for (let k = 0; k < n; k++) {
    const pos = Math.floor(rnd() * (b.length + 1));
    switch (Math.floor(rnd() * 6)) {
      case 0: if (b.length) b[Math.min(pos, b.length - 1)] = Math.floor(rnd() * 256); break;
      case 1: b = Buffer.concat([b.subarray(0, pos), Buffer.from(TOKENS[Math.floor(rnd() * TOKENS.length)]!, 'latin1'), b.subarray(pos)]); break;
      case 2: b = Buffer.concat([b.subarray(0, pos), b.subarray(Math.min(b.length, pos + Math.floor(rnd() * 40)))]); break;
      case 3: { const len = Math.floor(rnd() * 200); b = Buffer.concat([b.subarray(0, pos), b.subarray(pos, pos + len), b.subarray(pos)]); break; }
      case 4: b = b.subarray(0, pos); break;
      default: b = Buffer.concat([b.subarray(0, pos), Buffer.from(Array.from({ length: Math.floor(rnd() * 16) }, () => Math.floor(rnd() * 256))), b.subarray(pos)]);
    }
  }
  return b;
}

const dir = sipCorpusDir();
const seeds = readdirSync(dir).filter((f) => f.startsWith('ok-') && f.endsWith('.sip')).sort().map((f) => readFileSync(join(dir, f)));

test('mutated corpus messages never throw and stay bounded', () => {
  const rnd = prng(0x51f10);
  const limits = { ...DEFAULT_PARSE_LIMITS, maxHeaders: 64 };
  let accepted = 0;
  for (let i = 0; i < 4000; i++) {
    const input = mutate(seeds[i % seeds.length]!, rnd);
    let r;
    try { r = parseSipMessageUnguarded(input, limits); } catch (e) {
      assert.fail(`iteration ${i} threw ${String(e)} on ${JSON.stringify(input.toString('latin1'))}`);
    }
    if (!r.ok) {
      assert.ok(r.error.reason.length > 0 && r.error.reason.length < 100);
      assert.ok((r.error.partial?.via.length ?? 0) <= limits.maxVia);
      continue;
    }
    accepted++;
    assert.ok(r.message.headers.length <= limits.maxHeaders);
    assert.ok(r.message.body.length <= input.length);
    const out = serializeMessage(r.message);
    assert.ok(out.length <= input.length * 2 + 1024, `serialised size bounded at iteration ${i}`);
    const again = parseSipMessageUnguarded(out, { ...limits, maxMessageBytes: out.length });
    assert.ok(again.ok, `iteration ${i}: re-parse failed: ${again.ok ? '' : again.error.reason} for ${JSON.stringify(out.toString('latin1'))}`);
  }
  // The mutations are mild enough that a fair share should still parse, proving the fuzz reaches deep code.
  assert.ok(accepted > 100, `accepted ${accepted}`);
});

test('header helpers never throw on random strings', () => {
  const rnd = prng(7);
  const alphabet = 'sip:@;=<>"\\,%[]: \tabcAZ09.-_/?&*+z9hG4bKrport\x00\xff';
  for (let i = 0; i < 5000; i++) {
    const len = Math.floor(rnd() * 60);
    let s = '';
    for (let k = 0; k < len; k++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    parseNameAddr(s); parseVia(s); parseCSeq(s); parseAuthHeader(s);
    const u = parseSipUri(s);
    if (u) assert.ok(parseSipUri(formatSipUri(u)), `format of ${JSON.stringify(s)} reparses`);
  }
});

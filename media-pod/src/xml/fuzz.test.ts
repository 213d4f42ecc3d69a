/**
 * Seeded mutation fuzzing of parsePlivoXml: mutated valid documents must never make it throw, and
 * every result must be well-formed (known codes, positive lines, bounded messages, valid URLs).
 * A failing seed/iteration is printed so it can be added to the corpus.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAbsoluteUrl } from './attributes.js';
import { parsePlivoXml } from './parser.js';
import { ELEMENT_RULES, VERB_KINDS } from './schema.js';
import type { PlivoVerb, PlivoXmlErrorCode, PlivoXmlParseResult } from './types.js';

/** mulberry32: small, fast, and reproducible across Node versions. */
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

const SEEDS = [
  `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <PreAnswer><Speak voice="MAN">early media</Speak><Wait length="1"/></PreAnswer>
  <Speak voice="Polly.Joanna" language="en-US" loop="2">Hello <break time="1s"/><emphasis level="strong">caller</emphasis></Speak>
  <Play loop="1">https://cdn.example.com/welcome.mp3</Play>
  <GetDigits action="https://app.example/digits?x=1&amp;y=2" method="GET" timeout="7" numDigits="4" finishOnKey="none">
    <Speak>Enter your PIN</Speak>
  </GetDigits>
  <DTMF async="false">12w#</DTMF>
  <Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" extraHeaders="a=1;b=2">
    wss://bot.example/ws?body=abc&amp;serviceHost=y
  </Stream>
  <Redirect method="POST">https://app.example/next</Redirect>
  <Hangup reason="busy" schedule="10"/>
</Response>`,
  `<Response><Dial timeout="20"><Number>+14155550000</Number><User>sip:a@b.example</User></Dial>
<Conference muted="true">room</Conference><Record maxLength="30"/><Message src="1" dst="2">hi</Message>
<MultiPartyCall role="agent">m</MultiPartyCall><GetInput action="https://a.example/in" inputType="speech"><Play>https://a.example/p.mp3</Play></GetInput></Response>`,
  '<Response><Speak><![CDATA[a & b]]><!-- c --></Speak><Wait silence="true" minSilence="100" beep="true"/></Response>',
];

const TOKENS = [
  '<', '>', '/', '/>', '&', '&amp;', '&lt;', '&#38;', '&#xD800;', '&bogus;', '"', "'", '=', ' ', '\n', '\r\n', '\t',
  '<![CDATA[', ']]>', '<!--', '-->', '<?pi x?>', '<!DOCTYPE x>', '\u0000', '\uD800', '\uFEFF', 'é', '🎉',
  'http://', 'wss://', 'true', 'false', 'TRUE', '0', '-1', '99999999999', 'none', 'audio/x-mulaw;rate=8000',
  'xmlns="urn:x"', 'p:', '</Response>', '<Response>',
];

const NAMES = [...ELEMENT_RULES.keys()];
const ATTRIBUTES = [...new Set([...ELEMENT_RULES.values()].flatMap((r) => [...r.attributes]))];

function pick<T>(rand: () => number, items: readonly T[]): T {
  const v = items[Math.floor(rand() * items.length)];
  if (v === undefined) throw new Error('empty pick');
  return v;
}

function mutate(rand: () => number, doc: string): string {
  const at = Math.floor(rand() * (doc.length + 1));
  switch (Math.floor(rand() * 7)) {
    case 0: return doc.slice(0, at) + doc.slice(at + 1 + Math.floor(rand() * 8));
    case 1: return doc.slice(0, at) + pick(rand, TOKENS) + doc.slice(at);
    case 2: {
      const len = 1 + Math.floor(rand() * 40);
      return doc.slice(0, at) + doc.slice(at, at + len) + doc.slice(at);
    }
    case 3: {
      const c = doc[at] ?? '';
      const swapped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
      return doc.slice(0, at) + swapped + doc.slice(at + 1);
    }
    case 4: {
      const name = pick(rand, NAMES);
      const el = rand() < 0.5 ? `<${name}/>` : `<${name}>${pick(rand, TOKENS)}</${name}>`;
      return doc.slice(0, at) + el + doc.slice(at);
    }
    case 5: {
      const attr = ` ${pick(rand, ATTRIBUTES)}="${pick(rand, TOKENS).replace(/["<&]/g, '')}"`;
      return doc.slice(0, at) + attr + doc.slice(at);
    }
    default:
      return doc.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x7f)) + doc.slice(at + 1);
  }
}

const CODES: ReadonlySet<PlivoXmlErrorCode> = new Set<PlivoXmlErrorCode>([
  'too-large', 'encoding', 'malformed', 'doctype', 'root', 'unknown-element', 'nesting', 'too-deep',
  'unknown-attribute', 'invalid-attribute', 'invalid-content',
]);

function checkVerb(v: PlivoVerb, context: string): void {
  assert.ok(VERB_KINDS.includes(v.kind), context);
  assert.ok(Number.isInteger(v.line) && v.line >= 1, context);
  assert.ok(Number.isInteger(v.column) && v.column >= 1, context);
  switch (v.kind) {
    case 'Play':
    case 'Redirect':
      assert.ok(isAbsoluteUrl(v.url, 'http'), context);
      break;
    case 'Stream':
      assert.ok(isAbsoluteUrl(v.url, 'ws'), context);
      assert.ok(!(v.bidirectional && v.audioTrack !== 'inbound'), context);
      break;
    case 'Speak':
      assert.ok(v.text.length > 0 && v.text === v.text.trim(), context);
      break;
    case 'GetDigits':
    case 'GetInput':
      for (const c of v.children) {
        assert.ok(c.kind === 'Speak' || c.kind === 'Play' || c.kind === 'Wait', context);
        checkVerb(c, context);
      }
      break;
    case 'PreAnswer':
      for (const c of v.children) checkVerb(c, context);
      break;
    default:
      break;
  }
}

function checkResult(r: PlivoXmlParseResult, context: string): void {
  if (r.ok) {
    for (const v of r.document.verbs) checkVerb(v, context);
    return;
  }
  const e = r.error;
  assert.ok(CODES.has(e.code), `${context}: code ${e.code}`);
  assert.ok(Number.isInteger(e.line) && e.line >= 1, `${context}: line ${e.line}`);
  if (e.column !== undefined) assert.ok(Number.isInteger(e.column) && e.column >= 1, `${context}: column ${e.column}`);
  assert.ok(e.message.length > 0 && e.message.length < 1200, `${context}: message length ${e.message.length}`);
  const prefix = e.code === 'too-large' ? /^document / : new RegExp(`^line ${e.line}: `);
  assert.match(e.message, prefix, context);
}

test('seeded mutation fuzz: never throws, results well-formed and deterministic', () => {
  const ITERATIONS = 4000;
  const rand = prng(0x5eed_f10e);
  let accepted = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    let doc = pick(rand, SEEDS);
    const rounds = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < rounds; k++) doc = mutate(rand, doc);
    const context = `iteration ${i}: ${JSON.stringify(doc.slice(0, 300))}`;
    let r: PlivoXmlParseResult;
    try {
      r = parsePlivoXml(doc);
    } catch (err) {
      assert.fail(`${context} threw ${String(err)}`);
    }
    checkResult(r, context);
    assert.deepEqual(parsePlivoXml(doc), r, `${context}: not deterministic`);
    const bytes = parsePlivoXml(new TextEncoder().encode(doc));
    checkResult(bytes, `${context} (bytes)`);
    if (r.ok) accepted++;
  }
  // Some mutations (whitespace, attribute reorderings) keep documents valid; if none did, the
  // fuzzer would only be exercising the XML layer, not the verb validation.
  assert.ok(accepted > 50, `only ${accepted} mutated documents parsed`);
  assert.ok(accepted < ITERATIONS, 'every mutation parsed, so validation is not being reached');
});

test('random byte soup never throws', () => {
  const rand = prng(42);
  for (let i = 0; i < 1000; i++) {
    const len = Math.floor(rand() * 200);
    const bytes = new Uint8Array(len);
    for (let j = 0; j < len; j++) bytes[j] = rand() < 0.7 ? pick(rand, [0x3c, 0x3e, 0x2f, 0x22, 0x3d, 0x26, 0x3b, 0x20, 0x0a]) : Math.floor(rand() * 256);
    const prefixed = new Uint8Array([...new TextEncoder().encode('<Response>'), ...bytes]);
    for (const input of [bytes, prefixed]) {
      const r = parsePlivoXml(input);
      checkResult(r, `soup ${i}`);
    }
  }
});

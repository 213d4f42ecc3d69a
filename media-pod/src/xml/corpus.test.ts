/**
 * Replays the checked-in corpus of hostile and odd documents: each must parse without throwing and
 * give the verdict recorded in manifest.json, both as bytes and as a leniently decoded string.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePlivoXml } from './parser.js';
import { corpusDir } from './test-support.js';
import type { PlivoXmlParseResult } from './types.js';

interface CorpusEntry {
  file: string;
  verdict: 'ok' | 'error';
  code?: string;
  line?: number;
  kinds?: string[];
  count?: number;
  stringVerdict?: 'ok' | 'error';
}

const dir = corpusDir();
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as CorpusEntry[];

function check(entry: CorpusEntry, r: PlivoXmlParseResult): void {
  if (entry.verdict === 'ok') {
    if (!r.ok) assert.fail(`${entry.file}: expected ok, got ${r.error.message}`);
    if (entry.kinds !== undefined) assert.deepEqual(r.document.verbs.map((v) => v.kind), entry.kinds, entry.file);
    if (entry.count !== undefined) assert.equal(r.document.verbs.length, entry.count, entry.file);
  } else {
    if (r.ok) assert.fail(`${entry.file}: expected an error, got ${r.document.verbs.length} verbs`);
    assert.equal(r.error.code, entry.code, `${entry.file}: ${r.error.message}`);
    assert.equal(r.error.line, entry.line, `${entry.file}: ${r.error.message}`);
    assert.match(r.error.message, new RegExp(`^line ${entry.line}: `), entry.file);
  }
}

test('every corpus file is listed in the manifest and vice versa', () => {
  const files = readdirSync(dir).filter((f) => f !== 'manifest.json' && f !== 'README.md').sort();
  assert.deepEqual(manifest.map((e) => e.file).sort(), files);
  assert.ok(files.length >= 40);
});

for (const entry of manifest) {
  test(`corpus ${entry.file}: ${entry.verdict}${entry.code !== undefined ? ` (${entry.code})` : ''}`, () => {
    const bytes = new Uint8Array(readFileSync(join(dir, entry.file)));
    check(entry, parsePlivoXml(bytes));

    const asString = parsePlivoXml(new TextDecoder('utf-8').decode(bytes));
    const stringVerdict = entry.stringVerdict ?? entry.verdict;
    assert.equal(asString.ok, stringVerdict === 'ok', `${entry.file} as a string`);
    if (entry.stringVerdict === undefined) check(entry, asString);
  });
}

test('corpus specifics: CDATA, comments and entities decode to the expected values', () => {
  const read = (f: string): PlivoXmlParseResult => parsePlivoXml(new Uint8Array(readFileSync(join(dir, f))));
  const cdata = read('cdata-speak.xml');
  assert.ok(cdata.ok);
  assert.deepEqual(cdata.document.verbs[0], {
    kind: 'Speak', line: 2, column: 1, text: 'Tom & Jerry <3 "quotes">', voice: 'WOMAN', language: 'en-US', loop: 1,
  });
  const url = read('cdata-stream-url.xml');
  assert.ok(url.ok);
  assert.equal(url.document.verbs[0]?.kind === 'Stream' && url.document.verbs[0].url, 'wss://agent.example/ws?a=1&b=2');
  const comments = read('comments.xml');
  assert.ok(comments.ok);
  const [speak, stream] = comments.document.verbs;
  assert.equal(speak?.kind === 'Speak' && speak.text, 'Hello there');
  assert.equal(stream?.kind === 'Stream' && stream.url, 'wss://agent.example/ws');
  const amp = read('charref-amp-literal.xml');
  assert.ok(amp.ok);
  assert.equal(amp.document.verbs[0]?.kind === 'Speak' && amp.document.verbs[0].text, 'fish &amp; chips & peas');
  const pipecat = read('pipecat-stream.xml');
  assert.ok(pipecat.ok);
  assert.equal(pipecat.document.verbs[0]?.kind === 'Stream' && pipecat.document.verbs[0].url,
    'wss://bot.example.com/ws?body=eyJjYWxsIjoiMSJ9&serviceHost=bot.example.com');
});

test('corpus errors never echo more than a bounded slice of a huge value', () => {
  for (const f of ['huge-attribute.xml', 'huge-attribute-name.xml']) {
    const r = parsePlivoXml(new Uint8Array(readFileSync(join(dir, f))));
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.error.message.length < 600, `${f}: message is ${r.error.message.length} chars`);
  }
});

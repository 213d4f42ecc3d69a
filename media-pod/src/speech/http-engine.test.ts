import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../clock.js';
import { encodeWavPcm16 } from '../audio/wav.js';
import { SpeechError } from './engine.js';
import { HttpSpeechEngine } from './http-engine.js';

interface Seen { body: unknown; headers: http.IncomingHttpHeaders }

async function ttsServer(): Promise<{ url: string; seen: Seen[]; hung: Promise<void>; close(): Promise<void> }> {
  const seen: Seen[] = [];
  let hungResolve!: () => void;
  const hung = new Promise<void>((r) => { hungResolve = r; });
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { text: string };
      seen.push({ body, headers: req.headers });
      if (body.text === 'fail') res.writeHead(503).end('busy');
      else if (body.text === 'html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
      else if (body.text === 'hang') hungResolve();
      else res.writeHead(200, { 'content-type': 'audio/wav' }).end(encodeWavPcm16(Int16Array.from({ length: 2205 }, (_, i) => i), 22050));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/tts`, seen, hung, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

const isCause = (cause: string, re?: RegExp) => (e: unknown): boolean => e instanceof SpeechError && e.cause === cause && (!re || re.test(e.message));

test('HttpSpeechEngine posts JSON and decodes the WAV answer', async () => {
  const srv = await ttsServer();
  try {
    const engine = new HttpSpeechEngine({ url: srv.url, headers: { 'x-api-key': 'k-123' } });
    const r = await engine.synthesize('Welcome', { voice: 'Polly.Joanna', language: 'en-US' });
    assert.equal(r.sampleRate, 22050);
    assert.equal(r.pcm.length, 2205);
    assert.equal(r.pcm[100], 100);
    assert.deepEqual(srv.seen[0]!.body, { text: 'Welcome', voice: 'Polly.Joanna', language: 'en-US' });
    assert.equal(srv.seen[0]!.headers['x-api-key'], 'k-123');
    assert.equal(srv.seen[0]!.headers['content-type'], 'application/json');

    await assert.rejects(engine.synthesize('fail', { voice: 'WOMAN', language: 'en-US' }), isCause('failed', /HTTP 503/));
    await assert.rejects(engine.synthesize('html', { voice: 'WOMAN', language: 'en-US' }), isCause('bad_response', /RIFF/));
    await assert.rejects(engine.synthesize('x'.repeat(4001), { voice: 'WOMAN', language: 'en-US' }), isCause('text_too_long'));
  } finally {
    await srv.close();
  }
  const down = new HttpSpeechEngine({ url: srv.url });
  await assert.rejects(down.synthesize('Welcome', { voice: 'WOMAN', language: 'en-US' }), isCause('unavailable', /ECONNREFUSED/));
  assert.throws(() => new HttpSpeechEngine({ url: 'file:///etc/passwd' }), /must be http/);
});

test('HttpSpeechEngine times out on the injected clock', async () => {
  const srv = await ttsServer();
  const clock = new FakeClock();
  try {
    const engine = new HttpSpeechEngine({ url: srv.url, clock, timeoutMs: 2000 });
    const p = engine.synthesize('hang', { voice: 'WOMAN', language: 'en-US' });
    await srv.hung;
    clock.advance(2000);
    await assert.rejects(p, isCause('timeout', /2000 ms/));
  } finally {
    await srv.close();
  }
});

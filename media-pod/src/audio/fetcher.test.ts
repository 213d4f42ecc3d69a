import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../clock.js';
import { AudioFileError } from './errors.js';
import { AudioFetcher } from './fetcher.js';
import { inlineAudioDecoder } from './decoder.js';
import { buildWav, rms, silentMp3, sine } from './test-fixtures.js';

const tone16k = buildWav({
  formatTag: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16,
  data: new Uint8Array(Int16Array.from(sine(16000, 500, 0.5), (v) => Math.round(v * 32767)).buffer),
});

interface Server { base: string; hits: Map<string, number>; hung: Promise<void>; close(): Promise<void> }

async function startServer(): Promise<Server> {
  const hits = new Map<string, number>();
  let hungResolve!: () => void;
  const hung = new Promise<void>((r) => { hungResolve = r; });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    switch (path) {
      case '/tone.wav': res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(tone16k); break;
      case '/silence.bin': res.writeHead(200, { 'content-type': 'text/plain' }).end(silentMp3(50)); break; // wrong type on purpose
      case '/redirect': res.writeHead(302, { location: '/tone.wav' }).end(); break;
      case '/loop': res.writeHead(302, { location: '/loop' }).end(); break;
      case '/page': res.writeHead(200, { 'content-type': 'audio/wav' }).end('<html><body>Oops</body></html>'); break;
      case '/declared-big': res.writeHead(200, { 'content-length': '5000' }).write(new Uint8Array(100)); break; // never finishes: must not be waited for
      case '/streamed-big': {
        res.writeHead(200); // chunked, no Content-Length: only the running count can stop it
        let sent = 0;
        const push = (): void => { if (sent < 100) { sent++; res.write(new Uint8Array(100), push); } else res.end(); };
        push();
        break;
      }
      case '/hang': hungResolve(); break; // never answers
      default: res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`, hits, hung,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

async function expectAudioError(p: Promise<unknown>, cause: AudioFileError['cause'], re?: RegExp): Promise<AudioFileError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => { caught = e; return true; });
  assert.ok(caught instanceof AudioFileError, `expected AudioFileError, got ${String(caught)}`);
  assert.equal(caught.cause, cause, caught.message);
  if (re) assert.match(caught.message, re);
  return caught;
}

test('AudioFetcher: WAV and MP3 over HTTP, decoded in the worker, cached, shared in flight', async () => {
  const srv = await startServer();
  const fetcher = new AudioFetcher();
  try {
    const [a, b] = await Promise.all([fetcher.fetchAudio(`${srv.base}/tone.wav`), fetcher.fetchAudio(`${srv.base}/tone.wav`)]);
    assert.equal(srv.hits.get('/tone.wav'), 1, 'concurrent requests share one download');
    assert.equal(a.pcm8k.length, 4000);
    assert.equal(a.pcm8k, b.pcm8k);
    const expected = (0.5 * 32767) / Math.SQRT2;
    assert.ok(Math.abs(rms(a.pcm8k, 100, 3900) - expected) < expected * 0.05);
    const again = await fetcher.fetchAudio(`${srv.base}/tone.wav`);
    assert.equal(again.cached, true);
    assert.equal(srv.hits.get('/tone.wav'), 1);
    assert.deepEqual(fetcher.cacheStats().entries, 1);

    const mp3 = await fetcher.fetchAudio(`${srv.base}/silence.bin`);
    assert.equal(mp3.pcm8k.length, 50 * 192);
    assert.ok(mp3.pcm8k.every((s) => s === 0));

    const redirected = await fetcher.fetchAudio(`${srv.base}/redirect`);
    assert.equal(redirected.pcm8k.length, 4000);
  } finally {
    await fetcher.close();
    await srv.close();
  }
});

test('AudioFetcher: errors are typed and say what went wrong', async () => {
  const srv = await startServer();
  const fetcher = new AudioFetcher({ decoder: inlineAudioDecoder });
  try {
    const e404 = await expectAudioError(fetcher.fetchAudio(`${srv.base}/missing.wav?X-Amz-Signature=s3cr3t`), 'http_status', /HTTP 404/);
    assert.equal(e404.status, 404);
    assert.doesNotMatch(e404.message, /s3cr3t/, 'query strings (presigned signatures) stay out of messages');
    await expectAudioError(fetcher.fetchAudio(`${srv.base}/declared-big`, { maxBytes: 1000 }), 'too_large', /Content-Length 5000 exceeds the 1000-byte limit/);
    await expectAudioError(fetcher.fetchAudio(`${srv.base}/streamed-big`, { maxBytes: 5000 }), 'too_large', /body exceeds the 5000-byte limit/);
    assert.ok((srv.hits.get('/streamed-big') ?? 0) === 1);
    await expectAudioError(fetcher.fetchAudio(`${srv.base}/page`), 'unsupported_format', /HTML/);
    await expectAudioError(fetcher.fetchAudio(`${srv.base}/loop`), 'unreachable', /more than 3 redirects/);
    await expectAudioError(fetcher.fetchAudio('ftp://127.0.0.1/x.wav'), 'unreachable', /unsupported URL scheme ftp:/);
    await expectAudioError(fetcher.fetchAudio('not a url'), 'unreachable', /invalid URL/);
    assert.equal(fetcher.cacheStats().entries, 0, 'failures are not cached');
  } finally {
    await fetcher.close();
    await srv.close();
  }
  // The port is closed now: connection refused.
  const refused = new AudioFetcher({ decoder: inlineAudioDecoder });
  await expectAudioError(refused.fetchAudio(`${srv.base}/tone.wav`), 'unreachable', /ECONNREFUSED/);
});

test('AudioFetcher: the deadline is driven by the injected clock', async () => {
  const srv = await startServer();
  const clock = new FakeClock();
  const fetcher = new AudioFetcher({ decoder: inlineAudioDecoder, clock, defaultTimeoutMs: 5000 });
  try {
    const p = fetcher.fetchAudio(`${srv.base}/hang`);
    let settled = false;
    p.catch(() => undefined).finally(() => { settled = true; });
    await srv.hung;
    clock.advance(4999);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'still waiting 1 ms before the deadline');
    clock.advance(1);
    const e = await expectAudioError(p, 'unreachable', /no complete response within 5000 ms/);
    assert.equal(e.timedOut, true);
  } finally {
    await fetcher.close();
    await srv.close();
  }
});

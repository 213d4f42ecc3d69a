/**
 * The recording store against a real HTTP server on loopback: what is uploaded (a WAV that
 * decodes to exactly the audio written, across several spool chunks), retries, refusals, a spool
 * directory that cannot be written, and the spool file gone afterwards in every case.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeWav } from '../audio/wav.js';
import { recordingLogger } from '../speech/test-logger.js';
import { HttpRecordingStore } from './store.js';

interface Upload { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }

const SECRET = 'Bearer rec-store-Secret-4711';
let server: http.Server;
let base = '';
const uploads: Upload[] = [];
/** Status codes to answer, in order (then 201). */
let script: number[] = [];
let location: string | undefined;
let spool: string;

before(async () => {
  spool = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-rec-test-'));
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      uploads.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const status = script.shift() ?? 201;
      res.writeHead(status, location && status < 300 ? { location } : {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/recordings/`;
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(spool, { recursive: true, force: true });
});

function fresh(): void { uploads.length = 0; script = []; location = undefined; }

const spooled = (): string[] => fs.readdirSync(spool);

test('a stereo recording longer than a spool chunk is uploaded once, as a WAV of exactly the audio written, with the Authorization header; nothing stays in the spool', async () => {
  fresh();
  const logger = recordingLogger();
  const outcomes: string[] = [];
  const store = new HttpRecordingStore({ baseUrl: base, authorization: SECRET, spoolDir: spool, logger, onOutcome: (o) => outcomes.push(o) });
  const w = store.start('7f0c3a52-2b1e-4c1a-9d1e-0a1b2c3d4e5f', 2);
  const frames = 130; // 2.6 s: three spool chunks
  for (let f = 0; f < frames; f++) {
    const l = new Int16Array(160).map((_, i) => (f * 160 + i) % 30000);
    const r = new Int16Array(160).map((_, i) => -((f * 160 + i) % 20000));
    w.writeStereo(l, r);
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(spooled().length, 1, 'spooled to disk while it runs');
  assert.ok(fs.statSync(path.join(spool, spooled()[0]!)).size > 44 + 2 * 8000 * 2, 'full chunks already written');
  const done = await w.finish();
  assert.equal(done.url, `${base}7f0c3a52-2b1e-4c1a-9d1e-0a1b2c3d4e5f.wav`);
  assert.equal(done.durationMs, 2600);
  assert.equal(uploads.length, 1);
  const u = uploads[0]!;
  assert.equal(u.method, 'PUT');
  assert.equal(u.url, '/recordings/7f0c3a52-2b1e-4c1a-9d1e-0a1b2c3d4e5f.wav');
  assert.equal(u.headers.authorization, SECRET);
  assert.equal(u.headers['content-type'], 'audio/wav');
  assert.equal(Number(u.headers['content-length']), u.body.length);
  const wav = decodeWav(u.body);
  assert.equal(wav.format.sampleRate, 8000);
  assert.equal(wav.format.channels, 2);
  assert.equal(wav.format.bitsPerSample, 16);
  const pcm = new Int16Array(u.body.buffer, u.body.byteOffset + 44, (u.body.length - 44) / 2);
  assert.equal(pcm.length, frames * 160 * 2);
  for (const n of [0, 1, 7999, 8000, 16000, frames * 160 - 1]) {
    assert.equal(pcm[2 * n], n % 30000, `left sample ${n}`);
    assert.equal(pcm[2 * n + 1], 0 - (n % 20000), `right sample ${n}`);
  }
  assert.deepEqual(spooled(), []);
  assert.deepEqual(outcomes, ['stored']);
  assert.ok(!JSON.stringify(logger.entries).includes('rec-store-Secret'), 'the key is never logged');
});

test('a Location header names the recording\'s URL; 503 and a dropped connection are retried, a refusal (403) is not', async () => {
  fresh();
  const outcomes: string[] = [];
  const store = new HttpRecordingStore({ baseUrl: base, spoolDir: spool, retryDelaysMs: [10, 10], onOutcome: (o) => outcomes.push(o) });
  script = [503, 500];
  location = '/files/abc.wav';
  const w = store.start('abc', 1);
  w.write(new Int16Array(160).fill(100));
  const done = await w.finish();
  assert.equal(uploads.length, 3, 'two failures, then stored');
  assert.equal(done.url, new URL('/files/abc.wav', base).toString());
  assert.ok(uploads.every((u) => u.body.length === 44 + 320), 'the whole file each time');

  fresh();
  script = [403];
  const refused = store.start('refused', 1);
  refused.write(new Int16Array(160));
  await assert.rejects(refused.finish(), /answered 403/);
  assert.equal(uploads.length, 1, 'not retried');
  assert.deepEqual(spooled(), []);
  assert.deepEqual(outcomes, ['stored', 'failed']);
});

test('a store that cannot be reached and a spool directory that cannot be written both fail the recording, with the spool left clean', async () => {
  fresh();
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const unreachable = new HttpRecordingStore({ baseUrl: `http://127.0.0.1:${port}`, spoolDir: spool, retryDelaysMs: [5, 5] });
  const w = unreachable.start('gone', 1);
  w.write(new Int16Array(160));
  await assert.rejects(w.finish(), /ECONNREFUSED/);
  assert.deepEqual(spooled(), []);

  const noSpool = new HttpRecordingStore({ baseUrl: base, spoolDir: path.join(spool, 'missing', 'dir') });
  const w2 = noSpool.start('nospool', 1);
  w2.write(new Int16Array(16000)); // two seconds: a chunk goes to the (missing) spool while recording
  await assert.rejects(w2.finish(), /cannot spool the recording|ENOENT/);
  assert.equal(uploads.length, 0);

  assert.throws(() => noSpool.start('../escape', 1), /not a plain identifier/);
});

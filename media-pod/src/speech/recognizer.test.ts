/**
 * The WebSocket recognizer client against a real WebSocket server playing the recognition
 * service: what it sends (start, the audio as 16-bit frames, stop), what it makes of results,
 * and how it fails without holding the call up.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketSpeechRecognizer, parseHints } from './recognizer.js';
import { recordingLogger } from './test-logger.js';

const T = { timeout: 15_000 };
const OPTS = { language: 'en-US', hints: ['sales', 'support'], speechModel: 'default', profanityFilter: false };

async function service(onConnection: (ws: WebSocket, req: IncomingMessage) => void): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((res) => wss.once('listening', () => res()));
  wss.on('connection', onConnection);
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/asr`,
    close: () => new Promise<void>((res) => { for (const c of wss.clients) c.terminate(); wss.close(() => res()); }),
  };
}

function frame(value: number): Int16Array { return new Int16Array(160).fill(value); }

test('sends start, every frame written (also before the connection opened) as little-endian 16-bit, then stop; returns the final result', T, async () => {
  const got: { start?: Record<string, unknown>; samples: number[]; stop: boolean; authorization?: string } = { samples: [], stop: false };
  const svc = await service((ws, req) => {
    got.authorization = req.headers.authorization;
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        const b = data as Buffer;
        assert.equal(b.length, 320);
        got.samples.push(b.readInt16LE(0), b.readInt16LE(318));
        return;
      }
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      if (msg.event === 'start') got.start = msg;
      if (msg.event === 'stop') {
        got.stop = true;
        ws.send(JSON.stringify({ event: 'result', text: 'sup', stability: 0.2, final: false }));
        ws.send(JSON.stringify({ event: 'result', text: 'support desk', stable: 'support', stability: 7, final: false }));
        ws.send(JSON.stringify({ event: 'result', text: 'other', stable: 'not a prefix', final: false }));
        ws.send('not json');
        ws.send(JSON.stringify({ event: 'result', text: ' support ', confidence: 1.7, final: true }));
      }
    });
  });
  try {
    const log = recordingLogger();
    const outcomes: string[] = [];
    const interims: unknown[] = [];
    const session = new WebSocketSpeechRecognizer({ url: svc.url, logger: log, headers: { Authorization: 'Token asr-key' }, onOutcome: (o) => outcomes.push(o) }).start(OPTS, (r) => interims.push(r));
    session.write(frame(-2)); // before the connection is open: queued
    session.write(frame(300));
    await new Promise((r) => setTimeout(r, 100));
    session.write(frame(-32768));
    const result = await session.finish();
    assert.deepEqual(result, { text: 'support', confidence: 1 }, 'trimmed, confidence clamped to 1');
    assert.deepEqual(got.start, { event: 'start', encoding: 'audio/x-l16', sampleRate: 8000, language: 'en-US', hints: ['sales', 'support'], speechModel: 'default', profanityFilter: false });
    assert.deepEqual(got.samples, [-2, -2, 300, 300, -32768, -32768]);
    assert.equal(got.stop, true);
    assert.equal(got.authorization, 'Token asr-key', 'the configured Authorization reaches the service on the upgrade');
    assert.ok(log.entries.some((e) => e.level === 'warn' && /not JSON/.test(e.msg)));
    assert.deepEqual(outcomes, ['recognized']);
    assert.deepEqual(interims, [
      { stable: '', unstable: 'sup', stability: 0.2 },
      { stable: 'support', unstable: 'desk', stability: 1 },
      { stable: '', unstable: 'other', stability: 0 },
    ], 'interim results in order; a stable part that is not a prefix counts as unstable');
  } finally { await svc.close(); }
});

test('an unreachable service, one that closes without a final result, and one that never answers all give undefined with a warning', T, async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const log = recordingLogger();
  const outcomes: string[] = [];
  const refused = new WebSocketSpeechRecognizer({ url: `ws://127.0.0.1:${port}/`, logger: log, onOutcome: (o) => outcomes.push(o) }).start(OPTS);
  refused.write(frame(1));
  assert.equal(await refused.finish(), undefined);
  assert.ok(log.entries.some((e) => e.level === 'warn' && /ECONNREFUSED/.test(String(e.fields.error))));
  assert.deepEqual(outcomes, ['failed']);

  const closing = await service((ws) => ws.on('message', (d, isBinary) => { if (!isBinary && String(d).includes('stop')) ws.close(1011, 'model crashed'); }));
  try {
    const log2 = recordingLogger();
    const s = new WebSocketSpeechRecognizer({ url: closing.url, logger: log2 }).start(OPTS);
    s.write(frame(1));
    assert.equal(await s.finish(), undefined);
    assert.ok(log2.entries.some((e) => /1011/.test(String(e.fields.error))));
  } finally { await closing.close(); }

  const silent = await service(() => {});
  try {
    const log3 = recordingLogger();
    const s = new WebSocketSpeechRecognizer({ url: silent.url, logger: log3, resultTimeoutMs: 200 }).start(OPTS);
    const t0 = Date.now();
    assert.equal(await s.finish(), undefined);
    assert.ok(Date.now() - t0 < 5000);
    assert.ok(log3.entries.some((e) => /no final result in time/.test(String(e.fields.error))));
  } finally { await silent.close(); }
});

test('abort drops the connection and resolves finish with undefined; a bad URL is refused at construction', T, async () => {
  let closed = false;
  const svc = await service((ws) => ws.on('close', () => { closed = true; }));
  try {
    const s = new WebSocketSpeechRecognizer({ url: svc.url, logger: recordingLogger() }).start(OPTS);
    s.write(frame(1));
    await new Promise((r) => setTimeout(r, 100));
    s.abort();
    assert.equal(await s.finish(), undefined);
    for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(closed, 'the service saw the connection go');
  } finally { await svc.close(); }
  assert.throws(() => new WebSocketSpeechRecognizer({ url: 'http://x/asr', logger: recordingLogger() }), /ws:\/\/ or wss:\/\//);
  assert.deepEqual(parseHints(' a, b c ,,d '), ['a', 'b c', 'd']);
  assert.deepEqual(parseHints(undefined), []);
});

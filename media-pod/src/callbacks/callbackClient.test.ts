import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setLogSink, createLogger } from '@sipflow/operator/log';
import { CallbackClient, type NotifyOutcome } from './callbackClient.js';

async function startServer(handler: http.RequestListener): Promise<{ base: string; server: http.Server; stop: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`, server,
    stop: async () => { server.closeAllConnections(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

test('delivers, retries once on 5xx, reports failures without throwing', async () => {
  let n = 0;
  const bodies: string[] = [];
  const srv = await startServer((req, res) => {
    let b = ''; req.on('data', (c: Buffer) => { b += c.toString(); });
    req.on('end', () => {
      bodies.push(b); n++;
      if (req.url === '/flaky' && n === 1) { res.writeHead(502); res.end(); return; }
      if (req.url === '/gone') { res.writeHead(410); res.end(); return; }
      res.writeHead(200); res.end('OK');
    });
  });
  const client = new CallbackClient();
  try {
    const r1 = await client.notify({ url: `${srv.base}/flaky`, method: 'POST', params: { Event: 'Hangup', HangupCauseCode: '4000' } });
    assert.deepEqual([r1.delivered, r1.attempts], [true, 2]);
    assert.equal(bodies[1], 'Event=Hangup&HangupCauseCode=4000');
    const r2 = await client.notify({ url: `${srv.base}/gone`, method: 'POST', params: {} });
    assert.ok(!r2.delivered && r2.cause === 'http_status' && r2.status === 410 && r2.attempts === 1);
    const r3 = await client.notify({ url: 'nonsense', method: 'GET', params: {} });
    assert.ok(!r3.delivered && r3.cause === 'bad_url');
    assert.deepEqual(client.stats(), { inFlight: 0, queued: 0, delivered: 1, failed: 2, dropped: 0 });
  } finally { client.close(); await srv.stop(); }
});

test('a 2xx with an oversized body still counts as delivered', async () => {
  const srv = await startServer((_q, res) => { res.on('error', () => {}); res.writeHead(200, { 'Content-Length': String(1 << 20) }); res.end(Buffer.alloc(1 << 20)); });
  const client = new CallbackClient();
  try {
    const r = await client.notify({ url: `${srv.base}/big`, method: 'POST', params: {} });
    assert.equal(r.delivered, true);
  } finally { client.close(); await srv.stop(); }
});

test('bounded concurrency and bounded queue: the oldest queued request is dropped with a log', async () => {
  const held: http.ServerResponse[] = [];
  let maxConcurrent = 0;
  let arrived: () => void = () => {};
  const twoArrived = new Promise<void>((r) => { arrived = r; });
  let release = false;
  const srv = await startServer((req, res) => {
    req.resume();
    held.push(res);
    if (release) { res.writeHead(200); res.end(); return; }
    maxConcurrent = Math.max(maxConcurrent, held.filter((h) => !h.writableEnded).length);
    if (held.length === 2) arrived();
  });
  const lines: string[] = [];
  setLogSink((l) => lines.push(l));
  const client = new CallbackClient({ concurrency: 2, maxQueue: 2, logger: createLogger('callbacks-test', 'debug') });
  try {
    const ps: Promise<NotifyOutcome>[] = [];
    for (let i = 1; i <= 5; i++) ps.push(client.notify({ url: `${srv.base}/h?i=${i}#rt=40000`, method: 'POST', params: { i: String(i) }, purpose: 'hangup', callUuid: `call-${i}` }));
    const third = await ps[2]!;
    assert.deepEqual(third, { delivered: false, cause: 'dropped', detail: 'callback queue full', attempts: 0 });
    await twoArrived;
    assert.deepEqual(client.stats(), { inFlight: 2, queued: 2, delivered: 0, failed: 0, dropped: 1 });
    // From now on the server answers at once; the held pair is answered too, which lets the queued pair start.
    release = true;
    for (const h of held) { h.writeHead(200); h.end(); }
    const outs = await Promise.all(ps);
    assert.deepEqual(outs.map((o) => o.delivered), [true, true, false, true, true]);
    assert.ok(maxConcurrent <= 2, `max concurrent ${maxConcurrent}`);
    assert.equal(held.length, 4, 'the dropped request never reached the server');
    const drop = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'callback dropped: queue full');
    assert.ok(drop && drop.callUuid === 'call-3' && drop.url === `${srv.base}/h`, 'log names the call and a redacted URL');
  } finally {
    setLogSink((l) => process.stdout.write(l + '\n'));
    client.close(); await srv.stop();
  }
});

test('after close, notify resolves as closed', async () => {
  const client = new CallbackClient();
  client.close();
  const r = await client.notify({ url: 'http://127.0.0.1:9/x', method: 'POST', params: {} });
  assert.ok(!r.delivered && r.cause === 'closed');
});

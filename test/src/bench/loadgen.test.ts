/**
 * The media benchmark's C load side (bench/loadgen/loadgen.c) gives the figures of issue #4, so
 * it is held to what the Node versions did: the agent speaks RFC 6455 to a real client (`ws`),
 * answers every `media` message with a `playAudio` of the same payload on the stream's id, times
 * the stamped frames of a window, and the callers send stamped PCMU RTP at 20 ms and count what
 * comes back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { repoRoot } from '../support/repo.js';

interface NativeLoad {
  ready: Promise<Record<string, unknown>>;
  request(line: string): Promise<Record<string, unknown>>;
  stop(): void;
}
interface Stamp { call: number; seq: number; window: number; sendUs: number }
interface StampModule {
  FRAME_BYTES: number;
  makeFrame(): Buffer;
  monoUs(): number;
  writeStamp(buf: Buffer, off: number, call: number, seq: number, window: number, sendUs: number): void;
  readStamp(buf: Buffer, off: number, out: Stamp): boolean;
}

const benchDir = path.join(repoRoot(), 'bench');
let NativeLoadClass: new (mode: 'callers' | 'agent') => NativeLoad;
let stamp: StampModule;
const started: NativeLoad[] = [];

before(async () => {
  // Plain .mjs modules of the benchmark, loaded at run time (they are not part of the build).
  ({ NativeLoad: NativeLoadClass } = await import(pathToFileURL(path.join(benchDir, 'lib', 'native-load.mjs')).href) as { NativeLoad: typeof NativeLoadClass });
  stamp = await import(pathToFileURL(path.join(benchDir, 'lib', 'stamp.mjs')).href) as StampModule;
});
after(() => { for (const n of started) n.stop(); });

function start(mode: 'callers' | 'agent'): NativeLoad {
  const n = new NativeLoadClass(mode);
  started.push(n);
  return n;
}

function stampedPayload(window: number, seq: number): string {
  const frame = stamp.makeFrame();
  stamp.writeStamp(frame, 0, 3, seq, window, stamp.monoUs());
  return frame.toString('base64');
}

function nextMessage(ws: WebSocket): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => { try { resolve(JSON.parse(String(data)) as Record<string, unknown>); } catch (err) { reject(err as Error); } });
    ws.once('close', () => reject(new Error('closed before a message')));
  });
}

test('the C agent: handshake, playAudio of the same payload on the stream id (whole and fragmented messages), ping, close, and the window statistics', async () => {
  const agent = start('agent');
  const { port } = await agent.ready as { port: number };
  assert.ok(port > 0);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/stream`);
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });

  ws.send(JSON.stringify({ event: 'start', sequenceNumber: 1, start: { callId: 'c-1', streamId: 'stream-42', tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000 } } }));
  const p1 = stampedPayload(7, 1);
  const reply1 = nextMessage(ws);
  ws.send(JSON.stringify({ event: 'media', sequenceNumber: 2, streamId: 'stream-42', media: { track: 'inbound', timestamp: '1', chunk: 1, payload: p1 } }));
  const r1 = await reply1;
  assert.equal(r1.event, 'playAudio');
  assert.equal(r1.streamId, 'stream-42');
  assert.deepEqual(r1.media, { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: p1 });

  // The same kind of message in three fragments.
  const p2 = stampedPayload(7, 2);
  const text = JSON.stringify({ event: 'media', sequenceNumber: 3, streamId: 'stream-42', media: { track: 'inbound', timestamp: '2', chunk: 2, payload: p2 } });
  const reply2 = nextMessage(ws);
  ws.send(text.slice(0, 10), { fin: false });
  ws.send(text.slice(10, 200), { fin: false });
  ws.send(text.slice(200), { fin: true });
  assert.equal(((await reply2).media as { payload: string }).payload, p2);

  // A frame outside any window is echoed but not timed.
  const reply3 = nextMessage(ws);
  ws.send(JSON.stringify({ event: 'media', media: { payload: stampedPayload(0, 3) } }));
  await reply3;

  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('are you there'));
  assert.equal((await pong).toString(), 'are you there');

  ws.send(JSON.stringify({ event: 'stop', stop: { callId: 'c-1', streamId: 'stream-42' } }));
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000);
  assert.equal(await closed, 1000, 'the agent answers the close with the same code');

  const stats = await agent.request('stats 7') as { frames: number; starts: number; stops: number; badFrames: number; connections: number; latencyMs: { p50: number; max: number; samples: number } };
  assert.equal(stats.frames, 2);
  assert.equal(stats.latencyMs.samples, 2);
  assert.ok(stats.latencyMs.p50 >= 0 && stats.latencyMs.max < 10_000, `latency ${JSON.stringify(stats.latencyMs)} is a time since the stamp`);
  assert.equal(stats.starts, 1);
  assert.equal(stats.stops, 1);
  assert.equal(stats.badFrames, 0);
  assert.equal(stats.connections, 0, 'the closed connection is no longer counted');
  const again = await agent.request('stats 7') as { frames: number };
  assert.equal(again.frames, 0, 'a window\'s statistics are handed out once');
});

test('the C agent refuses an upgrade without a key, and fails a connection that sends an unmasked frame with 1002', async () => {
  const agent = start('agent');
  const { port } = await agent.ready as { port: number };
  const raw = (bytes: string | Buffer): Promise<string> => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    setTimeout(() => s.destroy(), 3000).unref();
  });
  const noKey = await raw('GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
  assert.match(noKey, /^HTTP\/1\.1 400 /);
  const handshake = 'GET /stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const unmasked = Buffer.concat([Buffer.from(handshake, 'latin1'), Buffer.from([0x81, 0x02]), Buffer.from('{}')]);
  const answer = await raw(unmasked);
  // RFC 6455 §1.3's example key and accept value.
  assert.match(answer, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  assert.ok(answer.endsWith('\r\n\r\n\x88\x02\x03\xea'), 'the unmasked frame is answered with a close frame, 1002, and the connection is closed');
});

test('the C callers: stamped PCMU RTP every 20 ms from their own port, counted per window, echoes counted back', async () => {
  const callers = start('callers');
  await callers.ready;
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', () => resolve()));
  const got: { at: number; seq: number; ts: number; pt: number; len: number; stamp: Stamp; from: number }[] = [];
  peer.on('message', (msg, rinfo) => {
    const s: Stamp = { call: 0, seq: 0, window: 0, sendUs: 0 };
    assert.ok(stamp.readStamp(msg, 12, s));
    got.push({ at: performance.now(), seq: msg.readUInt16BE(2), ts: msg.readUInt32BE(4), pt: msg[1]! & 0x7f, len: msg.length, stamp: s, from: rinfo.port });
    peer.send(msg, rinfo.port, rinfo.address); // echo, as the pod would play it back
  });
  const { id, port } = await callers.request('open') as { id: number; port: number };
  assert.ok(port > 0);
  await callers.request(`start ${id} 127.0.0.1 ${peer.address().port}`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await callers.request('window 5'), { sent: 0 });
  await new Promise((r) => setTimeout(r, 1000));
  const { sent } = await callers.request('window 0') as { sent: number };
  await new Promise((r) => setTimeout(r, 200));
  const peek = await callers.request('peek 5') as { sent: number; echoed: number };
  await callers.request('stop');
  peer.close();

  const inWindow = got.filter((g) => g.stamp.window === 5);
  assert.ok(sent >= 40 && sent <= 60, `about 50 frames in 1 s, got ${sent}`);
  assert.equal(inWindow.length, sent, 'every frame counted as sent arrived, stamped with the window');
  assert.deepEqual(peek, { sent, echoed: sent }, 'every echo was counted back');
  for (const g of got) {
    assert.equal(g.pt, 0);
    assert.equal(g.len, 12 + stamp.FRAME_BYTES);
    assert.equal(g.from, port, 'sent from the port given to the SDP');
  }
  for (let i = 1; i < got.length; i++) {
    assert.equal(got[i]!.seq, (got[i - 1]!.seq + 1) & 0xffff);
    assert.equal(got[i]!.ts, (got[i - 1]!.ts + 160) >>> 0);
    assert.equal(got[i]!.stamp.seq, got[i - 1]!.stamp.seq + 1);
  }
  const span = got[got.length - 1]!.at - got[0]!.at;
  const cadence = span / (got.length - 1);
  assert.ok(cadence > 15 && cadence < 25, `frames ${cadence.toFixed(1)} ms apart on average`);
  const stats = await callers.request('stats 5') as { echoed: number; rttMs: { p50: number } };
  assert.equal(stats.echoed, sent);
  assert.ok(stats.rttMs.p50 >= 0);
});

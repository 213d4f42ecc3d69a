#!/usr/bin/env node
// The media benchmark's agent: a WebSocket server speaking Plivo's stream protocol that sends
// every `media` frame straight back as `playAudio` (the same base64 payload), and measures, for
// frames stamped with a measurement window, how many arrived and how long after the load
// generator sent them (one-way latency, CLOCK_MONOTONIC on both ends). Controlled over IPC by
// media.mjs: `listen`, `stats {win}`.
//
// It avoids JSON.parse and strings on media frames (a byte search finds the payload, which is
// copied into the answer as bytes) so that the agent, which shares a core with the load generator,
// stays cheap; control events are parsed normally.
//
// `--impl c` (media.mjs's default) hands the same work to the C agent of loadgen/loadgen.c and
// only relays `listen` and `stats` to it: at 400-500 calls this Node agent and the Node callers
// filled the load core between them.
import { WebSocketServer } from 'ws';
import { serveRequests, percentile } from './lib/common.mjs';
import { NativeLoad, implFromArgs } from './lib/native-load.mjs';
import { STAMP_BYTES, monoUs, readStamp } from './lib/stamp.mjs';

const windows = new Map(); // window id -> { frames, latUs: number[] }
let connections = 0;
let starts = 0;
let stops = 0;
let badFrames = 0;
const stamp = { call: 0, seq: 0, window: 0, sendUs: 0 };
const decoded = Buffer.alloc(1024);

function windowStats(id) {
  let w = windows.get(id);
  if (!w) { w = { frames: 0, latUs: [] }; windows.set(id, w); }
  return w;
}

const MEDIA_START = Buffer.from('{"event":"media"', 'latin1');
const PAYLOAD_KEY = Buffer.from('"payload":"', 'latin1');
const QUOTE = 0x22;
/** Base64 characters that cover the stamp at the start of a frame (36 bytes ≥ STAMP_BYTES). */
const STAMP_CHARS = 48;

function onConnection(ws) {
  connections++;
  let prefix = Buffer.from('{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"', 'latin1');
  const suffix = Buffer.from('"}}', 'latin1');
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const recvUs = monoUs();
    if (data.length > MEDIA_START.length && data.compare(MEDIA_START, 0, MEDIA_START.length, 0, MEDIA_START.length) === 0) {
      // Bytes in, bytes out: the payload is found and copied without turning the frame into a
      // string, and only the stamp's characters are decoded.
      const at = data.indexOf(PAYLOAD_KEY);
      const start = at + PAYLOAD_KEY.length;
      const end = at < 0 ? -1 : data.indexOf(QUOTE, start);
      if (end < 0) { badFrames++; return; }
      const n = decoded.write(data.toString('latin1', start, Math.min(end, start + STAMP_CHARS)), 0, 'base64');
      if (n >= STAMP_BYTES && readStamp(decoded, 0, stamp)) {
        if (stamp.window > 0) {
          const w = windowStats(stamp.window);
          w.frames++;
          w.latUs.push(recvUs - stamp.sendUs);
        }
      } else badFrames++;
      const out = Buffer.allocUnsafe(prefix.length + (end - start) + suffix.length);
      prefix.copy(out, 0);
      data.copy(out, prefix.length, start, end);
      suffix.copy(out, prefix.length + end - start);
      ws.send(out, { binary: false });
      return;
    }
    let msg;
    try { msg = JSON.parse(data.toString('utf8')); } catch { badFrames++; return; }
    if (msg.event === 'start') {
      starts++;
      const streamId = msg.start?.streamId;
      if (streamId) prefix = Buffer.from(`{"event":"playAudio","streamId":${JSON.stringify(streamId)},"media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"`, 'utf8');
    } else if (msg.event === 'stop') stops++;
  });
  ws.on('close', () => { connections--; });
  ws.on('error', () => {});
}

const impl = implFromArgs();
let native;
let wss;
serveRequests({
  async listen() {
    if (impl === 'c') {
      native = new NativeLoad('agent');
      const { port } = await native.ready;
      return { url: `ws://127.0.0.1:${port}/stream` };
    }
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 65536, backlog: 4096 });
    await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
    wss.on('connection', onConnection);
    return { url: `ws://127.0.0.1:${wss.address().port}/stream` };
  },
  stats({ win: window }) {
    if (native) return native.request(`stats ${window}`);
    const w = windows.get(window) ?? { frames: 0, latUs: [] };
    const lat = w.latUs;
    const mean = lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN;
    windows.delete(window);
    return {
      frames: w.frames, connections, starts, stops, badFrames,
      latencyMs: { p50: percentile(lat, 50) / 1000, p90: percentile(lat, 90) / 1000, p99: percentile(lat, 99) / 1000, max: percentile(lat, 100) / 1000, mean: mean / 1000, samples: lat.length },
    };
  },
});

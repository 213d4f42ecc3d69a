#!/usr/bin/env node
// The media benchmark's agent: a WebSocket server speaking Plivo's stream protocol that sends
// every `media` frame straight back as `playAudio` (the same base64 payload), and measures, for
// frames stamped with a measurement window, how many arrived and how long after the load
// generator sent them (one-way latency, CLOCK_MONOTONIC on both ends). Controlled over IPC by
// media.mjs: `listen`, `stats {win}`.
//
// It avoids JSON.parse on media frames (a string search finds the payload) so that the agent,
// which shares a core with the load generator, stays cheap; control events are parsed normally.
import { WebSocketServer } from 'ws';
import { serveRequests, percentile } from './lib/common.mjs';
import { monoUs, readStamp } from './lib/stamp.mjs';

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

function onConnection(ws) {
  connections++;
  let prefix = '{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"';
  const suffix = '"}}';
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const recvUs = monoUs();
    const text = data.toString('utf8');
    if (text.startsWith('{"event":"media"')) {
      const at = text.indexOf('"payload":"');
      if (at < 0) { badFrames++; return; }
      const start = at + 11;
      const end = text.indexOf('"', start);
      const payload = text.slice(start, end);
      const n = decoded.write(payload, 0, 'base64');
      if (readStamp(decoded.subarray(0, n), 0, stamp)) {
        if (stamp.window > 0) {
          const w = windowStats(stamp.window);
          w.frames++;
          w.latUs.push(recvUs - stamp.sendUs);
        }
      } else badFrames++;
      ws.send(prefix + payload + suffix);
      return;
    }
    let msg;
    try { msg = JSON.parse(text); } catch { badFrames++; return; }
    if (msg.event === 'start') {
      starts++;
      const streamId = msg.start?.streamId;
      if (streamId) prefix = `{"event":"playAudio","streamId":${JSON.stringify(streamId)},"media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"`;
    } else if (msg.event === 'stop') stops++;
  });
  ws.on('close', () => { connections--; });
  ws.on('error', () => {});
}

let wss;
serveRequests({
  async listen() {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 65536, backlog: 4096 });
    await new Promise((resolve, reject) => { wss.once('listening', resolve); wss.once('error', reject); });
    wss.on('connection', onConnection);
    return { url: `ws://127.0.0.1:${wss.address().port}/stream` };
  },
  stats({ win: window }) {
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

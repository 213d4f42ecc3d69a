#!/usr/bin/env node
// What the stream's WebSocket client costs per message, against the `ws` package in the same run.
//
// This process (pinned to the pod's core) opens N connections to an echo server (a `ws` server in
// a child process on the load core). Every connection sends one media-sized text message every
// 20 ms, spread over ten 2 ms phases as the pod's pacer does, and the server answers each with a
// playAudio-sized message. For each client, in alternating rounds, the CPU this process spends
// per round trip (one send, one receive) is measured with process.cpuUsage. The baseline is `ws`,
// which the media pod used before media-pod/src/stream/agent-socket.ts.
//
// usage: node bench/ws-client-micro.mjs [--connections 250] [--seconds 5] [--rounds 3]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import WebSocket from 'ws';
import { AgentSocket } from '../media-pod/dist/stream/agent-socket.js';
import { LOAD_CORE, REPO_DIR, SUT_CORE, pinSelf, pinned, sleep } from './lib/common.mjs';

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ''), process.argv[i + 1]);
const CONNECTIONS = Number(args.get('connections') ?? 250);
const SECONDS = Number(args.get('seconds') ?? 5);
const ROUNDS = Number(args.get('rounds') ?? 3);

// A media message of the size the pod sends for a 20 ms μ-law frame (base64 of 160 bytes).
const MEDIA = Buffer.from(JSON.stringify({
  event: 'media', sequenceNumber: 12345, streamId: '0b3cf9f4-7d3a-4f5e-9c1d-2a6b8e4f0c11',
  media: { track: 'inbound', timestamp: '1764921600000', chunk: 12340, payload: Buffer.alloc(160, 0x7e).toString('base64') },
  extra_headers: '{}',
}));

const SERVER = `
import { WebSocketServer } from 'ws';
const reply = JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: Buffer.alloc(160, 0x7e).toString('base64') } });
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('listening', () => process.stdout.write(wss.address().port + '\\n'));
wss.on('connection', (ws) => ws.on('message', () => ws.send(reply)));
`;

async function startServer() {
  const [cmd, argv] = pinned(LOAD_CORE, process.execPath, ['--input-type=module', '-e', SERVER]);
  const child = spawn(cmd, argv, { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { child, port: Number(String(line).trim()) };
}

function openWs(url, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 65536 });
    ws.on('message', (data, isBinary) => onMessage(data, isBinary));
    ws.once('open', () => resolve({ send: (m) => ws.send(m, { binary: false }), close: () => ws.terminate() }));
    ws.once('error', reject);
  });
}

function openAgentSocket(url, onMessage) {
  return new Promise((resolve, reject) => {
    const s = new AgentSocket({ url, maxPayload: 65536, handshakeTimeoutMs: 5000 }, {
      open: () => resolve({ send: (m) => s.send(m), close: () => s.terminate() }),
      message: onMessage,
      error: reject,
      close: () => {},
    });
  });
}

async function round(kind, url) {
  let received = 0;
  let touched = 0;
  const onMessage = (data) => { received++; touched += data[0]; };
  const open = kind === 'ws' ? openWs : openAgentSocket;
  const conns = [];
  for (let i = 0; i < CONNECTIONS; i++) conns.push(await open(url, onMessage));
  const phases = Array.from({ length: 10 }, (_, p) => conns.filter((_, i) => i % 10 === p));
  let phase = 0;
  let sent = 0;
  const timer = setInterval(() => { for (const c of phases[phase]) { c.send(MEDIA); sent++; } phase = (phase + 1) % 10; }, 2);
  await sleep(1000); // warm-up
  const r0 = received;
  const s0 = sent;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const roundTrips = Math.min(received - r0, sent - s0);
  clearInterval(timer);
  for (const c of conns) c.close();
  await sleep(300);
  return { kind, roundTrips, usPerRoundTrip: (cpu.user + cpu.system) / roundTrips, cpuPct: (100 * (cpu.user + cpu.system) / 1000) / wall, touched };
}

async function main() {
  await pinSelf(SUT_CORE);
  const server = await startServer();
  const url = `ws://127.0.0.1:${server.port}/agent`;
  const results = { ws: [], agentSocket: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of r % 2 === 0 ? ['ws', 'agentSocket'] : ['agentSocket', 'ws']) {
        const res = await round(kind, url);
        results[kind].push(res);
        process.stderr.write(`${kind.padEnd(12)} ${res.roundTrips} round trips, ${res.usPerRoundTrip.toFixed(2)} µs CPU each, ${res.cpuPct.toFixed(1)} % of a core\n`);
      }
    }
  } finally { server.child.kill(); }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const ours = median(results.agentSocket.map((x) => x.usPerRoundTrip));
  const base = median(results.ws.map((x) => x.usPerRoundTrip));
  const out = {
    connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, messageBytes: MEDIA.length,
    wsUsPerRoundTrip: results.ws.map((x) => +x.usPerRoundTrip.toFixed(2)),
    agentSocketUsPerRoundTrip: results.agentSocket.map((x) => +x.usPerRoundTrip.toFixed(2)),
    ratio: +(ours / base).toFixed(3),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();

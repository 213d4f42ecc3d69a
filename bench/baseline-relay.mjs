#!/usr/bin/env node
// The media benchmark's baseline: the least a UDP-to-WebSocket relay can do. Per call, one UDP
// socket and one WebSocket to the agent; each RTP packet becomes one Plivo-shaped `media` JSON
// message, and each `playAudio` from the agent goes straight back out as one RTP packet (no
// jitter buffer, no pacing, no transcoding). Controlled over IPC by media.mjs:
//   open {count, agentUrl} -> { ports }      close -> {}
// Its WebSocket client is lib/raw-ws.mjs, as lean as the pod's own; RELAY_WS=ws runs it on the
// `ws` package instead (see bench/README.md).
import dgram from 'node:dgram';
import { randomBytes, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { serveRequests } from './lib/common.mjs';
import { RawWs } from './lib/raw-ws.mjs';
const RAW = process.env.RELAY_WS !== 'ws';

const relays = [];

class Relay {
  constructor(sock, ws, streamId) {
    this.sock = sock;
    this.ws = ws;
    this.streamId = streamId;
    this.seq = 1;
    this.chunk = 0;
    this.peerPort = 0;
    this.peerHost = '';
    this.outSeq = randomBytes(2).readUInt16BE(0);
    this.outTs = randomBytes(4).readUInt32BE(0);
    this.ssrc = randomBytes(4).readUInt32BE(0);
    this.head = '{"event":"media","sequenceNumber":';
    this.mid = `,"streamId":"${streamId}","media":{"track":"inbound","timestamp":"`;
    sock.on('message', (msg, rinfo) => this.fromCaller(msg, rinfo));
    if (!RAW) {
      ws.on('message', (data, isBinary) => { if (!isBinary) this.fromAgent(data.toString('utf8')); });
      ws.on('error', () => {});
    }
  }

  fromCaller(msg, rinfo) {
    if (msg.length < 12 || (msg[0] & 0xc0) !== 0x80) return;
    this.peerPort = rinfo.port;
    this.peerHost = rinfo.address;
    const off = 12 + 4 * (msg[0] & 0x0f);
    if (!RAW && this.ws.readyState !== WebSocket.OPEN) return;
    this.seq++;
    this.chunk++;
    this.ws[RAW ? 'sendText' : 'send'](`${this.head}${this.seq}${this.mid}${Date.now()}","chunk":${this.chunk},"payload":"${msg.toString('base64', off)}"},"extra_headers":""}`);
  }

  fromAgent(text) {
    let msg;
    try { msg = JSON.parse(text); } catch { return; }
    if (msg.event !== 'playAudio' || typeof msg.media?.payload !== 'string' || !this.peerPort) return;
    const payload = Buffer.from(msg.media.payload, 'base64');
    const pkt = Buffer.allocUnsafe(12 + payload.length);
    pkt[0] = 0x80; pkt[1] = 0;
    pkt.writeUInt16BE(this.outSeq, 2);
    pkt.writeUInt32BE(this.outTs, 4);
    pkt.writeUInt32BE(this.ssrc, 8);
    payload.copy(pkt, 12);
    this.outSeq = (this.outSeq + 1) & 0xffff;
    this.outTs = (this.outTs + payload.length) >>> 0;
    this.sock.send(pkt, this.peerPort, this.peerHost);
  }

  close() {
    try { this.ws.terminate(); } catch { /* gone */ }
    try { this.sock.close(); } catch { /* gone */ }
  }
}

async function openOne(agentUrl) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  let relay;
  const ws = RAW ? new RawWs(agentUrl, (buf, a, b) => relay.fromAgent(buf.toString('utf8', a, b))) : new WebSocket(agentUrl, { perMessageDeflate: false });
  if (RAW) await ws.ready; else await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const streamId = randomUUID();
  ws[RAW ? 'sendText' : 'send'](JSON.stringify({
    event: 'start', sequenceNumber: 1,
    start: { callId: randomUUID(), streamId, accountId: '', tracks: ['inbound'], mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000 } },
    extra_headers: '',
  }));
  const r = new Relay(sock, ws, streamId);
  relay = r;
  relays.push(r);
  return sock.address().port;
}

serveRequests({
  async open({ count, agentUrl }) {
    const ports = [];
    for (let i = 0; i < count; i += 50) {
      ports.push(...await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => openOne(agentUrl))));
    }
    return { ports };
  },
  close() {
    for (const r of relays) r.close();
    relays.length = 0;
    return {};
  },
});

/**
 * A `<Stream>` to a wss:// agent whose certificate comes from a private CA, with the pod run as
 * its own process the way the chart runs it: trusted through NODE_EXTRA_CA_CERTS (what the
 * chart's media.extraCaCerts sets), the stream opens and carries audio both ways; without it, the
 * pod refuses the certificate, logs why, and the call still ends cleanly.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import plivo from 'plivo';
import { WebSocketServer, type WebSocket } from 'ws';
import { createTestPki, opensslAvailable, type TestPki } from '@sipflow/media-pod/sip/transport/test-pki';
import { startPodProcess, type PodProcess } from '../support/pod-process.js';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { loopbackAppManifests } from '../support/manifests.js';
import { ulawDecode, ulawEncode, tone, tonePower } from './audio.js';
import { TestUac } from './uac.js';

const skip = opensslAvailable() ? false : 'openssl is not available to make the test CA';
const T = { timeout: 60_000, skip };

interface SecureAgent { url: string; connections: WebSocket[]; messages: Array<Record<string, unknown>>; close(): Promise<void> }

let pki: TestPki;
let answer: TestAnswerServer;
let agent: SecureAgent;
let manifestsDir: string;

/** An echo agent over TLS with the test CA's leaf for localhost. */
async function startSecureAgent(p: TestPki): Promise<SecureAgent> {
  const server = https.createServer({ cert: p.leaf.cert, key: p.leaf.key });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const connections: WebSocket[] = [];
  const messages: Array<Record<string, unknown>> = [];
  wss.on('connection', (ws) => {
    connections.push(ws);
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as Record<string, unknown>;
      messages.push(msg);
      const media = msg.media as { payload?: string } | undefined;
      if (msg.event === 'media' && media?.payload) {
        ws.send(JSON.stringify({ event: 'playAudio', media: { contentType: 'audio/x-mulaw', sampleRate: 8000, payload: media.payload } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `wss://localhost:${port}/agent`, connections, messages,
    close: () => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => resolve()); }),
  };
}

async function withPod<T>(env: NodeJS.ProcessEnv, fn: (pod: PodProcess) => Promise<T>): Promise<T> {
  const lo = 56000 + Math.floor(Math.random() * 30) * 100;
  const pod = await startPodProcess({
    name: 'wss-pod', host: '127.0.0.1', rtpPorts: { lo, hi: lo + 99 },
    args: ['--manifests', manifestsDir, '--sip-domain', 'sip.test'], env,
  });
  try { return await fn(pod); } finally { await pod.stop(); }
}

before(async () => {
  if (skip) return;
  pki = createTestPki('wss-agent');
  answer = await startTestAnswerServer();
  agent = await startSecureAgent(pki);
  manifestsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipflow-wss-'));
  fs.writeFileSync(path.join(manifestsDir, 'manifests.yaml'), loopbackAppManifests('wss', `${answer.url}/answer`, `${answer.url}/hangup`));
  const r = plivo.Response();
  r.addStream(agent.url, { bidirectional: true, keepCallAlive: true, contentType: 'audio/x-mulaw;rate=8000' });
  answer.route('/answer', r.toXML());
});

after(async () => {
  if (skip) return;
  await agent.close();
  await answer.close();
  fs.rmSync(manifestsDir, { recursive: true, force: true });
  pki.cleanup();
});

test('trusted through NODE_EXTRA_CA_CERTS, the stream to a wss:// agent opens and carries audio both ways', T, async () => {
  await withPod({ NODE_EXTRA_CA_CERTS: pki.caFile }, async (pod) => {
    const uac = await TestUac.start();
    try {
      const before = agent.messages.length;
      const final = await uac.invite(pod.sipPort, 'wss');
      assert.equal(final.status, 200);
      const frames = [ulawEncode(tone(600, 8000 / 50, { amplitude: 8000 }))];
      uac.startSending(() => frames[0]!);
      await uac.waitUntil(() => agent.messages.slice(before).filter((m) => m.event === 'media').length >= 25, 15_000, 'media at the wss agent');
      const start = agent.messages.slice(before).find((m) => m.event === 'start');
      assert.ok(start, 'start arrived over TLS');
      // The echo comes back as RTP carrying the tone.
      await uac.waitUntil(() => uac.audioRtp().length >= 20, 15_000, 'the echoed audio');
      const echoed = uac.audioRtp().slice(-10).map((p) => tonePower(ulawDecode(p.payload), 600, 8000));
      assert.ok(echoed.every((pw) => pw > 40), `the echo carries the 600 Hz tone: ${echoed.map((x) => x.toFixed(0)).join(',')}`);
      await uac.bye();
      assert.ok(pod.logs.some((l) => l.msg === 'stream started'), 'the pod logged the stream');
      assert.ok(!pod.logs.some((l) => String(l.msg).startsWith('node was started without')), 'started with the pod\'s node flags, so no warning');
    } finally { uac.close(); }
  });
});

test('without the CA the pod refuses the certificate, says so, and the call still ends normally', T, async () => {
  await withPod({ NODE_EXTRA_CA_CERTS: '' }, async (pod) => {
    const uac = await TestUac.start();
    try {
      const opened = agent.connections.length;
      const final = await uac.invite(pod.sipPort, 'wss');
      assert.equal(final.status, 200);
      uac.startSending(() => Buffer.alloc(160, 0xff));
      await uac.waitUntil(() => pod.logs.some((l) => l.msg === 'stream connection failed'), 15_000, 'the failed connection in the log');
      const failure = pod.logs.find((l) => l.msg === 'stream connection failed')!;
      assert.match(String(failure.error), /certificate/i, `the reason names the certificate: ${String(failure.error)}`);
      assert.equal(agent.connections.length, opened, 'no WebSocket was ever opened');
      await uac.byeFromPod(20_000);
    } finally { uac.close(); }
  });
});

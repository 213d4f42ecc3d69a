/**
 * Shared setup for the media tests: an answer server, a WebSocket agent and a real media pod
 * whose one application (IP ACL on loopback) points at them, torn down together.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestAnswerServer, type TestAnswerServer } from '../support/answer-server.js';
import { startTestPod, type TestPod } from '../support/pod.js';
import { startWsAgent, type AgentConnection, type WsAgent } from '../support/ws-agent.js';
import { TestUac } from './uac.js';
import { loopbackAppManifests } from '../support/manifests.js';

export const APP_ID = 'media';

export function manifestsFor(answerBase: string, appId = APP_ID): string {
  return loopbackAppManifests(appId, `${answerBase}/answer`, `${answerBase}/hangup`);
}

export interface MediaRig {
  answer: TestAnswerServer;
  agent: WsAgent;
  pod: TestPod;
  /** Lines the pod logged since the rig started, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** True once the pod's media clock stalled and skipped frames (a loaded machine), for streamBreaks. */
  stalled(): boolean;
  /** A fresh caller (closed by close()). */
  caller(): Promise<TestUac>;
  close(): Promise<void>;
}

export async function startMediaRig(opts: { extraArgs?: string[] } = {}): Promise<MediaRig> {
  const answer = await startTestAnswerServer();
  const agent = await startWsAgent();
  const pod = await startTestPod({ manifests: manifestsFor(answer.url), ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}) });
  const skip = pod.logs().length;
  const uacs: TestUac[] = [];
  return {
    answer, agent, pod,
    logs: () => pod.logs().slice(skip),
    stalled: () => pod.logs().slice(skip).some((l) => l.msg === 'media clock stalled; calls paused'),
    async caller() { const u = await TestUac.start(); uacs.push(u); return u; },
    async close() {
      for (const u of uacs) u.close();
      await pod.stop();
      await agent.close();
      await answer.close();
    },
  };
}

/** A frame source cycling through `frames` forever (or `count` frames, then null). */
export function cycle(frames: readonly Uint8Array[], count = Number.POSITIVE_INFINITY): () => Uint8Array | null {
  let i = 0;
  return () => (i < count ? frames[i++ % frames.length]! : null);
}

/** Splits μ-law bytes into 160-byte frames (the last one padded with μ-law silence). */
export function frames160(bytes: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += 160) {
    const f = Buffer.alloc(160, 0xff);
    Buffer.from(bytes.buffer, bytes.byteOffset + off, Math.min(160, bytes.length - off)).copy(f);
    out.push(f);
  }
  return out;
}

export interface StreamCall {
  uac: TestUac;
  conn: AgentConnection;
  callUuid: string;
  /** RTP packets the pod had sent when the stream's start arrived (index into uac.rtpIn). */
  rtpAtStart: number;
}

/**
 * Answers with `xml` (a <Stream> to `rig.agent`), calls in with a fresh caller that sends
 * μ-law silence every 20 ms, and resolves once the agent has the stream's start message.
 */
export async function openStreamCall(rig: MediaRig, xml: string, opts: { sendSilence?: boolean } = {}): Promise<StreamCall> {
  rig.answer.route('/answer', xml);
  const uac = await rig.caller();
  const connecting = rig.agent.nextConnection(15_000);
  const final = await uac.invite(rig.pod.sipPort, APP_ID);
  if (final.status !== 200) throw new Error(`call was not answered: ${final.status} ${final.reason}`);
  if (opts.sendSilence ?? true) uac.startSending(() => SILENCE_FRAME);
  const conn = await connecting;
  const start = await conn.waitForEvent('start');
  const callUuid = String((start.json!.start as Record<string, unknown>).callId);
  return { uac, conn, callUuid, rtpAtStart: uac.rtpIn.length };
}

export const SILENCE_FRAME: Buffer = Buffer.alloc(160, 0xff);

export interface FileServer {
  readonly url: string;
  /** Paths requested, in order. */
  readonly hits: string[];
  put(path: string, body: Buffer, contentType: string): void;
  close(): Promise<void>;
}

/** Serves binary files (WAV prompts) for <Play>; unknown paths answer 404. */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, { body: Buffer; type: string }>();
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    hits.push(p);
    const f = files.get(p);
    if (!f) { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return; }
    res.writeHead(200, { 'content-type': f.type, 'content-length': f.body.length });
    res.end(f.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    put(path, body, type) { files.set(path, { body, type }); },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
